// Managers' report charts. The server aggregates; each canvas names its data (a json_script
// element) in data-source and its kind in data-chart, so no inline script is needed (CSP).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
  if (typeof Chart === "undefined") return;
  // Colour-blind-safe palette (Okabe–Ito), then repeats.
  const palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const colour = (i) => palette[i % palette.length];
  const read = (id) => {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  };
  const base = {
    animation: false,
    maintainAspectRatio: false,
    plugins: { legend: { labels: { boxWidth: 12 } } },
  };

  const builders = {
    // {labels, datasets: [{label, data}]}: one stacked bar per month.
    "stacked-bar": (d) => ({
      type: "bar",
      data: {
        labels: d.labels,
        datasets: d.datasets.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: colour(i) })),
      },
      options: { ...base, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }),
    // {labels, values}: one bar per label.
    bar: (d) => ({
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: "£", data: d.values, backgroundColor: d.labels.map((_, i) => colour(i)) }] },
      options: { ...base, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
    }),
    // {labels (days), lo, hi, min_c, max_c}: daily min/max against the allowed band.
    "daily-range": (d) => ({
      type: "line",
      data: {
        labels: d.labels,
        datasets: [
          { label: "Allowed minimum", data: d.labels.map(() => d.min_c), borderColor: "rgba(0,158,115,.7)", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 },
          { label: "Allowed maximum", data: d.labels.map(() => d.max_c), borderColor: "rgba(0,158,115,.7)", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 },
          { label: "Daily minimum", data: d.lo, borderColor: "#0072B2", backgroundColor: "#0072B2", spanGaps: false, pointRadius: 2 },
          { label: "Daily maximum", data: d.hi, borderColor: "#D55E00", backgroundColor: "#D55E00", spanGaps: false, pointRadius: 2 },
        ],
      },
      options: {
        ...base,
        scales: { y: { title: { display: true, text: "°C" }, suggestedMin: d.min_c - 2, suggestedMax: d.max_c + 2 } },
      },
    }),
  };

  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const build = builders[canvas.dataset.chart];
    const data = read(canvas.dataset.source);
    if (!build || !data) return;
    new Chart(canvas, build(data));
  });
})();
