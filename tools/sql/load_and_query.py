#!/usr/bin/env python3
"""Loads `engage export` JSON lines into SQLite and runs a SQL file against them.

    load_and_query.py DATABASE.sqlite --table dim_date=dates.jsonl --table fact_daily_user_activity=daily.jsonl \
        --ddl ddl.sql --sql dau_mau.sql --param from_date=2026-01-01 --param to_date=2026-03-31

Creates the tables from the DDL that `engage export ddl` prints, inserts the rows, runs the query with the
named parameters and prints the result as one JSON object {"rows": [...]} on standard output.
"""
import argparse
import json
import sqlite3
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("--ddl", required=True, help="file with CREATE TABLE statements")
    parser.add_argument("--table", action="append", default=[], help="TABLE=FILE.jsonl")
    parser.add_argument("--sql", required=True, help="the query to run")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE")
    args = parser.parse_args()

    connection = sqlite3.connect(args.database)
    connection.executescript(open(args.ddl, encoding="utf-8").read())
    for spec in args.table:
        table, path = spec.split("=", 1)
        with open(path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        if not rows:
            continue
        columns = list(rows[0].keys())
        placeholders = ", ".join("?" for _ in columns)
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
            ([row[column] for column in columns] for row in rows),
        )
    params = dict(spec.split("=", 1) for spec in args.param)
    cursor = connection.execute(open(args.sql, encoding="utf-8").read(), params)
    names = [description[0] for description in cursor.description]
    json.dump({"rows": [dict(zip(names, row)) for row in cursor.fetchall()]}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
