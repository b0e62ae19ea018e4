/* Hosted checkout embed script. Usage:
 *   var c = Checkout.mount("#pay", {session: "cs_...", onComplete: fn, onCancel: fn, onError: fn});
 *   c.unmount();
 * The checkout runs in an iframe on its own origin: card data never touches
 * this page. Messages are accepted only from that origin and that iframe. */
(function () {
  "use strict";
  // The checkout's origin, written in by the server that serves this file
  // (its base URL), whatever host name the merchant's page loaded it from.
  var origin = "__CHECKOUT_ORIGIN__";

  function call(fn, arg) {
    if (typeof fn === "function") fn(arg);
  }

  function mount(target, opts) {
    opts = opts || {};
    var el = typeof target === "string" ? document.querySelector(target) : target;
    if (!el) throw new Error("Checkout.mount: target not found");
    if (typeof opts.session !== "string" || !opts.session) throw new Error("Checkout.mount: session is required");

    var frame = document.createElement("iframe");
    frame.src = origin + "/pay/" + encodeURIComponent(opts.session) +
      "?embed=1&parent=" + encodeURIComponent(location.origin);
    frame.title = opts.title || "Secure card payment";
    frame.setAttribute("allow", "payment");
    frame.style.width = "100%";
    frame.style.border = "0";
    frame.style.height = "560px";
    frame.style.display = "block";

    function onMessage(e) {
      if (e.origin !== origin || e.source !== frame.contentWindow) return;
      var d = e.data;
      if (!d || typeof d !== "object" || d.source !== "hosted-checkout") return;
      if (d.session !== undefined && d.session !== opts.session) return;
      switch (d.type) {
        case "checkout:resize":
          var h = Number(d.height);
          if (h > 0 && h < 20000) frame.style.height = Math.ceil(h) + "px";
          break;
        case "checkout:result":
          call(opts.onComplete, { session: d.session, status: d.status, token: d.token });
          break;
        case "checkout:cancel":
          call(opts.onCancel);
          break;
        case "checkout:error":
          call(opts.onError, { session: d.session, code: d.code });
          break;
      }
    }
    window.addEventListener("message", onMessage);
    el.appendChild(frame);

    return {
      unmount: function () {
        window.removeEventListener("message", onMessage);
        if (frame.parentNode) frame.parentNode.removeChild(frame);
      }
    };
  }

  window.Checkout = { mount: mount };
})();
