import EngageConcurrency
import EngageProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A connection to `engaged`.
///
/// Every method may be called from many tasks at once: requests are pipelined on the one connection and
/// matched to their responses by request id. A request can time out
/// (``EngageClientConfiguration/requestTimeout``) or be cancelled with its task; either way only that
/// request ends: its late response is dropped, and the connection and the other requests go on.
///
/// ```swift
/// let connection = try await EngageConnection.connect(EngageClientConfiguration(server: "127.0.0.1:7733"))
/// let result = try await connection.ingest([Event(userID: "u1", eventID: "e1", timestampMs: now, action: "like")])
/// let rows = try await connection.activity(ActivityQuery(from: start, to: end))
/// try await connection.close()
/// ```
public final class EngageConnection: Sendable {
    /// What the server said in its handshake: version, name, time zone and limits.
    public let server: ServerInfo
    /// The configuration the connection was made with.
    public let configuration: EngageClientConfiguration
    let channel: any Channel
    private let nextRequestID = NIOLockedValueBox<UInt32>(1)
    /// Requests awaiting responses, kept within the server's `max_in_flight` (more would be refused). A
    /// permit is returned when the response arrives, not when a caller stops waiting for it.
    let inFlight: AsyncSemaphore

    private init(channel: any Channel, server: ServerInfo, configuration: EngageClientConfiguration) {
        self.channel = channel
        self.server = server
        self.configuration = configuration
        self.inFlight = AsyncSemaphore(permits: max(1, server.maximumInFlight))
    }

    /// The server's reporting time zone.
    public var timeZone: String { self.server.timeZone }
    /// Most events, users or actions the server accepts in one request.
    public var maximumBatchItems: Int { self.server.maximumBatchItems }

    /// Connects to `configuration.server` and performs the handshake.
    public static func connect(
        _ configuration: EngageClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> EngageConnection {
        let (host, port) = try Self.parse(configuration.server)
        let address = configuration.server
        let connectTimeout = TimeAmount(configuration.connectTimeout)
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0.sslConfiguration()) }
        } catch {
            throw EngageClientError(.tls, "cannot set up TLS: \(error)", underlying: error)
        }
        let serverHostname = configuration.tls?.serverName ?? (Self.isIPAddress(host) ? nil : host)
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
        let hello = Hello(token: configuration.token ?? "", clientName: configuration.clientName)
        do {
            let frame = try await Self.awaitResponse(
                Self.write(hello.frame(requestID: Self.handshakeRequestID), on: channel),
                timeout: configuration.connectTimeout
            )
            let ok = try Self.decode(frame, as: HelloOK.self, answering: Hello.self)
            return EngageConnection(channel: channel, server: ServerInfo(ok), configuration: configuration)
        } catch let error as EngageClientError {
            try? await channel.close()
            throw ConnectFailure.handshake(
                error,
                address: address,
                tls: configuration.tls != nil,
                timeout: connectTimeout
            )
        } catch {
            try? await channel.close()
            if error is NIOSSLError || error is BoringSSLError {
                throw EngageClientError(.tls, "TLS failed: \(error)", underlying: error)
            }
            throw ConnectFailure.handshake(
                EngageClientError(.notAnEngageServer, "\(error)", underlying: error),
                address: address,
                tls: configuration.tls != nil,
                timeout: connectTimeout
            )
        }
    }

    /// Connects to `address` (`HOST:PORT`) with the other settings at their defaults.
    public static func connect(
        to address: String,
        token: String? = nil,
        clientName: String = "engage-client",
        tls: EngageClientConfiguration.TLS? = nil
    ) async throws -> EngageConnection {
        try await self.connect(
            EngageClientConfiguration(server: address, token: token, tls: tls, clientName: clientName)
        )
    }

    /// Closes the connection; requests still waiting fail with ``EngageClientError/Code-swift.struct/connectionClosed``.
    public func close() async throws {
        try await self.channel.close()
    }

    // MARK: - Requests

    /// Sends `request` and waits for the response it names; an ERROR response throws
    /// ``EngageClientError/Code-swift.struct/server``.
    func execute<Request: RequestMessage>(_ request: Request) async throws -> Request.Response {
        var payload = self.channel.allocator.buffer(capacity: 64)
        request.encode(into: &payload)
        return try await self.execute(Request.self, payload: payload)
    }

    /// Sends an already encoded payload of a `Request` (a prepared ingest batch).
    func execute<Request: RequestMessage>(_ type: Request.Type, payload: ByteBuffer) async throws -> Request.Response {
        if Task.isCancelled { throw EngageClientError.cancelled }
        await self.inFlight.acquire()
        if Task.isCancelled {
            self.inFlight.release()
            throw EngageClientError.cancelled
        }
        let frame = Frame(type: Request.messageType.rawValue, requestID: self.nextID(), payload: payload)
        let response = Self.write(frame, on: self.channel)
        let inFlight = self.inFlight
        response.whenComplete { _ in inFlight.release() }
        return try Self.decode(
            try await Self.awaitResponse(response, timeout: self.configuration.requestTimeout),
            as: Request.Response.self,
            answering: Request.self
        )
    }

    /// The next request id (1, 2, ... wrapping past UInt32.max to 1; 0 is HELLO's).
    private func nextID() -> UInt32 {
        self.nextRequestID.withLockedValue { id -> UInt32 in
            defer { id = id == UInt32.max ? 1 : id + 1 }
            return id
        }
    }

    /// HELLO's request id: never one a later request uses, so that an ERROR about the handshake cannot be
    /// mistaken for an answer to anything else.
    static let handshakeRequestID: UInt32 = 0

    /// Largest response frame accepted. Far above any answer a server gives, and below what the first four
    /// bytes of any text protocol announce as a length ("HTTP" would be 1.2 GB, "-ERR" 760 MB): a client
    /// pointed at another program fails at once instead of waiting for a gigabyte.
    static let maximumResponseLength = 256 << 20

    /// Hands `frame` to the router; the future completes with the response frame, or fails when the
    /// connection closes first.
    static func write(_ frame: Frame, on channel: any Channel) -> EventLoopFuture<Frame> {
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        // A write can fail after the router is gone (the connection closed and its pipeline was torn down);
        // the router never saw the request then, so the failed write must fail it.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        channel.writeAndFlush(PendingRequest(frame: frame, promise: promise), promise: written)
        return promise.futureResult
    }

    /// Waits for `response`, at most `timeout`, or until the task is cancelled. Giving up does not cancel the
    /// request on the wire: its response is dropped when it comes.
    static func awaitResponse(_ response: EventLoopFuture<Frame>, timeout: Duration?) async throws -> Frame {
        let waiter = ResponseWaiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Frame, any Error>) in
                waiter.install(continuation)
                response.whenComplete { waiter.finish($0) }
                if let timeout {
                    let deadline = response.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                        waiter.finish(.failure(EngageClientError(.timeout, "no response within \(timeout)")))
                    }
                    response.whenComplete { _ in deadline.cancel() }
                }
            }
        } onCancel: {
            waiter.finish(.failure(EngageClientError.cancelled))
        }
    }

    /// The response frame as `Response`, or the server's ERROR thrown.
    static func decode<Response: ResponseMessage, Request: RequestMessage>(
        _ frame: Frame,
        as: Response.Type,
        answering: Request.Type
    ) throws -> Response {
        if frame.type == MessageType.error.rawValue {
            throw EngageClientError.server(try ErrorResponse.decode(frame).error)
        }
        guard frame.type == Response.messageType.rawValue else {
            throw EngageClientError.unexpected(
                "type 0x\(String(frame.type, radix: 16)) in answer to \(Request.messageType.specName)"
            )
        }
        do {
            return try Response.decode(frame)
        } catch {
            throw EngageClientError.unexpected("\(Response.messageType.specName) cannot be read: \(error.message)")
        }
    }

    static func parse(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw EngageClientError(.invalidAddress, "cannot read the server address '\(address)': use HOST:PORT") }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":")
            || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}

/// What the server said in its handshake.
public struct ServerInfo: Sendable, Hashable {
    /// Protocol version in use.
    public var version: Int
    /// For example `engaged 0.2.0`.
    public var name: String
    /// The data directory's reporting time zone (IANA name): every date in results is a local date there.
    public var timeZone: String
    /// Largest frame the server accepts, in bytes.
    public var maximumFrameLength: Int
    /// Most events, users or actions in one request (the client splits larger inputs).
    public var maximumBatchItems: Int
    /// Most requests awaiting responses on one connection (the client waits rather than exceed it).
    public var maximumInFlight: Int

    init(_ ok: HelloOK) {
        self.version = Int(ok.version)
        self.name = ok.serverName
        self.timeZone = ok.timeZone
        self.maximumFrameLength = Int(ok.maximumFrameLength)
        self.maximumBatchItems = Int(ok.maximumBatchItems)
        self.maximumInFlight = Int(ok.maximumInFlight)
    }
}

/// One caller's wait for a response: finished exactly once, by the response, a timeout or cancellation,
/// whichever comes first (and also when the cancellation comes before the wait begins).
final class ResponseWaiter: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Frame, any Error>)
        case finished(Result<Frame, any Error>?)
    }

    private let state = Mutex<State>(.idle)

    func install(_ continuation: CheckedContinuation<Frame, any Error>) {
        let early: Result<Frame, any Error>? = self.state.withLock { state in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return nil
            case .finished(let result):
                state = .finished(nil)
                return result
            case .waiting:
                preconditionFailure("a response waiter is installed once")
            }
        }
        if let early { continuation.resume(with: early) }
    }

    func finish(_ result: Result<Frame, any Error>) {
        let continuation: CheckedContinuation<Frame, any Error>? = self.state.withLock { state in
            switch state {
            case .idle:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .finished(nil)
                return continuation
            case .finished:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
