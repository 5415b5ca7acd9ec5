// The live charts: the last hour of this process's own metrics (/monitor/api/metrics/history,
// sampled every 5 s by the monitor component) drawn with uPlot (vendor/uPlot.iife.min.js, 1.6.30).
"use strict";

const Charts = (() => {
  const plots = {};
  const DEFS = [
    { id: "chart-landed", series: [["landed_per_s", "charts.s_landed", "#1a7f37"]] },
    { id: "chart-errors", series: [["errors_per_s", "charts.s_errors", "#cf222e"]] },
    { id: "chart-lag", series: [["lag", "charts.s_lag", "#9a6700"]] },
    { id: "chart-visible", series: [["visible_p50", "charts.s_p50", "#0969da"], ["visible_p99", "charts.s_p99", "#8250df"]] },
  ];

  function width(figure) {
    return Math.max(160, Math.floor(figure.querySelector(".plot").getBoundingClientRect().width));
  }

  function options(def, figure) {
    return {
      width: width(figure), height: 150, legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        // Minutes apart: hh:mm; seconds apart (a process just started): hh:mm:ss.
        { values: (u, ticks) => ticks.map((s) => I18N.fmt.clock(s, ticks.length > 1 && ticks[1] - ticks[0] < 60)),
          size: 28, font: "11px system-ui" },
        { values: (u, ticks) => ticks.map((v) => I18N.fmt.num(v, 2)), size: 46, font: "11px system-ui" },
      ],
      series: [
        { label: I18N.t("charts.time"), value: (u, s) => (s === null ? "—" : I18N.fmt.clock(s)) },
        ...def.series.map(([, label, stroke]) => ({
          label: I18N.t(label), stroke, width: 1.5, spanGaps: false,
          value: (u, v) => (v === null || v === undefined ? "—" : I18N.fmt.num(v, 3)),
        })),
      ],
    };
  }

  // One point (or none) has no time span, and uPlot would draw its axis from 1970: such a series
  // is padded with empty points to a five-minute window.
  function data(def, history) {
    const s = history.series || {};
    const t = s.t || [];
    const columns = def.series.map(([key]) => s[key] || []);
    if (t.length >= 2) return [t, ...columns];
    const end = t.length ? t[0] : Date.now() / 1000;
    const pad = t.length ? [end - 300] : [end - 300, end];
    return [[...pad, ...t], ...columns.map((c) => [...pad.map(() => null), ...c])];
  }

  // Draw (or redraw: a language switch changes labels and formats) every chart.
  function draw(history, rebuild = false) {
    if (typeof uPlot === "undefined") return;
    for (const def of DEFS) {
      const figure = document.getElementById(def.id);
      if (rebuild && plots[def.id]) { plots[def.id].destroy(); delete plots[def.id]; }
      if (!plots[def.id]) {
        plots[def.id] = new uPlot(options(def, figure), data(def, history), figure.querySelector(".plot"));
      } else {
        plots[def.id].setData(data(def, history));
      }
      figure.dataset.points = String((history.series?.t || []).length);
    }
  }

  function resize() {
    for (const def of DEFS) {
      const plot = plots[def.id];
      if (plot) plot.setSize({ width: width(document.getElementById(def.id)), height: 150 });
    }
  }

  let last = { series: {} };
  async function refresh(rebuild = false) {
    const response = await fetch("/monitor/api/metrics/history", { cache: "no-store" });
    if (response.ok) last = await response.json();
    draw(last, rebuild);
  }

  window.addEventListener("resize", () => resize());
  return { refresh, redraw: () => draw(last, true) };
})();
