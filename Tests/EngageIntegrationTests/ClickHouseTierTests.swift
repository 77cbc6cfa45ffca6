import EngageClickHouse
import EngageModel
import EngageTestSupport
import Foundation
import Testing

/// The ClickHouse tier end to end, against a real 2-shard ClickHouse (Debian's 18.16, `tools/clickhouse up`):
/// the conformance data imported through two engaged nodes (users partitioned), synced by `engage clickhouse
/// sync`, and every query of `engage query ... --clickhouse` on the Distributed tables equal to the contract
/// and, byte for byte in every format, to the same query of one engaged holding all users. Then late changes
/// (a session bridge, a tier flip, a catalog flip), a sync killed mid-way with ClickHouse restarted, and FINAL
/// row counts equal to engaged's.
@Suite("ClickHouse tier: partitioned nodes, sync, queries", .serialized)
struct ClickHouseTierTests {
    static let tool = RepositoryPaths.root.appendingPathComponent("tools/clickhouse").path

    /// Starts the cluster (idempotent) and returns the first shard's URL.
    static func clusterURL() throws -> String {
        let result = try run(Self.tool, ["up", "--shards", "2"])
        guard result.status == 0, let url = result.standardOutput.split(separator: "\n").first else {
            throw HarnessError("tools/clickhouse up failed: \(result.standardError)")
        }
        return String(url)
    }

    /// Two nodes (users partitioned), one engaged holding every user, and a database on the cluster.
    final class Deployment {
        let nodes = [ServerProcess(), ServerProcess()]
        let single = ServerProcess()
        let url: String
        let database = "engage_it_\(UInt32.random(in: 0...UInt32.max))"
        let timeZone: String

        init(timeZone: String) throws {
            self.timeZone = timeZone
            self.url = try ClickHouseTierTests.clusterURL()
            for server in self.nodes + [self.single] { try server.start(["--timezone", timeZone]) }
        }

        deinit {
            for server in self.nodes + [self.single] { server.stop() }
            let shards = (try? run(ClickHouseTierTests.tool, ["urls"]))?.standardOutput.split(separator: "\n") ?? []
            for shard in shards {
                _ = try? run(
                    "curl",
                    [
                        "-fsS", "--max-time", "10", String(shard), "--data-binary",
                        "DROP DATABASE IF EXISTS \(self.database)",
                    ]
                )
            }
        }

        var nodeList: String { self.nodes.map(\.address).joined(separator: ",") }

        var clickhouseOptions: [String] {
            ["--clickhouse", self.url, "--database", self.database, "--cluster", "engage"]
        }

        /// `engage import` into the two nodes (partitioned) and into the single engaged.
        func importFiles(_ files: [String: String]) throws {
            let arguments = files.sorted { $0.key < $1.key }.flatMap { ["--\($0.key)", $0.value] }
            for server in [self.nodeList, self.single.address] {
                let result = try run("engage", ["import", "--server", server] + arguments)
                guard result.status == 0 else { throw HarnessError("import into \(server): \(result.standardError)") }
            }
        }

        /// `engage clickhouse sync --once` for both nodes.
        func sync(extra: [String] = []) throws {
            for (index, node) in self.nodes.enumerated() {
                let result = try run("engage", self.syncArguments(index, node) + ["--once"] + extra)
                guard result.status == 0 else { throw HarnessError("sync of node \(index): \(result.standardError)") }
            }
        }

        func syncArguments(_ index: Int, _ node: ServerProcess) -> [String] {
            [
                "clickhouse", "sync", "--server", node.address, "--node", String(index), "--url", self.url,
                "--database", self.database, "--cluster", "engage",
            ]
        }

        /// The queries compared: every conformance key's, and more with --where and --by.
        static func queries(first: String, last: String) -> [[String]] {
            let full = ["--from", first, "--to", last]
            var queries: [[String]] = [
                ["activity"] + full, ["activity"] + full + ["--where", "acquisition_channel=paid_search"],
                ["activity"] + full + ["--by", "region"], ["activity", "--from", "2026-02-20", "--to", "2026-04-10"],
                ["active-days", "--from", "2026-01-20", "--to", "2026-03-10", "--by", "device_type"],
                ["tiers", "--month", "2026-02", "--by", "region"], ["tiers", "--as-of", "2026-03-15"],
                ["transitions", "--month", "2026-02", "--where", "region=eu"],
                [
                    "retention", "--period", "week", "--periods", "4", "--from", "2026-02-01", "--to", last, "--by",
                    "cohort",
                ],
                ["retention", "--period", "day", "--periods", "7", "--from", "2026-03-01", "--to", "2026-03-20"],
                ["lifecycle", "--period", "month"] + full,
                ["lifecycle", "--period", "day", "--from", "2026-03-01", "--to", last],
                ["lifecycle", "--period", "week", "--where", "device_type=ios"] + full,
                ["sessions"] + full,
                ["sessions", "--from", "2026-02-01", "--to", last, "--where", "user_segment=free"],
            ]
            for month in ["2026-01", "2026-02", "2026-03"] {
                queries.append(["active-days", "--month", month])
                queries.append(["tiers", "--month", month])
            }
            for day in ["2026-03-31", "2026-02-19"] { queries.append(["tiers", "--as-of", day]) }
            for month in ["2026-01", "2026-02"] { queries.append(["transitions", "--month", month]) }
            queries.append(["retention", "--period", "month", "--periods", "3"] + full)
            queries.append(["retention", "--period", "week", "--periods", "8"] + full)
            queries.append(["lifecycle", "--period", "week"] + full)
            return queries
        }

        /// Every query against ClickHouse prints what it prints against the single engaged, in `formats`;
        /// returns the mismatches.
        func compareQueries(formats: [String]) throws -> [String] {
            let stats = try #require(rows(try self.single.cliJSON(["stats"])).first)
            let first = stats["first_day"] as! String
            let last = stats["last_day"] as! String
            var mismatches: [String] = []
            for query in Self.queries(first: first, last: last) {
                for format in formats {
                    let arguments = ["query"] + query + ["--format", format]
                    let engaged = try self.single.cli(arguments)
                    let clickhouse = try run("engage", arguments + self.clickhouseOptions)
                    if engaged.status != 0 || clickhouse.status != 0
                        || engaged.standardOutput != clickhouse.standardOutput
                    {
                        mismatches.append(
                            "\(arguments.joined(separator: " ")): engaged \(engaged.status) \(engaged.standardOutput.prefix(300)) "
                                + "clickhouse \(clickhouse.status) \(clickhouse.standardOutput.prefix(300)) \(clickhouse.standardError)"
                        )
                    }
                }
            }
            return mismatches
        }

        func target() async throws -> ClickHouseTarget {
            try await ClickHouseTarget.connect(
                ClickHouseConfiguration(url: self.url, database: self.database, cluster: "engage")
            )
        }

        /// Rows of a FINAL read (physical rows for sessions) against the single engaged's export.
        func checkCounts() async throws {
            let target = try await self.target()
            defer { target.shutdown() }
            for (table, export, final) in [
                ("dim_users", "users", true), ("fact_daily_user_activity", "daily-activity", true),
                ("fact_user_actions", "events", true), ("fact_user_sessions", "sessions", false),
            ] {
                let sql =
                    "SELECT count() AS n FROM (SELECT user_id FROM \(self.database).\(table)\(final ? " FINAL" : ""))"
                let got = try await target.entry.rows(sql).first?["n"]?.int
                let want = try self.single.exportRows([export]).count
                #expect(got == want, "\(table): ClickHouse \(got ?? -1), engaged \(want)")
            }
        }

        /// The row-level SQL files (daily_activity, sessions_table) against the single engaged's exports.
        func checkRowLevel() async throws {
            let target = try await self.target()
            defer { target.shutdown() }
            let stats = try #require(rows(try self.single.cliJSON(["stats"])).first)
            let range = ["from": "'\(stats["first_day"]!)'", "to": "'\(stats["last_day"]!)'", "user_filter": "1"]
            for (file, export, columns) in [
                (
                    "daily_activity", "daily-activity",
                    [
                        "user_id", "date", "sessions_count", "total_session_duration", "total_actions",
                        "unique_action_types", "is_active_day", "engagement_tier",
                    ]
                ),
                (
                    "sessions_table", "sessions",
                    [
                        "user_id", "start_ms", "end_ms", "session_duration_seconds", "actions_count", "screens_visited",
                        "session_type",
                    ]
                ),
            ] {
                let got = try await target.rows(of: ClickHouseQuery(file: file, values: range), powerThreshold: 20)
                    .map { row in columns.map { Self.text(row[$0]) }.joined(separator: "|") }.sorted()
                let want = try self.single.exportRows([export]).map { row in
                    columns.map { column -> String in
                        let value = row[column]
                        if let flag = value as? Bool { return flag ? "1" : "0" }
                        return "\(value ?? "null")"
                    }.joined(separator: "|")
                }.sorted()
                #expect(got == want, "\(file): \(got.count) rows from ClickHouse, \(want.count) from engaged")
            }
        }

        static func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let text): return text
            case .number(let text): return text
            case .bool(let flag): return flag ? "1" : "0"
            default: return "null"
            }
        }
    }

    @Test(
        "conformance keys from ClickHouse after a partitioned import and sync",
        arguments: ["UTC", "America/New_York"]
    )
    func conformance(timeZone: String) async throws {
        let deployment = try Deployment(timeZone: timeZone)
        try deployment.importFiles([
            "actions": Binaries.fixture("actions.jsonl"), "users": Binaries.fixture("users.jsonl"),
            "events": Binaries.fixture("events.jsonl"),
        ])
        // The nodes hold disjoint users whose union is the single engaged's.
        let users = try deployment.nodes.map { try #require(rows(try $0.cliJSON(["stats"])).first)["users"] as! Int }
        let total = try #require(rows(try deployment.single.cliJSON(["stats"])).first)["users"] as! Int
        #expect(users.allSatisfy { $0 > 0 } && users.reduce(0, +) == total)
        try deployment.sync()

        let expected = try ConformanceThroughServerTests.expected(timeZone)
        let range = ["--from", "2026-01-01", "--to", "2026-03-31"]
        for (key, extra) in [
            ("activity", []), ("activity_paid_search", ["--where", "acquisition_channel=paid_search"]),
            ("activity_by_region", ["--by", "region"]),
        ] {
            let actual = rows(
                try deployment.single.cliJSON(["query", "activity"] + range + extra + deployment.clickhouseOptions)
            )
            #expect(
                compareRows(actual, expected[key] as! [[String: Any]], keys: ConformanceThroughServerTests.activityKeys)
                    == nil,
                "\(key) in \(timeZone)"
            )
        }
        try ConformanceThroughServerTests.checkEngagementQueries(
            deployment.single,
            expected,
            timeZone,
            queryOptions: deployment.clickhouseOptions,
            exports: false
        )
        try await deployment.checkRowLevel()
        // Every format in UTC; JSON in New York (the formats' code is the same, the numbers are not).
        let mismatches = try deployment.compareQueries(
            formats: timeZone == "UTC" ? ["json", "csv", "table"] : ["json"]
        )
        #expect(mismatches.isEmpty, "\(mismatches.count) queries differ: \(mismatches.prefix(3))")
    }

    @Test(
        "late events, a session bridge, a tier flip and a catalog flip; a sync killed mid-way and ClickHouse restarted"
    )
    func lateChangesAndCrash() async throws {
        let deployment = try Deployment(timeZone: "UTC")
        try deployment.importFiles([
            "actions": Binaries.fixture("actions.jsonl"), "users": Binaries.fixture("users.jsonl"),
            "events": Binaries.fixture("events.jsonl"),
        ])
        try deployment.sync()
        let directory = NSTemporaryDirectory() + "engage-ch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // 1. A late event joining two sessions of a user (across midnight when the data has such a pair).
        let sessions = try deployment.single.exportRows(["sessions"])
        let bridge = try #require(LateChanges.bridge(sessions), "no pair of sessions 30-60 minutes apart")
        // 2. A new active day that changes the user's rolling tier on a later day.
        let daily = try deployment.single.exportRows(["daily-activity"])
        let flip = try #require(LateChanges.tierFlip(daily), "no day whose activity flips a later rolling tier")
        let events = directory + "/late.jsonl"
        try (bridge.event + "\n" + flip.event + "\n").write(toFile: events, atomically: true, encoding: .utf8)
        try deployment.importFiles(["events": events])
        let after = try deployment.single.exportRows(["daily-activity"]).filter {
            $0["user_id"] as? String == flip.user
        }
        let changedTiers = after.filter { row in
            daily.contains {
                $0["user_id"] as? String == flip.user && $0["date"] as? String == row["date"] as? String
                    && $0["engagement_tier"] as? String != row["engagement_tier"] as? String
            }
        }
        #expect(!changedTiers.isEmpty, "the late active day changed no later tier")
        if bridge.user != flip.user {
            let before = sessions.filter { $0["user_id"] as? String == bridge.user }.count
            let now = try deployment.single.exportRows(["sessions"]).filter { $0["user_id"] as? String == bridge.user }
            #expect(now.count == before - 1, "the bridge merged no sessions")
        }
        try deployment.sync()
        var mismatches = try deployment.compareQueries(formats: ["json"])
        #expect(mismatches.isEmpty, "after the bridge and the tier flip: \(mismatches.prefix(3))")
        try await deployment.checkRowLevel()

        // 3. A catalog flip (every day's rows rewritten), synced in small batches and killed mid-way; ClickHouse
        // restarted; then synced again.
        let catalog = directory + "/catalog.jsonl"
        let line = try String(contentsOfFile: Binaries.fixture("actions.jsonl"), encoding: .utf8).split(separator: "\n")
            .first { $0.contains("\"view_feed\"") }!
        var action = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        action["is_core_action"] = !(action["is_core_action"] as! Bool)
        try String(decoding: try JSONSerialization.data(withJSONObject: action), as: UTF8.self)
            .write(toFile: catalog, atomically: true, encoding: .utf8)
        try deployment.importFiles(["actions": catalog])
        let syncing = try start(
            "engage",
            deployment.syncArguments(0, deployment.nodes[0]) + ["--once", "--batch-rows", "20"]
        )
        try await Task.sleep(for: .seconds(1))
        #expect(
            syncing.process.isRunning,
            "the sync ended before it could be killed: \(syncing.result().standardError)"
        )
        kill(syncing.process.processIdentifier, SIGKILL)
        syncing.process.waitUntilExit()
        _ = syncing.result()
        let down = try run(Self.tool, ["down"])
        #expect(down.status == 0)
        _ = try ClickHouseTierTests.clusterURL()
        try deployment.sync()
        mismatches = try deployment.compareQueries(formats: ["json"])
        #expect(mismatches.isEmpty, "after the catalog flip and the crash: \(mismatches.prefix(3))")
        try await deployment.checkRowLevel()
        try await deployment.checkCounts()

        // 4. Everything sent three more times: FINAL counts stay equal.
        for _ in 0..<3 { try deployment.sync(extra: ["--full"]) }
        try await deployment.checkCounts()
        mismatches = try deployment.compareQueries(formats: ["json"])
        #expect(mismatches.isEmpty, "after three full re-sends: \(mismatches.prefix(3))")
    }
}

/// Late changes found in the exported data (the same search as tools/clickhouse-check).
enum LateChanges {
    static func iso(_ ms: Int64) -> String { Timestamp.formatISO8601(ms) }

    /// An event between two sessions of one user 30-60 minutes apart, which joins them (across midnight
    /// preferred: the later day loses a row).
    static func bridge(_ sessions: [[String: Any]]) -> (event: String, user: String)? {
        var byUser: [String: [[String: Any]]] = [:]
        for row in sessions { byUser[row["user_id"] as! String, default: []].append(row) }
        var best: (sameDay: Bool, user: String, start: Int64, event: String)?
        for (user, rows) in byUser {
            let sorted = rows.sorted {
                ($0["start_ms"] as! NSNumber).int64Value < ($1["start_ms"] as! NSNumber).int64Value
            }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                let end = (a["end_ms"] as! NSNumber).int64Value
                let start = (b["start_ms"] as! NSNumber).int64Value
                guard start - end > 1_800_000, start - end <= 3_600_000 else { continue }
                let sameDay = a["date"] as! String == b["date"] as! String
                let candidate = (sameDay, user, end, "")
                let better =
                    best.map {
                        (candidate.0 ? 1 : 0, candidate.1, candidate.2) < ($0.sameDay ? 1 : 0, $0.user, $0.start)
                    }
                    ?? true
                if better {
                    let event =
                        "{\"event_id\": \"late-bridge-1\", \"user_id\": \(Self.quote(user)), \"ts\": \"\(Self.iso(end + (start - end) / 2))\", "
                        + "\"action\": \"login\", \"context\": \"late\"}"
                    best = (sameDay, user, end, event)
                }
            }
        }
        return best.map { ($0.event, $0.user) }
    }

    /// A day without a record of a user after which 5 or 15 active days fall in some later record's rolling
    /// window: an event that day moves that record's tier.
    static func tierFlip(_ daily: [[String: Any]]) -> (event: String, user: String)? {
        var byUser: [String: [CivilDate: Bool]] = [:]
        for row in daily {
            byUser[row["user_id"] as! String, default: [:]][CivilDate(row["date"] as! String)!] =
                (row["is_active_day"] as? Bool) ?? false
        }
        for user in byUser.keys.sorted() {
            let days = byUser[user]!
            let active = days.filter(\.value).map(\.key)
            guard let first = days.keys.min(), let last = days.keys.max() else { continue }
            var day = first
            while day < last {
                defer { day = day.adding(days: 1) }
                if days[day] != nil { continue }
                let flips = days.keys.contains { record in
                    guard record > day, record <= day.adding(days: 29) else { return false }
                    let count = active.filter { $0 >= record.adding(days: -29) && $0 <= record }.count
                    return count == 5 || count == 15
                }
                if flips {
                    let event =
                        "{\"event_id\": \"late-tier-1\", \"user_id\": \(Self.quote(user)), \"ts\": \"\(day.description)T12:00:00.000Z\", "
                        + "\"action\": \"like\", \"context\": \"late\"}"
                    return (event, user)
                }
            }
        }
        return nil
    }

    static func quote(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast()
            .description
    }
}
