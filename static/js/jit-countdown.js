// Live "time left" for just-in-time grants: every element with data-ends-at (ISO 8601) counts down
// each second. Elements replaced by htmx polling are picked up at the next tick.
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function render(el) {
    var ends = Date.parse(el.getAttribute("data-ends-at"));
    if (isNaN(ends)) { return; }
    var left = Math.floor((ends - Date.now()) / 1000);
    if (left <= 0) {
      el.textContent = "time is up, revoking";
      el.classList.add("expired");
      return;
    }
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = (h > 0 ? h + "h " : "") + pad(m) + "m " + pad(s) + "s left";
  }
  function tick() { document.querySelectorAll("[data-ends-at]").forEach(render); }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
}());
