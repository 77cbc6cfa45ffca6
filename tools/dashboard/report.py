"""Build a self-contained dashboard report: report-template.html with the CSS, the JS and
the query bodies inlined. This is the reference for `engage report` (README.md in
Sources/EngageDashboard/Dashboard documents the same rules); keep the two in step.
"""
import datetime as dt
import html
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "Sources/EngageDashboard/Dashboard")
FORMAT = "engage-report/1"
PERIODS = {"week": 8, "month": 3}
ATTRS = ["acquisition_channel", "user_segment", "device_type", "region", "cohort"]


def add_months(month, n):
    y, m = map(int, month.split("-"))
    i = y * 12 + m - 1 + n
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def month_end(month):
    return (dt.date.fromisoformat(add_months(month, 1) + "-01") - dt.timedelta(days=1)).isoformat()


def default_month(date_from, date_to):
    """The last month lying wholly in [from, to], else the month of `to` (app.js defaultMonth)."""
    m = date_to[:7]
    if month_end(m) > date_to and add_months(m, -1) + "-01" >= date_from:
        m = add_months(m, -1)
    return m


def ordered_where(where):
    """`where` in app.js order: by attribute (ATTRS order), then as given."""
    return [w for a in ATTRS for w in where if w.split("=", 1)[0] == a]


def plan(p):
    """key -> (query name, HTTP parameters) for report params p; mirrors app.js plan(),
    parameters in the same order."""
    w, by = ordered_where(p.get("where", [])), p.get("by") or None
    ret = p.get("retention", "week")
    f, t, m = p["from"], p["to"], p["month"]

    def q(*pairs):
        return {k: v for k, v in pairs if v not in (None, "", [])}
    return {
        "activity": ("activity", q(("from", f), ("to", t), ("where", w), ("by", by))),
        "active-days": ("active-days", q(("month", m), ("where", w), ("by", by))),
        "tiers": ("tiers", q(("month", m), ("where", w), ("by", by))),
        "transitions": ("transitions", q(("month", add_months(m, -1)), ("where", w))),
        "retention": ("retention", q(("period", ret), ("from", f), ("to", t), ("periods", PERIODS.get(ret, 8)), ("where", w), ("by", by))),
        "lifecycle": ("lifecycle", q(("period", "week"), ("from", f), ("to", t), ("where", w))),
        "sessions": ("sessions", q(("from", f), ("to", t), ("where", w))),
    }


def collect(p, get_stats, get_query):
    """The embedded data object. get_query(name, params) returns a body, or raises an
    exception with a `problem` attribute (an RFC 9457 dict), which is embedded instead."""
    p = dict(p)
    p.setdefault("month", default_month(p["from"], p["to"]))
    p.setdefault("retention", "week")
    p["where"] = ordered_where(p.get("where", []))
    p.setdefault("by", "")
    queries = {}
    for key, (name, params) in plan(p).items():
        try:
            queries[key] = get_query(name, params)
        except Exception as e:  # a failed query shows as that panel's error
            queries[key] = getattr(e, "problem", None) or {"type": "about:blank", "title": "Query failed", "status": 500, "detail": str(e)}
    return {"format": FORMAT, "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "params": p, "stats": get_stats(), "queries": queries}


def render(data, title="Engage report", dashboard_dir=DASHBOARD):
    """Fill report-template.html. Every placeholder stands alone on its line."""
    def read(name):
        with open(os.path.join(dashboard_dir, name), encoding="utf-8") as f:
            return f.read()
    css, charts, app = read("style.css"), read("charts.js"), read("app.js")
    for name, text, closing in (("style.css", css, "</style"), ("charts.js", charts, "</script"), ("app.js", app, "</script")):
        if closing in text.lower():
            raise ValueError(f"{name} contains '{closing}' and cannot be inlined")
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    values = {"ENGAGE_STYLE_CSS": css, "ENGAGE_CHARTS_JS": charts, "ENGAGE_APP_JS": app,
              "ENGAGE_DATA_JSON": blob, "ENGAGE_TITLE": html.escape(title, quote=True)}
    template = read("report-template.html")
    missing = [k for k in values if "{{%s}}" % k not in template]
    if missing:
        raise ValueError(f"report-template.html lacks {missing}")
    # one pass, so inlined text is never searched for placeholders again
    return re.sub(r"\{\{(ENGAGE_[A-Z_]+)\}\}", lambda m: values[m.group(1)], template)
