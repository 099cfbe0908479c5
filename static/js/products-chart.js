// Storage-unit temperature chart. Data arrive already bucketed by the database
// (min, mean, max per bucket), so the chart never holds more than a few hundred points.
(function () {
  "use strict";
  const source = document.getElementById("temperature-data");
  const canvas = document.getElementById("temperature-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const pts = data.points;
  const out = pts.filter((p) => p.hi > data.max_c || p.lo < data.min_c);

  // Excursions as red bands behind the lines.
  const excursionBands = {
    id: "excursionBands",
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.fillStyle = "rgba(220, 53, 69, 0.15)";
      for (const e of data.excursions || []) {
        const x0 = Math.max(scales.x.getPixelForValue(e.start), chartArea.left);
        const x1 = Math.min(scales.x.getPixelForValue(Math.max(e.end, e.start + 60000)), chartArea.right);
        if (x1 > x0) ctx.fillRect(x0, chartArea.top, Math.max(x1 - x0, 2), chartArea.bottom - chartArea.top);
      }
      ctx.restore();
    },
  };

  // Missing logger data (samples further apart than 1.5 intervals) as grey hatched bands.
  const gaps = data.gaps || [];
  const hatch = (() => {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const c = tile.getContext("2d");
    c.fillStyle = "rgba(108, 117, 125, 0.12)";
    c.fillRect(0, 0, 8, 8);
    c.strokeStyle = "rgba(108, 117, 125, 0.55)";
    c.lineWidth = 1;
    c.beginPath();
    c.moveTo(0, 8);
    c.lineTo(8, 0);
    c.stroke();
    return c.createPattern(tile, "repeat");
  })();
  const gapBands = {
    id: "gapBands",
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.fillStyle = hatch || "rgba(108, 117, 125, 0.2)";
      for (const g of gaps) {
        const x0 = Math.max(scales.x.getPixelForValue(g.start), chartArea.left);
        const x1 = Math.min(scales.x.getPixelForValue(g.end), chartArea.right);
        if (x1 > x0) ctx.fillRect(x0, chartArea.top, Math.max(x1 - x0, 2), chartArea.bottom - chartArea.top);
      }
      ctx.restore();
    },
  };
  // Break the lines across a gap no bucket falls inside, rather than draw data that is not there.
  const broken = (series) => {
    const out = [];
    let g = 0;
    const sorted = gaps.slice().sort((a, b) => a.start - b.start);
    for (const p of series) {
      while (g < sorted.length && sorted[g].end <= p.x) {
        const mid = (sorted[g].start + sorted[g].end) / 2;
        const prev = out.length ? out[out.length - 1].x : -Infinity;
        if (prev <= sorted[g].start) out.push({ x: mid, y: null });
        g++;
      }
      out.push(p);
    }
    return out;
  };

  const flat = (y) => [{ x: data.start, y: y }, { x: data.end, y: y }];
  // The server chooses the ticks (one per hour, day, week or month, in the clinic's zone):
  // Chart.js's linear axis would place round numbers of milliseconds, unevenly, skipping days.
  const tickLabels = new Map((data.ticks || []).map((t) => [t.v, t.label]));
  const fmt = (v) => tickLabels.get(v) || "";

  new Chart(canvas, {
    type: "line",
    plugins: [gapBands, excursionBands],
    data: {
      datasets: [
        { label: "Allowed minimum", data: flat(data.min_c), borderColor: "rgba(25,135,84,.6)", borderWidth: 1, pointRadius: 0, fill: false },
        { label: "Allowed range", data: flat(data.max_c), borderColor: "rgba(25,135,84,.6)", borderWidth: 1, pointRadius: 0, fill: "-1", backgroundColor: "rgba(25,135,84,.12)" },
        { label: "Lowest", data: broken(pts.map((p) => ({ x: p.t, y: p.lo }))), borderColor: "rgba(13,110,253,.35)", borderWidth: 1, pointRadius: 0, fill: false },
        { label: "Highest", data: broken(pts.map((p) => ({ x: p.t, y: p.hi }))), borderColor: "rgba(13,110,253,.35)", borderWidth: 1, pointRadius: 0, fill: "-1", backgroundColor: "rgba(13,110,253,.12)" },
        { label: "Mean", data: broken(pts.map((p) => ({ x: p.t, y: p.avg }))), borderColor: "#0b5563", borderWidth: 1.5, pointRadius: 0, fill: false },
        { label: "Outside the range", data: out.map((p) => ({ x: p.t, y: p.hi > data.max_c ? p.hi : p.lo })), showLine: false, pointRadius: 3, pointBackgroundColor: "#dc3545", borderColor: "#dc3545" },
        // No points: only the legend's key to the hatched bands.
        ...(gaps.length ? [{ label: "No logger data", data: [], backgroundColor: hatch, borderColor: "rgba(108,117,125,.55)", borderWidth: 1 }] : []),
      ],
    },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: {
          type: "linear",
          min: data.start,
          max: data.end,
          afterBuildTicks: (axis) => {
            axis.ticks = (data.ticks || []).map((t) => ({ value: t.v }));
          },
          ticks: { callback: fmt, autoSkip: true, maxRotation: 0 },
        },
        // Leave room around the allowed band so an excursion is visibly outside it.
        y: { title: { display: true, text: "°C" }, suggestedMin: data.min_c - 2, suggestedMax: data.max_c + 2 },
      },
      plugins: {
        tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString() } },
        legend: { labels: { boxWidth: 12 } },
      },
    },
  });
})();
