// The findings trend: reads the JSON the page embeds (json_script) and draws it with Chart.js.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("findings-trend");
    var canvas = document.getElementById("findings-trend-chart");
    if (!data || !canvas || typeof Chart === "undefined") { return; }
    var trend = JSON.parse(data.textContent);
    var colours = { critical: "#7f1d1d", high: "#b91c1c", medium: "#d97706", low: "#9ca3af" };
    new Chart(canvas, {
      type: "line",
      data: {
        labels: trend.labels,
        datasets: trend.series.map(function (s) {
          return { label: s.label, data: s.data, borderColor: colours[s.severity], backgroundColor: colours[s.severity], tension: 0.2 };
        })
      },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
