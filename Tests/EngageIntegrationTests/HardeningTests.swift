import EngageClient
import EngageModel
import EngageProtocol
import EngageTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Events with known ids, sent in pipelined batches; remembers which batches were acknowledged.
final class TrackedLoad: Sendable {
    let prefix: String
    let batchSize: Int
    private let state = NIOLockedValueBox((sent: [[Event]](), acknowledged: [[Event]](), failures: 0))

    init(prefix: String, batchSize: Int = 500) {
        self.prefix = prefix
        self.batchSize = batchSize
    }

    static let day0 = Timestamp.parseISO8601("2026-10-01T08:00:00Z")!

    func batch(_ number: Int) -> [Event] {
        (0..<self.batchSize).map { index in
            let n = number * self.batchSize + index
            return Event(
                userID: "load-user-\(n % 97)",
                eventID: "\(self.prefix)-\(n)",
                timestampMs: Self.day0 + Int64(n % 40) * 86_400_000 + Int64(n % 600) * 60_000,
                action: ["view_feed", "like", "login", "comment"][n % 4],
                context: n % 3 == 0 ? "" : "home"
            )
        }
    }

    /// Sends batches on `lanes` concurrent tasks until a send fails (the server went away) or `limit` is reached;
    /// with `pause`, each lane waits that long after every acknowledgement (a steady load rather than a flood).
    func run(address: String, lanes: Int = 4, limit: Int = 1_000_000, pause: Duration? = nil) async {
        guard let client = try? await EngageConnection.connect(to: address, clientName: "tracked-load") else { return }
        let next = NIOLockedValueBox(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<lanes {
                group.addTask {
                    while true {
                        let number = next.withLockedValue { value -> Int in
                            defer { value += 1 }
                            return value
                        }
                        guard number < limit else { return }
                        let events = self.batch(number)
                        self.state.withLockedValue { $0.sent.append(events) }
                        do {
                            let result = try await client.ingest(events)
                            guard result.rejected.isEmpty else { return }
                            self.state.withLockedValue { $0.acknowledged.append(events) }
                            if let pause { try await Task.sleep(for: pause) }
                        } catch {
                            self.state.withLockedValue { $0.failures += 1 }
                            return
                        }
                    }
                }
            }
        }
        try? await client.close()
    }

    var sent: [[Event]] { self.state.withLockedValue { $0.sent } }
    var acknowledged: [[Event]] { self.state.withLockedValue { $0.acknowledged } }

    /// Returns once a batch is acknowledged (30 s at most): "under load" starts there. A fixed sleep was too
    /// short in a CI run where the integration tests, run in parallel, held the cooperative threads.
    func waitForAcknowledgement() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while self.acknowledged.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// (user_id, event_id) of every stored event, with how often each occurs, read through `engage export events`.
func storedEventIDs(_ server: ServerProcess) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for row in try server.exportRows(["events", "--from", "2025-01-01", "--to", "2026-12-31"]) {
        counts["\(row["user_id"]!)/\(row["event_id"]!)", default: 0] += 1
    }
    return counts
}

func sendSignal(_ server: ServerProcess, _ signal: Int32) {
    if let process = server.running?.process { kill(process.processIdentifier, signal) }
}

@Suite("Hardening, with real processes", .serialized)
struct HardeningTests {
    @Test("without tokens the server refuses a non-loopback address unless --insecure-no-auth")
    func exposure() throws {
        let refused = try run(
            "engaged",
            [
                "--data", NSTemporaryDirectory() + "engage-exposed-" + UUID().uuidString, "--host", "0.0.0.0", "--port",
                "0",
            ]
        )
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("refusing to listen on 0.0.0.0 without authentication"))
        let server = ServerProcess()
        try server.start(["--host", "0.0.0.0", "--insecure-no-auth"])
        #expect(try server.cliJSON(["stats"])["rows"] != nil)
        #expect(server.stop()?.status == 0)
    }

    @Test(
        "requests on a connection the server has closed fail at once instead of waiting forever",
        .timeLimit(.minutes(1))
    )
    func requestsAfterServerWentAway() async throws {
        let server = ServerProcess()
        try server.start()
        let client = try await EngageConnection.connect(to: server.address)
        try await client.ping()
        #expect(server.stop()?.status == 0)
        try await Task.sleep(for: .milliseconds(200))
        // Some of these reach the router before the pipeline is torn down, some after.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { await #expect(throws: (any Error).self) { try await client.ping() } }
            }
        }
        try? await client.close()
    }

    @Test("TLS: the right CA connects (CLI and library); a plain client or an unknown CA is refused clearly")
    func tls() async throws {
        let server = ServerProcess()
        try server.start([
            "--tls-cert", RepositoryPaths.tlsFile("server.pem"), "--tls-key", RepositoryPaths.tlsFile("server-key.pem"),
        ])
        defer { server.stop() }
        let ca = RepositoryPaths.tlsFile("ca.pem")

        let client = try await EngageConnection.connect(
            to: server.address,
            tls: EngageClientConfiguration.TLS(caFile: ca)
        )
        let events = TrackedLoad(prefix: "tls", batchSize: 50).batch(0)
        #expect(try await client.ingest(events).accepted == 50)
        try await client.waitApplied()
        #expect(try await client.stats().events == 50)
        try await client.close()
        // The certificate names localhost and 127.0.0.1; both ways of reaching the server verify.
        let byName = try await EngageConnection.connect(
            to: "localhost:\(server.port)",
            tls: EngageClientConfiguration.TLS(caFile: ca)
        )
        try await byName.ping()
        try await byName.close()
        #expect(rows(try server.cliJSON(["stats", "--tls-ca", ca])).first?["events"] as? Int == 50)

        let plain = try server.cli(["stats"])
        #expect(plain.status != 0)
        #expect(plain.standardError.contains("only accepts TLS clients"), "\(plain.standardError)")
        let unknownAuthority = try server.cli(["stats", "--tls-ca", RepositoryPaths.tlsFile("other-ca.pem")])
        #expect(unknownAuthority.status != 0)
        #expect(unknownAuthority.standardError.contains("TLS failed"), "\(unknownAuthority.standardError)")
        await #expect(throws: EngageClientError.self) { try await EngageConnection.connect(to: server.address) }

        // TCP without a TLS handshake holds nothing: the idle timeout ends it.
        let quiet = ServerProcess()
        try quiet.start([
            "--tls-cert", RepositoryPaths.tlsFile("server.pem"), "--tls-key", RepositoryPaths.tlsFile("server-key.pem"),
            "--idle-timeout", "1s",
        ])
        defer { quiet.stop() }
        // Both ends timed on the event loop (the channel set up before it connects, and its close): the task
        // awaiting the connection or the stream can resume much later when the other integration tests, run in
        // parallel, hold the cooperative threads (a CI run measured 0.9 s from the resumed task).
        let openedAt = NIOLockedValueBox<Date?>(nil)
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: quiet.port) { channel in
                openedAt.withLockedValue { $0 = Date() }
                return channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let opened = try #require(openedAt.withLockedValue { $0 })
        let closedAt = NIOLockedValueBox<Date?>(nil)
        silent.channel.closeFuture.whenComplete { _ in closedAt.withLockedValue { $0 = Date() } }
        try await silent.executeThenClose { inbound, _ in
            for try await _ in inbound {}
        }
        let heldFor = try #require(closedAt.withLockedValue { $0 }).timeIntervalSince(opened)
        #expect(heldFor >= 0.9 && heldFor < 6, "a connection that never started TLS stayed open \(heldFor) s")

        // A TLS client against a plain server fails with a TLS error, and the plain server keeps serving.
        let plainServer = ServerProcess()
        try plainServer.start()
        defer { plainServer.stop() }
        await #expect(throws: EngageClientError.self) {
            try await EngageConnection.connect(to: plainServer.address, tls: EngageClientConfiguration.TLS(caFile: ca))
        }
        #expect(try plainServer.cli(["stats"]).status == 0)
    }

    @Test("/metrics is served; SIGTERM under load exits 0 and loses nothing acknowledged")
    func metricsAndTerminationUnderLoad() async throws {
        let server = ServerProcess()
        let metricsPortFile = NSTemporaryDirectory() + "engage-metrics-port-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: metricsPortFile) }
        try server.start(["--metrics-port", "0", "--metrics-port-file", metricsPortFile])
        let load = TrackedLoad(prefix: "term")
        let address = server.address
        let running = Task { await load.run(address: address) }
        try await load.waitForAcknowledgement()
        try await Task.sleep(for: .milliseconds(800))

        let metricsPort = try String(contentsOfFile: metricsPortFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let (body, response) = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(metricsPort)/metrics")!
        )
        let text = String(decoding: body, as: UTF8.self)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        for name in [
            "engage_events_ingested_total", "engage_ingest_batches_total", "engage_commit_duration_seconds_bucket",
            "engage_connections",
            "engage_lmdb_map_size_bytes", "engage_lmdb_used_bytes", "engage_requests_total",
        ] {
            #expect(text.contains(name), "\(name) missing from /metrics")
        }
        let ingested =
            text.split(separator: "\n").first { $0.hasPrefix("engage_events_ingested_total ") }
            .flatMap { Double($0.split(separator: " ").last!) } ?? 0
        #expect(ingested > 0)

        sendSignal(server, SIGTERM)
        await running.value
        let stopped = server.stop()
        #expect(stopped?.status == 0, "\(stopped?.standardError ?? "")")
        #expect(load.acknowledged.count > 0)

        try server.start()
        defer { server.stop() }
        let stored = try storedEventIDs(server)
        let acknowledged = load.acknowledged.flatMap { $0 }
        #expect(
            acknowledged.allSatisfy { stored["\($0.userID)/\($0.eventID)"] == 1 },
            "every acknowledged event is stored once"
        )
    }

    @Test("SIGKILL under load, again and again: every acknowledged event survives exactly once; replaying adds nothing")
    func crashCycles() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["ENGAGE_CRASH_CYCLES"] ?? "") ?? 20
        let server = ServerProcess()
        defer { server.stop() }
        // tools/crash-test --journal-elsewhere: the journal in a directory of its own (engaged --journal).
        var serverArguments: [String] = []
        if ProcessInfo.processInfo.environment["ENGAGE_CRASH_JOURNAL_ELSEWHERE"] == "1" {
            let journal = NSTemporaryDirectory() + "engage-crash-journal-" + UUID().uuidString
            serverArguments = ["--journal", journal]
        }
        defer { if let journal = serverArguments.last { try? FileManager.default.removeItem(atPath: journal) } }
        var random = SeededGenerator(seed: 2026)
        var acknowledged: [Event] = []
        var sent: [Event] = []
        for cycle in 0..<cycles {
            try server.start(serverArguments)
            if cycle > 0 {
                // What was acknowledged before the last kill is all there, once.
                let stored = try storedEventIDs(server)
                let missing = acknowledged.filter { stored["\($0.userID)/\($0.eventID)"] != 1 }
                #expect(missing.isEmpty, "cycle \(cycle): \(missing.count) acknowledged events lost or doubled")
                #expect(stored.values.allSatisfy { $0 == 1 })
            }
            let load = TrackedLoad(prefix: "crash\(cycle)", batchSize: 300)
            let address = server.address
            // Paced so a cycle stores tens of thousands of events, not a million: every cycle re-reads the whole
            // store, and the kill still lands while batches are in flight.
            let running = Task { await load.run(address: address, lanes: 3, pause: .milliseconds(30)) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...700, using: &random)))
            sendSignal(server, SIGKILL)
            await running.value
            _ = server.stop()
            acknowledged += load.acknowledged.flatMap { $0 }
            sent += load.sent.flatMap { $0 }
        }
        #expect(acknowledged.count > 1000)
        try server.start(serverArguments)
        let stored = try storedEventIDs(server)
        #expect(acknowledged.allSatisfy { stored["\($0.userID)/\($0.eventID)"] == 1 })
        // Replay everything that was ever sent, acknowledged or not, with the same ids.
        let client = try await EngageConnection.connect(to: server.address)
        let replay = try await client.ingest(sent)
        try await client.waitApplied()
        try await client.close()
        #expect(replay.accepted + stored.count == sent.count, "replay stores exactly what never made it")
        #expect(replay.duplicates == stored.count)
        let after = try rows(server.cliJSON(["stats"])).first?["events"] as? Int
        #expect(after == sent.count)
        let verify = try server.cli(["admin", "verify"])
        #expect(verify.status == 0, "\(verify.standardOutput)")
    }

    @Test(
        "killed after the journal sync and before any apply: every acknowledged event is there after restart, once",
        arguments: [false, true]
    )
    func killBeforeApply(journalElsewhere: Bool) async throws {
        let server = ServerProcess()
        defer { server.stop() }
        let journal = NSTemporaryDirectory() + "engage-it-journal-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let journalArguments = journalElsewhere ? ["--journal", journal] : []
        // The applier is held: acknowledged batches exist only in the journal when the process dies.
        try server.start(journalArguments, environment: ["ENGAGE_TEST_HOLD_APPLIER": "1"])
        let client = try await EngageConnection.connect(to: server.address)
        let load = TrackedLoad(prefix: "held", batchSize: 500)
        var acknowledged: [Event] = []
        for number in 0..<20 {
            let events = load.batch(number)
            #expect(try await client.ingest(events).accepted == events.count)
            acknowledged += events
        }
        #expect(try await client.stats().events == 0, "nothing applied yet")
        sendSignal(server, SIGKILL)
        try? await client.close()
        _ = server.stop()

        if journalElsewhere {
            // Started without the journal's directory, it would skip them: refused, naming the directory.
            let refused = try run("engaged", ["--data", server.dataDirectory, "--port", "0"])
            #expect(refused.status == 2)
            #expect(refused.standardError.contains("the journal at \(journal) holds 20 acknowledged writes"))
            #expect(refused.standardError.contains("start once with --journal \(journal)"))
        }
        try server.start(journalArguments)
        let stored = try storedEventIDs(server)
        #expect(stored.count == acknowledged.count)
        #expect(acknowledged.allSatisfy { stored["\($0.userID)/\($0.eventID)"] == 1 })
        let verify = try server.cli(["admin", "verify"])
        #expect(verify.status == 0, "\(verify.standardOutput)")
        // The journal was applied and is not applied twice: a second restart changes nothing.
        _ = server.stop()
        try server.start(journalArguments)
        #expect(try storedEventIDs(server).count == acknowledged.count)
    }

    @Test("a backup taken under load starts and answers every query like the source did at the copy")
    func backupUnderLoad() async throws {
        let source = ServerProcess()
        try source.start()
        defer { source.stop() }
        let load = TrackedLoad(prefix: "backup")
        let sourceAddress = source.address
        let running = Task { await load.run(address: sourceAddress, lanes: 2, limit: 400) }
        try await load.waitForAcknowledgement()
        try await Task.sleep(for: .milliseconds(400))
        let acknowledgedBefore = load.acknowledged.flatMap { $0 }
        let copyDirectory = NSTemporaryDirectory() + "engage-backup-it-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: copyDirectory) }
        let backup = try source.cli(["admin", "backup", copyDirectory])
        #expect(backup.status == 0, "\(backup.standardError)")
        await running.value

        let restored = ServerProcess(dataDirectory: copyDirectory)
        try restored.start()
        defer { restored.stop() }
        let stored = try storedEventIDs(restored)
        #expect(
            acknowledgedBefore.allSatisfy { stored["\($0.userID)/\($0.eventID)"] == 1 },
            "what was acknowledged before the copy is in it"
        )
        #expect(stored.count < load.acknowledged.count * load.batchSize || load.acknowledged.count == 400)

        // The copy is a consistent moment of the source: a fresh server fed exactly its events answers alike.
        let events = try restored.exportRows(["events", "--from", "2025-01-01", "--to", "2026-12-31"]).map { row in
            Event(
                userID: row["user_id"] as! String,
                eventID: row["event_id"] as! String,
                timestampMs: (row["ts_ms"] as! NSNumber).int64Value,
                action: row["action_type"] as! String,
                context: row["action_context"] as? String ?? ""
            )
        }
        let fresh = ServerProcess()
        try fresh.start()
        defer { fresh.stop() }
        let client = try await EngageConnection.connect(to: fresh.address)
        _ = try await client.ingest(events)
        try await client.waitApplied()
        try await client.close()
        let queries: [[String]] = [
            ["query", "activity", "--from", "2026-10-01", "--to", "2026-11-15"],
            ["query", "activity", "--from", "2026-10-01", "--to", "2026-11-15", "--by", "region"],
            ["query", "active-days", "--month", "2026-10"],
            ["query", "tiers", "--month", "2026-10"],
            ["query", "tiers", "--as-of", "2026-11-05"],
            ["query", "retention", "--period", "week", "--from", "2026-10-01", "--to", "2026-11-09", "--periods", "3"],
            ["query", "lifecycle", "--period", "week", "--from", "2026-10-01", "--to", "2026-11-09"],
            ["query", "sessions", "--from", "2026-10-01", "--to", "2026-11-15"],
            ["query", "actions", "--from", "2026-10-01", "--to", "2026-11-15"],
        ]
        for query in queries {
            #expect(
                try restored.cli(query + ["--format", "json"]).standardOutput
                    == fresh.cli(query + ["--format", "json"]).standardOutput,
                "\(query)"
            )
        }
        #expect(try restored.cli(["admin", "verify"]).status == 0)
    }

    @Test("a full disk gives clients storage_full, and corrupts nothing")
    func diskFull() async throws {
        let directory = NSTemporaryDirectory() + "engage-full-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The file size limit (ulimit -f, in KiB) stands in for a full disk: writes past it fail with EFBIG.
        let portFile = directory + ".port"
        let engaged = try Binaries.path("engaged")
        let limited = try EngageIntegrationTests.start(
            "/bin/sh",
            [
                "-c",
                "ulimit -f 6000; exec \"\(engaged)\" --data \"\(directory)\" --port 0 --port-file \"\(portFile)\" --log-level error",
            ]
        )
        var port = ""
        for _ in 0..<300 where port.isEmpty {
            port =
                (try? String(contentsOfFile: portFile, encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines
                ) ?? ""
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!port.isEmpty)
        let client = try await EngageConnection.connect(to: "127.0.0.1:\(port)")
        let load = TrackedLoad(prefix: "full", batchSize: 2000)
        var acknowledged: [Event] = []
        var storageFull = false
        for number in 0..<400 {
            let events = load.batch(number)
            do {
                _ = try await client.ingest(events)
                acknowledged += events
            } catch let error as EngageClientError where error.code == .server {
                #expect(error.serverError?.name == "storage_full", "\(error)")
                storageFull = error.serverError?.name == "storage_full"
                break
            }
        }
        #expect(storageFull, "the file size limit was never reached")
        // Still serving; what is applied is at most what was acknowledged (the journal holds the rest, which
        // the next start applies).
        try await client.ping()
        #expect(try await client.stats().events <= acknowledged.count)
        try await client.close()
        limited.process.terminate()
        limited.process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: portFile)

        let server = ServerProcess(dataDirectory: directory)
        try server.start()
        defer { server.stop() }
        let stored = try storedEventIDs(server)
        #expect(stored.count == acknowledged.count)
        #expect(acknowledged.allSatisfy { stored["\($0.userID)/\($0.eventID)"] == 1 })
        let verify = try server.cli(["admin", "verify"])
        #expect(verify.status == 0, "\(verify.standardOutput)")
    }
}
