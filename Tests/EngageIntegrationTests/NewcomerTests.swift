import EngageModel
import EngageTestSupport
import Foundation
import Testing

/// A new user's first hour, with real processes: one server per data directory, pipes and files that are
/// never half-written, imports that explain themselves, errors in words, unfinished periods, readable tables.
@Suite("A newcomer's first hour, with real processes", .serialized)
struct NewcomerTests {
    /// A server holding the conformance data.
    static func loadedServer(_ arguments: [String] = []) throws -> ServerProcess {
        let server = ServerProcess()
        try server.start(arguments)
        let result = try server.cli([
            "import", "--actions", Binaries.fixture("actions.jsonl"), "--users", Binaries.fixture("users.jsonl"),
            "--events", Binaries.fixture("events.jsonl"),
        ])
        guard result.status == 0 else { throw HarnessError("import failed: \(result.standardError)") }
        return server
    }

    @Test("a second engaged on a live data directory exits 2 naming the first; the first keeps serving, verify clean")
    func oneServerPerDirectory() throws {
        let first = try Self.loadedServer()
        defer { first.stop() }
        let pid = try #require(first.running?.process.processIdentifier)
        let second = try run("engaged", ["--data", first.dataDirectory, "--port", "0", "--log-level", "warning"])
        #expect(second.status == 2)
        #expect(
            second.standardError.contains("\(first.dataDirectory) is in use by engaged (pid \(pid))"),
            "\(second.standardError)"
        )
        // The first server still serves and its store is intact.
        #expect(try rows(first.cliJSON(["stats"])).first?["events"] as? Int == 30979)
        let verify = try first.cli(["admin", "verify"])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        #expect(verify.standardOutput.contains("no differences"))
        // Once the first stops, the directory is free again.
        first.stop()
        let reopened = ServerProcess(dataDirectory: first.dataDirectory)
        try reopened.start()
        #expect(try rows(reopened.cliJSON(["stats"])).first?["events"] as? Int == 30979)
        reopened.stop()
    }

    @Test("`engage export events | head -1` ends quietly with 0 or 141; --output never truncates on failure")
    func pipesAndOutputFiles() throws {
        let server = try Self.loadedServer()
        defer { server.stop() }
        let engage = try Binaries.path("engage")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script =
            "set -o pipefail; \"\(engage)\" export events --server \(server.address) 2>\"\(directory)/err\" | head -1 >/dev/null; echo $?"
        let piped = try run("bash", ["-c", script])
        let status = Int(piped.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(status == 141 || status == 0, "status \(piped.standardOutput)")
        #expect(try String(contentsOfFile: directory + "/err", encoding: .utf8).isEmpty)

        // The server down: the existing file stays byte for byte, and no temporary file is left.
        let keep = directory + "/keep.csv"
        let original = Data("user_key,user_id\n1,precious\n".utf8)
        try original.write(to: URL(fileURLWithPath: keep))
        let down = try run(
            "engage",
            ["export", "users", "--format", "csv", "--output", keep, "--server", "127.0.0.1:1"]
        )
        #expect(down.status == 1)
        #expect(down.standardError.contains("connection refused (is engaged running there?)"), "\(down.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keep)) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["err", "keep.csv"])
        // A successful export replaces it whole.
        let exported = try server.cli(["export", "users", "--format", "csv", "--output", keep])
        #expect(exported.status == 0, "\(exported.standardError)")
        let lines = try String(contentsOfFile: keep, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 143 && lines[0].hasPrefix("user_key,user_id,registration_date"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["err", "keep.csv"])
    }

    @Test("a JSON array or pretty-printed JSON is refused at its first line with what to do, and nothing is stored")
    func notJSONLines() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        let events = try String(contentsOfFile: Binaries.fixture("events.jsonl"), encoding: .utf8).split(
            separator: "\n"
        ).prefix(50)
        let array = try writeTemporary("[\n" + events.map { "  " + $0 }.joined(separator: ",\n") + "\n]\n")
        defer { try? FileManager.default.removeItem(atPath: array) }
        let refused = try server.cli(["import", "--actions", Binaries.fixture("actions.jsonl"), "--events", array])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("holds a JSON array"), "\(refused.standardError)")
        #expect(refused.standardError.contains("jq -c '.[]'"))
        #expect(refused.standardError.split(separator: "\n").count == 1, "one message, not a line per element")
        let pretty = try writeTemporary("{\n  \"event_id\": \"e1\",\n  \"user_id\": \"u1\"\n}\n")
        defer { try? FileManager.default.removeItem(atPath: pretty) }
        let prettyRefused = try server.cli(["import", "--events", pretty])
        #expect(prettyRefused.status == 1)
        #expect(
            prettyRefused.standardError.contains("is not JSON lines: line 1 is not a JSON object"),
            "\(prettyRefused.standardError)"
        )
        // Checked before anything was sent: not even the actions of the first command were stored.
        let stats = try #require(rows(server.cliJSON(["stats"])).first)
        #expect(stats["events"] as? Int == 0)
        #expect(stats["actions"] as? Int == 0)
    }

    @Test(
        "CRLF endings, blank lines, escapes and a last line without a newline import exactly; error lines are numbered in the file"
    )
    func lineEndings() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        _ = try server.cliJSON(["import", "--actions", Binaries.fixture("actions.jsonl")])
        func line(_ id: String, _ user: String) -> String {
            "{\"event_id\": \"\(id)\", \"user_id\": \"\(user)\", \"ts\": \"2026-03-01T10:00:00Z\", \"action\": \"like\"}"
        }
        let text =
            line("c1", "u1") + "\r\n" + "\r\n" + "  \n" + "{not json\r\n" + line("c2", #"caf\u00e9 \"q\""#) + "\n"
            + line("c3", "u3")
        let file = try writeTemporary(text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try server.cli(["import", "--events", file, "--format", "json"])
        #expect(result.status == 0)
        let summary = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        #expect(rows(summary).first?["lines"] as? Int == 4, "blank lines are not counted")
        #expect(rows(summary).first?["accepted"] as? Int == 3)
        #expect(rows(summary).first?["rejected"] as? Int == 1)
        let name = URL(fileURLWithPath: file).lastPathComponent
        #expect(result.standardError.contains("\(name):4: invalid_json"), "\(result.standardError)")
        let users = try server.exportRows(["events"]).map { $0["user_id"] as! String }.sorted()
        #expect(users == ["caf\u{E9} \"q\"", "u1", "u3"])
    }

    @Test("--reject-unknown-actions tells action types apart by their bytes, as the server does")
    func unknownActionSpelling() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        // "café" with U+00E9 in the catalog; the events spell it e + U+0301 (equal as Swift Strings).
        let actions = try writeTemporary(
            #"{"action_type": "caf\u00e9", "action_category": "c", "engagement_weight": 1, "is_core_action": true}"#
                + "\n"
        )
        defer { try? FileManager.default.removeItem(atPath: actions) }
        let events = try writeTemporary(
            #"{"event_id": "s1", "user_id": "u1", "ts": "2026-03-01T10:00:00Z", "action": "cafe\u0301"}"# + "\n"
                + #"{"event_id": "s2", "user_id": "u1", "ts": "2026-03-01T10:00:00Z", "action": "caf\u00e9"}"# + "\n"
        )
        defer { try? FileManager.default.removeItem(atPath: events) }
        let result = try server.cli([
            "import", "--actions", actions, "--events", events, "--reject-unknown-actions", "--format", "json",
        ])
        let summary = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        let eventRow = try #require(rows(summary).first { $0["kind"] as? String == "events" })
        #expect(eventRow["accepted"] as? Int == 1)
        #expect(eventRow["rejected"] as? Int == 1)
        #expect(result.standardError.contains(":1: unknown_action"), "\(result.standardError)")
        #expect(try server.exportRows(["actions"]).count == 1, "nothing registered")
    }

    @Test(
        "an unknown action is named after the summary; --reject-unknown-actions refuses it; a file that stores nothing exits 1"
    )
    func unknownActions() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        _ = try server.cliJSON(["import", "--actions", Binaries.fixture("actions.jsonl")])
        let lines =
            (0..<3).map {
                "{\"event_id\": \"t\($0)\", \"user_id\": \"u1\", \"ts\": \"2026-03-0\($0 + 1)T10:00:00Z\", \"action\": \"teleport\"}"
            }
            + ["{\"event_id\": \"l1\", \"user_id\": \"u1\", \"ts\": \"2026-03-01T10:00:00Z\", \"action\": \"like\"}"]
        let file = try writeTemporary(lines.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(atPath: file) }

        let refused = try server.cli(["import", "--events", file, "--reject-unknown-actions", "--format", "json"])
        #expect(refused.status == 0)
        let summary = try JSONSerialization.jsonObject(with: Data(refused.standardOutput.utf8)) as! [String: Any]
        #expect(rows(summary).first?["accepted"] as? Int == 1)
        #expect(rows(summary).first?["rejected"] as? Int == 3)
        #expect(
            refused.standardError.contains(":1: unknown_action: action 'teleport' is not in the catalog"),
            "\(refused.standardError)"
        )
        let catalog = try server.exportRows(["actions"]).map { $0["action_type"] as! String }
        #expect(!catalog.contains("teleport"))

        let registered = try server.cli(["import", "--events", file, "--format", "json"])
        #expect(registered.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(registered.standardOutput.utf8)) as! [String: Any]
        let named = try #require(report["auto_registered_actions"] as? [[String: Any]])
        #expect(
            named.count == 1 && named.first?["action_type"] as? String == "teleport"
                && named.first?["events"] as? Int == 3
        )
        let table = try server.cli(["import", "--events", file])
        #expect(table.standardError.isEmpty, "a re-import registers nothing new: \(table.standardError)")
        let fresh = try writeTemporary(
            lines[0].replacingOccurrences(of: "teleport", with: "telport").replacingOccurrences(of: "t0", with: "x0")
                + "\n"
        )
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        let typo = try server.cli(["import", "--events", fresh])
        #expect(
            typo.standardError.contains("registered (core, category uncategorized): telport (1 events)"),
            "\(typo.standardError)"
        )

        // Every line rejected: exit 1, saying so.
        let bad = try server.cli(["import", "--events", Binaries.fixture("bad_events.jsonl")])
        #expect(bad.status == 1)
        #expect(
            bad.standardError.contains(
                "nothing from \(Binaries.fixture("bad_events.jsonl")) was stored: all 8 of its lines were rejected"
            )
        )
    }

    @Test(
        "a 100 MB single line is rejected unread (import memory under 100 MB); errors beyond 100 are counted, not printed"
    )
    func boundedLinesAndErrors() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/huge.jsonl"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(
            contentsOf: Data(
                "{\"event_id\": \"huge\", \"user_id\": \"u1\", \"ts\": \"2026-03-01T10:00:00Z\", \"action\": \"like\", \"context\": \""
                    .utf8
            )
        )
        let chunk = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<100 { try handle.write(contentsOf: chunk) }
        try handle.write(
            contentsOf: Data(
                "\"}\n{\"event_id\": \"small\", \"user_id\": \"u1\", \"ts\": \"2026-03-01T10:00:00Z\", \"action\": \"like\"}\n"
                    .utf8
            )
        )
        try handle.close()
        let engage = try Binaries.path("engage")
        // ru_maxrss of the finished child: the import's peak resident memory, in KiB.
        let measure = """
            import resource, subprocess, sys
            r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
            print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            print(r.stdout)
            print(r.stderr, file=sys.stderr)
            """
        let result = try run(
            "python3",
            ["-c", measure, engage, "import", "--events", path, "--server", server.address, "--format", "json"]
        )
        let head = result.standardOutput.split(separator: "\n")[0].split(separator: " ")
        #expect(Int(head[0]) == 0, "\(result.standardError)")
        let peakKiB = try #require(Int(head[1]))
        #expect(peakKiB < 100 * 1024, "import peaked at \(peakKiB) KiB")
        #expect(result.standardError.contains("huge.jsonl:1: line_too_long"), "\(result.standardError)")
        #expect(try rows(server.cliJSON(["stats"])).first?["events"] as? Int == 1)

        // 250 bad lines: the first 100 shown, the rest counted.
        let bad = try writeTemporary((1...250).map { "{\"event_id\": \"b\($0)\"}" }.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let many = try server.cli(["import", "--events", bad])
        let shown = many.standardError.split(separator: "\n").filter { $0.contains(": missing_field: ") }
        #expect(shown.count == 100)
        #expect(many.standardError.contains("150 more bad lines not shown (250 in all)"), "\(many.standardError)")
    }

    @Test(
        "errors read as words: refused connection, another program on the port, dates outside the store, unknown attributes"
    )
    func errorsInWords() throws {
        let refused = try run("engage", ["stats", "--server", "127.0.0.1:1"])
        #expect(refused.status == 1)
        #expect(
            refused.standardError
                == "Error: cannot connect to 127.0.0.1:1: connection refused (is engaged running there?)\n",
            "\(refused.standardError)"
        )

        // A program that is not engaged: an HTTP server, and a TCP server that says nothing.
        let http = try start("python3", ["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        defer { http.process.terminate() }
        let httpPort = try waitForPythonHTTPPort(http)
        let wrong = try run("engage", ["stats", "--server", "127.0.0.1:\(httpPort)"])
        #expect(wrong.status == 1)
        #expect(
            wrong.standardError.contains("127.0.0.1:\(httpPort) did not answer as an engaged server"),
            "\(wrong.standardError)"
        )
        #expect(!wrong.standardError.contains("I/O on closed channel") && !wrong.standardError.contains("NIO"))

        let server = try Self.loadedServer()
        defer { server.stop() }
        let old = try server.cli(["query", "activity", "--from", "1990-01-01", "--to", "1990-01-03"])
        #expect(old.status == 1)
        #expect(
            old.standardError.contains("1990-01-01 is outside the dates a store holds (1999-12-01 ... 2179-05-06)"),
            "\(old.standardError)"
        )
        let verbose = try server.cli(["query", "activity", "--from", "1990-01-01", "--to", "1990-01-03", "--verbose"])
        #expect(verbose.standardError.contains("[protocol error 20 invalid_query]"))
        let json = try server.cli([
            "query", "activity", "--from", "1990-01-01", "--to", "1990-01-03", "--format", "json",
        ])
        let error = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as! [String: Any]
        #expect((error["error"] as? [String: Any])?["code"] as? Int == 20)
        #expect((error["error"] as? [String: Any])?["name"] as? String == "invalid_query")

        let unknown = try server.cli([
            "query", "activity", "--from", "2026-01-01", "--to", "2026-01-02", "--where", "country=fr",
        ])
        #expect(unknown.status == 64)
        #expect(
            unknown.standardError.contains(
                "unknown attribute 'country'; use acquisition_channel, user_segment, device_type, region, or cohort"
            )
        )
        let nobody = try server.cli([
            "query", "activity", "--from", "2026-01-01", "--to", "2026-01-02", "--where", "region=mars",
        ])
        #expect(nobody.status == 0)
        #expect(
            nobody.standardError.contains(
                "warning: no user holds region=mars (values held: apac, eu, latam, na, unknown)"
            ),
            "\(nobody.standardError)"
        )
        let reversed = try server.cli(["query", "activity", "--from", "2026-01-03", "--to", "2026-01-01"])
        #expect(reversed.status == 64 && reversed.standardError.contains("--from 2026-01-03 is after --to 2026-01-01"))
    }

    @Test(
        "days and periods after the store's last day are null in JSON and CSV, blank in tables (data ending mid-month)"
    )
    func unfinishedPeriods() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        // Two users, active from 2026-02-20 to 2026-03-15: the store's last day is mid-March.
        var lines: [String] = []
        var day = CivilDate("2026-02-20")!
        while day <= CivilDate("2026-03-15")! {
            for user in ["a", "b"] {
                lines.append(
                    "{\"event_id\": \"\(user)-\(day)\", \"user_id\": \"\(user)\", \"ts\": \"\(day)T12:00:00Z\", \"action\": \"like\"}"
                )
            }
            day = day.adding(days: 1)
        }
        let file = try writeTemporary(lines.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try server.cliJSON(["import", "--events", file])

        let activity = rows(try server.cliJSON(["query", "activity", "--from", "2026-03-14", "--to", "2026-03-17"]))
        #expect(activity.map { $0["dau"] is NSNull } == [false, false, true, true])
        #expect(activity[1]["dau"] as? Int == 2 && activity[1]["mau"] as? Int == 2)
        #expect(activity[2]["dau_mau"] is NSNull && activity[2]["wau"] is NSNull)
        let csv = try server.cli(["query", "activity", "--from", "2026-03-15", "--to", "2026-03-16", "--format", "csv"])
        #expect(
            csv.standardOutput
                == "date,dau,wau,mau,dau_mau,dau_wau\n2026-03-15,2,2,2,1.000000,1.000000\n2026-03-16,,,,,\n"
        )
        let table = try server.cli(["query", "activity", "--from", "2026-03-15", "--to", "2026-03-16"])
        #expect(table.standardOutput.split(separator: "\n").last == "2026-03-16")

        // February is finished; March (ends 03-31) is not: its retention offset and lifecycle row are unknown.
        let retention = rows(
            try server.cliJSON([
                "query", "retention", "--period", "month", "--from", "2026-02-01", "--to", "2026-02-28", "--periods",
                "1",
            ])
        )
        #expect(retention.count == 2)
        #expect(retention[0]["retained"] as? Int == 2 && retention[0]["rate"] as? Double == 1.0)
        #expect(
            retention[1]["retained"] is NSNull && retention[1]["rate"] is NSNull
                && retention[1]["cohort_size"] as? Int == 2
        )
        let lifecycle = rows(
            try server.cliJSON([
                "query", "lifecycle", "--period", "month", "--from", "2026-02-01", "--to", "2026-04-30",
            ])
        )
        #expect(lifecycle.map { $0["new"] is NSNull } == [false, true, true])
        #expect(lifecycle[0]["new"] as? Int == 2)
    }

    @Test(
        "tables line up: fixed decimals, digit grouping, East Asian wide text; user sections; local times with offsets"
    )
    func readableTables() throws {
        let server = try Self.loadedServer(["--timezone", "America/New_York"])
        defer { server.stop() }
        let wide = try writeTemporary("{\"user_id\": \"東京の人\", \"region\": \"東京\"}\n")
        defer { try? FileManager.default.removeItem(atPath: wide) }
        #expect(try server.cli(["import", "--users", wide]).status == 0)
        let values = try server.cli(["query", "values", "--dimension", "region"])
        let valueLines = values.standardOutput.split(separator: "\n").map(String.init)
        // The users column ends in the same terminal column on every line, wide characters included.
        #expect(Set(valueLines.map(\.displayColumns)).count == 1, "\(valueLines)")
        #expect(valueLines.contains { $0.hasPrefix("東京") })

        let retention = try server.cli([
            "query", "retention", "--period", "month", "--from", "2026-01-01", "--to", "2026-01-31", "--periods", "2",
        ])
        let rateCells = retention.standardOutput.split(separator: "\n").dropFirst().map {
            String($0.split(separator: " ").last!)
        }
        #expect(rateCells.allSatisfy { $0.count == 8 && $0.hasPrefix("0.") }, "\(rateCells)")
        let stats = try server.cli(["stats"])
        #expect(stats.standardOutput.contains("30,979"))
        #expect(try rows(server.cliJSON(["stats"])).first?["events"] as? Int == 30979)

        let noSection = try server.cli(["query", "user", "--id", "u7-000001", "--format", "csv"])
        #expect(noSection.status == 64 && noSection.standardError.contains("--section"))
        let days = try server.cli(["query", "user", "--id", "u7-000001", "--format", "csv", "--section", "days"])
        let dayLines = days.standardOutput.split(separator: "\n")
        #expect(
            dayLines.first
                == "date,sessions_count,total_session_duration,total_actions,unique_action_types,is_active_day,engagement_tier"
        )
        #expect(dayLines.filter { $0.hasPrefix("date,") }.count == 1 && dayLines.count > 2)
        let sessions = rows(try server.cliJSON(["query", "user", "--id", "u7-000001", "--section", "sessions"]))
        let start = try #require(sessions.first?["start"] as? String)
        #expect(start.hasSuffix("-05:00") || start.hasSuffix("-04:00"), "\(start)")
        let startMs = try #require(sessions.first?["start_ms"] as? Int)
        #expect(Timestamp.parseISO8601(start) == Int64(startMs))
    }

    @Test(
        "--version on the three programs; one duration syntax; flags checked before anything is created; --token-file"
    )
    func commandLineHygiene() throws {
        for program in ["engaged", "engage", "engage-load"] {
            let version = try run(program, ["--version"])
            #expect(version.status == 0)
            #expect(version.standardOutput == EngageVersion.current + "\n", "\(program): \(version.standardOutput)")
        }
        // Required options are shown as required.
        let usage = try run("engage", ["query", "activity", "--help"]).standardOutput
        let usageLine = usage.split(separator: "\n").first { $0.hasPrefix("USAGE:") } ?? ""
        #expect(usageLine.contains(" --from <from> --to <to>") && !usage.contains("[--from <from>]"), "\(usage)")
        let directory = NSTemporaryDirectory() + "engage-never-" + UUID().uuidString
        let typo = try run("engaged", ["--data", directory, "--timezone", "America/New_Yrok"])
        #expect(typo.status == 64)
        #expect(typo.standardError.contains("unknown time zone 'America/New_Yrok'"))
        #expect(!FileManager.default.fileExists(atPath: directory))
        let bare = try run("engaged", ["--data", directory, "--idle-timeout", "30"])
        #expect(
            bare.status == 64
                && bare.standardError.contains("'30' has no unit; give a number with a unit: 250ms, 90s, 30m or 1h")
        )
        #expect(!FileManager.default.fileExists(atPath: directory))
        let gap = try run("engaged", ["--data", directory, "--session-gap", "13h"])
        #expect(gap.status == 64 && !FileManager.default.fileExists(atPath: directory))

        let tokens = try writeTemporary("0123456789abcdef0123 query\n")
        let tokenFile = try writeTemporary("  0123456789abcdef0123\n")
        defer {
            try? FileManager.default.removeItem(atPath: tokens)
            try? FileManager.default.removeItem(atPath: tokenFile)
        }
        let server = ServerProcess()
        try server.start(["--tokens", tokens, "--session-gap", "45m", "--idle-timeout", "2m"])
        defer { server.stop() }
        #expect(try server.cli(["stats", "--token-file", tokenFile]).status == 0)
        let without = try server.cli(["stats"])
        #expect(without.status == 1 && without.standardError.contains("this server requires a token"))
        let both = try server.cli(["stats", "--token", "x", "--token-file", tokenFile])
        #expect(both.status == 64)
    }
}

extension String {
    /// Terminal columns, counting East Asian wide characters as two (independently of the CLI's own code).
    var displayColumns: Int {
        self.unicodeScalars.reduce(0) { width, scalar in
            let wide =
                (0x1100...0x115F).contains(scalar.value) || (0x2E80...0xA4CF).contains(scalar.value)
                || (0xAC00...0xD7A3).contains(scalar.value) || (0xF900...0xFAFF).contains(scalar.value)
                || (0xFF00...0xFF60).contains(scalar.value)
            return width + (wide ? 2 : 1)
        }
    }
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "engage-dir-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Reads the port `python3 -m http.server ... 0` printed ("Serving HTTP on 127.0.0.1 port N").
func waitForPythonHTTPPort(_ process: RunningProcess) throws -> Int {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        let text = (try? String(contentsOf: process.outputURL, encoding: .utf8)) ?? ""
        if let range = text.range(of: "port "), let port = Int(text[range.upperBound...].prefix { $0.isNumber }) {
            return port
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    throw HarnessError("python's http.server did not start")
}
