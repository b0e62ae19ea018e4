// The pages inside the payment page's 3-D Secure challenge window. On the
// sandbox issuer's last page it posts the challenge result (CRes) to the
// checkout's notification URL at once (the button does it without script);
// on the notification page it tells the payment page, its parent on this
// same origin, which authentication ended. Nothing else: the payment page
// asks the server for the outcome.
(function () {
  "use strict";
  var cres = document.getElementById("cres-form");
  if (cres) {
    HTMLFormElement.prototype.submit.call(cres);
    return;
  }
  var done = document.getElementById("threeds-done");
  if (done && window.parent !== window) {
    window.parent.postMessage({
      source: "hosted-checkout-3ds",
      type: "three_ds:complete",
      authentication_id: done.getAttribute("data-authentication-id")
    }, location.origin); // the payment page is on this origin; never "*"
  }
})();
