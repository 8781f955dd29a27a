// A small SVG line chart of a task's last hour: no library, so the console needs no build step and no network.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 600, H = 210, LEFT = 52, RIGHT = 10, TOP = 10, BOTTOM = 24;

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A round top for the y axis: 1, 2 or 5 times a power of ten.
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
    return 10 * power;
  }

  function label(value) {
    if (value >= 1000) return (value / 1000).toFixed(value >= 10000 ? 0 : 1) + "k";
    return String(Math.round(value * 100) / 100);
  }

  // points: [{t: epoch seconds, key: number|null}], oldest first; lines: [{key, label, color}]. The x axis
  // ends at opts.end and spans the hour, or less while the task has been busy for less (at least 4 minutes),
  // so a young task's line is not a sliver at the right edge. Returns a <figure> with the chart and legend.
  window.lineChart = function (points, lines, opts) {
    const end = opts.end;
    const busy = points.filter((p) => lines.some((l) => p[l.key])).map((p) => p.t);
    // Whole multiples of 4 minutes, so the axis's four steps are whole minutes.
    const span = Math.min(3600, Math.ceil(Math.max(240, busy.length ? end - Math.min(...busy) + 60 : 3600) / 240) * 240);
    const start = end - span;
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    let max = 0;
    for (const p of points) for (const l of lines) if (p[l.key] != null && p.t >= start) max = Math.max(max, p[l.key]);
    const top = niceMax(max);
    const x = (t) => LEFT + ((t - start) / span) * plotW;
    const y = (v) => TOP + plotH - (v / top) * plotH;

    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title, class: "chart-svg"});
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      svg.appendChild(el("line", {x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), stroke: "#e3e8ee"}));
      svg.appendChild(el("text", {x: LEFT - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5d6b7a"},
                         label(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = start + (span * i) / 4;
      svg.appendChild(el("text", {x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : (i === 4 ? "end" : "middle"),
                                  "font-size": 11, fill: "#5d6b7a"},
                         i === 4 ? "now" : `-${Math.round((span * (4 - i)) / 4 / 60)} min`));
    }
    for (const l of lines) {
      let d = "", pen = false, count = 0, most = 0;
      for (const p of points) {
        const v = p[l.key];
        if (v == null || p.t < start) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(p.t + (opts.step || 0) / 2).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        count++;
        most = Math.max(most, v);
      }
      const path = el("path", {d: d || "M0,0", fill: "none", stroke: l.color, "stroke-width": 2,
                               "stroke-linejoin": "round", "data-key": l.key, "data-points": count, "data-max": most});
      svg.appendChild(path);
    }
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.style.margin = "0";
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const l of lines) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = l.color;
      item.append(swatch, `${l.label} ${opts.now && opts.now[l.key] != null ? "(now " + label(opts.now[l.key]) + ")" : ""}`);
      legend.appendChild(item);
    }
    figure.append(svg, legend);
    return figure;
  };
})();
