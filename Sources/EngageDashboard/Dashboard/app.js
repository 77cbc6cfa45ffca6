/* Engage dashboard: state, data sources and panels. Needs charts.js (window.EngageCharts).
 *
 * Two sources, one renderer:
 * - live: the page was served by engaged; queries go to v1/query/NAME (relative to the page),
 *   with `Authorization: Bearer TOKEN` once a token was given; stats are polled every
 *   POLL_MS and everything is reloaded when events or last_day change.
 * - embedded: the page holds <script type="application/json" id="engage-data"> (an
 *   `engage report` file): the same query bodies, keyed like plan() below; no network.
 */
(function () {
  "use strict";
  const C = window.EngageCharts, fmt = C.fmt, day = C.day;
  const POLL_MS = 5000;
  const TOKEN_KEY = "engage.query-token";
  const ATTRS = [["acquisition_channel", "Channel"], ["user_segment", "Segment"], ["device_type", "Device"], ["region", "Region"], ["cohort", "Cohort"]];
  const ATTR_NAME = Object.fromEntries(ATTRS);
  const TIERS = ["power", "core", "regular", "casual"];
  const TIER_COLORS = { power: "#2d1a66", core: "#5b45a0", regular: "#8a7cc4", casual: "#b4aadc" };
  const METRIC = {
    dau: ["DAU", "#0072b2"], wau: ["WAU", "#e69f00"], mau: ["MAU", "#009e73"],
    dau_mau: ["DAU/MAU", "#7a3e9d"], dau_wau: ["DAU/WAU", "#cc4c8c"],
  };
  const LIFECYCLE = [["new", "New", "#009e73"], ["returning", "Returning", "#0072b2"], ["resurrecting", "Resurrecting", "#e69f00"], ["dormant", "Dormant", "#d55e00"]];
  const GROUP_COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc4c8c", "#56b4e9", "#d55e00", "#7a3e9d", "#8c6d31", "#4d4d4d", "#b5a300"];
  const PERIODS = { week: 8, month: 3 };
  const PANELS = [
    ["kpis", "Latest day", "full"],
    ["activity", "Active users", "full"],
    ["active-days", "Active days in the month", "half"],
    ["tiers", "Engagement tiers", "half"],
    ["transitions", "Tier transitions", "half"],
    ["sessions", "Sessions", "half"],
    ["retention", "Cohort retention", "full"],
    ["lifecycle", "Weekly lifecycle", "full"],
  ];

  // ---------- state ----------
  // {from, to, month, where: {attr: [values]}, by, retention: week|month, metric, ratio, pinned}
  // pinned: the range was chosen (kept in the URL fragment); otherwise it follows the data's last day.
  function monthOf(d) { return d.slice(0, 7); }
  function addMonths(m, n) { const d = day.parse(m + "-01"); d.setUTCMonth(d.getUTCMonth() + n); return day.str(d).slice(0, 7); }
  function monthEnd(m) { return day.add(addMonths(m, 1) + "-01", -1); }
  function defaultRange(stats) {
    const last = stats.last_day, first = stats.first_day;
    if (!last) { const today = day.str(new Date()); return { from: day.add(today, -89), to: today }; }
    const from = day.add(last, -89);
    return { from: first && first > from ? first : from, to: last };
  }
  // The last month that lies wholly in [from, to], else the month of `to`.
  function defaultMonth(from, to) {
    let m = monthOf(to);
    if (monthEnd(m) > to && addMonths(m, -1) + "-01" >= from) m = addMonths(m, -1);
    return m;
  }
  const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && day.str(day.parse(v)) === v;
  const VALID = {
    from: isDay, to: isDay, month: (v) => /^\d{4}-(0[1-9]|1[0-2])$/.test(v),
    by: (v) => !!ATTR_NAME[v], retention: (v) => !!PERIODS[v], metric: (v) => ["dau", "wau", "mau"].includes(v), ratio: (v) => ["dau_mau", "dau_wau"].includes(v),
  };
  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1)), s = { where: {} };
    for (const k of ["from", "to", "month", "by", "retention", "metric", "ratio"]) if (h.get(k) && VALID[k](h.get(k))) s[k] = h.get(k);
    s.where = parseWhere(h.getAll("where"));
    s.pinned = !!(s.from || s.to);
    return s;
  }
  function writeHash(s) {
    const h = new URLSearchParams();
    if (s.pinned) { h.set("from", s.from); h.set("to", s.to); }
    if (s.monthPinned) h.set("month", s.month);
    for (const w of whereList(s.where)) h.append("where", w);
    for (const k of ["by", "retention", "metric", "ratio"]) if (s[k] && s[k] !== DEFAULTS[k]) h.set(k, s[k]);
    const str = h.toString();
    history.replaceState(null, "", str ? "#" + str : location.pathname + location.search);
  }
  const DEFAULTS = { by: "", retention: "week", metric: "dau", ratio: "dau_mau" };
  // ["region=eu", "region=na"] -> {region: ["eu", "na"]}
  function parseWhere(list) {
    const out = {};
    for (const w of list) {
      const i = w.indexOf("="), a = w.slice(0, i), v = w.slice(i + 1);
      if (i > 0 && ATTR_NAME[a] && v) (out[a] = out[a] || []).push(v);
    }
    return out;
  }
  function whereList(where) {
    const out = [];
    for (const [a] of ATTRS) for (const v of where[a] || []) out.push(a + "=" + v);
    return out;
  }

  // The queries behind the panels. The report's embedded JSON uses the same keys.
  function plan(s) {
    const where = whereList(s.where), by = s.by || undefined;
    return {
      activity: ["activity", { from: s.from, to: s.to, where, by }],
      "active-days": ["active-days", { month: s.month, where, by }],
      tiers: ["tiers", { month: s.month, where, by }],
      transitions: ["transitions", { month: addMonths(s.month, -1), where }],
      retention: ["retention", { period: s.retention, from: s.from, to: s.to, periods: PERIODS[s.retention] || 8, where, by }],
      lifecycle: ["lifecycle", { period: "week", from: s.from, to: s.to, where }],
      sessions: ["sessions", { from: s.from, to: s.to, where }],
    };
  }
  function queryString(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
    }
    return q.toString();
  }

  // ---------- sources ----------
  class ApiError extends Error {
    constructor(status, problem, message) {
      super(message || (problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status; this.problem = problem;
    }
  }
  const token = {
    mem: null,
    get() { if (this.mem) return this.mem; try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; } },
    set(t) { this.mem = t; try { t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* memory only */ } },
  };
  async function apiGet(path) {
    const headers = { Accept: "application/json" };
    const t = token.get();
    if (t) headers.Authorization = "Bearer " + t;
    let r;
    try { r = await fetch(path, { headers, cache: "no-store" }); }
    catch (e) { throw new ApiError(0, null, "the server cannot be reached (" + e.message + ")"); }
    if (!r.ok) {
      let p = null;
      try { p = await r.json(); } catch (e) { /* not problem+json */ }
      throw new ApiError(r.status, p);
    }
    return r.json();
  }
  const live = {
    stats: () => apiGet("v1/stats").then((b) => b.rows[0] || {}),
    query: (key, [name, params]) => apiGet("v1/query/" + name + "?" + queryString(params)),
    values: (dim) => apiGet("v1/query/values?" + queryString({ dimension: dim })),
  };
  function embedded(data) {
    return {
      stats: async () => (data.stats && data.stats.rows[0]) || {},
      query: async (key) => {
        const body = data.queries && data.queries[key];
        if (!body) throw new ApiError(0, null, "this report holds no '" + key + "' data");
        if (body.type && body.status) throw new ApiError(body.status, body); // a problem recorded by the generator
        return body;
      },
    };
  }

  // ---------- DOM ----------
  const $ = (sel, root) => (root || document).querySelector(sel);
  function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function buildPanels(main) {
    main.textContent = "";
    for (const [id, title, size] of PANELS) {
      const p = h("section", { class: "panel " + size, id: "panel-" + id, "data-panel": id }, main);
      const head = h("header", {}, p);
      h("h2", {}, head, title);
      h("div", { class: "panel-tools" }, head);
      h("p", { class: "sub" }, p);
      h("div", { class: "body" }, p);
      if (id !== "kpis") {
        const d = h("details", { class: "data" }, p);
        h("summary", {}, d, "Data table");
        h("div", { class: "table-wrap" }, d);
      }
    }
  }
  function panel(id) {
    const p = document.getElementById("panel-" + id);
    return { root: p, sub: $(".sub", p), body: $(".body", p), tools: $(".panel-tools", p), table: $(".table-wrap", p) };
  }
  function clearPanel(P) {
    P.body.textContent = ""; P.sub.textContent = "";
    if (P.tools) P.tools.textContent = "";
    if (P.table) P.table.textContent = "";
    P.root.removeAttribute("data-error");
  }
  function showError(P, err) {
    clearPanel(P);
    P.root.setAttribute("data-error", err.status || "error");
    const box = h("div", { class: "error", role: "alert" }, P.body);
    const p = err.problem;
    h("strong", {}, box, p && p.title ? p.title : "Could not load");
    h("span", {}, box, " " + err.message + (p && p.code ? " (" + p.code + ")" : ""));
  }
  function empty(P, text) { h("p", { class: "empty" }, P.body, text || "No data for this selection."); }
  // columns: [[header, row => text, (optional) className]]; data: row => {data-* attributes}
  function table(container, columns, rows, data) {
    const t = h("table", {}, container);
    const tr = h("tr", {}, h("thead", {}, t));
    for (const [head, , cls] of columns) h("th", { class: cls }, tr, head);
    const tb = h("tbody", {}, t);
    for (const r of rows) {
      const row = h("tr", data ? data(r) : {}, tb);
      for (const [, get, cls] of columns) h("td", { class: cls }, row, get(r));
    }
    return t;
  }
  function select(parent, labelText, options, value, onChange) {
    const l = h("label", { class: "inline" }, parent, labelText + " ");
    const s = h("select", {}, l);
    for (const [v, t] of options) h("option", { value: v, selected: v === value ? "" : null }, s, t);
    s.addEventListener("change", () => onChange(s.value));
    return s;
  }
  function groupsOf(rows) { return [...new Set(rows.map((r) => r.group))]; }
  // One colour per group value across all panels: the groups of every answer, sorted, take the palette in turn.
  function groupPalette(results) {
    const all = new Set();
    for (const r of Object.values(results)) if (r.value) for (const row of r.value.rows) if (row.group !== undefined) all.add(row.group);
    const index = new Map([...all].sort().map((g, i) => [g, i]));
    return {
      color: (g) => GROUP_COLORS[(index.get(g) || 0) % GROUP_COLORS.length],
      dash: (g) => ((index.get(g) || 0) >= GROUP_COLORS.length ? "5 3" : null),
    };
  }
  const numCell = "num";
  const describeWhere = (s) => whereList(s.where).join(" and ") || "all users";

  // ---------- panels ----------
  function renderKpis(P, res, ctx) {
    clearPanel(P);
    const stats = ctx.stats, cards = h("div", { class: "cards" }, P.body);
    const card = (key, label, value, note) => {
      const c = h("div", { class: "card", "data-kpi": key }, cards);
      h("div", { class: "card-label" }, c, label);
      h("div", { class: "card-value" }, c, value);
      if (note) h("div", { class: "card-note" }, c, note);
    };
    const rows = res.value ? res.value.rows : [];
    // The store's last day is usually still in progress (today): show the day before it when there is one.
    const done = rows.filter((r) => r.dau != null);
    const full = done.filter((r) => !stats.last_day || r.date < stats.last_day);
    const latest = ctx.state.by ? null : full[full.length - 1] || done[done.length - 1];
    if (latest) {
      const which = !stats.last_day ? "" : latest.date === stats.last_day ? ", which may still be in progress"
        : latest.date === day.add(stats.last_day, -1) ? ", the last full day" : ", the last day of the range";
      P.sub.textContent = "On " + day.long(latest.date) + which + " (" + describeWhere(ctx.state) + ")";
      card("dau", "DAU", fmt.int(latest.dau), "users active that day");
      card("wau", "WAU", fmt.int(latest.wau), "7 days ending that day");
      card("mau", "MAU", fmt.int(latest.mau), "30 days ending that day");
      card("dau_mau", "DAU/MAU", fmt.pct(latest.dau_mau), "stickiness");
      card("dau_wau", "DAU/WAU", fmt.pct(latest.dau_wau));
    } else {
      P.sub.textContent = ctx.state.by ? "Broken down by " + ATTR_NAME[ctx.state.by].toLowerCase() + ": see the charts below" : "No activity in the range";
    }
    card("events", "Events stored", fmt.int(stats.events), fmt.int(stats.duplicates) + " duplicates dropped");
    card("users", "Users known", fmt.int(stats.users));
    card("last_day", "Data up to", stats.last_day || "—", "first day " + (stats.first_day || "—"));
  }

  function renderActivity(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state, tz = ctx.stats.time_zone || "UTC";
    P.sub.textContent = "Distinct active users per day, and over the 7 and 30 days ending on each day; " + describeWhere(s) + ".";
    if (!rows.length) return empty(P);
    const top = h("div", { class: "chart-slot", id: "chart-activity" }, P.body);
    h("h3", {}, P.body, "Stickiness");
    const bottom = h("div", { class: "chart-slot", id: "chart-stickiness" }, P.body);
    const common = { xKind: "date", xLabel: "Date (" + tz + ")", height: 280, tipTitle: (i) => day.long(dates[i]) };
    let dates;
    if (!s.by) {
      dates = rows.map((r) => r.date);
      const ser = (k, dash) => ({ name: METRIC[k][0], color: METRIC[k][1], values: rows.map((r) => r[k]), dash });
      C.lineChart(top, Object.assign({}, common, { title: "DAU, WAU and MAU per day", labels: dates, yLabel: "users", integer: true, series: [ser("dau"), ser("wau"), ser("mau")] }));
      C.lineChart(bottom, Object.assign({}, common, { title: "DAU/MAU and DAU/WAU per day", labels: dates, height: 220, yLabel: "ratio", yTick: (v) => fmt.pct(v, 0), yValue: (v) => fmt.pct(v), series: [ser("dau_mau"), ser("dau_wau", "6 3")] }));
    } else {
      const groups = groupsOf(rows);
      dates = [...new Set(rows.map((r) => r.date))].sort();
      const idx = Object.fromEntries(dates.map((d, i) => [d, i]));
      const per = (k) => groups.map((g, gi) => {
        const values = dates.map(() => null);
        for (const r of rows) if (r.group === g) values[idx[r.date]] = r[k];
        return { name: g, color: ctx.groups.color(g), values, dash: ctx.groups.dash(g) };
      });
      if (ctx.interactive) {
        select(P.tools, "Users:", [["dau", "DAU"], ["wau", "WAU"], ["mau", "MAU"]], s.metric, (v) => ctx.change({ metric: v }, false));
        select(P.tools, "Ratio:", [["dau_mau", "DAU/MAU"], ["dau_wau", "DAU/WAU"]], s.ratio, (v) => ctx.change({ ratio: v }, false));
      }
      C.lineChart(top, Object.assign({}, common, { title: METRIC[s.metric][0] + " per day by " + ATTR_NAME[s.by], labels: dates, yLabel: METRIC[s.metric][0] + " (users)", integer: true, series: per(s.metric) }));
      C.lineChart(bottom, Object.assign({}, common, { title: METRIC[s.ratio][0] + " per day by " + ATTR_NAME[s.by], labels: dates, height: 220, yLabel: METRIC[s.ratio][0], yTick: (v) => fmt.pct(v, 0), yValue: (v) => fmt.pct(v), series: per(s.ratio) }));
    }
    const cols = [["Date", (r) => r.date], ["DAU", (r) => fmt.int(r.dau), numCell], ["WAU", (r) => fmt.int(r.wau), numCell], ["MAU", (r) => fmt.int(r.mau), numCell],
      ["DAU/MAU", (r) => fmt.pct(r.dau_mau), numCell], ["DAU/WAU", (r) => fmt.pct(r.dau_wau), numCell]];
    if (s.by) cols.unshift([ATTR_NAME[s.by], (r) => r.group]);
    table(P.table, cols, rows, (r) => ({ "data-group": r.group, "data-date": r.date, "data-dau": r.dau, "data-wau": r.wau, "data-mau": r.mau, class: r.dau == null ? "missing" : null }));
  }

  function renderActiveDays(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state;
    const days = +monthEnd(s.month).slice(8);
    P.sub.textContent = "Users by how many days they were active in " + day.month(s.month + "-01") + " (" + describeWhere(s) + ").";
    if (!rows.length) return empty(P, "No active users in " + s.month + ".");
    const ks = Array.from({ length: days }, (_, i) => i + 1);
    const slot = h("div", { class: "chart-slot", id: "chart-active-days" }, P.body);
    const spec = { title: "Users by number of active days in " + s.month, categories: ks, xLabel: "active days in the month", yLabel: "users", integer: true, height: 260, xKind: "number", labels: ks,
      tipTitle: (i) => ks[i] + (ks[i] === 1 ? " active day" : " active days") };
    if (!s.by) {
      const values = ks.map((k) => { const r = rows.find((x) => x.active_days === k); return r ? r.users : 0; });
      const total = values.reduce((a, b) => a + b, 0);
      C.barChart(slot, Object.assign(spec, { series: [{ name: "users", color: "#0072b2", values }], barClass: "bar-group active-days-bar",
        tipExtra: (i) => [{ name: "share of active users", value: fmt.pct(values[i] / total) }] }));
      P.sub.textContent += " " + fmt.int(total) + " active users.";
    } else {
      // stacked by group: the bars' heights are the whole histogram, the colours its make-up
      const groups = groupsOf(rows);
      const series = groups.map((g) => ({ name: g, color: ctx.groups.color(g),
        values: ks.map((k) => { const r = rows.find((x) => x.group === g && x.active_days === k); return r ? r.users : 0; }) }));
      const totals = ks.map((_, i) => series.reduce((n, x) => n + x.values[i], 0));
      C.barChart(slot, Object.assign(spec, { series, stacked: true, barClass: "bar-group active-days-bar",
        tipExtra: (i) => [{ name: "all", value: fmt.int(totals[i]) }] }));
    }
    const cols = [["Active days", (r) => r.active_days, numCell], ["Users", (r) => fmt.int(r.users), numCell]];
    if (s.by) cols.unshift([ATTR_NAME[s.by], (r) => r.group]);
    table(P.table, cols, rows, (r) => ({ "data-group": r.group, "data-active-days": r.active_days, "data-users": r.users }));
  }

  function renderTiers(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state;
    P.sub.textContent = "Active users of " + day.month(s.month + "-01") + " by tier: casual 1–5 active days, regular 6–15, core 16+, power: core with many actions per active day.";
    if (!rows.length) return empty(P);
    const slot = h("div", { class: "chart-slot", id: "chart-tiers" }, P.body);
    const tiers = TIERS.filter((t) => rows.some((r) => r.tier === t));
    const spec = { title: "Users per engagement tier in " + s.month, categories: tiers, xLabel: "tier", yLabel: "users", integer: true, height: 260, barClass: "bar-group tier-bar", maxBarWidth: 110 };
    if (!s.by) {
      const by = Object.fromEntries(rows.map((r) => [r.tier, r]));
      const total = rows.reduce((a, r) => a + r.users, 0);
      C.barChart(slot, Object.assign(spec, {
        series: [{ name: "users", color: "#6a51a3", values: tiers.map((t) => by[t].users) }],
        barColor: (i) => TIER_COLORS[tiers[i]],
        barData: (i) => ({ "data-tier": tiers[i], "data-users": by[tiers[i]].users }),
        tipExtra: (i) => [
          { name: "share", value: fmt.pct(by[tiers[i]].users / total) },
          { name: "sessions per active day", value: fmt.num(by[tiers[i]].avg_daily_sessions, 2) },
          { name: "actions per active day", value: fmt.num(by[tiers[i]].avg_daily_actions, 1) }],
      }));
    } else {
      const groups = groupsOf(rows);
      C.barChart(slot, Object.assign(spec, {
        series: groups.map((g) => ({ name: g, color: ctx.groups.color(g), values: tiers.map((t) => { const r = rows.find((x) => x.group === g && x.tier === t); return r ? r.users : 0; }) })),
        barData: (i, ser) => ({ "data-tier": tiers[i], "data-group": ser.name }),
      }));
    }
    const cols = [["Tier", (r) => r.tier], ["Users", (r) => fmt.int(r.users), numCell], ["Sessions / active day", (r) => fmt.num(r.avg_daily_sessions, 2), numCell], ["Actions / active day", (r) => fmt.num(r.avg_daily_actions, 1), numCell]];
    if (s.by) cols.unshift([ATTR_NAME[s.by], (r) => r.group]);
    table(P.table, cols, rows, (r) => ({ "data-group": r.group, "data-tier": r.tier, "data-users": r.users }));
  }

  function renderTransitions(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state, from = addMonths(s.month, -1);
    const a = day.month(from + "-01"), b = day.month(s.month + "-01");
    P.sub.textContent = "Users by tier in " + a + " (rows) and in " + b + " (columns); shade: share of the row" + (s.by ? "; not broken down (the query has no by)." : ".");
    if (!rows.length) return empty(P);
    const order = [...TIERS, "inactive"];
    const fromT = order.filter((t) => rows.some((r) => r.from_tier === t)), toT = order.filter((t) => rows.some((r) => r.to_tier === t));
    const count = (f, t) => { const r = rows.find((x) => x.from_tier === f && x.to_tier === t); return r ? r.users : 0; };
    const total = Object.fromEntries(fromT.map((f) => [f, toT.reduce((n, t) => n + count(f, t), 0)]));
    const slot = h("div", { class: "chart-slot", id: "chart-transitions" }, P.body);
    C.heatmap(slot, {
      title: "Tier transitions from " + from + " to " + s.month, rows: fromT, cols: toT, corner: a + " ↓", colTitle: b + " →", cellHeight: 30, maxCellWidth: 100,
      rowLabel: (i) => fromT[i] + " (" + total[fromT[i]] + ")",
      scaleLabel: "share of the " + a + " tier",
      cell: (r, c) => {
        const f = fromT[r], t = toT[c];
        if (f === "inactive" && t === "inactive") return undefined;
        const n = count(f, t);
        return { value: total[f] ? n / total[f] : 0, text: fmt.int(n), data: { "data-from": f, "data-to": t, "data-users": n },
          tipTitle: f + " → " + t, tip: [{ name: "users", value: fmt.int(n) }, { name: "share of " + a + " " + f, value: fmt.pct(total[f] ? n / total[f] : 0) }] };
      },
    });
    table(P.table, [["From (" + from + ")", (r) => r.from_tier], ["To (" + s.month + ")", (r) => r.to_tier], ["Users", (r) => fmt.int(r.users), numCell]], rows,
      (r) => ({ "data-from": r.from_tier, "data-to": r.to_tier, "data-users": r.users }));
  }

  function renderSessions(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const r = res.value.rows[0], s = ctx.state;
    P.sub.textContent = "Sessions starting " + s.from + " – " + s.to + " (" + describeWhere(s) + ")" + (s.by ? "; not broken down (the query has no by)." : ".");
    if (!r) return empty(P);
    const cards = h("div", { class: "cards" }, P.body);
    const card = (key, label, value, note) => {
      const c = h("div", { class: "card", "data-kpi": key, "data-value": r[key] }, cards);
      h("div", { class: "card-label" }, c, label);
      h("div", { class: "card-value" }, c, value);
      if (note) h("div", { class: "card-note" }, c, note);
    };
    card("sessions", "Sessions", fmt.int(r.sessions));
    card("users", "Users with a session", fmt.int(r.users), r.users ? fmt.num(r.sessions / r.users, 1) + " sessions per user" : null);
    card("avg_duration_seconds", "Average duration", fmt.duration(r.avg_duration_seconds));
    card("p50_duration_seconds", "Median duration", fmt.duration(r.p50_duration_seconds), "p50");
    card("p90_duration_seconds", "p90 duration", fmt.duration(r.p90_duration_seconds), "9 in 10 sessions are shorter");
    card("avg_actions", "Actions per session", fmt.num(r.avg_actions, 1), "average");
    card("bounce_rate", "Bounce rate", fmt.pct(r.bounce_rate), "sessions with a single action");
    table(P.table, [["Measure", (x) => x[0]], ["Value", (x) => String(x[1]), numCell]], Object.entries(r), (x) => ({ "data-key": x[0] }));
  }

  function renderRetention(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state, unit = s.retention === "month" ? "month" : "week";
    P.sub.textContent = "Share of each " + unit + "'s new users active k " + unit + "s later (" + describeWhere(s) + "). Hatched: the " + unit + " has not ended yet.";
    if (ctx.interactive) select(P.tools, "Cohorts:", [["week", "weekly"], ["month", "monthly"]], s.retention, (v) => ctx.change({ retention: v }, true));
    if (!rows.length) return empty(P, "No users registered in the range.");
    const groups = s.by ? groupsOf(rows) : [undefined];
    groups.forEach((g, gi) => {
      const mine = rows.filter((r) => r.group === g);
      const cohorts = [...new Set(mine.map((r) => r.cohort))].sort();
      const offsets = [...new Set(mine.map((r) => r.period_offset))].sort((a, b) => a - b);
      const cell = Object.fromEntries(mine.map((r) => [r.cohort + "/" + r.period_offset, r]));
      const size = Object.fromEntries(mine.map((r) => [r.cohort, r.cohort_size]));
      if (g !== undefined) h("h3", {}, P.body, ATTR_NAME[s.by] + ": " + g);
      const slot = h("div", { class: "chart-slot retention-map", "data-group": g }, P.body);
      const cohortName = (c) => (unit === "month" ? day.month(c) : "week of " + day.short(c) + " " + c.slice(0, 4));
      const periodRange = (c, k) => {
        if (unit === "month") return day.month(addMonths(c.slice(0, 7), k) + "-01");
        const a = day.add(c, 7 * k); return day.short(a) + " – " + day.short(day.add(a, 6));
      };
      C.heatmap(slot, {
        title: "Retention by " + unit + "ly cohort" + (g !== undefined ? ", " + g : ""), rows: cohorts, cols: offsets, corner: "cohort (users)", colTitle: unit + "s since registration →", missingKey: "period not over yet",
        rowLabel: (i) => (unit === "month" ? day.month(cohorts[i]) : day.short(cohorts[i])) + " (" + size[cohorts[i]] + ")",
        colLabel: (i) => (unit === "month" ? "M" : "W") + offsets[i],
        scaleLabel: "retained", scale: gi === groups.length - 1,
        cell: (ri, ci) => {
          const r = cell[cohorts[ri] + "/" + offsets[ci]];
          if (!r) return undefined;
          return { value: r.rate, text: fmt.pct(r.rate, 0),
            data: { "data-cohort": r.cohort, "data-offset": r.period_offset, "data-rate": r.rate, "data-retained": r.retained },
            tipTitle: "Cohort " + cohortName(r.cohort) + ", " + unit + " " + r.period_offset,
            tip: [{ name: "period", value: periodRange(r.cohort, r.period_offset) },
              { name: "retained", value: r.retained == null ? "period not over yet" : fmt.int(r.retained) + " of " + fmt.int(r.cohort_size) },
              { name: "rate", value: fmt.pct(r.rate) }] };
        },
      });
    });
    const cols = [["Cohort", (r) => r.cohort], ["Size", (r) => fmt.int(r.cohort_size), numCell], ["Offset", (r) => r.period_offset, numCell], ["Retained", (r) => fmt.int(r.retained), numCell], ["Rate", (r) => fmt.pct(r.rate), numCell]];
    if (s.by) cols.unshift([ATTR_NAME[s.by], (r) => r.group]);
    table(P.table, cols, rows, (r) => ({ "data-group": r.group, "data-cohort": r.cohort, "data-offset": r.period_offset, "data-retained": r.retained }));
  }

  function renderLifecycle(P, res, ctx) {
    clearPanel(P);
    if (res.error) return showError(P, res.error);
    const rows = res.value.rows, s = ctx.state;
    P.sub.textContent = "Active users per week (Monday to Sunday): new, returning (active the week before too) and resurrecting; dormant (active the week before only) below the line" + (s.by ? "; not broken down (the query has no by)." : ".");
    if (!rows.length) return empty(P);
    const slot = h("div", { class: "chart-slot", id: "chart-lifecycle" }, P.body);
    C.barChart(slot, {
      title: "Weekly lifecycle", categories: rows.map((r) => r.period), catLabel: (i) => day.short(rows[i].period), xLabel: "week starting (" + (ctx.stats.time_zone || "UTC") + ")",
      yLabel: "users (dormant below 0)", integer: true, stacked: true, height: 300, barClass: "bar-group lifecycle-period",
      yTick: (v) => fmt.int(Math.abs(v)), yValue: (v) => fmt.int(Math.abs(v)),
      series: LIFECYCLE.map(([k, name, color]) => ({ name, color, values: rows.map((r) => (r[k] == null ? null : k === "dormant" ? -r[k] : r[k])) })),
      barData: (i) => ({ "data-period": rows[i].period }),
      tipTitle: (i) => "Week of " + day.long(rows[i].period),
      tipExtra: (i) => (rows[i].new == null ? [] : [{ name: "active", value: fmt.int(rows[i].new + rows[i].returning + rows[i].resurrecting) }]),
    });
    table(P.table, [["Week", (r) => r.period], ...LIFECYCLE.map(([k, name]) => [name, (r) => fmt.int(r[k]), numCell])], rows,
      (r) => ({ "data-period": r.period, class: r.new == null ? "missing" : null }));
  }

  const RENDER = { activity: renderActivity, "active-days": renderActiveDays, tiers: renderTiers, transitions: renderTransitions,
    sessions: renderSessions, retention: renderRetention, lifecycle: renderLifecycle };

  function renderAll(results, ctx) {
    ctx = Object.assign({ groups: groupPalette(results) }, ctx);
    for (const key of Object.keys(RENDER)) {
      const P = panel(key);
      try { RENDER[key](P, results[key], ctx); }
      catch (e) { showError(P, e); console.error(e); }
    }
    renderKpis(panel("kpis"), results.activity, ctx);
  }

  // ---------- report (embedded data) ----------
  function startReport(data) {
    const main = $("#engage");
    buildPanels(main);
    const params = data.params || {};
    const state = Object.assign({}, DEFAULTS, params, { where: parseWhere(params.where || []) });
    const src = embedded(data);
    const meta = $("#report-meta");
    if (meta) {
      const st = (data.stats && data.stats.rows[0]) || {};
      meta.textContent = state.from + " – " + state.to + " · " + describeWhere(state) + (state.by ? " · by " + ATTR_NAME[state.by].toLowerCase() : "") +
        " · dates in " + (st.time_zone || "UTC") + (data.generated_at ? " · generated " + data.generated_at : "");
    }
    src.stats().then(async (stats) => {
      const p = plan(state), results = {};
      for (const key of Object.keys(p)) results[key] = await src.query(key, p[key]).then((value) => ({ value }), (error) => ({ error }));
      renderAll(results, { state, stats, interactive: false });
      main.dataset.state = "ready";
      main.dataset.loads = "1";
    });
  }

  // ---------- live ----------
  function startLive() {
    const main = $("#engage"), form = $("#controls"), status = $("#status");
    let state = null, stats = null, gen = 0, loads = 0, timer = null, values = {};

    function setStatus(text, kind) { status.textContent = text; status.dataset.kind = kind || ""; }
    function askToken(err) {
      const auth = $("#auth");
      auth.hidden = false; main.hidden = true; form.hidden = true;
      $("#auth-message").textContent = err.status === 403
        ? "This token may not query (it needs the query role). Enter another token."
        : token.get() ? "The token was refused (" + err.message + "). Enter a query token." : "This server requires a query token.";
      main.dataset.state = "auth"; setStatus("Token required", "warn");
      $("input[name=token]", auth).focus();
    }
    $("#auth").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("#auth input[name=token]");
      token.set(input.value.trim()); input.value = "";
      $("#auth").hidden = true; main.hidden = false; form.hidden = false;
      boot();
    });
    $("#forget-token").addEventListener("click", () => { token.set(null); location.reload(); });

    function fillControls() {
      form.elements.from.value = state.from; form.elements.to.value = state.to; form.elements.month.value = state.month;
      form.elements.by.value = state.by || "";
      const box = $("#filters");
      box.textContent = "";
      for (const [attr, name] of ATTRS) {
        const chosen = state.where[attr] || [];
        const d = h("details", { class: "filter", "data-attr": attr }, box);
        h("summary", {}, d, name + ": " + (chosen.length ? chosen.join(", ") : "all"));
        const list = h("div", { class: "filter-list" }, d);
        const vals = values[attr] || chosen.map((v) => ({ value: v }));
        if (!vals.length) h("p", { class: "empty" }, list, "no values");
        for (const v of vals) {
          const l = h("label", {}, list);
          const cb = h("input", { type: "checkbox", value: v.value, checked: chosen.includes(v.value) ? "" : null }, l);
          h("span", {}, l, " " + v.value + (v.users != null ? " (" + fmt.int(v.users) + ")" : ""));
          cb.addEventListener("change", () => {
            const set = new Set(state.where[attr] || []);
            cb.checked ? set.add(v.value) : set.delete(v.value);
            change({ where: Object.assign({}, state.where, { [attr]: [...set] }) }, true);
          });
        }
      }
      $("#clear-filters").hidden = !whereList(state.where).length;
    }
    async function loadValues() {
      const got = await Promise.all(ATTRS.map(([a]) => live.values(a).then((b) => b.rows, () => null)));
      ATTRS.forEach(([a], i) => { if (got[i]) values[a] = got[i]; });
    }
    function change(patch, refetch) {
      Object.assign(state, patch);
      if (state.from > state.to) [state.from, state.to] = [state.to, state.from];
      writeHash(state);
      fillControls();
      if (refetch) reload(); else rerender();
    }
    let lastResults = null;
    function rerender() { if (lastResults) renderAll(lastResults, { state, stats, interactive: true, change }); }
    async function reload() {
      const mine = ++gen;
      main.dataset.state = "loading";
      const p = plan(state);
      const keys = Object.keys(p);
      const settled = await Promise.all(keys.map((k) => live.query(k, p[k]).then((value) => ({ value }), (error) => ({ error }))));
      if (mine !== gen) return;
      const auth = settled.find((r) => r.error && (r.error.status === 401 || r.error.status === 403));
      if (auth) return askToken(auth.error);
      lastResults = Object.fromEntries(keys.map((k, i) => [k, settled[i]]));
      rerender();
      main.dataset.state = "ready";
      main.dataset.loads = String(++loads);
      setStatus("Live · data up to " + (stats.last_day || "—") + " · refreshed " + new Date().toLocaleTimeString(), "ok");
    }
    async function poll() {
      let next;
      try { next = await live.stats(); }
      catch (e) {
        if (e.status === 401 || e.status === 403) { clearInterval(timer); timer = null; return askToken(e); }
        return setStatus("Connection lost: " + e.message + " · retrying", "error");
      }
      if (next.events !== stats.events || next.last_day !== stats.last_day || next.users !== stats.users) {
        stats = next;
        if (!state.pinned) Object.assign(state, defaultRange(stats));
        if (!state.monthPinned) state.month = defaultMonth(state.from, state.to);
        await loadValues();
        fillControls();
        reload();
      }
    }
    async function boot() {
      setStatus("Connecting…");
      try { stats = await live.stats(); }
      catch (e) {
        if (e.status === 401 || e.status === 403) return askToken(e);
        setStatus("Cannot load: " + e.message, "error");
        main.dataset.state = "error";
        setTimeout(boot, POLL_MS);
        return;
      }
      const fromHash = readHash();
      state = Object.assign({ where: {} }, DEFAULTS, defaultRange(stats), fromHash);
      state.monthPinned = !!fromHash.month;
      if (!state.month) state.month = defaultMonth(state.from, state.to);
      $("#forget-token").hidden = !token.get();
      $("#tz").textContent = "Dates in " + (stats.time_zone || "UTC");
      await loadValues();
      fillControls();
      await reload();
      if (!timer) timer = setInterval(poll, POLL_MS);
    }

    buildPanels(main);
    form.addEventListener("submit", (ev) => ev.preventDefault());
    form.elements.from.addEventListener("change", () => form.elements.from.value && change({ from: form.elements.from.value, pinned: true }, true));
    form.elements.to.addEventListener("change", () => form.elements.to.value && change({ to: form.elements.to.value, pinned: true }, true));
    form.elements.month.addEventListener("change", () => form.elements.month.value && change({ month: form.elements.month.value, monthPinned: true }, true));
    form.elements.by.addEventListener("change", () => change({ by: form.elements.by.value }, true));
    for (const b of form.querySelectorAll("[data-days]")) {
      b.addEventListener("click", () => {
        const n = b.dataset.days, last = stats.last_day || state.to;
        if (n === "latest") return change(Object.assign({ pinned: false }, defaultRange(stats)), true);
        if (n === "all") return change({ from: stats.first_day || state.from, to: last, pinned: true }, true);
        const from = day.add(last, -(+n - 1));
        change({ from: stats.first_day && stats.first_day > from ? stats.first_day : from, to: last, pinned: true }, true);
      });
    }
    $("#clear-filters").addEventListener("click", () => change({ where: {} }, true));
    boot();
  }

  window.EngageDashboard = { plan, queryString, defaultRange, defaultMonth };
  document.addEventListener("DOMContentLoaded", () => {
    const data = document.getElementById("engage-data");
    if (data && data.textContent.trim()) startReport(JSON.parse(data.textContent));
    else startLive();
  });
})();
