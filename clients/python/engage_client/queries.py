"""Queries by name, with the parameters of ``engage query NAME``, and their rows as ``--format json`` prints
them (SEMANTICS.md, and the Swift CLI's Query.swift and Output.swift).

Each query is one :class:`QuerySpec`: the request message, how the parameters become its fields and how
the response's fields become rows. The clients only look things up here.

Rows: dates are ``YYYY-MM-DD`` strings, ratios are floats with at most 6 decimals (0 when the divisor is
0), ``group`` is present only with ``by``. A count the server reports as unknown (an unfinished period) is
``None``, and so is every ratio computed from it. The session times of ``user`` (``start``, ``end``) are
local times of the server's reporting time zone with their offset (``2026-02-26T00:03:44.262-05:00``).
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .records import parse_date

#: ``period`` parameter values and their wire numbers.
PERIODS: Dict[str, int] = {"day": 0, "week": 1, "month": 2}
#: The dimensions of ``where``, ``by`` and ``values`` (the server checks them; listed for documentation).
DIMENSIONS: Tuple[str, ...] = ("acquisition_channel", "user_segment", "device_type", "region", "cohort")
DEFAULT_AT_RISK_LIMIT = 100

#: ``where``: ``{"region": "eu"}`` or ``{"region": ["eu", "na"], "cohort": "2026-01"}`` (values of one
#: dimension OR, dimensions AND); a sequence of ``(dimension, value)`` pairs is taken too.
Where = Union[Mapping[str, Union[str, Sequence[str]]], Sequence[Tuple[str, str]], None]
Row = Dict[str, Any]
Params = Dict[str, Any]
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ratio(numerator: Optional[int], denominator: Optional[int]) -> Optional[float]:
    """``numerator / denominator`` with 6 decimals as ``engage --format json`` prints it; 0.0 when the
    denominator is 0; ``None`` when either is unknown."""
    if numerator is None or denominator is None:
        return None
    if denominator == 0:
        return 0.0
    return float(f"{numerator / denominator:.6f}") + 0.0  # + 0.0 turns -0.0 into 0.0


def format_date(value: Optional[datetime.date]) -> Optional[str]:
    return None if value is None else value.isoformat()


def format_timestamp(epoch_ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    days, remainder = divmod(epoch_ms, 86_400_000)
    day = datetime.date.fromordinal(days + datetime.date(1970, 1, 1).toordinal())
    hours, remainder = divmod(remainder, 3_600_000)
    minutes, remainder = divmod(remainder, 60_000)
    seconds, millis = divmod(remainder, 1000)
    return f"{day.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@functools.lru_cache(maxsize=16)
def time_zone(name: str) -> datetime.tzinfo:
    """The IANA time zone ``name`` (the system's time zone database, or the ``tzdata`` package where there is
    none); UTC when it is unknown here, as the CLI does."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.timezone.utc


def format_local_timestamp(epoch_ms: int, zone: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmm+HH:MM``: the local time in ``zone`` with its offset from UTC, as ``engage query
    user`` prints session times."""
    instant = _EPOCH + datetime.timedelta(milliseconds=epoch_ms)
    offset = instant.astimezone(time_zone(zone)).utcoffset()
    seconds = 0 if offset is None else int(offset.total_seconds())
    magnitude = abs(seconds)
    sign = "-" if seconds < 0 else "+"
    local = format_timestamp(epoch_ms + seconds * 1000)[:-1]
    return f"{local}{sign}{magnitude // 3600:02d}:{magnitude % 3600 // 60:02d}"


def filters(where: Where) -> List[Dict[str, str]]:
    """``where`` as the wire's ``(dimension, value)`` pairs, in the order given."""
    if where is None:
        return []
    items = where.items() if isinstance(where, Mapping) else where
    pairs: List[Dict[str, str]] = []
    for dimension, values in items:
        for value in [values] if isinstance(values, str) else values:
            if not isinstance(dimension, str) or not isinstance(value, str):
                raise ValueError(f"where: dimension and values must be strings, not {dimension!r}={value!r}")
            pairs.append({"dimension": dimension, "value": value})
    if len(pairs) > 255:
        raise ValueError(f"where has {len(pairs)} values; a request carries at most 255")
    return pairs


def month_start(value: Any) -> datetime.date:
    """The first day of a month given as ``YYYY-MM`` or as any date in it."""
    if isinstance(value, str) and len(value) == 7:
        return parse_date(value + "-01", "month")
    if isinstance(value, datetime.date):
        return parse_date(value, "month").replace(day=1)
    raise ValueError(f"month {value!r} is not YYYY-MM")


def _period(value: Any) -> int:
    if value not in PERIODS:
        raise ValueError(f"period {value!r} is not one of day, week, month")
    return PERIODS[value]


def _date(params: Params, name: str) -> datetime.date:
    return parse_date(params[name], name if name != "from" else "from_")


def _range(params: Params) -> Tuple[datetime.date, datetime.date]:
    start, end = _date(params, "from"), _date(params, "to")
    if start > end:
        raise ValueError("from_ must not be after to")
    return start, end


def _breakdown(params: Params) -> str:
    by = params.get("by")
    if by is not None and not isinstance(by, str):
        raise ValueError(f"by must be a dimension name, not {by!r}")
    return by or ""


def _group(params: Params, row: Mapping[str, Any]) -> Row:
    return {"group": row["group"]} if params.get("by") else {}


# MARK: - Requests from parameters


def _activity_request(params: Params) -> Params:
    start, end = _range(params)
    return {"from": start, "to": end, "filters": filters(params.get("where")), "breakdown": _breakdown(params)}


def _active_days_request(params: Params) -> Params:
    if ("month" in params) == ("from" in params or "to" in params):
        raise TypeError("active_days: give either month or from_ and to")
    if "month" in params:
        start = month_start(params["month"])
        end = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
    else:
        start, end = _range(params)
    return {"from": start, "to": end, "filters": filters(params.get("where")), "breakdown": _breakdown(params)}


def _tiers_request(params: Params) -> Params:
    if ("month" in params) == ("as_of" in params):
        raise TypeError("tiers: give either month or as_of")
    window, day = (0, month_start(params["month"])) if "month" in params else (1, _date(params, "as_of"))
    return {"window": window, "date": day, "filters": filters(params.get("where")), "breakdown": _breakdown(params)}


def _transitions_request(params: Params) -> Params:
    return {"month": month_start(params["month"]), "filters": filters(params.get("where"))}


def _retention_request(params: Params) -> Params:
    start, end = _range(params)
    periods = params["periods"]
    if isinstance(periods, bool) or not isinstance(periods, int) or not 0 <= periods <= 0xFFFF:
        raise ValueError(f"periods must be an integer in 0...65535, not {periods!r}")
    return {
        "period": _period(params["period"]), "from": start, "to": end, "periods": periods,
        "filters": filters(params.get("where")), "breakdown": _breakdown(params),
    }


def _lifecycle_request(params: Params) -> Params:
    start, end = _range(params)
    return {"period": _period(params["period"]), "from": start, "to": end, "filters": filters(params.get("where"))}


def _range_request(params: Params) -> Params:
    start, end = _range(params)
    return {"from": start, "to": end, "filters": filters(params.get("where"))}


def _user_request(params: Params) -> Params:
    if not isinstance(params["id"], str):
        raise ValueError("id must be a user_id string")
    return {"user_id": params["id"]}


def _at_risk_request(params: Params) -> Params:
    limit = params.get("limit", DEFAULT_AT_RISK_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 0xFFFFFFFF:
        raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
    return {"as_of": _date(params, "as_of"), "limit": limit, "filters": filters(params.get("where"))}


def _values_request(params: Params) -> Params:
    if not isinstance(params["dimension"], str):
        raise ValueError("dimension must be a dimension name")
    return {"dimension": params["dimension"]}


# MARK: - Rows from responses


def _activity_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            **_group(params, row), "date": row["date"].isoformat(), "dau": row["dau"], "wau": row["wau"],
            "mau": row["mau"], "dau_mau": ratio(row["dau"], row["mau"]), "dau_wau": ratio(row["dau"], row["wau"]),
        }
        for row in result["rows"]
    ]


def _active_days_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [{**_group(params, row), "active_days": row["active_days"], "users": row["users"]} for row in result["rows"]]


def _tiers_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            **_group(params, row), "tier": row["tier"], "users": row["users"],
            "avg_daily_sessions": ratio(row["sessions"], row["records"]),
            "avg_daily_actions": ratio(row["actions"], row["records"]),
        }
        for row in result["rows"]
    ]


def _transitions_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [{"from_tier": row["from_tier"], "to_tier": row["to_tier"], "users": row["users"]} for row in result["rows"]]


def _retention_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            **_group(params, row), "cohort": row["cohort"].isoformat(), "cohort_size": row["cohort_size"],
            "period_offset": row["period_offset"], "retained": row["retained"],
            "rate": ratio(row["retained"], row["cohort_size"]),
        }
        for row in result["rows"]
    ]


def _lifecycle_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            "period": row["period"].isoformat(), "new": row["new"], "returning": row["returning"],
            "resurrecting": row["resurrecting"], "dormant": row["dormant"],
        }
        for row in result["rows"]
    ]


def _sessions_rows(result: Params, params: Params, zone: str) -> List[Row]:
    sessions = result["sessions"]
    return [{
        "sessions": sessions, "users": result["users"],
        "avg_duration_seconds": ratio(result["total_duration_seconds"], sessions),
        "p50_duration_seconds": result["p50_duration_seconds"], "p90_duration_seconds": result["p90_duration_seconds"],
        "avg_actions": ratio(result["total_actions"], sessions), "bounce_rate": ratio(result["bounces"], sessions),
    }]


def _user_report(result: Params, params: Params, zone: str) -> Optional[Dict[str, Any]]:
    detail = result["user"]
    if detail is None:
        return None
    profile = {
        "user_id": detail["user_id"], "registration_date": format_date(detail["registration_date"]),
        "acquisition_channel": detail["acquisition_channel"], "user_segment": detail["user_segment"],
        "device_type": detail["device_type"], "region": detail["region"],
        "current_tier": detail["current_tier"], "as_of": detail["as_of"].isoformat(),
    }
    days = [{**day, "date": day["date"].isoformat()} for day in detail["days"]]
    sessions = [
        {
            "start": format_local_timestamp(s["start"], zone), "end": format_local_timestamp(s["end"], zone),
            "start_ms": s["start"],
            "end_ms": s["end"], "session_duration_seconds": (s["end"] - s["start"]) // 1000,
            "actions_count": s["actions_count"], "screens_visited": s["screens_visited"], "session_type": s["session_type"],
        }
        for s in detail["sessions"]
    ]
    return {"user": profile, "daily_activity": days, "sessions": sessions}


def _at_risk_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            "user_id": row["user_id"], "tier_7_days_ago": row["tier"], "active_days": row["active_days"],
            "actions": row["actions"], "last_active_day": row["last_active_day"].isoformat(),
        }
        for row in result["rows"]
    ]


def _actions_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [
        {
            "action_category": row["action_category"],
            "action_type": row["action_type"] if row["kind"] == 1 else None,
            "is_core_action": row["is_core_action"] if row["kind"] == 1 else None,
            "events": row["events"], "users": row["users"],
        }
        for row in result["rows"]
    ]


def _values_rows(result: Params, params: Params, zone: str) -> List[Row]:
    return [{"value": row["value"], "users": row["users"]} for row in result["rows"]]


@dataclass(frozen=True)
class QuerySpec:
    """One query: the name ``engage`` prints, its request message, its parameters and its rows."""

    name: str
    request: str
    required: Tuple[str, ...]
    optional: Tuple[str, ...]
    build: Callable[[Params], Params]
    #: ``rows(response fields, parameters, the server's reporting time zone)``
    rows: Callable[[Params, Params, str], Any]


_SELECTION = ("where", "by")
QUERIES: Dict[str, QuerySpec] = {
    spec.name: spec
    for spec in (
        QuerySpec("activity", "QUERY_ACTIVITY", ("from", "to"), _SELECTION, _activity_request, _activity_rows),
        QuerySpec("active_days", "QUERY_ACTIVE_DAYS", (), ("month", "from", "to") + _SELECTION,
                  _active_days_request, _active_days_rows),
        QuerySpec("tiers", "QUERY_TIERS", (), ("month", "as_of") + _SELECTION, _tiers_request, _tiers_rows),
        QuerySpec("transitions", "QUERY_TRANSITIONS", ("month",), ("where",), _transitions_request, _transitions_rows),
        QuerySpec("retention", "QUERY_RETENTION", ("period", "from", "to", "periods"), _SELECTION,
                  _retention_request, _retention_rows),
        QuerySpec("lifecycle", "QUERY_LIFECYCLE", ("period", "from", "to"), ("where",), _lifecycle_request,
                  _lifecycle_rows),
        QuerySpec("sessions", "QUERY_SESSIONS", ("from", "to"), ("where",), _range_request, _sessions_rows),
        QuerySpec("user", "QUERY_USER", ("id",), (), _user_request, _user_report),
        QuerySpec("at_risk", "QUERY_AT_RISK", ("as_of",), ("limit", "where"), _at_risk_request, _at_risk_rows),
        QuerySpec("actions", "QUERY_ACTIONS", ("from", "to"), ("where",), _range_request, _actions_rows),
        QuerySpec("values", "QUERY_VALUES", ("dimension",), (), _values_request, _values_rows),
    )
}


def resolve(name: str, params: Mapping[str, Any]) -> Tuple[QuerySpec, Params, Params]:
    """``(spec, params, request fields)`` for ``query(name, **params)``: names as the CLI spells them
    (``active-days`` or ``active_days``), ``from_`` for ``--from``, ``as_of`` for ``--as-of``. ``None``
    values count as not given."""
    spec = QUERIES.get(name.replace("-", "_"))
    if spec is None:
        raise ValueError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}")
    given: Params = {}
    for key, value in params.items():
        key = "from" if key == "from_" else key.replace("-", "_")
        if key not in spec.required and key not in spec.optional:
            raise TypeError(f"query {spec.name!r} takes no parameter {key!r}")
        if value is not None:
            given[key] = value
    missing = [key for key in spec.required if key not in given]
    if missing:
        raise TypeError(f"query {spec.name!r} needs {', '.join('from_' if m == 'from' else m for m in missing)}")
    return spec, given, spec.build(given)


# MARK: - Exports, stats, verify

#: Export tables: wire number and columns (PROTOCOL.md 4.20), by the name ``engage export`` takes.
EXPORT_TABLES: Dict[str, Tuple[int, Tuple[str, ...]]] = {
    "users": (0, ("user_key", "user_id", "registration_date", "acquisition_channel", "user_segment", "device_type",
                  "region")),
    "actions": (1, ("action_key", "action_type", "action_category", "engagement_weight", "is_core_action")),
    "dates": (2, ("date_key", "full_date", "year", "quarter", "month", "day_of_month", "day_of_week", "week_of_year",
                  "is_weekend", "day_number")),
    "events": (3, ("action_instance_key", "user_key", "session_key", "action_key", "date_key", "action_timestamp",
                   "action_context", "action_metadata", "user_id", "event_id", "action_type", "date", "ts_ms")),
    "sessions": (4, ("session_key", "user_key", "date_key", "session_id", "session_start", "session_end",
                     "session_duration_seconds", "actions_count", "screens_visited", "session_type", "user_id", "date",
                     "start_ms", "end_ms")),
    "daily-activity": (5, ("user_key", "date_key", "sessions_count", "total_session_duration", "total_actions",
                           "unique_action_types", "is_active_day", "engagement_tier", "user_id", "date")),
}


def export_table(table: str) -> Tuple[int, Tuple[str, ...]]:
    """Wire number and column names of an export table (``daily-activity`` or ``daily_activity``...)."""
    found = EXPORT_TABLES.get(table.replace("_", "-"))
    if found is None:
        raise ValueError(f"unknown export table {table!r}; known: {', '.join(EXPORT_TABLES)}")
    return found


def export_row(columns: Tuple[str, ...], values: List[Any]) -> Row:
    """A row as ``engage export --format jsonl`` prints it; values past the known columns are ``column_N``."""
    if len(values) == len(columns):
        return dict(zip(columns, values))
    return {(columns[i] if i < len(columns) else f"column_{i}"): value for i, value in enumerate(values)}


def stats_report(result: Params) -> Row:
    """STATS_RESULT as ``engage stats --format json``'s row."""
    return {**result, "first_day": format_date(result["first_day"]), "last_day": format_date(result["last_day"])}


def verify_report(result: Params) -> Dict[str, Any]:
    """VERIFY_RESULT: ``total_issues``, ``checked`` (table: records compared) and the ``issues`` as
    ``engage admin verify --format json`` lists them (``table``, ``record``, ``difference``)."""
    return {
        "total_issues": result["total_issues"],
        "checked": {entry["table"]: entry["records"] for entry in result["tables"]},
        "issues": [{"table": i["table"], "record": i["key"], "difference": i["detail"]} for i in result["issues"]],
    }
