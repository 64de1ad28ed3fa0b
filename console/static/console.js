/* Small console behaviours without inline script (the CSP forbids it). */
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { e.preventDefault(); }
  }, true);
  // After a one-click dispatch the queue row changes in place; keep focus sensible.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail && e.detail.target && e.detail.target.classList) { e.detail.target.classList.add("swapped"); }
  });
})();
