import EngageModel
import EngageProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A connection to `engaged`.
///
/// Every method may be called from many tasks at once: requests are pipelined on the one connection and
/// matched to their responses by request id.
///
/// ```swift
/// let client = try await EngageClient.connect(to: "127.0.0.1:7733")
/// let result = try await client.ingest([Event(userID: "u1", eventID: "e1", timestampMs: now, action: "like")])
/// let rows = try await client.activity(ActivityQuery(from: start, to: end))
/// try await client.close()
/// ```
public final class EngageClient: Sendable {
    /// What the server said in its handshake: version, time zone and limits.
    public let server: HelloOK

    /// Most events, users or actions the server accepts in one request.
    public var maximumBatchItems: Int { Int(self.server.maximumBatchItems) }
    /// Requests the server lets wait for a response on one connection.
    public var maximumInFlight: Int { Int(self.server.maximumInFlight) }
    /// The server's reporting time zone.
    public var timeZone: String { self.server.timeZone }
    let channel: any Channel
    private let nextRequestID = NIOLockedValueBox<UInt32>(1)
    /// Requests awaiting responses, kept within the server's `max_in_flight` (more would be refused).
    let inFlight: AsyncSemaphore

    private init(channel: any Channel, server: HelloOK) {
        self.channel = channel
        self.server = server
        self.inFlight = AsyncSemaphore(permits: max(1, Int(server.maximumInFlight)))
    }

    /// Connects to `address` (`host:port`) and performs the handshake; with `tls`, over TLS.
    public static func connect(
        to address: String,
        token: String = "",
        clientName: String = "engage-client",
        tls: EngageTLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> EngageClient {
        let (host, port) = try Self.parse(address)
        return try await self.connect(
            host: host,
            port: port,
            token: token,
            clientName: clientName,
            tls: tls,
            eventLoopGroup: eventLoopGroup
        )
    }

    public static func connect(
        host: String,
        port: Int,
        token: String = "",
        clientName: String = "engage-client",
        tls: EngageTLS? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> EngageClient {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let sslContext: NIOSSLContext?
        do {
            sslContext = try tls.map { try NIOSSLContext(configuration: $0.configuration()) }
        } catch {
            throw EngageClientError(.tls, "cannot set up TLS: \(error)", underlying: error)
        }
        let serverHostname = tls?.serverName ?? (EngageTLS.isIPAddress(host) ? nil : host)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                            )
                        } else {
                            try channel.pipeline.syncOperations.addHandler(PlaintextPeerCheck())
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maximumLength: Self.maximumResponseLength))
                        )
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                        try channel.pipeline.syncOperations.addHandler(ResponseRouter())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw ConnectFailure.classify(error, address: address, timeout: connectTimeout)
        }
        let hello = Request.hello(Hello(token: token, clientName: clientName))
        let response: Response
        do {
            response = try await Self.send(
                hello.encode(requestID: Self.handshakeRequestID),
                on: channel,
                timeout: connectTimeout
            )
        } catch let error as EngageClientError {
            try? await channel.close()
            throw ConnectFailure.handshake(error, address: address, tls: tls != nil, timeout: connectTimeout)
        } catch {
            try? await channel.close()
            if error is NIOSSLError || error is BoringSSLError {
                throw EngageClientError(.tls, "TLS failed: \(error)", underlying: error)
            }
            throw ConnectFailure.handshake(
                EngageClientError(.notAnEngageServer, "\(error)", underlying: error),
                address: address,
                tls: tls != nil,
                timeout: connectTimeout
            )
        }
        guard case .helloOK(let ok) = response else {
            try? await channel.close()
            if case .error(let error) = response { throw EngageClientError.server(error) }
            throw EngageClientError(
                .notAnEngageServer,
                "\(address) did not answer as an engaged server (it sent \(response.type) to HELLO)"
            )
        }
        return EngageClient(channel: channel, server: ok)
    }

    /// HELLO's request id: never one a later request uses (those start at 1), so that an ERROR about the
    /// handshake cannot be mistaken for an answer to anything else.
    static let handshakeRequestID: UInt32 = 0

    /// Largest response frame accepted. Far above any answer a server gives, and below what the first four
    /// bytes of any text protocol announce as a length ("HTTP" would be 1.2 GB, "-ERR" 760 MB): a client
    /// pointed at another program fails at once instead of waiting for a gigabyte.
    static let maximumResponseLength = 256 << 20

    static func parse(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw EngageClientError(.invalidAddress, "cannot read the server address '\(address)': use HOST:PORT") }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func send(_ frame: Frame, on channel: any Channel, timeout: TimeAmount? = nil) async throws -> Response {
        let promise = channel.eventLoop.makePromise(of: Response.self)
        // A write can fail after the router is gone (the connection closed and its pipeline was torn
        // down); the router never saw the request then, so the failed write must fail it.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        if let timeout {
            let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                promise.fail(EngageClientError(.timeout, "no answer within \(timeout.nanoseconds / 1_000_000_000) s"))
            }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
        }
        channel.writeAndFlush(PendingRequest(frame: frame, promise: promise), promise: written)
        return try await promise.futureResult.get()
    }

    /// Sends `request` and waits for its response; an ERROR response throws ``EngageClientError/server(_:)``.
    /// The next request id (1, 2, ... wrapping past UInt32.max to 1).
    func nextID() -> UInt32 {
        self.nextRequestID.withLockedValue { id -> UInt32 in
            defer { id = id == UInt32.max ? 1 : id + 1 }
            return id
        }
    }

    public func send(_ request: Request) async throws -> Response {
        let id = self.nextID()
        await self.inFlight.acquire()
        defer { self.inFlight.release() }
        let response = try await Self.send(
            request.encode(requestID: id, allocator: self.channel.allocator),
            on: self.channel
        )
        if case .error(let error) = response { throw EngageClientError.server(error) }
        return response
    }

    public func close() async throws {
        try await self.channel.close()
    }

    // MARK: - Requests

    /// Round trip to the server.
    public func ping() async throws {
        let nonce = UInt64.random(in: 0...UInt64.max)
        guard case .pong(let echoed) = try await self.send(.ping(nonce: nonce)), echoed == nonce else {
            throw EngageClientError.unexpected("PONG with another nonce")
        }
    }

    /// Defines or updates catalog actions.
    public func defineActions(_ actions: [ActionDefinition]) async throws -> BatchResult {
        try await self.chunked(actions, limit: min(Int(self.server.maximumBatchItems), Int(UInt16.max))) { chunk in
            guard case .defineActionsResult(let result) = try await self.send(.defineActions(chunk)) else {
                throw EngageClientError.unexpected("not DEFINE_ACTIONS_RESULT")
            }
            return result
        }
    }

    /// Creates or updates users (last write wins per attribute); split into batches the server accepts.
    public func upsertUsers(_ users: [UserProfile]) async throws -> BatchResult {
        try await self.chunked(users, limit: Int(self.server.maximumBatchItems)) { chunk in
            guard case .upsertUsersResult(let result) = try await self.send(.upsertUsers(chunk)) else {
                throw EngageClientError.unexpected("not UPSERT_USERS_RESULT")
            }
            return result
        }
    }

    /// Stores events and returns once they are durable; split into batches the server accepts. Rejections
    /// carry positions in `events`. For a stream of events, ``makeEventWriter(batchSize:maximumInFlight:)``
    /// batches and pipelines for you.
    public func ingest(_ events: [Event]) async throws -> BatchResult {
        try await self.chunked(events, limit: Int(self.server.maximumBatchItems)) { chunk in
            try await self.ingestBatch(chunk)
        }
    }

    func ingestBatch(_ events: [Event]) async throws -> BatchResult {
        guard case .ingestResult(let result) = try await self.send(.ingestEvents(IngestBatch(events: events))) else {
            throw EngageClientError.unexpected("not INGEST_RESULT")
        }
        return result
    }

    /// Daily DAU, WAU, MAU (and their ratios on each row) over [from, to].
    public func activity(_ query: ActivityQuery) async throws -> [ActivityRow] {
        guard case .activityResult(let rows) = try await self.send(.queryActivity(query)) else {
            throw EngageClientError.unexpected("not ACTIVITY_RESULT")
        }
        return rows
    }

    public func stats() async throws -> StoreStats {
        guard case .statsResult(let stats) = try await self.send(.stats) else {
            throw EngageClientError.unexpected("not STATS_RESULT")
        }
        return stats
    }

    /// A writer that batches events and keeps up to `maximumInFlight` batches on the wire.
    public func makeEventWriter(batchSize: Int = 5000, maximumInFlight: Int = 4) -> EventWriter {
        EventWriter(
            client: self,
            batchSize: max(1, min(batchSize, Int(self.server.maximumBatchItems))),
            maximumInFlight: max(1, min(maximumInFlight, Int(self.server.maximumInFlight)))
        )
    }

    private func chunked<Item: Sendable>(
        _ items: [Item],
        limit: Int,
        _ send: @Sendable ([Item]) async throws -> BatchResult
    ) async throws -> BatchResult {
        var total = BatchResult()
        var start = 0
        repeat {
            let end = min(start + max(limit, 1), items.count)
            let result = try await send(Array(items[start..<end]))
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected.map { Rejection(index: $0.index + start, reason: $0.reason) }
            start = end
        } while start < items.count
        return total
    }
}

/// An ingest batch encoded once, ready to send (and to send again, for a retry) without encoding again.
public struct PreparedIngestBatch: Sendable {
    /// The INGEST_EVENTS payload.
    let payload: ByteBuffer
    public let eventCount: Int

    public init(events: [Event]) {
        let frame = Request.ingestEvents(IngestBatch(events: events)).encode(requestID: 0)
        self.payload = frame.payload
        self.eventCount = events.count
    }

    /// Encoded size in bytes.
    public var byteCount: Int { self.payload.readableBytes }
}

extension EngageClient {
    /// Sends a prepared batch and waits until it is durable.
    public func ingest(_ batch: PreparedIngestBatch) async throws -> BatchResult {
        let id = self.nextID()
        await self.inFlight.acquire()
        defer { self.inFlight.release() }
        let response = try await Self.send(
            Frame(type: MessageType.ingestEvents.rawValue, requestID: id, payload: batch.payload),
            on: self.channel
        )
        switch response {
        case .ingestResult(let result): return result
        case .error(let error): throw EngageClientError.server(error)
        default: throw EngageClientError.unexpected("\(response.type) to INGEST_EVENTS")
        }
    }
}
