// Review inbox: keyboard shortcuts and the report chart. No inline scripts (strict CSP).
(function () {
  "use strict";
  function items() { return Array.prototype.slice.call(document.querySelectorAll(".review-item")); }
  var current = -1;
  function focus(index) {
    var list = items();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (el) { el.classList.remove("current"); });
    list[current].classList.add("current");
    list[current].focus();
    list[current].scrollIntoView({ block: "nearest" });
  }
  function press(key) {
    var item = items()[current];
    if (!item) { return; }
    var button = item.querySelector('button[data-key="' + key + '"]');
    if (!button) { return; }
    var field = item.querySelector('input[name="justification"]');
    if (key === "r" && field && !field.value) { field.focus(); field.dataset.pending = "revoke"; return; }
    button.click();
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && target.name === "justification" && event.key === "Enter" && target.dataset.pending === "revoke") {
      event.preventDefault();
      var button = target.form.querySelector('button[value="revoke"]');
      delete target.dataset.pending;
      if (button) { button.click(); }
      return;
    }
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "j") { focus(current + 1); }
    else if (event.key === "k") { focus(current - 1); }
    else if (event.key === "a" || event.key === "r") { press(event.key); }
    else if (event.key === "x") {
      var item = items()[current];
      var box = item && item.querySelector('input[type="checkbox"]');
      if (box) { box.checked = !box.checked; }
    } else if (event.key === "/") {
      var first = document.querySelector(".filters select");
      if (first) { first.focus(); }
    } else { return; }
    // A shortcut is not also a typed letter: "r" moves the focus to the justification field while
    // its keydown is handled, and without this the "r" would then be typed into that field.
    event.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("review-progress-data");
    var canvas = document.getElementById("review-progress-chart");
    if (!data || !canvas || typeof Chart === "undefined") { return; }
    var chart = JSON.parse(data.textContent);
    new Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: [
        { label: "Decided", data: chart.decided, backgroundColor: "#2e7d32" },
        { label: "Undecided", data: chart.undecided, backgroundColor: "#bdbdbd" }
      ] },
      options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } }
    });
  });
})();
