/* Engage dashboard charts: hand-written SVG, no dependencies, no build step.
 *
 * EngageCharts.lineChart / barChart / heatmap each draw into a container element
 * (replacing its content: an HTML legend, the SVG, a tooltip div) and draw again
 * when the container's width changes. `null` values are missing data (unfinished
 * periods): lines break there and the span is shaded, bars and cells are hatched,
 * never drawn as zero. Every mark keeps data-* attributes for tests and tooling.
 */
(function (global) {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const CHAR_W = 6.6; // average width of an 11px label character, for layout without measuring
  let uid = 0;

  // ---------- DOM helpers ----------
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function label(parent, x, y, text, attrs) {
    const t = svg("text", Object.assign({ x, y }, attrs), parent);
    t.textContent = text;
    return t;
  }

  // ---------- formatting ----------
  const fmt = {
    int: (v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US")),
    num: (v, d = 1) => (v == null ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })),
    pct: (v, d = 1) => (v == null ? "—" : (v * 100).toFixed(d) + "%"),
    duration(s) {
      if (s == null) return "—";
      s = Math.round(s);
      if (s < 60) return s + " s";
      if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
      return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
    },
  };
  // Days are "YYYY-MM-DD" strings; arithmetic in UTC so the viewer's time zone never shifts them.
  const day = {
    parse(s) { const [y, m, d] = s.split("-").map(Number); return new Date(Date.UTC(y, m - 1, d || 1)); },
    str(d) { return d.toISOString().slice(0, 10); },
    add(s, n) { const d = day.parse(s); d.setUTCDate(d.getUTCDate() + n); return day.str(d); },
    short(s) { const d = day.parse(s); return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate(); },
    long(s) { const d = day.parse(s); return WEEKDAYS[d.getUTCDay()] + " " + d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear(); },
    month(s) { const d = day.parse(s); return MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear(); },
  };

  // ---------- scales ----------
  function niceScale(lo, hi, count, integer) {
    if (!(hi > lo)) hi = lo + (integer ? 1 : 0.01);
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    let step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
    if (integer) step = Math.max(1, Math.round(step));
    const min = Math.floor(lo / step) * step, max = Math.ceil(hi / step) * step;
    const ticks = [];
    for (let v = min; v <= max + step / 2; v += step) ticks.push(+v.toFixed(10));
    return { min, max, ticks };
  }
  function extent(series, stacked) {
    let lo = 0, hi = 0;
    if (stacked) {
      const n = series.length ? series[0].values.length : 0;
      for (let i = 0; i < n; i++) {
        let pos = 0, neg = 0;
        for (const s of series) { const v = s.values[i]; if (v > 0) pos += v; else if (v < 0) neg += v; }
        hi = Math.max(hi, pos); lo = Math.min(lo, neg);
      }
    } else {
      for (const s of series) for (const v of s.values) if (v != null) { hi = Math.max(hi, v); lo = Math.min(lo, v); }
    }
    return [lo, hi];
  }
  // Which x indices get a label: dates pick days, Mondays, 1st+15th or 1st of months, numbers a 1-2-5 step;
  // the densest choice whose labels fit the width.
  function xTicks(labels, kind, width) {
    const n = labels.length;
    const room = (w) => Math.max(1, Math.floor(width / w));
    if (kind === "date") {
      const rules = [
        [(s) => true, day.short, 52],
        [(s) => day.parse(s).getUTCDay() === 1, day.short, 52],
        [(s) => s.endsWith("-01") || s.endsWith("-15"), day.short, 52],
        [(s) => s.endsWith("-01"), (s) => (s.slice(5, 7) === "01" ? day.month(s) : day.short(s).split(" ")[0]), 60],
        [(s) => s.endsWith("-01") && (+s.slice(5, 7) - 1) % 3 === 0, day.month, 70],
        [(s) => s.endsWith("-01-01"), (s) => s.slice(0, 4), 40],
      ];
      for (const [keep, text, w] of rules) {
        const idx = labels.map((s, i) => (keep(s) ? i : -1)).filter((i) => i >= 0);
        if (idx.length <= room(w)) return idx.map((i) => ({ i, text: text(labels[i]) }));
      }
      return [];
    }
    const longest = Math.max(...labels.map((l) => String(l).length)) * CHAR_W + 10;
    const fit = room(longest);
    const step = [1, 2, 5, 10, 20, 50, 100].find((s) => Math.ceil(n / s) <= fit) || Math.ceil(n / fit);
    const out = [];
    for (let i = 0; i < n; i++) if ((kind === "number" ? +labels[i] : i) % step === 0 || (step === 1)) out.push({ i, text: String(labels[i]) });
    return out;
  }

  // ---------- frame, legend, tooltip, redraw ----------
  const resize = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
    for (const e of entries) {
      const c = e.target, w = Math.round(c.clientWidth);
      if (c._draw && w && w !== c._width) { c._width = w; c._draw(); }
    }
  }) : null;
  function mount(container, draw) {
    container._draw = draw;
    container._width = Math.round(container.clientWidth);
    draw();
    if (resize) resize.observe(container);
  }
  function legend(container, items) {
    const box = html("div", { class: "legend" }, container);
    for (const it of items) {
      const item = html("span", { class: "legend-item" }, box);
      const sw = html("span", { class: "swatch " + (it.kind || "box") }, item);
      sw.style.setProperty("--c", it.color);
      html("span", {}, item, it.name);
    }
    return box;
  }
  function frame(container, spec, margin) {
    container.textContent = "";
    container.classList.add("chart");
    if (spec.legend) legend(container, spec.legend);
    const width = Math.max(300, container.clientWidth || 640);
    const height = spec.height || 260;
    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": spec.title || "" }, container);
    const tip = html("div", { class: "tip", role: "tooltip" }, container);
    tip.hidden = true;
    const f = { root, tip, container, width, height, left: margin.left, right: width - margin.right, top: margin.top, bottom: height - margin.bottom, id: "c" + ++uid };
    const defs = svg("defs", {}, root);
    const pat = svg("pattern", { id: f.id + "-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
    svg("rect", { width: 6, height: 6, fill: "#f3f4f6" }, pat);
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#c9ced6", "stroke-width": 2 }, pat);
    f.hatch = `url(#${f.id}-hatch)`;
    return f;
  }
  // rows: [{name, value, color}]; placed next to (x, y) in the container, kept inside it.
  function showTip(f, x, y, title, rows) {
    const t = f.tip;
    t.textContent = "";
    html("div", { class: "tip-title" }, t, title);
    for (const r of rows) {
      const line = html("div", { class: "tip-row" }, t);
      if (r.color) { const sw = html("span", { class: "swatch " + (r.kind || "box") }, line); sw.style.setProperty("--c", r.color); }
      html("span", { class: "tip-name" }, line, r.name);
      html("span", { class: "tip-value" }, line, r.value);
    }
    t.hidden = false;
    const svgBox = f.root.getBoundingClientRect(), cBox = f.container.getBoundingClientRect();
    const ox = svgBox.left - cBox.left, oy = svgBox.top - cBox.top;
    let left = ox + x + 14;
    if (left + t.offsetWidth > f.container.clientWidth) left = Math.max(0, ox + x - t.offsetWidth - 14);
    t.style.left = left + "px";
    t.style.top = Math.max(0, oy + y - t.offsetHeight / 2) + "px";
  }
  function hideTip(f) { f.tip.hidden = true; }

  function yAxis(f, scale, spec, yOf) {
    const g = svg("g", { class: "axis y" }, f.root);
    for (const v of scale.ticks) {
      const y = yOf(v);
      svg("line", { x1: f.left, x2: f.right, y1: y, y2: y, class: v === 0 ? "zero" : "grid" }, g);
      label(g, f.left - 6, y + 4, (spec.yTick || fmt.int)(v), { "text-anchor": "end" });
    }
    if (spec.yLabel) label(g, 14, (f.top + f.bottom) / 2, spec.yLabel, { class: "axis-title", "text-anchor": "middle", transform: `rotate(-90 14 ${(f.top + f.bottom) / 2})` });
  }
  function xTitle(f, text) {
    if (text) label(f.root, (f.left + f.right) / 2, f.height - 6, text, { class: "axis-title", "text-anchor": "middle" });
  }
  function leftMargin(scale, spec) {
    const w = Math.max(...scale.ticks.map((v) => (spec.yTick || fmt.int)(v).length)) * CHAR_W;
    return Math.ceil(w) + (spec.yLabel ? 32 : 12);
  }
  // Contiguous index runs where pred(i) holds.
  function runs(n, pred) {
    const out = [];
    for (let i = 0; i < n; i++) if (pred(i)) { let j = i; while (j + 1 < n && pred(j + 1)) j++; out.push([i, j]); i = j; }
    return out;
  }

  // ---------- line chart ----------
  // spec: {labels, xKind: "date"|"number"|"category", xLabel, yLabel, yTick, yValue, series: [{name, color, values, dash}],
  //        integer, yMax, height, tipTitle(i), pointAttrs(i) -> data attributes of the hover target}
  function lineChart(container, spec) {
    mount(container, () => {
      const n = spec.labels.length;
      let [lo, hi] = extent(spec.series);
      if (spec.yMax != null) hi = Math.max(hi, spec.yMax);
      const scale = niceScale(Math.min(0, lo), hi, 5, spec.integer);
      spec.legend = spec.series.map((s) => ({ name: s.name, color: s.color, kind: s.dash ? "dash" : "line" }));
      const f = frame(container, spec, { left: leftMargin(scale, spec), right: 16, top: 12, bottom: spec.xLabel ? 46 : 28 });
      const yOf = (v) => f.bottom - ((v - scale.min) / (scale.max - scale.min)) * (f.bottom - f.top);
      const step = n > 1 ? (f.right - f.left) / (n - 1) : 0;
      const xOf = (i) => (n > 1 ? f.left + i * step : (f.left + f.right) / 2);
      const missing = (i) => spec.series.every((s) => s.values[i] == null);
      for (const [a, b] of runs(n, missing)) {
        const x0 = Math.max(f.left, xOf(a) - step / 2), x1 = Math.min(f.right, xOf(b) + step / 2);
        svg("rect", { x: x0, y: f.top, width: Math.max(2, x1 - x0), height: f.bottom - f.top, fill: f.hatch, class: "missing" }, f.root);
        if (x1 - x0 > 60) label(f.root, (x0 + x1) / 2, f.top + 14, "no data yet", { class: "missing-label", "text-anchor": "middle" });
      }
      yAxis(f, scale, spec, yOf);
      const gx = svg("g", { class: "axis x" }, f.root);
      for (const t of xTicks(spec.labels, spec.xKind, f.right - f.left)) {
        const x = xOf(t.i);
        svg("line", { x1: x, x2: x, y1: f.bottom, y2: f.bottom + 4 }, gx);
        label(gx, x, f.bottom + 17, t.text, { "text-anchor": t.i === 0 && n > 1 ? "start" : t.i === n - 1 && n > 1 ? "end" : "middle" });
      }
      xTitle(f, spec.xLabel);
      for (const s of spec.series) {
        let d = "", pen = false;
        s.values.forEach((v, i) => {
          if (v == null) { pen = false; return; }
          d += (pen ? "L" : "M") + xOf(i).toFixed(1) + " " + yOf(v).toFixed(1);
          pen = true;
          const alone = (i === 0 || s.values[i - 1] == null) && (i === n - 1 || s.values[i + 1] == null);
          if (alone) svg("circle", { cx: xOf(i), cy: yOf(v), r: 2.5, fill: s.color }, f.root);
        });
        svg("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-dasharray": s.dash || null, "stroke-linejoin": "round", class: "series", "data-series": s.name }, f.root);
      }
      // hover: a crosshair and one dot per series at the nearest index
      const hover = svg("g", { class: "hover", visibility: "hidden" }, f.root);
      const cross = svg("line", { y1: f.top, y2: f.bottom, class: "crosshair" }, hover);
      const dots = spec.series.map((s) => svg("circle", { r: 4, fill: s.color, stroke: "#fff", "stroke-width": 1.5 }, hover));
      const overlay = svg("rect", { x: f.left - step / 2, y: f.top, width: f.right - f.left + step, height: f.bottom - f.top, fill: "transparent", class: "overlay" }, f.root);
      overlay.addEventListener("pointermove", (ev) => {
        const box = f.root.getBoundingClientRect();
        const mx = ev.clientX - box.left;
        const i = Math.max(0, Math.min(n - 1, Math.round(step ? (mx - f.left) / step : 0)));
        const x = xOf(i);
        cross.setAttribute("x1", x); cross.setAttribute("x2", x);
        spec.series.forEach((s, k) => {
          const v = s.values[i];
          dots[k].setAttribute("visibility", v == null ? "hidden" : "visible");
          if (v != null) { dots[k].setAttribute("cx", x); dots[k].setAttribute("cy", yOf(v)); }
        });
        hover.setAttribute("visibility", "visible");
        const rows = spec.series.map((s) => ({ name: s.name, color: s.color, kind: s.dash ? "dash" : "line",
          value: s.values[i] == null ? "no data yet" : (spec.yValue || spec.yTick || fmt.int)(s.values[i]) }));
        showTip(f, x, ev.clientY - box.top, spec.tipTitle ? spec.tipTitle(i) : String(spec.labels[i]), rows);
      });
      overlay.addEventListener("pointerleave", () => { hover.setAttribute("visibility", "hidden"); hideTip(f); });
    });
  }

  // ---------- bar chart ----------
  // spec: {categories, catLabel(i), xLabel, yLabel, yTick, yValue, series: [{name, color, values}], stacked,
  //        integer, height, tipTitle(i), tipExtra(i) -> rows, barClass, barData(i, s) -> data attributes}
  // Stacked bars take negative values below the zero line (lifecycle's dormant users).
  function barChart(container, spec) {
    mount(container, () => {
      const n = spec.categories.length;
      const [lo, hi] = extent(spec.series, spec.stacked);
      const scale = niceScale(lo, hi, 5, spec.integer);
      if (spec.series.length > 1 || spec.legendAlways) spec.legend = spec.series.map((s) => ({ name: s.name, color: s.color }));
      const f = frame(container, spec, { left: leftMargin(scale, spec), right: 12, top: 12, bottom: spec.xLabel ? 46 : 28 });
      const yOf = (v) => f.bottom - ((v - scale.min) / (scale.max - scale.min)) * (f.bottom - f.top);
      const band = (f.right - f.left) / Math.max(1, n);
      const pad = Math.min(band * 0.2, 10);
      const missing = (i) => spec.series.every((s) => s.values[i] == null);
      for (const [a, b] of runs(n, missing)) {
        svg("rect", { x: f.left + a * band, y: f.top, width: (b - a + 1) * band, height: f.bottom - f.top, fill: f.hatch, class: "missing" }, f.root);
        if ((b - a + 1) * band > 60) label(f.root, f.left + ((a + b + 1) / 2) * band, f.top + 14, "no data yet", { class: "missing-label", "text-anchor": "middle" });
      }
      yAxis(f, scale, spec, yOf);
      const bars = svg("g", { class: "bars" }, f.root);
      for (let i = 0; i < n; i++) {
        const g = svg("g", { class: spec.barClass || "bar-group", "data-category": spec.categories[i] }, bars);
        const w = Math.min(band - 2 * pad, spec.maxBarWidth || Infinity), x0 = f.left + i * band + (band - w) / 2;
        let pos = 0, neg = 0;
        spec.series.forEach((s, k) => {
          const v = s.values[i];
          if (v == null) return;
          let y0, y1, x = x0, bw = w;
          if (spec.stacked) {
            if (v >= 0) { y0 = pos; y1 = pos + v; pos = y1; } else { y0 = neg + v; y1 = neg; neg = y0; }
          } else {
            bw = w / spec.series.length; x = x0 + k * bw; y0 = Math.min(0, v); y1 = Math.max(0, v);
          }
          const attrs = Object.assign({ x, y: yOf(y1), width: Math.max(1, bw - (spec.stacked ? 0 : 1)), height: Math.max(v === 0 ? 0 : 1, yOf(y0) - yOf(y1)), fill: spec.barColor ? spec.barColor(i, s) : s.color, class: "bar" },
            spec.barData ? spec.barData(i, s) : {});
          svg("rect", attrs, g);
        });
      }
      const gx = svg("g", { class: "axis x" }, f.root);
      const labels = spec.categories.map((c, i) => (spec.catLabel ? spec.catLabel(i) : String(c)));
      const widest = Math.max(...labels.map((l) => l.length)) * CHAR_W + 8;
      const every = Math.max(1, Math.ceil(widest / band));
      labels.forEach((text, i) => {
        if (i % every) return;
        label(gx, f.left + (i + 0.5) * band, f.bottom + 17, text, { "text-anchor": "middle" });
      });
      xTitle(f, spec.xLabel);
      // hover: the whole column of a category
      const hl = svg("rect", { y: f.top, height: f.bottom - f.top, width: band, class: "column-highlight", visibility: "hidden" }, f.root);
      f.root.insertBefore(hl, bars);
      for (let i = 0; i < n; i++) {
        const hit = svg("rect", { x: f.left + i * band, y: f.top, width: band, height: f.bottom - f.top, fill: "transparent", class: "overlay" }, f.root);
        hit.addEventListener("pointermove", (ev) => {
          hl.setAttribute("x", f.left + i * band); hl.setAttribute("visibility", "visible");
          const box = f.root.getBoundingClientRect();
          const rows = spec.series.map((s) => ({ name: s.name, color: s.color, value: s.values[i] == null ? "no data yet" : (spec.yValue || spec.yTick || fmt.int)(s.values[i]) }));
          showTip(f, f.left + (i + 1) * band - 8, ev.clientY - box.top, spec.tipTitle ? spec.tipTitle(i) : labels[i], rows.concat(spec.tipExtra ? spec.tipExtra(i) : []));
        });
        hit.addEventListener("pointerleave", () => { hl.setAttribute("visibility", "hidden"); hideTip(f); });
      }
    });
  }

  // ---------- heatmap ----------
  // spec: {rows, cols (labels), rowLabel(r), colLabel(c), corner, xLabel, cell(r, c) -> {value 0..1 | null, text,
  //        tipTitle, tip: rows, data: attributes} | undefined (no cell), scaleLabel, scaleMax}
  const BLUES = ["#f4f8fc", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];
  function blue(t) {
    t = Math.max(0, Math.min(1, t)) * (BLUES.length - 1);
    const i = Math.min(BLUES.length - 2, Math.floor(t)), u = t - i;
    const a = hex(BLUES[i]), b = hex(BLUES[i + 1]);
    return "rgb(" + a.map((x, k) => Math.round(x + (b[k] - x) * u)).join(",") + ")";
  }
  function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
  function dark(rgb) { const [r, g, b] = rgb.match(/\d+/g).map(Number); return 0.299 * r + 0.587 * g + 0.114 * b < 140; }

  function heatmap(container, spec) {
    mount(container, () => {
      const rowTexts = spec.rows.map((r, i) => (spec.rowLabel ? spec.rowLabel(i) : String(r)));
      const colTexts = spec.cols.map((c, i) => (spec.colLabel ? spec.colLabel(i) : String(c)));
      const left = Math.ceil(Math.max(spec.corner ? spec.corner.length : 0, ...rowTexts.map((t) => t.length)) * CHAR_W) + 16;
      const cellH = spec.cellHeight || 24;
      const top = 36, bottom = spec.scale === false ? 6 : 50;
      spec.height = top + cellH * spec.rows.length + bottom;
      const f = frame(container, spec, { left, right: 12, top, bottom });
      const cellW = Math.min(spec.maxCellWidth || 90, (f.right - f.left) / Math.max(1, spec.cols.length));
      const g = svg("g", { class: "cells" }, f.root);
      if (spec.corner) label(f.root, f.left - 8, f.top - 8, spec.corner, { class: "axis-title", "text-anchor": "end" });
      if (spec.colTitle) label(f.root, f.left, f.top - 24, spec.colTitle, { class: "axis-title" });
      colTexts.forEach((t, c) => label(f.root, f.left + (c + 0.5) * cellW, f.top - 8, t, { "text-anchor": "middle", class: "tick" }));
      rowTexts.forEach((t, r) => label(f.root, f.left - 8, f.top + (r + 0.5) * cellH + 4, t, { "text-anchor": "end", class: "tick" }));
      spec.rows.forEach((_, r) => spec.cols.forEach((__, c) => {
        const cell = spec.cell(r, c);
        if (!cell) return;
        const x = f.left + c * cellW, y = f.top + r * cellH;
        const fill = cell.value == null ? f.hatch : blue(cell.value / (spec.scaleMax || 1));
        const rect = svg("rect", Object.assign({ x: x + 1, y: y + 1, width: cellW - 2, height: cellH - 2, rx: 2, fill, class: "cell" + (cell.value == null ? " missing" : "") }, cell.data || {}), g);
        const text = cell.value == null ? (cellW > 44 ? "—" : "") : cell.text;
        if (text && cellW >= text.length * CHAR_W + 4)
          label(g, x + cellW / 2, y + cellH / 2 + 4, text, { "text-anchor": "middle", class: "cell-text" + (cell.value != null && dark(fill) ? " on-dark" : "") });
        rect.addEventListener("pointermove", () => {
          rect.classList.add("hot");
          showTip(f, x + cellW, y + cellH / 2, cell.tipTitle || "", cell.tip || []);
        });
        rect.addEventListener("pointerleave", () => { rect.classList.remove("hot"); hideTip(f); });
      }));
      if (spec.scale === false) return;
      // colour scale
      const sy = f.bottom + 18, sw = Math.min(220, f.right - f.left);
      const grad = svg("linearGradient", { id: f.id + "-grad" }, f.root.querySelector("defs"));
      BLUES.forEach((c, i) => svg("stop", { offset: (i / (BLUES.length - 1)) * 100 + "%", "stop-color": c }, grad));
      svg("rect", { x: f.left, y: sy, width: sw, height: 10, fill: `url(#${f.id}-grad)`, stroke: "#c9ced6" }, f.root);
      label(f.root, f.left, sy + 24, spec.scaleMinText || "0%", { class: "tick" });
      label(f.root, f.left + sw, sy + 24, spec.scaleMaxText || "100%", { class: "tick", "text-anchor": "end" });
      if (spec.scaleLabel) label(f.root, f.left + sw + 12, sy + 9, spec.scaleLabel, { class: "tick" });
      if (spec.missingKey) {
        const mx = f.left + sw + 24 + (spec.scaleLabel || "").length * CHAR_W;
        svg("rect", { x: mx, y: sy, width: 18, height: 10, fill: f.hatch, stroke: "#c9ced6" }, f.root);
        label(f.root, mx + 24, sy + 9, spec.missingKey, { class: "tick" });
      }
    });
  }

  global.EngageCharts = { lineChart, barChart, heatmap, fmt, day, niceScale, blue };
})(window);
