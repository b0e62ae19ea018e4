// The shopper's payment page: live brand detection and formatting, checks
// that mirror checkout/card.go, the card submission and the hand-over of the
// signed result to the merchant. No dependencies, no HTML sinks (the page's
// CSP requires Trusted Types with no policy): text goes in with textContent.
(function () {
  "use strict";

  var dataEl = document.getElementById("checkout-data");
  if (!dataEl) return;
  var cfg = JSON.parse(dataEl.textContent);
  var M = cfg.messages || {};

  // msg renders a client message; {Name} placeholders take params.
  function msg(id, params) {
    var s = Object.prototype.hasOwnProperty.call(M, id) ? M[id] : id;
    if (!params) return s;
    return s.replace(/\{(\w+)\}/g, function (all, k) {
      return Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : all;
    });
  }
  function $(id) { return document.getElementById(id); }

  // ---- Messages to the parent window (iframe variant) -------------------
  // Always addressed to the exact parent origin the server checked against
  // the merchant's registered origins; never "*".
  function post(message) {
    if (!cfg.embed || !cfg.parent || window.parent === window) return;
    message.source = "hosted-checkout";
    window.parent.postMessage(message, cfg.parent);
  }
  if (cfg.embed) {
    var lastHeight = 0;
    var sendSize = function () {
      var h = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (h !== lastHeight) {
        lastHeight = h;
        post({ type: "checkout:resize", height: h });
      }
    };
    if (window.ResizeObserver) new ResizeObserver(sendSize).observe(document.documentElement);
    window.addEventListener("load", sendSize);
    sendSize();
  }
  var cancelButton = $("cancel-button");
  if (cancelButton) {
    cancelButton.addEventListener("click", function () {
      post({ type: "checkout:cancel", session: cfg.session });
    });
  }
  if (cfg.state === "message") {
    if (cfg.error_code) post({ type: "checkout:error", session: cfg.session, code: cfg.error_code });
    return;
  }

  // ---- Card rules: checkout/card.go's table, from the page's data --------
  // (tried in order; each: brand, name, lengths, cvc, front, luhn, ranges,
  // groups by length where a number is not printed in fours).
  var BRANDS = cfg.brands || [];

  function detectBrand(d) {
    for (var i = 0; i < BRANDS.length; i++) {
      var r = BRANDS[i];
      for (var j = 0; j < r.ranges.length; j++) {
        var lo = r.ranges[j][0], hi = r.ranges[j][1], n = String(lo).length;
        if (d.length < n) continue;
        var p = Number(d.slice(0, n));
        if (p >= lo && p <= hi) return r;
      }
    }
    return null;
  }

  function luhn(d) {
    if (!d) return false;
    var sum = 0, dbl = false;
    for (var i = d.length - 1; i >= 0; i--) {
      var x = d.charCodeAt(i) - 48;
      if (dbl) { x *= 2; if (x > 9) x -= 9; }
      sum += x;
      dbl = !dbl;
    }
    return sum % 10 === 0;
  }

  // Digit groups as printed: the brand's own for its length (AMEX 4-6-5,
  // Diners Club's 14 digits 4-6-4), else fours.
  function groups(rule, len) {
    var own = rule && rule.groups && rule.groups[String(len)];
    return own || [4, 4, 4, 4, 3];
  }
  function formatNumber(d, rule) {
    var g = groups(rule, d.length), out = [], i = 0;
    for (var k = 0; k < g.length && i < d.length; k++) {
      out.push(d.slice(i, i + g[k]));
      i += g[k];
    }
    return out.join(" ");
  }
  function maxDigits(rule) { return rule ? Math.max.apply(null, rule.lengths) : 19; }
  // lengthMessage words the brand's lengths as checkout/card.go does: one,
  // two ("14 or 16") or a run ("16 to 19").
  function lengthMessage(rule) {
    var l = rule.lengths, p = { Brand: rule.name, Digits: l[0], A: l[0], B: l[l.length - 1] };
    if (l.length === 1) return msg("card.number.length_brand", p);
    return msg(l.length === 2 ? "card.number.length_brand_or" : "card.number.length_brand_range", p);
  }

  // ---- How to pay: checkout/paymethod.go's ForCard, with its tables -----
  // cfg.methods is the checkout's offer (absent: lump sum only) with the BIN
  // prefixes of cards issued in Japan; each brand's rule says which methods
  // its Japanese cards take and up to how many installments. The server
  // checks the choice again.
  var OFFER = cfg.methods || null;

  function issuedInJapan(d) {
    if (d.length < 6) return false;
    for (var i = 0; i < OFFER.jp_prefixes.length; i++) {
      var p = OFFER.jp_prefixes[i];
      if (d.slice(0, p.length) === p) return true;
    }
    return false;
  }
  // methodChoices lists the card's choices as [value, label] pairs, lump
  // sum first; an empty list when it has no choice.
  function methodChoices(d, rule) {
    if (!OFFER || !rule || !rule.methods || !issuedInJapan(d)) return [];
    var out = [["lump_sum", msg("method.lump_sum")]];
    for (var i = 0; i < OFFER.types.length; i++) {
      var t = OFFER.types[i];
      if (t === "lump_sum" || rule.methods.indexOf(t) < 0) continue;
      if (t !== "installments") { out.push([t, msg("method." + t)]); continue; }
      for (var j = 0; j < OFFER.installment_counts.length; j++) {
        var n = OFFER.installment_counts[j];
        if (n <= rule.max_installments) out.push(["installments:" + n, msg("method.installments", { Count: n })]);
      }
    }
    return out.length > 1 ? out : [];
  }

  // ---- Checks: each returns a message or "" ------------------------------
  function checkNumber(d) {
    if (!d) return msg("card.number.required");
    var rule = detectBrand(d);
    if (!rule) return msg("card.number.brand");
    if (rule.lengths.indexOf(d.length) < 0) return lengthMessage(rule);
    if (rule.luhn && !luhn(d)) return msg("card.number.luhn");
    return "";
  }

  // parseExpiry mirrors checkout.ParseExpiry: MM/YY, MM/YYYY or MMYY.
  function parseExpiry(v) {
    var s = v.replace(/\s+/g, ""), mm, yy;
    var slash = s.split("/");
    if (slash.length === 2) { mm = slash[0]; yy = slash[1]; }
    else if (slash.length === 1 && s.length === 4) { mm = s.slice(0, 2); yy = s.slice(2); }
    else return null;
    if (!/^\d{1,2}$/.test(mm) || !/^(\d{2}|\d{4})$/.test(yy)) return null;
    var year = Number(yy);
    if (yy.length === 2) year += 2000;
    return { month: Number(mm), year: year };
  }
  function checkExpiry(v) {
    if (!v) return msg("card.expiry.format");
    var e = parseExpiry(v);
    if (!e) return msg("card.expiry.format");
    if (e.month < 1 || e.month > 12) return msg("card.expiry.month");
    var now = new Date(), y = now.getUTCFullYear(), m = now.getUTCMonth() + 1;
    if (e.year < y || (e.year === y && e.month < m)) return msg("card.expiry.past");
    if (e.year > y + 20) return msg("card.expiry.far");
    return "";
  }
  function checkName(v) {
    return v.trim() === "" ? msg("card.name.required") : "";
  }
  // checkCVC mirrors checkout.CheckSecurityCode; X: no code, I: illegible.
  function checkCVC(v, rule) {
    if (/^[XxIi]$/.test(v)) return "";
    if (!v) return msg("card.cvc.required");
    if (!/^\d+$/.test(v)) return msg("card.cvc.chars");
    if (rule && v.length !== rule.cvc) {
      var p = { Brand: rule.name, Digits: rule.cvc };
      return msg(rule.front ? "card.cvc.length_front" : "card.cvc.length_back", p);
    }
    return "";
  }

  // ---- Elements ------------------------------------------------------------
  var form = $("pay-form");
  var payButton = $("pay-button");
  var returnButton = $("return-button");
  var formError = $("form-error");
  var status = $("pay-status");
  var number = $("number"), expiry = $("expiry"), name = $("name"), cvc = $("cvc");
  var method = $("method"), methodField = $("method-field");
  var saveCard = $("save-card"); // only where the session offers to save the card
  var FIELDS = ["number", "expiry", "cvc", "name"];
  // The server names the choice by its form fields; the page has one select.
  var FIELD_OF = { payment_method: "method", installments: "method" };
  var busy = false, done = false;

  function setError(field, text) {
    var input = $(field), el = $(field + "-error");
    if (!input || !el) return false;
    el.textContent = text || "";
    el.hidden = !text;
    input.setAttribute("aria-invalid", text ? "true" : "false");
    return true;
  }
  function hasError(field) { return $(field).getAttribute("aria-invalid") === "true"; }
  function setFormError(text) {
    formError.textContent = text || "";
    formError.hidden = !text;
  }
  function digits(v) { return v.replace(/\D/g, ""); }
  function currentRule() {
    var saved = chosenSaved();
    if (saved) return savedRule(saved);
    return number ? detectBrand(digits(number.value)) : null;
  }

  // ---- Saved cards -------------------------------------------------------
  // The customer's saved cards are listed by the page itself; choosing one
  // asks for its security code only (its brand's rule from the table), and
  // the form sends its id in place of the card.
  var SAVED = cfg.saved_cards || [];
  function chosenSaved() {
    var r = document.querySelector('input[name="card-choice"]:checked');
    return r && r.value ? r.value : "";
  }
  function savedRule(id) {
    for (var i = 0; i < SAVED.length; i++) {
      if (SAVED[i].id !== id) continue;
      for (var j = 0; j < BRANDS.length; j++) if (BRANDS[j].brand === SAVED[i].brand) return BRANDS[j];
    }
    return null;
  }
  function activeFields() { return chosenSaved() ? ["cvc"] : FIELDS; }
  // applyChoice shows the fields the chosen card needs.
  function applyChoice() {
    var saved = chosenSaved() !== "";
    ["number-field", "expiry-field", "name-field"].forEach(function (id) { $(id).hidden = saved; });
    if (saved) {
      FIELDS.forEach(function (f) { if (f !== "cvc") setError(f, ""); });
      methodField.hidden = true;
      lastChoices = "";
    }
    updateBrand(currentRule());
    if (!saved) onNumberInput();
    if (hasError("cvc")) setError("cvc", check("cvc"));
  }

  function check(field) {
    var rule = currentRule();
    switch (field) {
      case "number": return checkNumber(digits(number.value));
      case "expiry": return checkExpiry(expiry.value);
      case "name": return checkName(name.value);
      case "cvc": return checkCVC(cvc.value.trim(), rule);
    }
    return "";
  }

  // ---- Brand-dependent hints -----------------------------------------------
  var lastBrand = "-";
  function updateBrand(rule) {
    var b = rule ? rule.brand : "";
    if (b === lastBrand) return;
    lastBrand = b;
    var badge = $("number-brand");
    badge.textContent = rule ? rule.name : "";
    badge.setAttribute("aria-label", rule ? msg("field.number.brand", { Brand: rule.name }) : "");
    var hint = $("cvc-hint");
    hint.textContent = !rule ? msg("cvc.hint.generic") : rule.front ? msg("cvc.hint.front") : msg("cvc.hint.back");
    cvc.maxLength = rule ? rule.cvc : 4;
    // The help shows where the code is for the detected brand only.
    $("cvc-help-back").hidden = !!(rule && rule.front);
    $("cvc-help-front").hidden = !!(rule && !rule.front);
    $("cvc-help-back-text").textContent = rule && !rule.front
      ? msg("cvc.help.back_brand", { Brand: rule.name })
      : msg("cvc.help.back_generic");
  }

  // updateMethods shows the card's choices once its number is recognised,
  // keeping the shopper's choice while the card can still take it.
  var lastChoices = "";
  function updateMethods(d, rule) {
    if (!method) return;
    var choices = methodChoices(d, rule), key = JSON.stringify(choices);
    if (key === lastChoices) return;
    lastChoices = key;
    var kept = method.value;
    while (method.firstChild) method.removeChild(method.firstChild);
    for (var i = 0; i < choices.length; i++) {
      var o = document.createElement("option");
      o.value = choices[i][0];
      o.textContent = choices[i][1];
      method.appendChild(o);
    }
    var keep = false;
    for (var k = 0; k < choices.length; k++) keep = keep || choices[k][0] === kept;
    method.value = keep ? kept : (choices.length ? "lump_sum" : "");
    var shown = choices.length > 0;
    if (methodField.hidden === shown) $("method-note").textContent = shown ? msg("field.method.available") : "";
    methodField.hidden = !shown;
    setError("method", "");
  }
  // methodParams adds the chosen method to the form: nothing for lump sum.
  function methodParams(p) {
    var v = method && !methodField.hidden ? method.value : "";
    if (!v || v === "lump_sum") return;
    var parts = v.split(":");
    p.set("payment_method", parts[0]);
    if (parts[1]) p.set("installments", parts[1]);
  }

  // ---- Input formatting ----------------------------------------------------
  function onNumberInput() {
    var v = number.value, caret = number.selectionStart == null ? v.length : number.selectionStart;
    var before = digits(v.slice(0, caret)).length;
    var d = digits(v), rule = detectBrand(d);
    d = d.slice(0, maxDigits(rule));
    var f = formatNumber(d, rule);
    if (f !== v) {
      number.value = f;
      var pos = 0, seen = 0;
      while (pos < f.length && seen < before) {
        if (f.charCodeAt(pos) !== 32) seen++;
        pos++;
      }
      if (document.activeElement === number) number.setSelectionRange(pos, pos);
    }
    updateBrand(rule);
    updateMethods(d, rule);
    if (hasError("number")) setError("number", check("number"));
    if (hasError("cvc")) setError("cvc", check("cvc"));
  }

  function onExpiryInput(e) {
    var v = expiry.value;
    // Autofill may give MM/YYYY: keep the last two digits of the year.
    var m = /^\s*(\d{1,2})\s*[\/\-]\s*(\d{2}|\d{4})\s*$/.exec(v);
    var d;
    if (m) d = (m[1].length === 1 ? "0" + m[1] : m[1]) + m[2].slice(-2);
    else d = digits(v).slice(0, 4);
    if (d.length === 1 && d > "1") d = "0" + d;
    var deleting = e && e.inputType && e.inputType.indexOf("delete") === 0;
    var f = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : (d.length === 2 && !deleting ? d + "/" : d);
    if (f !== v) expiry.value = f;
    if (hasError("expiry")) setError("expiry", check("expiry"));
  }

  function onCVCInput() {
    var v = cvc.value.replace(/[^0-9XxIi]/g, "");
    if (/^[XxIi]/.test(v)) v = v.charAt(0).toUpperCase();
    else v = v.replace(/\D/g, "");
    if (v !== cvc.value) cvc.value = v;
    if (hasError("cvc")) setError("cvc", check("cvc"));
  }

  function setBusy(on) {
    busy = on;
    var b = payButton || returnButton;
    b.disabled = on || done;
    b.classList.toggle("is-busy", on);
    b.setAttribute("aria-busy", on ? "true" : "false");
    status.textContent = on ? msg("pay.busy") : "";
    if (form) {
      for (var i = 0; i < FIELDS.length; i++) $(FIELDS[i]).readOnly = on || done;
      method.disabled = on || done; // a select cannot be read-only
      if (saveCard) saveCard.disabled = on || done;
    }
  }

  // ---- Submission ----------------------------------------------------------
  function submit(body, pow, url) {
    if ((busy && !pow) || done) return; // a double click never sends twice
    setFormError("");
    setBusy(true);
    var headers = { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": cfg.csrf };
    if (pow) headers["Checkout-PoW"] = pow;
    fetch(url || cfg.pay_url, {
      method: "POST",
      headers: headers,
      body: body,
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error",
      referrerPolicy: "no-referrer"
    }).then(function (res) {
      return res.json().then(function (j) { return { ok: res.ok, body: j }; },
        function () { return { ok: false, body: null }; });
    }).then(function (r) {
      if (r.ok && r.body && r.body.status === "paid" && r.body.token) {
        done = true;
        deliver(r.body);
        return;
      }
      var next = r.body && r.body.next_action;
      if (r.ok && r.body.status === "requires_action" && next && next.type === "three_ds_challenge") {
        openChallenge(body, next);
        return;
      }
      var ch = r.body && r.body.challenge;
      if (!pow && r.body && r.body.error && r.body.error.code === "challenge_required" && ch) {
        // Suspicious traffic: prove some work, then send the same form once more.
        status.textContent = msg("pay.busy");
        solve(ch.nonce, ch.bits).then(function (counter) {
          submit(body, ch.nonce + ":" + counter);
        }, function () {
          setBusy(false);
          showServerError(r.body.error);
        });
        return;
      }
      setBusy(false);
      showServerError(r.body && r.body.error);
    }, function () {
      setBusy(false);
      showError(msg("error.network"));
    });
  }

  // ---- 3-D Secure challenge ------------------------------------------------
  // Nothing was paid: the issuer wants the shopper to answer its challenge in
  // its window, framed here. When the window's last page (on this origin)
  // says the challenge ended, the same form goes again with the
  // authentication's id; the server, not this message, knows the outcome.
  var threeds = $("threeds"), threedsWindow = $("threeds-window");
  var challenge = null; // { frame, id, body } while a window is open

  function openChallenge(body, next) {
    closeChallenge();
    var url = String(next.url || "");
    // Only a path on this origin: the page's frame-src allows nothing else.
    if (url.charAt(0) !== "/" || url.charAt(1) === "/" || !next.authentication_id) {
      setBusy(false);
      showError(msg("error.internal"));
      return;
    }
    var frame = document.createElement("iframe");
    frame.src = url;
    frame.width = String(next.width || 390);
    frame.height = String(next.height || 400);
    frame.title = msg("threeds.frame_title");
    frame.setAttribute("referrerpolicy", "no-referrer");
    challenge = { frame: frame, id: String(next.authentication_id), body: body };
    threedsWindow.appendChild(frame);
    threeds.hidden = false;
    setBusy(true); // the fields stay as they were sent, read-only
    status.textContent = msg("threeds.status");
    $("threeds-title").focus();
    if (threeds.scrollIntoView) threeds.scrollIntoView({ block: "start" });
  }

  function closeChallenge() {
    if (!challenge) return;
    if (challenge.frame.parentNode) challenge.frame.parentNode.removeChild(challenge.frame);
    challenge = null;
    threeds.hidden = true;
    setBusy(false);
  }

  window.addEventListener("message", function (e) {
    if (!challenge || e.origin !== location.origin || e.source !== challenge.frame.contentWindow) return;
    var d = e.data;
    if (!d || typeof d !== "object" || d.source !== "hosted-checkout-3ds" || d.type !== "three_ds:complete" ||
        d.authentication_id !== challenge.id) return;
    var c = challenge;
    closeChallenge();
    var p = new URLSearchParams(c.body);
    p.set("authentication", c.id);
    submit(p.toString());
  });
  if (threeds) {
    $("threeds-close").addEventListener("click", function () {
      closeChallenge();
      number.focus();
    });
  }

  // solve finds a decimal counter such that SHA-256(nonce || counter) starts
  // with bits zero bits (the server's proof-of-work challenge), hashing in
  // batches so the page stays responsive.
  function solve(nonce, bits) {
    if (!window.crypto || !crypto.subtle || typeof TextEncoder === "undefined") return Promise.reject(new Error("no crypto"));
    var enc = new TextEncoder(), counter = 0;
    function zeros(buf) {
      var b = new Uint8Array(buf), n = 0;
      for (var i = 0; i < b.length; i++) {
        if (b[i] === 0) { n += 8; continue; }
        for (var m = 0x80; m && !(b[i] & m); m >>= 1) n++;
        break;
      }
      return n;
    }
    function batch() {
      var start = counter, tries = [];
      for (var i = 0; i < 256; i++) tries.push(crypto.subtle.digest("SHA-256", enc.encode(nonce + (start + i))));
      counter += 256;
      return Promise.all(tries).then(function (hashes) {
        for (var i = 0; i < hashes.length; i++) if (zeros(hashes[i]) >= bits) return start + i;
        if (counter > (1 << Math.min(bits + 6, 30))) throw new Error("challenge not solved");
        return batch();
      });
    }
    return batch();
  }

  function showError(text) {
    setFormError(text);
    formError.focus();
  }

  // Each detail goes next to its field; the rest above the form.
  function showServerError(err) {
    if (!err) { showError(msg("error.internal")); return; }
    var details = err.details && err.details.length ? err.details : [{ field: err.field, message: err.message }];
    var first = null, general = [];
    for (var i = 0; i < details.length; i++) {
      var d = details[i], field = FIELD_OF[d.field] || d.field;
      if (form && field && (FIELDS.indexOf(field) >= 0 || (field === "method" && !methodField.hidden)) && setError(field, d.message)) {
        if (!first) first = $(field);
      } else {
        general.push(d.message);
      }
    }
    if (general.length) { showError(general.join(" ")); return; }
    if (first) first.focus();
  }

  // deliver hands the signed result to the merchant: postMessage to the
  // parent's exact origin in the iframe, else a POST form (or the query
  // string) to success_url, which the server checked is on the merchant's
  // registered origins.
  function deliver(r) {
    if (form) {
      number.value = "";
      cvc.value = "";
      updateBrand(null);
      updateMethods("", null);
    }
    setBusy(false);
    status.textContent = cfg.embed ? msg("pay.success_embed") : msg("pay.success");
    if (cfg.embed) {
      post({ type: "checkout:result", session: cfg.session, status: r.status, token: r.token });
      return;
    }
    if (r.delivery === "query") {
      var u = r.success_url, hash = "", i = u.indexOf("#");
      if (i >= 0) { hash = u.slice(i); u = u.slice(0, i); }
      u += (u.indexOf("?") >= 0 ? "&" : "?") + "checkout_result=" + encodeURIComponent(r.token) + hash;
      window.location.assign(u);
      return;
    }
    var f = document.createElement("form");
    f.method = "post";
    f.action = r.success_url;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "checkout_result";
    input.value = r.token;
    f.appendChild(input);
    document.body.appendChild(f);
    f.submit();
  }

  if (cfg.state === "paid") {
    // Already paid: the server hands the payment's result again (the same
    // jti), without charging again.
    returnButton.disabled = false;
    returnButton.addEventListener("click", function () { submit("", null, cfg.result_url); });
    return;
  }

  number.addEventListener("input", onNumberInput);
  expiry.addEventListener("input", onExpiryInput);
  cvc.addEventListener("input", onCVCInput);
  FIELDS.forEach(function (f) {
    $(f).addEventListener("blur", function () {
      if ($(f).value !== "" || hasError(f)) setError(f, check(f));
    });
  });
  $("cvc-none").addEventListener("click", function () { cvc.value = "X"; setError("cvc", ""); cvc.focus(); });
  $("cvc-illegible").addEventListener("click", function () { cvc.value = "I"; setError("cvc", ""); cvc.focus(); });
  method.addEventListener("change", function () { setError("method", ""); });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (busy || done) return;
    var first = null, fields = activeFields();
    for (var i = 0; i < fields.length; i++) {
      var text = check(fields[i]);
      setError(fields[i], text);
      if (text && !first) first = $(fields[i]);
    }
    if (first) { first.focus(); return; }
    var p = new URLSearchParams(), saved = chosenSaved();
    if (saved) {
      p.set("saved_card", saved);
    } else {
      p.set("number", digits(number.value));
      p.set("expiry", expiry.value.replace(/\s+/g, ""));
      p.set("name", name.value.trim());
    }
    p.set("cvc", cvc.value.trim());
    methodParams(p);
    if (saveCard && saveCard.checked) p.set("save_card", "1");
    submit(p.toString());
  });

  var choices = document.querySelectorAll('input[name="card-choice"]');
  for (var c = 0; c < choices.length; c++) choices[c].addEventListener("change", applyChoice);
  // Removing a saved card: the server erases it, the row goes, and "use
  // another card" is chosen if it was the one chosen.
  var removers = document.querySelectorAll(".saved-remove");
  for (var r = 0; r < removers.length; r++) {
    removers[r].addEventListener("click", function (e) {
      var id = e.currentTarget.getAttribute("data-card");
      if (busy || done || !id) return;
      fetch(cfg.pay_url + "/saved_cards/" + encodeURIComponent(id) + "/remove", {
        method: "POST", headers: { "X-CSRF-Token": cfg.csrf }, cache: "no-store",
        credentials: "same-origin", redirect: "error", referrerPolicy: "no-referrer"
      }).then(function (res) {
        return res.json().then(function (j) { return { ok: res.ok, body: j }; });
      }).then(function (res) {
        if (!res.ok) { showServerError(res.body && res.body.error); return; }
        var row = $("row-" + id);
        var wasChosen = chosenSaved() === id;
        if (row && row.parentNode) row.parentNode.removeChild(row);
        SAVED = SAVED.filter(function (s) { return s.id !== id; });
        if (wasChosen) $("saved-new").checked = true;
        applyChoice();
        status.textContent = msg("saved.removed");
        $("saved-new").focus();
      }, function () { showError(msg("error.network")); });
    });
  }

  // Autofill and back-navigation may fill fields before this runs.
  if (number.value) onNumberInput();
  if (SAVED.length) applyChoice();
  updateBrand(currentRule());
  payButton.disabled = false;
})();
