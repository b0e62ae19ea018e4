// shop.js runs on the demo shop's iframe page. It mounts the hosted checkout
// into #pay and sends the signed result to this shop's server (POST /verify),
// which verifies it: the outcome shown is the server's, never the browser's
// word. Text is set with textContent only, so nothing from a result can run.
(function () {
  'use strict';

  var pay = document.getElementById('pay');
  if (!pay) {
    return; // not the iframe page
  }
  var outcome = document.getElementById('outcome');
  var reason = document.getElementById('reason');
  var verified = document.getElementById('verified');

  function set(id, text) {
    document.getElementById(id).textContent = text == null ? '' : String(text);
  }

  // formatAmount shows minor units as the currency's major unit, e.g.
  // 1500 JPY as "¥1,500" and 1234 USD as "$12.34".
  function formatAmount(amount, currency) {
    try {
      var f = new Intl.NumberFormat('en', { style: 'currency', currency: currency });
      return f.format(amount / Math.pow(10, f.resolvedOptions().maximumFractionDigits));
    } catch (e) {
      return amount + ' ' + currency;
    }
  }

  function showVerified(r) {
    outcome.textContent = 'Payment verified';
    outcome.className = 'ok';
    reason.textContent = '';
    set('order-id', r.order_id);
    set('amount', formatAmount(r.amount, r.currency));
    set('brand', r.card && r.card.brand);
    set('last4', r.card && r.card.last4);
    set('cvc-check', r.cvc_check);
    var pm = r.payment_method;
    set('payment-method', pm ? pm.type + (pm.installments ? ' × ' + pm.installments : '') + ' (JCCA ' + pm.jcca_code + ')' : '');
    set('status', r.status);
    set('risk', r.risk ? r.risk.verdict + ' (score ' + r.risk.score + ')' : '');
    var t = r.three_ds;
    set('three-ds', t ? t.status + ', ECI ' + t.eci + (t.challenged ? ', challenged' : '') +
      (t.liability_shift ? ', liability shifted to the issuer' : '') : '');
    document.getElementById('held').hidden = r.status !== 'held';
    set('payment-id', r.sub);
    set('claims', JSON.stringify(r, null, 2));
    verified.hidden = false;
  }

  function showNotVerified(why) {
    outcome.textContent = 'Result NOT verified';
    outcome.className = 'bad';
    reason.textContent = why;
    verified.hidden = true;
  }

  // verify sends the token the way the redirect flow does: a form field
  // named checkout_result.
  function verify(token) {
    outcome.textContent = 'Verifying the result…';
    outcome.className = '';
    var body = new URLSearchParams();
    body.set('checkout_result', token || '');
    fetch('/verify', { method: 'POST', body: body, credentials: 'same-origin' })
      .then(function (resp) { return resp.json(); })
      .then(function (answer) {
        if (answer.verified) {
          showVerified(answer.result);
        } else {
          showNotVerified(answer.error || 'The shop refused the result.');
        }
      })
      .catch(function (err) {
        showNotVerified('The shop could not be asked to verify the result: ' + err);
      });
  }

  if (!window.Checkout) {
    outcome.textContent = 'The checkout script did not load. Is the checkout running?';
    outcome.className = 'bad';
    return;
  }

  Checkout.mount('#pay', {
    session: pay.dataset.session,
    onComplete: function (result) {
      verify(result && result.token);
    },
    onCancel: function () {
      outcome.textContent = 'Payment cancelled. Nothing was charged.';
      outcome.className = '';
      reason.textContent = '';
      verified.hidden = true;
    }
  });
})();
