import Foundation
import EngageTestSupport
import Testing

/// The conformance data set through a real `engaged` and the `engage` CLI, as a user would run them.
@Suite("Conformance through engaged and the engage CLI", .serialized)
struct ConformanceThroughServerTests {
    static func expected(_ timeZone: String) throws -> [String: Any] {
        let name = timeZone == "UTC" ? "expected.json" : "expected_america_new_york.json"
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Binaries.fixture(name)))) as! [String: Any]
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
            "activity_paid_search": rows(try server.cliJSON(["query", "activity"] + range + ["--where", "acquisition_channel=paid_search"])),
            "activity_by_region": rows(try server.cliJSON(["query", "activity"] + range + ["--by", "region"])),
        ]
    }

    @Test("activity, activity_paid_search and activity_by_region exactly; import summary matches _params.counts",
          arguments: ["UTC", "America/New_York"])
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
        #expect(result.status == 0)
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
        // --strict turns rejections into exit status 3.
        #expect(try server.cli(["import", "--events", Binaries.fixture("bad_events.jsonl"), "--strict"]).status == 3)
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
            _ = try server.cliJSON(["import", "--actions", Binaries.fixture("actions.jsonl"), "--users", Binaries.fixture("users.jsonl")])
            if round < 2 {
                let file = try writeTemporary(shuffled.joined(separator: "\n"))
                defer { try? FileManager.default.removeItem(atPath: file) }
                _ = try server.cliJSON(["import", "--events", file, "--batch-size", "\(700 + round * 311)"])
            } else {
                // Split over four importers running at once, each with its own connection.
                let parts = (0..<4).map { part in shuffled.enumerated().filter { $0.offset % 4 == part }.map(\.element) }
                let files = try parts.map { try writeTemporary($0.joined(separator: "\n")) }
                defer { for file in files { try? FileManager.default.removeItem(atPath: file) } }
                let importers = try files.map { file in
                    try EngageIntegrationTests.start("engage", ["import", "--events", file, "--batch-size", "500"], environment: ["ENGAGE_SERVER": server.address])
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
                #expect(compareRows(rows, results[0][key]!, keys: Self.activityKeys) == nil, "\(key) differs between orders")
            }
        }
        let expected = try Self.expected("UTC")
        #expect(compareRows(results[0]["activity"]!, expected["activity"] as! [[String: Any]], keys: Self.activityKeys) == nil)

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
            #expect(compareRows(rows, results[0][key]!, keys: Self.activityKeys) == nil, "\(key) changed across the restart")
        }
    }
}

func writeTemporary(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "engage-events-" + UUID().uuidString + ".jsonl"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

