"""Shared by tools/clickhouse-load and tools/clickhouse-check (standard library only).

- `render`: fills the `{name}` placeholders of clickhouse/schema/*.sql and clickhouse/queries/*.sql.
- `Selection`: builds {user_filter}, {group_expr} and {group_column} from `--where attr=value` / `--by attr`.
- `HTTP`: one ClickHouse server over its HTTP interface (works with 18.16 and current versions).
- `statements`: splits a schema file into statements.

The Swift sync and `engage query --clickhouse` follow the same rules (clickhouse/README.md).
"""
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_DIR = os.path.join(PROJECT_DIR, "clickhouse", "schema")
QUERY_DIR = os.path.join(PROJECT_DIR, "clickhouse", "queries")

ATTRIBUTES = ("acquisition_channel", "user_segment", "device_type", "region")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# The registration month of a user, 'YYYY-MM'; NULL without a registration date.
COHORT_EXPR = "substring(toString(registration_date), 1, 7)"


def quote(value):
    """A ClickHouse string literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def date_literal(value):
    """A date as the literal the queries expect: '2026-01-01' (checked)."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
        raise ValueError(f"not a date YYYY-MM-DD: {value!r}")
    return quote(value)


def identifier(value):
    if not IDENTIFIER.match(value):
        raise ValueError(f"not an identifier: {value!r}")
    return value


def strip_comments(sql):
    """Drops the lines that are `--` comments (the SQL files keep comments on lines of their own; 18.16's
    parser stumbles over some comments inside parentheses)."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def render(sql, values):
    """Drops comment lines, then replaces every {name} with values[name] (an error without a value)."""
    sql = strip_comments(sql)

    def replace(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for placeholder {{{name}}}")
        return str(values[name])

    return PLACEHOLDER.sub(replace, sql)


def statements(sql):
    """The statements of a schema file: comments dropped, split at ';' ending a line."""
    return [part.strip() for part in re.split(r";[ \t]*(?:\n|$)", strip_comments(sql)) if part.strip()]


class Selection:
    """--where attr=value (values of one attribute OR, attributes AND; cohort=YYYY-MM) and --by attr."""

    def __init__(self, where=(), by=None):
        self.filters = {}
        for attribute, value in where:
            if attribute not in ATTRIBUTES and attribute != "cohort":
                raise ValueError(f"unknown attribute {attribute}")
            if attribute == "cohort" and not re.match(r"^\d{4}-\d{2}$", value):
                raise ValueError(f"cohort values are months YYYY-MM, not {value!r}")
            values = self.filters.setdefault(attribute, [])
            if value not in values:
                values.append(value)
        if by is not None and by not in ATTRIBUTES and by != "cohort":
            raise ValueError(f"unknown attribute {by}")
        self.by = by

    def placeholders(self):
        conditions = []
        for attribute, values in self.filters.items():
            column = COHORT_EXPR if attribute == "cohort" else attribute
            conditions.append(f"{column} IN ({', '.join(quote(v) for v in values)})")
        if self.by is None:
            group_expr, group_column = "''", ""
        else:
            group_expr = COHORT_EXPR if self.by == "cohort" else self.by
            group_column = "grp AS `group`,"
        return {
            "user_filter": " AND ".join(conditions) if conditions else "1",
            "group_expr": group_expr,
            "group_column": group_column,
        }


class ClickHouseError(Exception):
    pass


class HTTP:
    """One server's HTTP interface. Settings go in the URL (18.16 has no SETTINGS for INSERT ... FORMAT)."""

    def __init__(self, url, timeout=600):
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout

    def execute(self, sql, data=None, **settings):
        """Runs `sql`; with `data` (bytes), the query goes in the URL and the data is the body."""
        params = dict(settings)
        if data is None:
            body = sql.encode()
        else:
            params["query"] = sql
            body = data
        url = self.url + ("?" + urllib.parse.urlencode(params) if params else "")
        request = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            raise ClickHouseError(f"{self.url}: {error.read().decode(errors='replace').strip()}\n-- in:\n{sql[:2000]}") from None

    def rows(self, sql, **settings):
        """A SELECT's rows as dicts (JSONEachRow; 64-bit integers unquoted)."""
        text = self.execute(sql + "\nFORMAT JSONEachRow", output_format_json_quote_64bit_integers=0, **settings)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def value(self, sql):
        return self.execute(sql + "\nFORMAT TSV").strip()


def query_sql(name):
    with open(os.path.join(QUERY_DIR, name + ".sql"), encoding="utf-8") as file:
        return file.read()


def schema_sql(name):
    with open(os.path.join(SCHEMA_DIR, name + ".sql"), encoding="utf-8") as file:
        return file.read()
