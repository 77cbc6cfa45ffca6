import EngageModel
import EngageProtocol
import EngageServer
import EngageStore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Runs jobs on its own thread. The timeout tests' clients run here so that other suites' CPU-heavy
/// synchronous tests, which occupy the (two-thread) cooperative pool, cannot stall a client long enough
/// for the server to rightly call it idle or slow.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "engage.tests.timing")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

@Suite("Limits and timeouts, over real sockets")
struct LimitsTests {
    static let ts: Int64 = 1_771_111_209_608

    @Test("connections beyond the limit get too_many_connections; the others keep working")
    func connectionLimit() async throws {
        let server = try await TestServer { $0.maximumConnections = 2 }
        try await withRawConnection(port: server.port) { first in
            try await first.hello()
            try await withRawConnection(port: server.port) { second in
                try await second.hello()
                let refused = try await withRawConnection(port: server.port) { third in
                    (try await third.error(), try await third.isClosedByServer())
                }
                #expect(refused.0?.0 == .tooManyConnections)
                #expect(refused.1)
                try await second.send(Ping(nonce: 2).frame(requestID: 2))
                #expect(try await second.response() == .pong(Pong(nonce: 2)))
            }
            try await first.send(Ping(nonce: 1).frame(requestID: 1))
            #expect(try await first.response() == .pong(Pong(nonce: 1)))
        }
        // A place is free again.
        let again = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            try await connection.send(Ping(nonce: 3).frame(requestID: 3))
            return try await connection.response()
        }
        #expect(again == .pong(Pong(nonce: 3)))
        try await server.shutdown()
    }

    @Test("requests beyond max_in_flight are refused with too_many_in_flight; every request is answered")
    func inFlightLimit() async throws {
        let server = try await TestServer(maximumBatchItems: 5000, maximumFrameLength: 4 << 20, maximumInFlight: 2)
        let codes = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            // All twelve frames in one write: the server reads them before the first commit ends.
            var burst = ByteBuffer()
            for id in UInt32(1)...12 {
                let events = (0..<3000).map {
                    Event(
                        userID: "u\($0 % 50)",
                        eventID: "\(id)-\($0)",
                        timestampMs: Self.ts + Int64($0) * 1000,
                        action: "like"
                    )
                }
                IngestEvents(IngestBatch(events: events)).frame(requestID: id).write(into: &burst)
            }
            try await connection.send(Array(burst.readableBytesView))
            var answers: [UInt32: Response] = [:]
            while answers.count < 12, let frame = try await connection.next() {
                answers[frame.requestID] = try Response.decode(frame)
            }
            try await connection.send(Ping(nonce: 9).frame(requestID: 99))
            return (answers, try await connection.response())
        }
        #expect(codes.0.count == 12)
        let refused = codes.0.values.filter {
            if case .error(let error) = $0 { return error.error.code == .tooManyInFlight } else { return false }
        }
        let accepted = codes.0.values.filter { if case .ingestResult = $0 { return true } else { return false } }
        #expect(refused.count >= 1)
        #expect(refused.count + accepted.count == 12)
        #expect(accepted.count >= 2)
        #expect(codes.1 == .pong(Pong(nonce: 9)))
        _ = try await server.store.waitApplied()
        #expect(try server.store.stats().events == accepted.count * 3000)
        try await server.shutdown()
    }

    @Test(
        "when the writer falls behind, request bytes in process stay within the budget; every batch is stored, nothing refused"
    )
    func bufferedBytesBudget() async throws {
        let budget = 256 << 10
        let server = try await TestServer(maximumBatchItems: 5000, maximumFrameLength: 4 << 20, maximumInFlight: 64) {
            $0.maximumBufferedBytes = budget
        }
        // Watch the request bytes being carried out (counted around the handler, apart from the budget that
        // admits them) while ~19 times the budget arrives at once.
        let peak = NIOLockedValueBox(0)
        let watching = Task {
            while !Task.isCancelled {
                let inUse = server.server.bufferedRequestBytes
                peak.withLockedValue { $0 = max($0, inUse) }
                try? await Task.sleep(for: .microseconds(200))
            }
        }
        var burst = ByteBuffer()
        var largestFrame = 0
        for id in UInt32(1)...40 {
            let events = (0..<4000).map {
                Event(
                    userID: "u\($0 % 300)",
                    eventID: "\(id)-\($0)",
                    timestampMs: Self.ts + Int64($0) * 1000,
                    action: "like"
                )
            }
            let before = burst.writerIndex
            IngestEvents(IngestBatch(events: events)).frame(requestID: id).write(into: &burst)
            largestFrame = max(largestFrame, burst.writerIndex - before)
        }
        #expect(burst.readableBytes > 10 * budget)
        let sentBytes = burst.readableBytes
        let port = server.port
        async let answers = withRawConnection(port: port) { connection in
            try await connection.hello()
            try await connection.send(Array(burst.readableBytesView))
            var answers: [UInt32: Response] = [:]
            while answers.count < 40, let frame = try await connection.next() {
                answers[frame.requestID] = try Response.decode(frame)
            }
            return answers
        }
        // Another connection's query, sent while the burst is being carried out, waits its turn and is answered.
        async let stats = withRawConnection(port: port) { connection in
            try await connection.hello()
            try await Task.sleep(for: .milliseconds(100))
            try await connection.send(Stats().frame(requestID: 4))
            return try await connection.response()
        }
        let (burstAnswers, statsAnswer) = try await (answers, stats)
        watching.cancel()
        await watching.value
        guard case .statsResult = statsAnswer else {
            Issue.record("expected STATS_RESULT, got \(String(describing: statsAnswer))")
            return
        }
        #expect(burstAnswers.count == 40)
        #expect(
            burstAnswers.values.allSatisfy {
                if case .ingestResult(let result) = $0 { result.result.accepted == 4000 } else { false }
            }
        )
        _ = try await server.store.waitApplied()
        #expect(try server.store.stats().events == 40 * 4000)
        let observed = peak.withLockedValue { $0 }
        #expect(observed > 0, "request bytes were seen in process")
        #expect(observed <= budget, "at most \(budget) bytes of \(sentBytes) in process at once; saw \(observed)")
        #expect(largestFrame < budget)
        #expect(server.server.bufferedRequestBytes == 0)
        try await server.shutdown()
    }

    @Test("an idle connection is closed with idle_timeout; a busy one is not")
    func idleTimeout() async throws {
        try await withTaskExecutorPreference(DedicatedThreadExecutor()) { try await self.checkIdleTimeout() }
    }

    func checkIdleTimeout() async throws {
        // Generous against stalls of a loaded test machine (a 3 s timeout cut the busy client off on a slow
        // 2-core machine running the suites in parallel): the busy client pings every 250 ms for 6.5 s, the
        // idle one must be cut off after 6 s and not before.
        let server = try await TestServer { $0.idleTimeout = .milliseconds(6000) }
        async let busy: Bool = withRawConnection(port: server.port) { connection in
            try await connection.hello()
            for nonce in UInt64(1)...26 {
                try await Task.sleep(for: .milliseconds(250))
                try await connection.send(Ping(nonce: nonce).frame(requestID: UInt32(nonce)))
                guard try await connection.response() == .pong(Pong(nonce: nonce)) else { return false }
            }
            return true
        }
        let started = Date()
        let idle = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            return (try await connection.error(), try await connection.isClosedByServer())
        }
        #expect(idle.0?.0 == .idleTimeout)
        #expect(idle.0?.1 == 0)
        #expect(idle.1)
        #expect(Date().timeIntervalSince(started) >= 5.9)
        #expect(try await busy, "the connection that kept sending was never cut off")
        try await server.shutdown()
    }

    @Test("a frame begun and not finished is cut off with slow_client; others keep working")
    func slowClient() async throws {
        try await withTaskExecutorPreference(DedicatedThreadExecutor()) { try await self.checkSlowClient() }
    }

    func checkSlowClient() async throws {
        let server = try await TestServer { $0.frameTimeout = .milliseconds(500) }
        try await withRawConnection(port: server.port) { bystander in
            try await bystander.hello()
            let slow = try await withRawConnection(port: server.port) { connection in
                try await connection.hello()
                // The length says 13 bytes follow; only 3 come.
                try await connection.send([0, 0, 0, 13, 2, 0, 0])
                return (try await connection.error(), try await connection.isClosedByServer())
            }
            #expect(slow.0?.0 == .slowClient)
            #expect(slow.1)
            try await bystander.send(Ping(nonce: 5).frame(requestID: 5))
            #expect(try await bystander.response() == .pong(Pong(nonce: 5)))
        }
        try await server.shutdown()
    }

    @Test("with tokens: no token and a wrong token are refused, each role reaches only its requests")
    func authenticationOverSockets() async throws {
        let tokens = TokenTable(entries: [("ingest-token-0123456789", [.ingest]), ("query-token-0123456789", [.query])])
        let server = try await TestServer { $0.tokens = tokens }
        for token in ["", "not-a-known-token-000"] {
            let refused = try await withRawConnection(port: server.port) { connection in
                try await connection.send(Hello(token: token, clientName: "t").frame(requestID: 1))
                return (try await connection.error()?.0, try await connection.isClosedByServer())
            }
            #expect(refused.0 == .unauthenticated)
            #expect(refused.1)
        }
        let event = Event(userID: "u", eventID: "e", timestampMs: Self.ts, action: "like")
        let ingestToken = try await withRawConnection(port: server.port) { connection in
            try await connection.send(
                Hello(token: "ingest-token-0123456789", clientName: "t").frame(requestID: 1)
            )
            _ = try await connection.response()
            try await connection.send(IngestEvents(IngestBatch(events: [event])).frame(requestID: 2))
            let ingested = try await connection.response()
            try await connection.send(Stats().frame(requestID: 3))
            return (ingested, try await connection.error()?.0)
        }
        #expect(ingestToken.0 == .ingestResult(IngestResult(BatchResult(accepted: 1))))
        #expect(ingestToken.1 == .forbidden)
        let queryToken = try await withRawConnection(port: server.port) { connection in
            try await connection.send(
                Hello(token: "query-token-0123456789", clientName: "t").frame(requestID: 1)
            )
            _ = try await connection.response()
            try await connection.send(IngestEvents(IngestBatch(events: [event])).frame(requestID: 2))
            let refused = try await connection.error()?.0
            try await connection.send(Stats().frame(requestID: 3))
            guard case .statsResult(let stats) = try await connection.response() else { return (refused, -1) }
            return (refused, stats.stats.events)
        }
        #expect(queryToken.0 == .forbidden)
        #expect(queryToken.1 == 1)
        try await server.shutdown()
    }
}
