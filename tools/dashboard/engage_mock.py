"""A small stand-in for engaged's HTTP API and dashboard, for tests only.

It answers GET /v1/stats and GET /v1/query/NAME?params from the captures in
Tests/Fixtures/dashboard/captures.jsonl (see capture.py) and serves the dashboard
files at / like engaged will. Matching is approximate, on purpose:

- `where` and `by` must match a capture exactly, else the unfiltered capture of
  the same query is used and the reply carries `X-Engage-Mock: approximate`;
- activity, retention and lifecycle are captured over a wide range and sliced
  to the asked from/to (retention also to the asked `periods`);
- month-keyed queries (active-days, tiers, transitions) and sessions need the
  same month / from+to, else the nearest capture is used (approximate).

Test-only endpoints (never part of the real API):
    POST /mock/append?events=N[&last_day=YYYY-MM-DD]  make /v1/stats change, as if events arrived
    GET  /mock/requests                               the API requests seen (path, query, auth header present)
"""
import datetime as dt
import http.server
import json
import os
import re
import threading
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CAPTURES = os.path.join(ROOT, "Tests/Fixtures/dashboard/captures.jsonl")
DEFAULT_STATIC = os.path.join(ROOT, "Sources/EngageDashboard/Dashboard")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
QUERIES = {"activity", "active-days", "tiers", "transitions", "retention", "lifecycle", "sessions",
           "user", "at-risk", "actions", "values"}
ATTRS = {"acquisition_channel", "user_segment", "device_type", "region", "cohort"}
# What the README asks engaged to send with the dashboard's files; the check watches for violations.
CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Problem(Exception):
    def __init__(self, status, title, detail, code):
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code

    def body(self):
        return {"type": "about:blank", "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}


def bad(detail):
    return Problem(400, "Bad Request", detail, "invalid_argument")


def period_start(date, period):
    d = dt.date.fromisoformat(date)
    if period == "week":
        return d - dt.timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return d


class Captures:
    def __init__(self, path):
        self.lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        self.stats = next(l["body"] for l in self.lines if l["name"] == "stats")
        self.extra_events = 0
        self.last_day = None

    def current_stats(self):
        body = json.loads(json.dumps(self.stats))
        row = body["rows"][0]
        row["events"] += self.extra_events
        if self.last_day:
            row["last_day"] = self.last_day
        return body

    def answer(self, name, params):
        """Returns (body, exact: bool)."""
        if name not in QUERIES:
            raise Problem(404, "Not Found", f"no query named '{name}'", "not_found")
        where = sorted(params.get("where", []))
        by = params.get("by", [None])[-1]
        one = {k: v[-1] for k, v in params.items() if k != "where" and v}
        self.validate(name, one, where)
        cands = [l for l in self.lines if l["name"] == name]
        if not cands:
            raise Problem(501, "Not Implemented", f"the mock has no capture of '{name}'", "unsupported")
        exact = True
        if name == "values":
            match = [l for l in cands if l["params"].get("dimension") == one.get("dimension")]
            if not match:
                raise bad("dimension must be one of " + ", ".join(sorted(ATTRS)))
            return match[0]["body"], True
        same = [l for l in cands if sorted(l["params"].get("where", [])) == where and l["params"].get("by") == by]
        if not same:
            exact = False
            same = [l for l in cands if not l["params"].get("where") and l["params"].get("by") == by] or \
                   [l for l in cands if not l["params"].get("where") and not l["params"].get("by")]
        for key in ("month", "period"):
            if key in one:
                keyed = [l for l in same if l["params"].get(key) == one[key]]
                if not keyed:
                    exact = False
                    # nearest: the latest capture not after the asked value, else the earliest
                    vals = sorted(l["params"].get(key) or "" for l in same)
                    not_after = [v for v in vals if v <= one[key]]
                    pick = not_after[-1] if not_after else vals[0]
                    keyed = [l for l in same if (l["params"].get(key) or "") == pick]
                same = keyed
        if name == "sessions":
            keyed = [l for l in same if l["params"].get("from") == one.get("from") and l["params"].get("to") == one.get("to")]
            if not keyed:
                exact = False
                keyed = sorted(same, key=lambda l: (l["params"]["from"] != one.get("from"), l["params"]["to"] != one.get("to")))
            same = keyed
        body = json.loads(json.dumps(same[0]["body"]))
        lo, hi = one.get("from"), one.get("to")
        if name == "activity":
            body["rows"] = [r for r in body["rows"] if lo <= r["date"] <= hi]
        elif name in ("retention", "lifecycle"):
            col = "cohort" if name == "retention" else "period"
            first = period_start(lo, one["period"]).isoformat() if lo else ""
            body["rows"] = [r for r in body["rows"] if (not lo or r[col] >= first) and (not hi or r[col] <= hi)]
            if name == "retention" and "periods" in one:
                body["rows"] = [r for r in body["rows"] if r["period_offset"] <= int(one["periods"])]
        return body, exact

    def validate(self, name, one, where):
        for k in ("from", "to", "as-of"):
            if k in one and not DATE.match(one[k]):
                raise bad(f"{k} must be YYYY-MM-DD, got '{one[k]}'")
        if "month" in one and not MONTH.match(one["month"]):
            raise bad(f"month must be YYYY-MM, got '{one['month']}'")
        if "period" in one and one["period"] not in ("day", "week", "month"):
            raise bad("period must be day, week or month")
        for w in where:
            attr = w.split("=", 1)[0]
            if "=" not in w or attr not in ATTRS:
                raise bad(f"where must be attr=value with attr one of {', '.join(sorted(ATTRS))}, got '{w}'")
        if "by" in one and one["by"] not in ATTRS:
            raise bad(f"by must be one of {', '.join(sorted(ATTRS))}")
        if name in ("activity", "sessions", "retention", "lifecycle") and not ("from" in one and "to" in one):
            raise bad("give from and to")
        if name in ("retention", "lifecycle") and "period" not in one:
            raise bad("give period")
        if name == "transitions" and "month" not in one:
            raise bad("give month")


def make_handler(captures, static_dir, token=None, forbidden_token=None, log=None):
    requests_seen = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "engage-mock"

        def log_message(self, fmt, *args):
            if log:
                log.write("%s %s\n" % (self.address_string(), fmt % args))

        def send(self, status, body, ctype="application/json", headers=()):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def problem(self, p, headers=()):
            self.send(p.status, p.body(), "application/problem+json", headers)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/mock/append":
                return self.problem(Problem(404, "Not Found", url.path, "not_found"))
            q = urllib.parse.parse_qs(url.query)
            with lock:
                captures.extra_events += int(q.get("events", ["1"])[0])
                if "last_day" in q:
                    captures.last_day = q["last_day"][0]
            self.send(200, captures.current_stats())

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            path = url.path
            if path == "/mock/requests":
                with lock:
                    return self.send(200, list(requests_seen))
            if not path.startswith("/v1/"):
                name = "index.html" if path == "/" else path.lstrip("/")
                ext = os.path.splitext(name)[1]
                full = os.path.join(static_dir, name)
                if "/" in name or ext not in STATIC_TYPES or not os.path.isfile(full):
                    return self.problem(Problem(404, "Not Found", f"no file {path}", "not_found"))
                with open(full, "rb") as f:
                    return self.send(200, f.read(), STATIC_TYPES[ext], [("Content-Security-Policy", CSP)])
            auth = self.headers.get("Authorization", "")
            with lock:
                requests_seen.append({"path": path, "query": url.query, "authorization": bool(auth)})
            if token or forbidden_token:
                given = auth[7:] if auth.startswith("Bearer ") else None
                if given is None or given not in (token, forbidden_token):
                    detail = "a bearer token is required" if given is None else "unknown token"
                    return self.problem(Problem(401, "Unauthorized", detail, "unauthenticated"),
                                        [("WWW-Authenticate", 'Bearer realm="engage"')])
                if given == forbidden_token:
                    return self.problem(Problem(403, "Forbidden", "this token's roles do not include query", "forbidden"))
            try:
                if path == "/v1/stats":
                    with lock:
                        return self.send(200, captures.current_stats())
                m = re.match(r"^/v1/query/([a-z-]+)$", path)
                if not m:
                    raise Problem(404, "Not Found", f"no endpoint {path}", "not_found")
                params = urllib.parse.parse_qs(url.query, keep_blank_values=False)
                body, exact = captures.answer(m.group(1), params)
                self.send(200, body, headers=[("X-Engage-Mock", "exact" if exact else "approximate")])
            except Problem as p:
                self.problem(p)

    return Handler


def serve(port=0, captures_path=DEFAULT_CAPTURES, static_dir=DEFAULT_STATIC, token=None,
          forbidden_token=None, log=None, host="127.0.0.1"):
    """Start the mock in a thread; returns the ThreadingHTTPServer (server_address[1] is the port)."""
    captures = Captures(captures_path)
    httpd = http.server.ThreadingHTTPServer((host, port), make_handler(captures, static_dir, token, forbidden_token, log))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
