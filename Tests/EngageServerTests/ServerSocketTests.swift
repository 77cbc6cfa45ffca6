import EngageModel
import EngageProtocol
import EngageServer
import EngageStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

/// A store and a server on 127.0.0.1 and a free port, run in a service group.
final class TestServer: Sendable {
    let directory: String
    let store: EngageStore
    let port: Int
    let server: EngageServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let pool: NIOThreadPool

    init(
        maximumBatchItems: Int = 1000,
        maximumFrameLength: Int = 64 * 1024,
        maximumInFlight: Int = 16,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws {
        self.directory = NSTemporaryDirectory() + "engage-server-" + UUID().uuidString
        self.store = try EngageStore(
            configuration: StoreConfiguration(
                path: self.directory,
                eventFilterBytes: 1 << 16,
                initialMapSize: 32 << 20,
                unsafeNoSync: true
            )
        )
        self.pool = NIOThreadPool(numberOfThreads: 1)
        self.pool.start()
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = ServerConfiguration(
            host: "127.0.0.1",
            port: 0,
            maximumFrameLength: maximumFrameLength,
            maximumBatchItems: maximumBatchItems,
            maximumInFlight: maximumInFlight
        )
        configure(&configuration)
        let server = EngageServer(
            configuration: configuration,
            store: self.store,
            queryPool: self.pool,
            logger: logger,
            onListening: { address in
                continuation.yield(address.port ?? 0)
                continuation.finish()
            }
        )
        let group = ServiceGroup(services: [self.store, server], logger: logger)
        self.server = server
        self.group = group
        self.task = Task { try await group.run() }
        var port = 0
        for await value in stream { port = value }
        self.port = port
    }

    func shutdown() async throws {
        await self.group.triggerGracefulShutdown()
        try await self.task.value
        try await self.pool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

/// A client that writes raw bytes and reads frames, for feeding the server what real clients never send.
struct RawConnection {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var pending = ByteBuffer()
    var decoder = FrameDecoder(maximumLength: Int(UInt32.max))

    mutating func send(_ bytes: [UInt8]) async throws { try await self.outbound.write(ByteBuffer(bytes: bytes)) }

    mutating func send(_ frame: Frame) async throws {
        var buffer = ByteBuffer()
        frame.write(into: &buffer)
        try await self.outbound.write(buffer)
    }

    mutating func hello() async throws {
        try await self.send(Hello(clientName: "raw").frame(requestID: 0))
        guard case .helloOK = try await self.response() else { throw HarnessFailure("no HELLO_OK") }
    }

    /// The next frame, or nil once the server closed the connection.
    mutating func next() async throws -> Frame? {
        while true {
            if let frame = try self.decoder.decode(buffer: &self.pending) { return frame }
            guard var chunk = try await self.iterator.next() else { return nil }
            self.pending.writeBuffer(&chunk)
        }
    }

    mutating func response() async throws -> Response? {
        try await self.next().map { try Response.decode($0) }
    }

    /// Reads an ERROR frame and returns its code and request id.
    mutating func error() async throws -> (ErrorCode, UInt32)? {
        guard let frame = try await self.next(), case .error(let error) = try Response.decode(frame) else { return nil }
        return (error.error.code, frame.requestID)
    }

    /// True once the server has closed the connection (after any remaining frames).
    mutating func isClosedByServer() async throws -> Bool {
        while try await self.next() != nil {}
        return true
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func withRawConnection<Result: Sendable>(
    port: Int,
    _ body: (inout RawConnection) async throws -> Result
) async throws -> Result {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    // A watchdog: no test waits on a socket for more than a minute (20 s was too short for a whole run on a
    // slow 2-core machine, where a burst test's answers were still coming).
    let watchdog = Task { [channel = channel.channel] in
        try await Task.sleep(for: .seconds(60))
        try await channel.close()
    }
    defer { watchdog.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        var connection = RawConnection(outbound: outbound, iterator: inbound.makeAsyncIterator())
        return try await body(&connection)
    }
}

@Suite("Server over real sockets: bad input, limits, pipelining")
struct ServerSocketTests {
    static let ts: Int64 = 1_771_111_209_608

    @Test("before HELLO, bad magic, unsupported versions: error frame, then the connection closes")
    func handshakeErrors() async throws {
        let server = try await TestServer()
        let pingFirst = try await withRawConnection(port: server.port) { connection in
            try await connection.send(Ping(nonce: 1).frame(requestID: 3))
            let error = try await connection.error()
            return (error?.0, error?.1, try await connection.isClosedByServer())
        }
        #expect(pingFirst.0 == .handshakeRequired)
        #expect(pingFirst.1 == 3)
        #expect(pingFirst.2)
        let magic = try await withRawConnection(port: server.port) { connection in
            try await connection.send(
                Array("\u{0}\u{0}\u{0}\u{11}\u{1}\u{0}\u{0}\u{0}\u{1}EGGS".utf8) + [0, 1, 0, 1, 0, 0, 0, 0]
            )
            return (try await connection.error()?.0, try await connection.isClosedByServer())
        }
        #expect(magic.0 == .badMagic)
        #expect(magic.1)
        let version = try await withRawConnection(port: server.port) { connection in
            try await connection.send(
                Hello(minimumVersion: 7, maximumVersion: 9, clientName: "x").frame(requestID: 1)
            )
            return try await connection.error()?.0
        }
        #expect(version == .unsupportedVersion)
        try await server.shutdown()
    }

    @Test("an oversized or malformed frame closes that connection only")
    func frameErrors() async throws {
        let server = try await TestServer(maximumFrameLength: 4096)
        try await withRawConnection(port: server.port) { bystander in
            try await bystander.hello()
            let tooLarge = try await withRawConnection(port: server.port) { connection in
                try await connection.hello()
                try await connection.send([0x01, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 9])  // announces 16 MiB
                let error = try await connection.error()
                return (error?.0, error?.1, try await connection.isClosedByServer())
            }
            #expect(tooLarge.0 == .frameTooLarge)
            #expect(tooLarge.1 == 0)
            #expect(tooLarge.2)
            let malformed = try await withRawConnection(port: server.port) { connection in
                try await connection.hello()
                try await connection.send([0, 0, 0, 3, 2, 0, 0])
                return (try await connection.error()?.0, try await connection.isClosedByServer())
            }
            #expect(malformed.0 == .malformedFrame)
            #expect(malformed.1)
            // The other connection was never disturbed.
            try await bystander.send(Ping(nonce: 77).frame(requestID: 5))
            #expect(try await bystander.response() == .pong(Pong(nonce: 77)))
        }
        try await server.shutdown()
    }

    @Test("request-level errors are answered and the connection goes on")
    func requestErrors() async throws {
        let server = try await TestServer(maximumBatchItems: 5)
        try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            try await connection.send(Frame(type: 0x42, requestID: 10, payload: ByteBuffer()))
            let unknown = try await connection.error()
            #expect(unknown?.0 == .unknownMessageType)
            #expect(unknown?.1 == 10)
            try await connection.send(Frame(type: 0x02, requestID: 11, payload: ByteBuffer(bytes: [1, 2, 3, 4])))
            #expect(try await connection.error()?.0 == .truncatedPayload)
            var query = QueryActivity(
                ActivityQuery(from: CivilDate("2026-02-01")!, to: CivilDate("2026-01-01")!)
            ).frame(requestID: 12)
            try await connection.send(query)
            #expect(try await connection.error()?.0 == .invalidQuery)
            query = QueryActivity(
                ActivityQuery(
                    from: CivilDate("2026-01-01")!,
                    to: CivilDate("2026-01-02")!,
                    filters: [DimensionFilter(dimension: .cohort, values: ["2026-13"])]
                )
            ).frame(requestID: 13)
            try await connection.send(query)
            #expect(try await connection.error()?.0 == .invalidQuery)
            let events = (0..<6).map { Event(userID: "u", eventID: "\($0)", timestampMs: Self.ts, action: "like") }
            try await connection.send(IngestEvents(IngestBatch(events: events)).frame(requestID: 14))
            #expect(try await connection.error()?.0 == .tooManyItems)
            // A foreign export cursor is an error with its own code, not an empty last page.
            try await connection.send(
                Export(.users, cursor: [0, 0, 0, 42], limit: 10).frame(requestID: 16)
            )
            let cursor = try await connection.error()
            #expect(cursor?.0 == .invalidCursor && cursor?.1 == 16)
            // A backup that cannot be written has its own code (here: into the server's own, locked, directory).
            try await connection.send(Backup(path: server.directory).frame(requestID: 17))
            let backup = try await connection.error()
            #expect(backup?.0 == .backupFailed && backup?.1 == 17)
            try await connection.send(Ping(nonce: 3).frame(requestID: 15))
            #expect(try await connection.response() == .pong(Pong(nonce: 3)))
        }
        try await server.shutdown()
    }

    @Test("bad events are rejected one by one with their index and code; the rest are stored")
    func eventRejections() async throws {
        let server = try await TestServer()
        let good = IngestBatch.WireEvent(
            userRef: 0,
            eventID: Array("ok-1".utf8),
            timestampMs: Self.ts,
            actionRef: 1,
            contextRef: IngestBatch.noContext,
            metadata: []
        )
        var events = [good]
        func variant(_ change: (inout IngestBatch.WireEvent) -> Void) {
            var event = good
            event.eventID = Array("e-\(events.count)".utf8)
            change(&event)
            events.append(event)
        }
        variant { $0.userRef = 2 }  // 1: user id is not UTF-8
        variant { $0.timestampMs = 0 }  // 2: 1970
        variant { $0.timestampMs = 32_503_680_000_000 }  // 3: year 3000
        variant { $0.userRef = 3 }  // 4: empty user id
        variant { $0.eventID = Array(repeating: 0x61, count: 129) }  // 5: event id too long
        variant { $0.actionRef = 99 }  // 6: no such string
        variant { $0.metadata = Array("[1,2]".utf8) }  // 7: metadata not an object
        variant { $0.metadata = Array(#"{"a":"#.utf8) }  // 8: metadata not JSON
        variant { $0.contextRef = 4 }  // 9: context longer than 256 bytes
        variant { $0.actionRef = 3 }  // 10: empty action
        variant { $0.eventID = [] }  // 11: empty event id
        variant { $0.metadata = Array(#"{"k":1}"#.utf8) }  // 12: fine
        let batch = IngestBatch(
            strings: [Array("alice".utf8), Array("like".utf8), [0xFF, 0x41], [], Array(repeating: 0x62, count: 257)],
            events: events
        )
        let result = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            try await connection.send(IngestEvents(batch).frame(requestID: 1))
            return try await connection.response()
        }
        let expected: [Rejection] = [
            .init(index: 1, reason: .invalidUTF8), .init(index: 2, reason: .timestampOutOfRange),
            .init(index: 3, reason: .timestampOutOfRange),
            .init(index: 4, reason: .invalidUserID), .init(index: 5, reason: .invalidEventID),
            .init(index: 6, reason: .invalidReference),
            .init(index: 7, reason: .invalidMetadata), .init(index: 8, reason: .invalidMetadata),
            .init(index: 9, reason: .invalidContext),
            .init(index: 10, reason: .invalidAction), .init(index: 11, reason: .invalidEventID),
        ]
        #expect(result == .ingestResult(IngestResult(BatchResult(accepted: 2, duplicates: 0, rejected: expected))))
        _ = try await server.store.waitApplied()
        #expect(try server.store.stats().events == 2)
        try await server.shutdown()
    }

    @Test("pipelined requests: every response arrives once, matched by request id")
    func pipelining() async throws {
        let server = try await TestServer(maximumInFlight: 64)
        let responses = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            var sent: [UInt32: Request] = [:]
            for id in UInt32(1)...40 {
                let request: Request
                switch id % 4 {
                case 0: request = .command(.stats(Stats()))
                case 1:
                    request = .command(
                        .queryActivity(
                            QueryActivity(ActivityQuery(from: CivilDate("2026-02-01")!, to: CivilDate("2026-02-28")!))
                        )
                    )
                case 2: request = .ping(Ping(nonce: UInt64(id)))
                default:
                    request = .command(
                        .ingestEvents(
                            IngestEvents(
                                IngestBatch(
                                    events: (0..<50).map {
                                        Event(
                                            userID: "u\($0 % 7)",
                                            eventID: "\(id)-\($0)",
                                            timestampMs: Self.ts + Int64($0) * 60_000,
                                            action: "like"
                                        )
                                    }
                                )
                            )
                        )
                    )
                }
                sent[id] = request
                try await connection.send(request.encode(requestID: id))
            }
            var received: [UInt32: Response] = [:]
            while received.count < sent.count, let frame = try await connection.next() {
                #expect(received[frame.requestID] == nil, "two responses for \(frame.requestID)")
                received[frame.requestID] = try Response.decode(frame)
            }
            return (sent, received)
        }
        #expect(Set(responses.1.keys) == Set(responses.0.keys))
        for (id, response) in responses.1 {
            switch (responses.0[id]!, response) {
            case (.command(.stats), .statsResult), (.command(.queryActivity), .activityResult): break
            case (.ping(let ping), .pong(let pong)): #expect(ping.nonce == pong.nonce)
            case (.command(.ingestEvents), .ingestResult(let result)): #expect(result.result.accepted == 50)
            default: Issue.record("request \(id) answered with \(response.type)")
            }
        }
        _ = try await server.store.waitApplied()
        #expect(try server.store.stats().events == 500)
        try await server.shutdown()
    }

    @Test("a request sent the moment an answer arrives is never refused as too many in flight")
    func inFlightSlotFreesBeforeTheAnswer() async throws {
        let window = 4
        let server = try await TestServer(maximumInFlight: window)
        // Four connections, each keeping exactly the limit in flight: a new request goes out as each answer
        // comes in, so the server must free the slot before the answer leaves.
        let refusals = try await withThrowingTaskGroup(of: Int.self) { group in
            for connectionIndex in 0..<4 {
                group.addTask {
                    try await withRawConnection(port: server.port) { connection in
                        try await connection.hello()
                        func request(_ id: UInt32) -> Request {
                            let events = (0..<20).map {
                                Event(
                                    userID: "c\(connectionIndex)-u\($0 % 5)",
                                    eventID: "\(id)-\($0)",
                                    timestampMs: Self.ts + Int64($0) * 60_000,
                                    action: "like"
                                )
                            }
                            return id % 2 == 0
                                ? .command(.stats(Stats()))
                                : .command(.ingestEvents(IngestEvents(IngestBatch(events: events))))
                        }
                        var next: UInt32 = 1
                        for _ in 0..<window {
                            try await connection.send(request(next).encode(requestID: next))
                            next += 1
                        }
                        var refusals = 0
                        for _ in 0..<800 {
                            guard let frame = try await connection.next() else { throw HarnessFailure("closed") }
                            if case .error = try Response.decode(frame) { refusals += 1 }
                            try await connection.send(request(next).encode(requestID: next))
                            next += 1
                        }
                        for _ in 0..<window { _ = try await connection.next() }
                        return refusals
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(refusals == 0, "\(refusals) requests were refused")
        try await server.shutdown()
    }
}

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("in-flight batches are committed and answered; the store holds exactly what was acknowledged")
    func shutdownUnderLoad() async throws {
        let server = try await TestServer(maximumBatchItems: 5000, maximumFrameLength: 4 << 20, maximumInFlight: 64)
        let directory = server.directory
        let outcome = try await withRawConnection(port: server.port) { connection in
            try await connection.hello()
            for id in UInt32(1)...60 {
                let events = (0..<2000).map {
                    Event(
                        userID: "u\($0 % 97)",
                        eventID: "\(id)-\($0)",
                        timestampMs: 1_771_111_209_608 + Int64($0) * 1000,
                        action: "like"
                    )
                }
                try await connection.send(IngestEvents(IngestBatch(events: events)).frame(requestID: id))
            }
            // A ping after the batches: its pong means the server has read all 60 (frames are taken up in
            // order), which a slow machine may not have done by the time the last one is sent.
            try await connection.send(Ping(nonce: 61).frame(requestID: 61))
            var accepted = 0
            var answered = 0
            var shutdown: Task<Void, Never>?
            while let frame = try await connection.next() {
                switch try Response.decode(frame) {
                case .pong:
                    // Shut down while most batches are still queued or being committed.
                    shutdown = Task { await server.group.triggerGracefulShutdown() }
                case .ingestResult(let result):
                    answered += 1
                    accepted += result.result.accepted
                case .error(let error):
                    answered += 1
                    #expect(error.error.code == .shuttingDown, "\(error)")
                default: Issue.record("unexpected \(frame.type)")
                }
            }
            #expect(shutdown != nil, "the ping was answered")
            await shutdown?.value
            return (accepted, answered)
        }
        try await server.task.value
        try await server.pool.shutdownGracefully()
        #expect(outcome.1 == 60, "every request in flight is answered before the connection closes")
        #expect(outcome.0 > 0)
        let reopened = try EngageStore(
            configuration: StoreConfiguration(path: directory, eventFilterBytes: 1 << 16, initialMapSize: 32 << 20)
        )
        let stored = try reopened.stats().events
        #expect(stored == outcome.0, "stored \(stored), acknowledged \(outcome.0), answered \(outcome.1)")
        reopened.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
