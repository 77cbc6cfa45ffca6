#!/usr/bin/env python3
"""Capture the dashboard's mock API responses from a running engaged.

    ENGAGE_SERVER=127.0.0.1:PORT python3 tools/dashboard/capture.py \
        [--engage /work/bins-v0/engage] [--output Tests/Fixtures/dashboard/captures.jsonl]

The server must hold the conformance data set (Tests/Fixtures/conformance, UTC).
Each output line is {"name", "params", "body"[, "note"]}: `params` are the HTTP
API's parameter names (`where` a list of "attr=value"), `body` is exactly what
`engage query NAME --format json` printed, with two adjustments that are
written in the line's "note":

- unfinished periods: the v0 binary predates the rule that days after the
  store's last day, and periods ending after it, carry null values; this
  script applies the rule (see null_unfinished) so the page is tested on it.
- values: v0 has no `values` query; its rows are computed from the
  conformance users.jsonl, plus the users known only from their events
  (attribute "unknown"), and from the monthly retention cohort sizes.
"""
import argparse
import collections
import datetime as dt
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ATTRS = ["acquisition_channel", "user_segment", "device_type", "region", "cohort"]
WHERES = [[], ["region=eu"], ["device_type=ios"], ["acquisition_channel=paid_search"],
          ["user_segment=pro"], ["cohort=2026-02"], ["region=eu", "region=na"]]
FIRST, LAST = "2026-01-01", "2026-04-01"          # the data set's stats first_day/last_day
WIDE = ("2025-12-15", "2026-04-15")                 # activity is captured wide and sliced by the mock


def day(s):
    return dt.date.fromisoformat(s)


def period_end(start, period, offset=0):
    d = day(start)
    if period == "day":
        return d + dt.timedelta(days=offset)
    if period == "week":
        return d + dt.timedelta(days=7 * offset + 6)
    m = d.month - 1 + offset + 1                     # month after the offset month
    first_next = dt.date(d.year + m // 12, m % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def null_unfinished(name, params, body, last_day):
    """Apply the unfinished-period rule to a v0 body. Returns True if anything changed."""
    last = day(last_day)
    changed = False
    for row in body["rows"]:
        if name == "activity" and day(row["date"]) > last:
            for k in ("dau", "wau", "mau", "dau_mau", "dau_wau"):
                row[k] = None
            changed = True
        elif name == "retention" and period_end(row["cohort"], params["period"], row["period_offset"]) > last:
            row["retained"] = row["rate"] = None
            changed = True
        elif name == "lifecycle" and period_end(row["period"], params["period"]) > last:
            for k in ("new", "returning", "resurrecting", "dormant"):
                row[k] = None
            changed = True
    return changed


def cli_args(params):
    out = []
    for k, v in params.items():
        for item in (v if isinstance(v, list) else [v]):
            out += ["--" + k, str(item)]
    return out


def run(engage, name, params):
    cmd = [engage, "query", name, *cli_args(params), "--format", "json"]
    if name == "stats":
        cmd = [engage, "stats", "--format", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: {res.stderr.strip()}")
    return json.loads(res.stdout)


def plan():
    """Every (name, params) captured: the dashboard's default views, each month,
    each `by`, and a few `where` filters."""
    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    for where in WHERES:
        w = {"where": where} if where else {}
        yield "activity", {"from": WIDE[0], "to": WIDE[1], **w}
        for m in months:
            yield "active-days", {"month": m, **w}
            yield "tiers", {"month": m, **w}
        for m in ["2025-12", *months[:3]]:
            yield "transitions", {"month": m, **w}
        yield "retention", {"period": "week", "from": "2025-12-29", "to": WIDE[1], "periods": 8, **w}
        yield "retention", {"period": "month", "from": FIRST, "to": WIDE[1], "periods": 3, **w}
        yield "lifecycle", {"period": "week", "from": "2025-12-29", "to": WIDE[1], **w}
        yield "lifecycle", {"period": "month", "from": FIRST, "to": WIDE[1], **w}
        for a, b in [("2026-01-02", LAST), (FIRST, LAST), ("2026-01-01", "2026-03-31"),
                     ("2026-03-03", LAST), ("2026-01-01", "2026-01-31"), ("2026-02-01", "2026-02-28"),
                     ("2026-03-01", "2026-03-31")]:
            yield "sessions", {"from": a, "to": b, **w}
    for by in ATTRS:
        yield "activity", {"from": WIDE[0], "to": WIDE[1], "by": by}
        for m in months:
            yield "active-days", {"month": m, "by": by}
            yield "tiers", {"month": m, "by": by}
        yield "retention", {"period": "week", "from": "2025-12-29", "to": WIDE[1], "periods": 8, "by": by}
        yield "retention", {"period": "month", "from": FIRST, "to": WIDE[1], "periods": 3, "by": by}


def values_lines(stats, retention_month):
    users = [json.loads(l) for l in open(os.path.join(ROOT, "Tests/Fixtures/conformance/users.jsonl"))]
    unknown = stats["rows"][0]["users"] - len(users)
    note = "synthesized: v0 has no values query (users.jsonl + event-only users as 'unknown')"
    for dim in ATTRS[:4]:
        counts = collections.Counter(u.get(dim) or "unknown" for u in users)
        counts["unknown"] += unknown
        rows = [{"value": v, "users": n} for v, n in sorted(counts.items()) if n]
        yield {"name": "values", "params": {"dimension": dim}, "body": {"query": "values", "rows": rows}, "note": note}
    rows = sorted({(r["cohort"][:7], r["cohort_size"]) for r in retention_month["rows"]})
    yield {"name": "values", "params": {"dimension": "cohort"},
           "body": {"query": "values", "rows": [{"value": v, "users": n} for v, n in rows]},
           "note": "synthesized: v0 has no values query (monthly retention cohort sizes)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engage", default=os.environ.get("ENGAGE_CLI", "/work/bins-v0/engage"))
    ap.add_argument("--output", default=os.path.join(ROOT, "Tests/Fixtures/dashboard/captures.jsonl"))
    args = ap.parse_args()
    stats = run(args.engage, "stats", {})
    s = stats["rows"][0]
    if (s["first_day"], s["last_day"], s["time_zone"]) != (FIRST, LAST, "UTC"):
        sys.exit(f"expected the conformance data set in UTC, got {s}")
    lines = [{"name": "stats", "params": {}, "body": stats}]
    for name, params in plan():
        body = run(args.engage, name, params)
        line = {"name": name, "params": params, "body": body}
        if null_unfinished(name, params, body, s["last_day"]):
            line["note"] = "unfinished periods set to null (v0 predates the rule)"
        lines.append(line)
    month_ret = next(l["body"] for l in lines if l["name"] == "retention"
                     and l["params"].get("period") == "month" and "where" not in l["params"] and "by" not in l["params"])
    lines += list(values_lines(stats, month_ret))
    with open(args.output, "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(lines)} captures -> {args.output} ({os.path.getsize(args.output)} bytes)")


if __name__ == "__main__":
    main()
