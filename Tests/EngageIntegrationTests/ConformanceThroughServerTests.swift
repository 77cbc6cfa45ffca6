import EngageModel
import EngageTestSupport
import Foundation
import Testing

/// The conformance data set through a real `engaged` and the `engage` CLI, as a user would run them.
@Suite("Conformance through engaged and the engage CLI", .serialized)
struct ConformanceThroughServerTests {
    static func expected(_ timeZone: String) throws -> [String: Any] {
        let name = timeZone == "UTC" ? "expected.json" : "expected_america_new_york.json"
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Binaries.fixture(name))))
            as! [String: Any]
    }

    static let activityKeys = ["date", "group", "dau", "wau", "mau", "dau_mau", "dau_wau"]

    static func importConformance(into server: ServerProcess) throws -> [[String: Any]] {
        rows(
            try server.cliJSON([
                "import", "--actions", Binaries.fixture("actions.jsonl"), "--users", Binaries.fixture("users.jsonl"),
                "--events", Binaries.fixture("events.jsonl"),
            ])
        )
    }

    static func activityQueries(_ server: ServerProcess) throws -> [String: [[String: Any]]] {
        let range = ["--from", "2026-01-01", "--to", "2026-03-31"]
        return [
            "activity": rows(try server.cliJSON(["query", "activity"] + range)),
            "activity_paid_search": rows(
                try server.cliJSON(["query", "activity"] + range + ["--where", "acquisition_channel=paid_search"])
            ),
            "activity_by_region": rows(try server.cliJSON(["query", "activity"] + range + ["--by", "region"])),
        ]
    }

    @Test(
        "activity, activity_paid_search and activity_by_region exactly; import summary matches _params.counts",
        arguments: ["UTC", "America/New_York"]
    )
    func conformance(timeZone: String) throws {
        let expected = try Self.expected(timeZone)
        let server = ServerProcess()
        try server.start(["--timezone", timeZone])
        defer { server.stop() }
        let summary = try Self.importConformance(into: server)
        let counts = (expected["_params"] as! [String: Any])["counts"] as! [String: Int]
        let events = try #require(summary.first { $0["kind"] as? String == "events" })
        #expect(events["lines"] as? Int == counts["raw_events"])
        #expect(events["accepted"] as? Int == counts["unique_events"])
        #expect(events["duplicates"] as? Int == counts["raw_events"]! - counts["unique_events"]!)
        #expect(events["rejected"] as? Int == 0)
        let stats = try #require(rows(try server.cliJSON(["stats"])).first)
        #expect(stats["events"] as? Int == counts["unique_events"])
        #expect(stats["users"] as? Int == counts["users"])
        #expect(stats["time_zone"] as? String == timeZone)

        for (key, actual) in try Self.activityQueries(server) {
            let want = expected[key] as! [[String: Any]]
            #expect(compareRows(actual, want, keys: Self.activityKeys) == nil, "\(key) in \(timeZone)")
        }
        try Self.checkEngagementQueries(server, expected, timeZone)
    }

    /// Every other key of the contract through `engage query` and `engage export`. `queryOptions` go after
    /// every query's arguments (`--clickhouse URL ...` asks ClickHouse instead of `server`); `exports: false`
    /// leaves out the row-level keys, which come through `engage export` of `server`.
    static func checkEngagementQueries(
        _ server: ServerProcess,
        _ expected: [String: Any],
        _ timeZone: String,
        queryOptions: [String] = [],
        exports: Bool = true
    ) throws {
        // Periods that end after the data's last day are unfinished: exactly their values must be null.
        let lastDay = CivilDate(try UnfinishedPeriods.lastDay(timeZone: timeZone))!
        func endsAfterLastDay(_ period: Period, _ start: Any?, offset: Any? = 0) -> Bool {
            period.days(from: period.advance(CivilDate(start as! String)!, by: offset as! Int)).upperBound > lastDay
        }
        func check(
            _ key: String,
            _ arguments: [String],
            _ keys: [String],
            unknown: [String] = [],
            isUnfinished: ([String: Any]) -> Bool = { _ in false }
        ) throws {
            let actual = rows(try server.cliJSON(arguments + queryOptions))
            let want = UnfinishedPeriods.mark(expected[key] as! [[String: Any]], keys: unknown, where: isUnfinished)
            #expect(compareRows(actual, want, keys: keys) == nil, "\(key) in \(timeZone)")
        }
        let range = ["--from", "2026-01-01", "--to", "2026-03-31"]
        for month in ["2026-01", "2026-02", "2026-03"] {
            try check("active_days_\(month)", ["query", "active-days", "--month", month], ["active_days", "users"])
            try check(
                "tiers_month_\(month)",
                ["query", "tiers", "--month", month],
                ["tier", "users", "avg_daily_sessions", "avg_daily_actions"]
            )
        }
        for day in ["2026-03-31", "2026-02-19"] {
            try check(
                "tiers_asof_\(day)",
                ["query", "tiers", "--as-of", day],
                ["tier", "users", "avg_daily_sessions", "avg_daily_actions"]
            )
        }
        for month in ["2026-01", "2026-02"] {
            try check(
                "transitions_\(month)",
                ["query", "transitions", "--month", month],
                ["from_tier", "to_tier", "users"]
            )
        }
        let retentionKeys = ["cohort", "cohort_size", "period_offset", "retained", "rate"]
        for (key, period, periods) in [("retention_month", Period.month, "3"), ("retention_week", Period.week, "8")] {
            try check(
                key,
                ["query", "retention", "--period", period.rawValue, "--periods", periods] + range,
                retentionKeys,
                unknown: ["retained", "rate"],
                isUnfinished: { endsAfterLastDay(period, $0["cohort"], offset: $0["period_offset"]) }
            )
        }
        let lifecycleCounts = ["new", "returning", "resurrecting", "dormant"]
        try check(
            "lifecycle_week",
            ["query", "lifecycle", "--period", "week"] + range,
            ["period"] + lifecycleCounts,
            unknown: lifecycleCounts,
            isUnfinished: { endsAfterLastDay(.week, $0["period"]) }
        )
        try check(
            "sessions",
            ["query", "sessions"] + range,
            [
                "sessions", "users", "avg_duration_seconds", "p50_duration_seconds", "p90_duration_seconds",
                "avg_actions", "bounce_rate",
            ]
        )
        guard exports else { return }
        // daily_activity and sessions_table through the exports, sorted as the contract lists them.
        let daily = try server.exportRows(["daily-activity"] + range).sorted {
            ("\($0["user_id"]!)", "\($0["date"]!)") < ("\($1["user_id"]!)", "\($1["date"]!)")
        }
        #expect(
            compareRows(
                daily,
                expected["daily_activity"] as! [[String: Any]],
                keys: [
                    "user_id", "date", "sessions_count", "total_session_duration", "total_actions",
                    "unique_action_types", "is_active_day", "engagement_tier",
                ]
            ) == nil,
            "daily_activity in \(timeZone)"
        )
        let sessions = try server.exportRows(["sessions"] + range).sorted {
            ("\($0["user_id"]!)", ($0["start_ms"] as! NSNumber).int64Value) < (
                "\($1["user_id"]!)", ($1["start_ms"] as! NSNumber).int64Value
            )
        }
        #expect(
            compareRows(
                sessions,
                expected["sessions_table"] as! [[String: Any]],
                keys: [
                    "user_id", "start_ms", "end_ms", "session_duration_seconds", "actions_count", "screens_visited",
                    "session_type",
                ]
            ) == nil,
            "sessions_table in \(timeZone)"
        )
    }

    @Test("every line of bad_events.jsonl is rejected with its line number and reason; nothing else changes")
    func badEvents() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        _ = try Self.importConformance(into: server)
        let statsBefore = try rows(server.cliJSON(["stats"]))
        let before = try Self.activityQueries(server)

        let result = try server.cli(["import", "--events", Binaries.fixture("bad_events.jsonl"), "--format", "json"])
        // Every line rejected: the summary is printed, and the exit status says nothing was stored.
        #expect(result.status == 1)
        let summary = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        let events = rows(summary).first!
        #expect(events["lines"] as? Int == 8)
        #expect(events["rejected"] as? Int == 8)
        #expect(events["accepted"] as? Int == 0)
        let reasons = Dictionary(
            uniqueKeysWithValues: result.standardError.split(separator: "\n").compactMap { line -> (Int, String)? in
                let parts = line.split(separator: ":", maxSplits: 3).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count >= 3, parts[0] == "bad_events.jsonl", let number = Int(parts[1]) else { return nil }
                return (number, parts[2])
            }
        )
        #expect(
            reasons == [
                1: "invalid_user_id", 2: "invalid_user_id", 3: "invalid_timestamp", 4: "timestamp_out_of_range",
                5: "timestamp_out_of_range", 6: "invalid_action", 7: "missing_field", 8: "invalid_json",
            ]
        )
        #expect(try rows(server.cliJSON(["stats"])).first?["events"] as? Int == statsBefore.first?["events"] as? Int)
        #expect(try rows(server.cliJSON(["stats"])).first?["users"] as? Int == statsBefore.first?["users"] as? Int)
        let after = try Self.activityQueries(server)
        for (key, rows) in after {
            #expect(compareRows(rows, before[key]!, keys: Self.activityKeys) == nil, "\(key) changed")
        }
        // --strict turns rejections into exit status 3 (here with one good line, so something was stored).
        let bad = try String(contentsOfFile: Binaries.fixture("bad_events.jsonl"), encoding: .utf8)
        let mixed = try writeTemporary(
            bad
                + "{\"event_id\": \"good-1\", \"user_id\": \"ok\", \"ts\": \"2026-01-01T00:00:00Z\", \"action\": \"like\"}\n"
        )
        defer { try? FileManager.default.removeItem(atPath: mixed) }
        #expect(try server.cli(["import", "--events", mixed, "--strict"]).status == 3)
    }

    @Test("three random orders, and four concurrent importers, give identical results; so does a restart")
    func ordersConnectionsAndRestart() throws {
        let lines = try String(contentsOfFile: Binaries.fixture("events.jsonl"), encoding: .utf8).split(separator: "\n")
        var generator = SeededGenerator(seed: 42)
        var results: [[String: [[String: Any]]]] = []
        var firstServer: ServerProcess?
        for round in 0..<3 {
            let shuffled = lines.shuffled(using: &generator)
            let server = ServerProcess()
            try server.start()
            _ = try server.cliJSON([
                "import", "--actions", Binaries.fixture("actions.jsonl"), "--users", Binaries.fixture("users.jsonl"),
            ])
            if round < 2 {
                let file = try writeTemporary(shuffled.joined(separator: "\n"))
                defer { try? FileManager.default.removeItem(atPath: file) }
                _ = try server.cliJSON(["import", "--events", file, "--batch-size", "\(700 + round * 311)"])
            } else {
                // Split over four importers running at once, each with its own connection.
                let parts = (0..<4).map { part in shuffled.enumerated().filter { $0.offset % 4 == part }.map(\.element)
                }
                let files = try parts.map { try writeTemporary($0.joined(separator: "\n")) }
                defer { for file in files { try? FileManager.default.removeItem(atPath: file) } }
                let importers = try files.map { file in
                    try EngageIntegrationTests.start(
                        "engage",
                        ["import", "--events", file, "--batch-size", "500"],
                        environment: ["ENGAGE_SERVER": server.address]
                    )
                }
                for importer in importers {
                    importer.process.waitUntilExit()
                    #expect(importer.result().status == 0)
                }
            }
            results.append(try ConformanceThroughServerTests.activityQueries(server))
            if round == 0 { firstServer = server } else { server.stop() }
        }
        for result in results.dropFirst() {
            for (key, rows) in result {
                #expect(
                    compareRows(rows, results[0][key]!, keys: Self.activityKeys) == nil,
                    "\(key) differs between orders"
                )
            }
        }
        let expected = try Self.expected("UTC")
        #expect(
            compareRows(results[0]["activity"]!, expected["activity"] as! [[String: Any]], keys: Self.activityKeys)
                == nil
        )

        // Restart on the same data directory: same answers; another time zone is refused.
        let server = try #require(firstServer)
        let stopped = server.stop()
        #expect(stopped?.status == 0)
        let refused = try run("engaged", ["--data", server.dataDirectory, "--port", "0", "--timezone", "Europe/Paris"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("was created with reporting time zone UTC"))
        try server.start()
        defer { server.stop() }
        let restarted = try Self.activityQueries(server)
        for (key, rows) in restarted {
            #expect(
                compareRows(rows, results[0][key]!, keys: Self.activityKeys) == nil,
                "\(key) changed across the restart"
            )
        }
    }
}

/// The corrected DAU/MAU query of tools/sql/dau_mau.sql, run by SQLite on the export, equals `engage query activity`.
@Suite("Export into a SQL engine")
struct ExportToSQLTests {
    @Test("export -> SQLite -> corrected data-model query gives the same DAU and MAU as engage query activity")
    func sqlMatchesActivity() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        _ = try ConformanceThroughServerTests.importConformance(into: server)
        let directory = NSTemporaryDirectory() + "engage-sql-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The whole daily table (MAU looks back 29 days), and the report's dates plus the 29 before.
        for (table, arguments) in [
            ("ddl", [String]()), ("daily-activity", []), ("dates", ["--from", "2025-12-03", "--to", "2026-03-31"]),
        ] {
            let result = try server.cli(["export", table, "--output", "\(directory)/\(table).out"] + arguments)
            #expect(result.status == 0, "\(result.standardError)")
        }
        let query = try run(
            "python3",
            [
                RepositoryPaths.root.appendingPathComponent("tools/sql/load_and_query.py").path,
                "\(directory)/engage.sqlite",
                "--ddl", "\(directory)/ddl.out", "--table", "fact_daily_user_activity=\(directory)/daily-activity.out",
                "--table", "dim_date=\(directory)/dates.out", "--sql",
                RepositoryPaths.root.appendingPathComponent("tools/sql/dau_mau.sql").path,
                "--param", "from_date=2026-01-01", "--param", "to_date=2026-03-31",
            ]
        )
        #expect(query.status == 0, "\(query.standardError)")
        let sqlRows = rows(try JSONSerialization.jsonObject(with: Data(query.standardOutput.utf8)) as! [String: Any])
        let engageRows = rows(try server.cliJSON(["query", "activity", "--from", "2026-01-01", "--to", "2026-03-31"]))
        #expect(sqlRows.count == 90)
        #expect(compareRows(sqlRows, engageRows, keys: ["date", "dau", "mau", "dau_mau"]) == nil)
        #expect(
            sqlRows.contains { ($0["mau"] as! Int) > ($0["dau"] as! Int) },
            "the corrected query sees a 30-day window"
        )

        // The other engagement commands on the same server.
        let expected = try ConformanceThroughServerTests.expected("UTC")
        let user = try server.cliJSON(["query", "user", "--id", "u7-000001"])
        let days = (user["daily_activity"] as! [[String: Any]]).filter { ($0["date"] as! String) <= "2026-03-31" }
        let wantDays = (expected["daily_activity"] as! [[String: Any]]).filter {
            $0["user_id"] as? String == "u7-000001"
        }
        #expect(
            compareRows(
                days,
                wantDays,
                keys: [
                    "date", "sessions_count", "total_session_duration", "total_actions", "unique_action_types",
                    "is_active_day", "engagement_tier",
                ]
            )
                == nil
        )
        #expect((user["user"] as! [String: Any])["region"] as? String == "eu")
        let actions = rows(try server.cliJSON(["query", "actions", "--from", "2025-12-01", "--to", "2026-04-30"]))
        let typeEvents = actions.filter { !($0["action_type"] is NSNull) }.reduce(0) { $0 + ($1["events"] as! Int) }
        #expect(typeEvents == 30979, "every stored event is counted once under its action type")
        #expect(
            actions.contains {
                $0["action_type"] as? String == "share" && $0["action_category"] as? String == "uncategorized"
            }
        )
        let atRisk = rows(try server.cliJSON(["query", "at-risk", "--as-of", "2026-03-31", "--limit", "5"]))
        #expect(atRisk.count <= 5)
        #expect(atRisk.allSatisfy { ["regular", "core", "power"].contains($0["tier_7_days_ago"] as? String ?? "") })
        let verify = try server.cli(["admin", "verify"])
        #expect(verify.status == 0, "\(verify.standardOutput)")
        #expect(verify.standardOutput.contains("no differences"))
        #expect(try server.cli(["admin", "rebuild"]).status == 0)
        #expect(try server.cli(["admin", "verify"]).status == 0)
    }
}

func writeTemporary(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "engage-events-" + UUID().uuidString + ".jsonl"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
