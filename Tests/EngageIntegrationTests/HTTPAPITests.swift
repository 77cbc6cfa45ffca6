import EngageClient
import EngageModel
import EngageTestSupport
import Foundation
import Testing
import Yams

/// One HTTP exchange through curl (a real HTTP client, and the one people try the API with).
struct HTTPExchange {
    let status: Int
    let headers: [String: String]
    let body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(self.body.utf8))) as? [String: Any] ?? [:]
    }
}

/// `engaged` with `--http-port 0`: the binary port through ``ServerProcess``, the HTTP port from its file.
final class HTTPServerProcess {
    let server: ServerProcess
    private(set) var httpPort = 0
    var scheme = "http"
    var caFile: String?

    init(dataDirectory: String? = nil) { self.server = ServerProcess(dataDirectory: dataDirectory) }

    func start(_ arguments: [String] = []) throws {
        let portFile = NSTemporaryDirectory() + "engage-http-port-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: portFile) }
        try self.server.start(["--http-port", "0", "--http-port-file", portFile] + arguments)
        guard let running = self.server.running else { throw HarnessError("engaged is not running") }
        self.httpPort = try waitForPortFile(portFile, of: running, listeningFor: "listen for HTTP")
    }

    func stop() { self.server.stop() }

    var base: String { "\(self.scheme)://127.0.0.1:\(self.httpPort)" }

    /// `method path` with optional body file and headers.
    func request(
        _ method: String,
        _ path: String,
        bodyFile: String? = nil,
        headers: [String] = [],
        token: String? = nil
    ) throws -> HTTPExchange {
        let headerFile = NSTemporaryDirectory() + "engage-http-headers-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["curl", "-sS", "-X", method, "-D", headerFile, "-w", "\n%{http_code}"]
        if let caFile { arguments += ["--cacert", caFile] }
        for header in headers { arguments += ["-H", header] }
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let bodyFile { arguments += ["--data-binary", "@" + bodyFile] }
        let result = try run(arguments[0], Array(arguments.dropFirst()) + [self.base + path])
        guard result.status == 0 else {
            throw HarnessError("curl \(method) \(path) failed (\(result.status)): \(result.standardError)")
        }
        var output = result.standardOutput
        let statusLine = output.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
        output.removeLast(statusLine.count + 1)
        var headers: [String: String] = [:]
        for line in (try? String(contentsOfFile: headerFile, encoding: .utf8))?.split(separator: "\r\n") ?? [] {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 {
                headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return HTTPExchange(status: Int(statusLine) ?? 0, headers: headers, body: output)
    }

    func get(_ path: String, token: String? = nil) throws -> HTTPExchange {
        try self.request("GET", path, token: token)
    }

    func post(
        _ path: String,
        file: String,
        token: String? = nil,
        contentType: String = "application/x-ndjson"
    ) throws
        -> HTTPExchange
    {
        try self.request("POST", path, bodyFile: file, headers: ["Content-Type: \(contentType)"], token: token)
    }
}

/// `name=value&...` with each part percent-encoded as a form (what the dashboard's URLSearchParams does).
func formQuery(_ pairs: [(String, String)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-_.~")
    return pairs.map {
        $0.0.addingPercentEncoding(withAllowedCharacters: allowed)! + "="
            + $0.1.addingPercentEncoding(withAllowedCharacters: allowed)!
    }.joined(separator: "&")
}

/// The HTTP API of a real `engaged` against the `engage` CLI, the conformance data and `openapi.yaml`.
@Suite("HTTP API through a real engaged", .serialized)
struct HTTPAPITests {
    static let range = [("from", "2026-01-01"), ("to", "2026-03-31")]

    /// Queries as `engage query` arguments and as HTTP parameters: every query, with filters, breakdowns and
    /// a user id that needs percent-encoding.
    static let queries: [(name: String, parameters: [(String, String)])] = [
        ("activity", range),
        ("activity", range + [("where", "acquisition_channel=paid_search")]),
        ("activity", range + [("by", "region")]),
        ("activity", [("from", "2026-03-25"), ("to", "2026-04-05"), ("where", "region=eu"), ("where", "region=na")]),
        ("active-days", [("month", "2026-03")]),
        ("active-days", [("from", "2026-02-10"), ("to", "2026-03-09"), ("by", "device_type")]),
        ("tiers", [("month", "2026-02")]),
        ("tiers", [("as-of", "2026-03-31"), ("by", "region")]),
        ("transitions", [("month", "2026-01")]),
        ("transitions", [("month", "2026-02"), ("where", "user_segment=free")]),
        ("retention", [("period", "week"), ("periods", "8")] + range),
        ("retention", [("period", "month"), ("periods", "3"), ("by", "cohort")] + range),
        ("lifecycle", [("period", "week")] + range),
        ("lifecycle", [("period", "month"), ("where", "cohort=2026-01")] + range),
        ("sessions", range),
        ("sessions", range + [("where", "device_type=ios")]),
        ("user", [("id", "user-ü-14@example.com")]),
        ("at-risk", [("as-of", "2026-03-31"), ("limit", "5")]),
        ("actions", range),
        ("values", [("dimension", "region")]),
        ("values", [("dimension", "cohort")]),
    ]

    /// Imports the conformance data through the HTTP API: actions as a JSON array, users and events as
    /// JSON lines; returns the events answer.
    static func importOverHTTP(_ http: HTTPServerProcess, token: String? = nil) throws -> [String: Any] {
        let actions = try String(contentsOfFile: Binaries.fixture("actions.jsonl"), encoding: .utf8)
            .split(separator: "\n").joined(separator: ",\n")
        let array = try writeTemporary("[\n" + actions + "\n]")
        defer { try? FileManager.default.removeItem(atPath: array) }
        let defined = try http.post("/v1/actions", file: array, token: token, contentType: "application/json")
        #expect(defined.status == 200, "\(defined.body)")
        #expect(defined.json["accepted"] as? Int == 8)
        let users = try http.post("/v1/users", file: Binaries.fixture("users.jsonl"), token: token)
        #expect(users.status == 200, "\(users.body)")
        #expect(users.json["accepted"] as? Int == 119)
        let events = try http.post("/v1/events", file: Binaries.fixture("events.jsonl"), token: token)
        #expect(events.status == 200, "\(events.body.prefix(500))")
        return events.json
    }

    @Test(
        "conformance data POSTed over HTTP; every GET /v1/query/NAME is byte for byte engage query NAME --format json"
    )
    func queriesEqualTheCLI() throws {
        let http = HTTPServerProcess()
        let metricsFile = NSTemporaryDirectory() + "engage-metrics-port-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: metricsFile) }
        try http.start(["--metrics-port", "0", "--metrics-port-file", metricsFile])
        defer { http.stop() }
        let answer = try Self.importOverHTTP(http)
        let expected = try ConformanceThroughServerTests.expected("UTC")
        let counts = (expected["_params"] as! [String: Any])["counts"] as! [String: Int]
        #expect(answer["items"] as? Int == counts["raw_events"])
        #expect(answer["accepted"] as? Int == counts["unique_events"])
        #expect(answer["duplicates"] as? Int == counts["raw_events"]! - counts["unique_events"]!)
        #expect(answer["rejected"] as? Int == 0)

        // The numbers are the contract's (data in through HTTP, read back through the CLI) ...
        for (key, rows) in try ConformanceThroughServerTests.activityQueries(http.server) {
            #expect(
                compareRows(rows, expected[key] as! [[String: Any]], keys: ConformanceThroughServerTests.activityKeys)
                    == nil,
                "\(key)"
            )
        }
        // ... and every HTTP body is the CLI's output, byte for byte.
        let stats = try http.get("/v1/stats")
        #expect(stats.status == 200)
        #expect(stats.headers["content-type"] == "application/json")
        #expect(stats.body == (try http.server.cli(["stats", "--format", "json"])).standardOutput)
        for (name, parameters) in Self.queries {
            let cli = try http.server.cli(
                ["query", name] + parameters.flatMap { ["--\($0.0)", $0.1] } + ["--format", "json"]
            )
            #expect(cli.status == 0, "\(name): \(cli.standardError)")
            let answer = try http.get("/v1/query/\(name)?" + formQuery(parameters))
            #expect(answer.status == 200, "\(name) \(parameters): \(answer.body)")
            #expect(answer.body == cli.standardOutput, "\(name) \(parameters)")
        }

        // Cohort values (read from the registration index) are the users' registration months (their records).
        var months: [String: Int] = [:]
        for row in try http.server.exportRows(["users"]) {
            if let date = row["registration_date"] as? String { months[String(date.prefix(7)), default: 0] += 1 }
        }
        let cohorts = rows(try http.get("/v1/query/values?dimension=cohort").json)
        #expect(!months.isEmpty)
        #expect(
            Dictionary(uniqueKeysWithValues: cohorts.map { ($0["value"] as? String ?? "", $0["users"] as? Int ?? 0) })
                == months
        )

        // Refusals the CLI makes are refused over HTTP too, as problem+json with the protocol's code.
        for (name, parameters) in [
            ("activity", [("from", "2026-03-31"), ("to", "2026-01-01")]),
            ("activity", Self.range + [("where", "planet=mars")]),
            ("tiers", [("month", "2026-03"), ("as-of", "2026-03-31")]),
            ("retention", [("period", "fortnight"), ("periods", "8")] + Self.range),
            ("at-risk", [("as-of", "2026-03-31"), ("limit", "0")]),
        ] {
            let cli = try http.server.cli(["query", name] + parameters.flatMap { ["--\($0.0)", $0.1] })
            #expect(cli.status != 0, "\(name) \(parameters)")
            let answer = try http.get("/v1/query/\(name)?" + formQuery(parameters))
            #expect(answer.status == 400, "\(name) \(parameters): \(answer.body)")
            #expect(answer.headers["content-type"] == "application/problem+json")
            #expect(answer.json["code"] as? String == "invalid_query", "\(answer.body)")
            #expect(answer.json["protocol_code"] as? Int == 20)
        }
        // A range the store refuses reaches the client with the store's own code and message.
        let far = try http.get("/v1/query/activity?from=1990-01-01&to=1990-01-02")
        #expect(far.status == 400 && far.json["code"] as? String == "invalid_query", "\(far.body)")
        #expect(try http.get("/v1/query/user?id=nobody").status == 404)
        // A month the wire cannot carry is refused as the binary protocol refuses it (schemathesis found that
        // it crashed the store before HTTP requests went through the protocol's decoding).
        let farMonth = try http.get("/v1/query/transitions?month=9999-12")
        #expect(farMonth.status == 400 && farMonth.json["code"] as? String == "invalid_field", "\(farMonth.body)")
        let cliFar = try http.server.cli(["query", "transitions", "--month", "9999-12", "--verbose"])
        #expect(cliFar.status != 0 && cliFar.standardError.contains("invalid_field"), "\(cliFar.standardError)")
        #expect(
            try http.get("/v1/query/activity?" + formQuery(Self.range) + "&form=x").json["detail"] as? String
                == "unknown parameter 'form' for activity; parameters: from, to, where, by"
        )

        // /metrics counts the HTTP requests, by route and status.
        let metricsPort = try String(contentsOfFile: metricsFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let metrics = try run("curl", ["-sS", "http://127.0.0.1:\(metricsPort)/metrics"]).standardOutput
        #expect(metrics.contains(#"engage_http_requests_total{method="GET",route="/v1/query/activity",status="200"}"#))
        #expect(metrics.contains(#"engage_http_requests_total{method="POST",route="/v1/events",status="200"}"#))
        #expect(metrics.contains(#"engage_http_requests_total{method="GET",route="/v1/query/activity",status="400"}"#))
        #expect(metrics.contains("engage_events_ingested_total \(counts["unique_events"]!)"), "HTTP ingest counted")
    }

    @Test("POST /v1/events with bad_events.jsonl rejects each line with the CLI's reason; nothing else is stored")
    func badEvents() throws {
        let http = HTTPServerProcess()
        try http.start()
        defer { http.stop() }
        _ = try Self.importOverHTTP(http)
        let statsBefore = try http.get("/v1/stats").body
        let activityBefore = try http.get("/v1/query/activity?" + formQuery(Self.range)).body

        // The CLI's reasons for the same file, line by line (its standard error).
        let cli = try http.server.cli(["import", "--events", Binaries.fixture("bad_events.jsonl")])
        let cliReasons = Dictionary(
            uniqueKeysWithValues: cli.standardError.split(separator: "\n").compactMap { line -> (Int, String)? in
                let parts = line.split(separator: ":", maxSplits: 3).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count >= 3, parts[0] == "bad_events.jsonl", let number = Int(parts[1]) else { return nil }
                return (number, parts[2])
            }
        )
        let lines = try String(contentsOfFile: Binaries.fixture("bad_events.jsonl"), encoding: .utf8)
            .split(separator: "\n").count
        #expect(cliReasons.count == lines)

        let answer = try http.post("/v1/events", file: Binaries.fixture("bad_events.jsonl"))
        #expect(answer.status == 200, "\(answer.body)")
        #expect(answer.json["items"] as? Int == lines)
        #expect(answer.json["accepted"] as? Int == 0)
        #expect(answer.json["rejected"] as? Int == lines)
        let rejections = answer.json["rejections"] as? [[String: Any]] ?? []
        let httpReasons = Dictionary(
            uniqueKeysWithValues: rejections.map { ($0["line"] as? Int ?? 0, $0["reason"] as? String ?? "") }
        )
        #expect(httpReasons == cliReasons)
        #expect(rejections.map { $0["index"] as? Int } == (0..<lines).map { $0 })
        #expect(rejections.allSatisfy { !(($0["detail"] as? String) ?? "").isEmpty })

        // A JSON array: the index is the element's; one bad element does not stop the good one.
        let array = try writeTemporary(
            #"[{"event_id": "arr-1", "user_id": "", "ts": "2026-01-01T00:00:00Z", "action": "like"},"#
                + #" {"event_id": "arr-2", "user_id": "u7-000001", "ts": 1775044800000, "action": "like"}]"#
        )
        defer { try? FileManager.default.removeItem(atPath: array) }
        let mixed = try http.post("/v1/events", file: array, contentType: "application/json")
        #expect(mixed.json["accepted"] as? Int == 1, "\(mixed.body)")
        let only = (mixed.json["rejections"] as? [[String: Any]])?.first
        #expect(
            only?["index"] as? Int == 0 && only?["line"] is NSNull && only?["reason"] as? String == "invalid_user_id"
        )
        #expect(
            try http.post("/v1/events", file: array, contentType: "application/json").json["duplicates"] as? Int == 1
        )

        // A broken array has no trustworthy items: refused whole, nothing stored.
        let broken = try writeTemporary(#"[{"event_id": "b-1", "user_id": "u", "ts": 1, "action": "like"}, {"#)
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let refused = try http.post("/v1/events", file: broken, contentType: "application/json")
        #expect(refused.status == 400 && refused.json["code"] as? String == "invalid_field", "\(refused.body)")

        // Only arr-2 was stored (on 2026-04-01, after the activity range, which is unchanged).
        let stats = try http.get("/v1/stats").json
        let before = (try JSONSerialization.jsonObject(with: Data(statsBefore.utf8)) as! [String: Any])
        #expect(rows(stats).first?["events"] as? Int == (rows(before).first?["events"] as? Int).map { $0 + 1 })
        #expect(rows(stats).first?["users"] as? Int == rows(before).first?["users"] as? Int)
        #expect(try http.get("/v1/query/activity?" + formQuery(Self.range)).body == activityBefore)
    }

    @Test("auth matrix: each token's HTTP answers follow its roles, as the binary protocol's do")
    func authMatrix() async throws {
        let tokens: [(name: String, token: String, roles: Set<String>)] = [
            ("query", "query-token-0123456789", ["query"]),
            ("ingest", "ingest-token-0123456789", ["ingest"]),
            ("admin", "admin-token-0123456789a", ["admin"]),
            ("query+ingest", "both-token-0123456789ab", ["query", "ingest"]),
        ]
        let file = try writeTemporary(
            tokens.map { "\($0.token) \($0.roles.sorted().joined(separator: ","))" }.joined(separator: "\n")
        )
        defer { try? FileManager.default.removeItem(atPath: file) }
        let http = HTTPServerProcess()
        try http.start(["--tokens", file])
        defer { http.stop() }
        let event = try writeTemporary(
            #"{"event_id": "auth-EVENT", "user_id": "u1", "ts": "2026-01-05T10:00:00Z", "action": "like"}"#
        )
        defer { try? FileManager.default.removeItem(atPath: event) }

        let presented: [(label: String, header: String?, roles: Set<String>?)] =
            [
                ("none", nil, nil), ("unknown", "Bearer not-a-token-at-all-000", nil),
                ("not bearer", "Basic dXNlcjpwYXNz", nil),
            ]
            + tokens.map { ($0.name, "Bearer \($0.token)", $0.roles) }
        for (label, header, roles) in presented {
            let headers = header.map { ["Authorization: \($0)"] } ?? []
            for (method, path, role) in [
                ("GET", "/v1/stats", "query"), ("GET", "/v1/query/values?dimension=region", "query"),
                ("POST", "/v1/events", "ingest"), ("GET", "/", nil), ("GET", "/openapi.yaml", nil),
            ] as [(String, String, String?)] {
                let answer = try http.request(
                    method,
                    path,
                    bodyFile: method == "POST" ? event : nil,
                    headers: headers
                )
                let want: Int
                if role == nil {
                    want = 200
                } else if let roles {
                    want = roles.contains(role!) || roles.contains("admin") ? 200 : 403
                } else {
                    want = 401
                }
                #expect(answer.status == want, "\(label) \(method) \(path): \(answer.body)")
                if want == 401 {
                    #expect(answer.json["code"] as? String == "unauthenticated")
                    #expect(answer.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
                }
                if want == 403 { #expect(answer.json["code"] as? String == "forbidden") }
            }
            // The binary protocol decides the same for the same token.
            guard let token = header.flatMap({ $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }) else {
                continue
            }
            var binaryQuery = false
            var binaryIngest = false
            if let client = try? await EngageConnection.connect(to: http.server.address, token: token) {
                binaryQuery = (try? await client.stats()) != nil
                let stored = try? await client.ingest([
                    Event(userID: "u1", eventID: "auth-binary", timestampMs: 1_767_607_200_000, action: "like")
                ])
                binaryIngest = stored != nil
                try? await client.close()
            }
            let httpQuery = try http.get("/v1/stats", token: token).status == 200
            #expect(binaryQuery == httpQuery, "\(label): query")
            let httpIngest = try http.post("/v1/events", file: event, token: token).status == 200
            #expect(binaryIngest == httpIngest, "\(label): ingest")
        }
        // The token is never accepted from the URL.
        #expect(try http.get("/v1/stats?token=query-token-0123456789").status == 401)
    }

    @Test("openapi.yaml describes exactly what engaged serves; query parameters are the engage query flags")
    func openAPIDocument() throws {
        let http = HTTPServerProcess()
        try http.start()
        defer { http.stop() }
        let served = try http.get("/openapi.yaml")
        #expect(served.status == 200)
        #expect(served.headers["content-type"] == "application/yaml")
        let document = try #require(try Yams.load(yaml: served.body) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])

        // Every documented operation is routed (an answer other than 404/405 without parameters) ...
        for (path, operations) in paths {
            for method in operations.keys {
                let answer = try http.request(method.uppercased(), path)
                #expect(![404, 405].contains(answer.status), "\(method) \(path): \(answer.status) \(answer.body)")
            }
            // ... and no other method is.
            for method in ["GET", "POST", "PUT", "DELETE"] where operations[method.lowercased()] == nil {
                #expect(try http.request(method, path).status == 405, "\(method) \(path)")
            }
        }
        // Nothing undocumented is served.
        for path in ["/README.md", "/report-template.html", "/v1", "/v1/query", "/v1/query/bogus", "/v1/export"] {
            let answer = try http.get(path)
            #expect(answer.status == 404, "\(path)")
            #expect(answer.headers["content-type"] == "application/problem+json")
        }

        // Every engage query subcommand is a documented path whose parameters are its flags.
        let help = try run("engage", ["query", "--help"]).standardOutput
        let subcommands = help.components(separatedBy: "SUBCOMMANDS:")[1].split(separator: "\n")
            .compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first,
                    name != "See"
                else { return nil }
                return String(name)
            }
        #expect(subcommands.count == 11)
        // Where the CLI sends the query (engaged or ClickHouse) and how it prints it; not query parameters.
        let outputOnly: Set<String> = [
            "server", "token", "token-file", "tls", "tls-ca", "tls-server-name", "verbose", "format", "section",
            "clickhouse", "database", "cluster", "power-threshold",
        ]
        let components = document["components"] as? [String: Any]
        let shared = components?["parameters"] as? [String: [String: Any]] ?? [:]
        for name in subcommands {
            let operation = try #require(paths["/v1/query/\(name)"]?["get"] as? [String: Any], "\(name)")
            let documented = Set(
                (operation["parameters"] as? [[String: Any]] ?? []).compactMap { parameter -> String? in
                    if let reference = parameter["$ref"] as? String {
                        return shared[String(reference.split(separator: "/").last!)]?["name"] as? String
                    }
                    return parameter["name"] as? String
                }
            )
            // The flags listed under OPTIONS: lines "  --name ..." or "  -x, --name ...".
            let options =
                try run("engage", ["query", name, "--help"]).standardOutput
                .components(separatedBy: "OPTIONS:").last ?? ""
            let flags = Set(
                options.split(separator: "\n").compactMap { line -> String? in
                    guard line.hasPrefix("  "), !line.hasPrefix("    "),
                        let flag = line.split(separator: " ").first(where: { $0.hasPrefix("--") })
                    else { return nil }
                    return String(flag.dropFirst(2))
                }
            ).subtracting(outputOnly).subtracting(["help", "version"])
            #expect(documented == flags, "\(name)")
        }
        #expect(paths.keys.filter { $0.hasPrefix("/v1/query/") }.count == subcommands.count)
    }

    @Test(
        "limits: body size (413 frame_too_large), items per request (413 too_many_items); TLS with the binary port's certificate"
    )
    func limitsAndTLS() throws {
        let http = HTTPServerProcess()
        try http.start(["--http-max-body-bytes", "2048", "--max-batch-items", "3"])
        defer { http.stop() }
        let line = #"{"event_id": "L-N", "user_id": "u1", "ts": "2026-01-05T10:00:00Z", "action": "like"}"#
        let four = try writeTemporary(
            (1...4).map { line.replacingOccurrences(of: "N", with: "\($0)") }.joined(separator: "\n")
        )
        let large = try writeTemporary(String(repeating: line + "\n", count: 40))
        defer {
            try? FileManager.default.removeItem(atPath: four)
            try? FileManager.default.removeItem(atPath: large)
        }
        let tooMany = try http.post("/v1/events", file: four)
        #expect(tooMany.status == 413 && tooMany.json["code"] as? String == "too_many_items", "\(tooMany.body)")
        let tooLarge = try http.post("/v1/events", file: large)
        #expect(tooLarge.status == 413 && tooLarge.json["code"] as? String == "frame_too_large", "\(tooLarge.body)")
        #expect(rows(try http.get("/v1/stats").json).first?["events"] as? Int == 0)

        // One request carried out at a time: of 24 at once, those that find it busy get 429 at once.
        let busy = HTTPServerProcess()
        try busy.start(["--http-max-requests", "1"])
        defer { busy.stop() }
        _ = try ConformanceThroughServerTests.importConformance(into: busy.server)
        let heavy =
            busy.base + "/v1/query/retention?"
            + formQuery([("period", "day"), ("periods", "90"), ("by", "region")] + Self.range)
        let statuses = try run(
            "curl",
            [
                "-s", "--parallel", "--parallel-immediate", "--parallel-max", "24", "-w", "%{http_code}\n",
            ]
                + Array(repeating: ["-o", "/dev/null", heavy], count: 24).flatMap { $0 }
        ).standardOutput.split(separator: "\n").map(String.init)
        #expect(statuses.count == 24)
        #expect(statuses.contains("200") && statuses.contains("429"), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == "200" || $0 == "429" }, "\(statuses)")
        let refused = try run(
            "curl",
            ["-s", "--parallel", "--parallel-immediate", "--parallel-max", "8", "-i"]
                + Array(repeating: heavy, count: 8)
        )
        .standardOutput
        if refused.contains(" 429 ") {
            #expect(refused.contains("\"code\": \"too_many_in_flight\""))
            #expect(refused.lowercased().contains("retry-after: 1"))
        }

        let secure = HTTPServerProcess()
        try secure.start([
            "--tls-cert", RepositoryPaths.tlsFile("server.pem"), "--tls-key", RepositoryPaths.tlsFile("server-key.pem"),
        ])
        defer { secure.stop() }
        secure.scheme = "https"
        secure.caFile = RepositoryPaths.tlsFile("ca.pem")
        #expect(try secure.get("/v1/stats").status == 200)
        let plain = try run("curl", ["-sS", "http://127.0.0.1:\(secure.httpPort)/v1/stats"])
        #expect(plain.status != 0 || !plain.standardOutput.contains("\"query\""))
        let untrusted = try run(
            "curl",
            [
                "-sS", "--cacert", RepositoryPaths.tlsFile("other-ca.pem"),
                "https://127.0.0.1:\(secure.httpPort)/v1/stats",
            ]
        )
        #expect(untrusted.status != 0)
    }

    @Test("the HTTP port follows the binary port's exposure rule")
    func exposure() throws {
        let http = HTTPServerProcess()
        defer { http.stop() }
        do {
            try http.start(["--http-host", "0.0.0.0"])
            Issue.record("engaged served HTTP on 0.0.0.0 without tokens")
        } catch {
            #expect("\(error)".contains("exited with 2"), "\(error)")
            #expect("\(error)".contains("refusing to serve HTTP on 0.0.0.0 without authentication"), "\(error)")
        }
    }
}

/// `engage report`: one HTML file whose embedded data are the `engage query --format json` bodies.
@Suite("engage report through a real engaged")
struct ReportFileTests {
    @Test("the file inlines everything, escapes the title, and embeds exactly the CLI's answers")
    func reportFile() throws {
        let server = ServerProcess()
        try server.start()
        defer { server.stop() }
        _ = try ConformanceThroughServerTests.importConformance(into: server)
        let output = NSTemporaryDirectory() + "engage-report-" + UUID().uuidString + ".html"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let made = try server.cli([
            "report", "--from", "2026-02-01", "--to", "2026-03-31", "--where", "region=eu", "--by", "device_type",
            "--title", "EU </script> & <b>", "--output", output,
        ])
        #expect(made.status == 0, "\(made.standardError)")
        let page = try String(contentsOfFile: output, encoding: .utf8)
        #expect(!page.contains("{{ENGAGE_"))
        #expect(page.contains("<title>EU &lt;/script&gt; &amp; &lt;b&gt;</title>"))
        #expect(!page.contains("<script src") && !page.contains("<link"))
        let block = try #require(
            page.components(separatedBy: "<script type=\"application/json\" id=\"engage-data\">").dropFirst().first?
                .components(separatedBy: "</script>").first
        )
        let data = try #require(try JSONSerialization.jsonObject(with: Data(block.utf8)) as? [String: Any])
        #expect(data["format"] as? String == "engage-report/1")
        let params = try #require(data["params"] as? [String: Any])
        #expect(params["month"] as? String == "2026-03")
        #expect(params["where"] as? [String] == ["region=eu"])
        let queries = try #require(data["queries"] as? [String: Any])
        let filter = ["--where", "region=eu"]
        let range = ["--from", "2026-02-01", "--to", "2026-03-31"]
        for (key, arguments) in [
            ("activity", ["activity"] + range + filter + ["--by", "device_type"]),
            ("active-days", ["active-days", "--month", "2026-03"] + filter + ["--by", "device_type"]),
            ("tiers", ["tiers", "--month", "2026-03"] + filter + ["--by", "device_type"]),
            ("transitions", ["transitions", "--month", "2026-02"] + filter),
            (
                "retention",
                ["retention", "--period", "week"] + range + ["--periods", "8"] + filter + ["--by", "device_type"]
            ),
            ("lifecycle", ["lifecycle", "--period", "week"] + range + filter),
            ("sessions", ["sessions"] + range + filter),
        ] {
            let cli = try server.cliJSON(["query"] + arguments)
            let embedded = try #require(queries[key] as? [String: Any], "\(key)")
            #expect(NSDictionary(dictionary: embedded).isEqual(to: cli), "\(key)")
        }
        #expect(
            try server.cli([
                "report", "--from", "2026-02-01", "--to", "2026-03-31", "--retention", "day", "--output", output,
            ]).status == 64
        )
    }
}
