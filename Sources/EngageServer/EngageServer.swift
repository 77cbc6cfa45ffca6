import CoreMetrics
import EngageModel
import EngageProtocol
import EngageStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The `engaged` TCP server: frames in, store calls, frames out.
///
/// Each connection runs in its own child task and catches its own errors, so one bad client never takes
/// the server down. Requests of one connection run concurrently (pipelining); past `maximumInFlight`
/// awaiting responses a request is refused with too_many_in_flight, and every connection stops reading
/// while `maximumBufferedBytes` of requests are being carried out, so a slow writer never makes memory grow
/// (beyond the few decoded frames each connection's inbound stream holds).
///
/// On graceful shutdown it stops accepting, stops reading new requests, answers the ones in flight
/// (ingest batches are committed first), then returns.
public final class EngageServer: Service, Sendable {
    public let configuration: ServerConfiguration
    let store: EngageStore
    let handler: RequestHandler
    let logger: Logger
    let eventLoopGroup: MultiThreadedEventLoopGroup
    let onListening: @Sendable (SocketAddress) -> Void
    private let connections = NIOLockedValueBox(ConnectionRegistry())
    private let bufferedBytes: AsyncSemaphore
    let metrics = ServerMetrics()

    public init(
        configuration: ServerConfiguration,
        store: EngageStore,
        queryPool: NIOThreadPool,
        eventLoopGroup: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.store = store
        self.handler = RequestHandler(store: store, queryPool: queryPool, logger: logger)
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.onListening = onListening
        self.bufferedBytes = AsyncSemaphore(permits: configuration.maximumBufferedBytes)
    }

    /// Bytes of request payloads being carried out right now, counted around the handler (independently of
    /// the budget that admits them): at most `maximumBufferedBytes`, or one request larger than that, alone.
    public var bufferedRequestBytes: Int { self.requestBytesInHandler.withLockedValue { $0 } }
    private let requestBytesInHandler = NIOLockedValueBox(0)

    public func run() async throws {
        try self.configuration.checkExposure()
        let maximumFrameLength = self.configuration.maximumFrameLength
        let maximumInFlight = self.configuration.maximumInFlight
        let idleTimeout = self.configuration.idleTimeout
        let frameTimeout = self.configuration.frameTimeout
        let tls = self.configuration.tls
        let server = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Closing input for shutdown (or a client's half-close) must leave output open for the answers.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: self.configuration.host, port: self.configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let control = ConnectionControl(channel: channel, maximumInFlight: maximumInFlight)
                    // TLS first: the guard watches plaintext frames, and its idle timer also ends a
                    // connection that never completes the TLS handshake.
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionGuard(control: control, idleTimeout: idleTimeout, frameTimeout: frameTimeout)
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(maximumLength: maximumFrameLength))
                    )
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                    return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
                }
            }
        let address = server.channel.localAddress!
        self.logger.info(
            "listening",
            metadata: ["address": "\(address)", "time_zone": "\(self.store.timeZone)", "tls": "\(tls != nil)"]
        )
        self.onListening(address)
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("shutting down: no new connections or requests; answering those in flight")
            server.channel.close(promise: nil)
            let open = self.connections.withLockedValue { registry in
                registry.isShuttingDown = true
                return Array(registry.connections.values)
            }
            for connection in open { connection.beginDraining() }
            // Clients that neither finish nor close are cut off after the grace period.
            let grace = self.configuration.shutdownGracePeriod
            self.eventLoopGroup.next().scheduleTask(in: grace) {
                for connection in open { connection.channel.close(promise: nil) }
            }
        }
        self.logger.info("server stopped")
    }

    private func serve(_ connection: NIOAsyncChannel<Frame, Frame>) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        guard let control = try? await channel.pipeline.handler(type: ConnectionGuard.self).map(\.control).get() else {
            try? await channel.close()
            return
        }
        let limit = self.configuration.maximumConnections
        let admission = self.connections.withLockedValue { registry -> Admission in
            guard !registry.isShuttingDown else { return .shuttingDown }
            guard registry.connections.count < limit else { return .full }
            registry.connections[id] = control
            return .admitted
        }
        switch admission {
        case .admitted:
            break
        case .shuttingDown:
            try? await channel.close()
            return
        case .full:
            self.metrics.error(.tooManyConnections)
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(
                    Response.error(
                        ProtocolError(.tooManyConnections, "the server is at its limit of \(limit) connections")
                    )
                    .encode(requestID: 0)
                )
            }
            return
        }
        self.metrics.connections.increment()
        self.metrics.connectionsOpened.increment()
        defer {
            _ = self.connections.withLockedValue { $0.connections.removeValue(forKey: id) }
            self.metrics.connections.decrement()
        }
        let peer = channel.remoteAddress.map { "\($0)" } ?? "?"
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(peer)"
        logger.debug("connection opened")
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await self.exchange(inbound: inbound, outbound: outbound, control: control, logger: logger)
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
        logger.debug("connection closed")
    }

    private func exchange(
        inbound: NIOAsyncChannelInboundStream<Frame>,
        outbound: NIOAsyncChannelOutboundWriter<Frame>,
        control: ConnectionControl,
        logger: Logger
    ) async throws {
        var machine = ConnectionStateMachine(
            limits: .init(
                maximumFrameLength: self.configuration.maximumFrameLength,
                maximumBatchItems: self.configuration.maximumBatchItems,
                maximumInFlight: self.configuration.maximumInFlight
            ),
            serverName: self.configuration.serverName,
            timeZone: self.store.timeZone,
            authenticate: self.configuration.tokens.map { tokens in { @Sendable token in tokens.roles(of: token) } }
        )
        let handler = self.handler
        let metrics = self.metrics
        let bufferedBytes = self.bufferedBytes
        let requestBytesInHandler = self.requestBytesInHandler
        try await withThrowingDiscardingTaskGroup { group in
            do {
                for try await frame in inbound {
                    // After requestStarted(), if any: a request is always counted one way or the other.
                    defer { control.frameTakenUp() }
                    if control.isDraining { machine.shutdownBegan() }
                    switch machine.frameReceived(frame) {
                    case .send(let reply):
                        metrics.errorIfAny(in: reply)
                        try await outbound.write(reply)
                    case .sendAndClose(let reply):
                        logger.debug("closing after error", metadata: ["reply": "\(reply.type)"])
                        metrics.errorIfAny(in: reply)
                        try await outbound.write(reply)
                        return
                    case .execute(let requestID, let request):
                        let refusal: ProtocolError?
                        switch control.requestStarted() {
                        case .admitted: refusal = nil
                        case .draining:
                            machine.shutdownBegan()
                            refusal = ProtocolError(
                                .shuttingDown,
                                "the server is shutting down; this request was not carried out"
                            )
                        case .tooMany:
                            refusal = ProtocolError(
                                .tooManyInFlight,
                                "\(control.maximumInFlight) requests already await responses on this connection; this one was not carried out"
                            )
                        }
                        if let refusal {
                            metrics.error(refusal.code)
                            try? await outbound.write(Response.error(refusal).encode(requestID: requestID))
                            continue
                        }
                        metrics.request(request.type)
                        let size = frame.payload.readableBytes
                        // Every connection stops reading while too many request bytes are being processed.
                        await bufferedBytes.acquire(size)
                        group.addTask {
                            metrics.bufferedBytes.record(
                                requestBytesInHandler.withLockedValue {
                                    $0 += size
                                    return $0
                                }
                            )
                            let started = DispatchTime.now().uptimeNanoseconds
                            let response = await handler.handle(request)
                            metrics.bufferedBytes.record(
                                requestBytesInHandler.withLockedValue {
                                    $0 -= size
                                    return $0
                                }
                            )
                            metrics.record(
                                request,
                                response,
                                nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started)
                            )
                            bufferedBytes.release(size)
                            try? await outbound.write(response.encode(requestID: requestID))
                            control.requestFinished()
                        }
                    case .none:
                        return
                    }
                }
            } catch let error as ProtocolError {
                logger.info("protocol error, closing", metadata: ["error": "\(error)"])
                if case .sendAndClose(let reply) = machine.decodingFailed(error) {
                    try? await outbound.write(reply)
                }
            } catch {
                // The read side ended (peer reset, input closed for shutdown): requests already read are
                // still carried out and answered before the connection closes.
                logger.debug("read side ended", metadata: ["error": "\(error)"])
            }
        }
    }
}

private struct ConnectionRegistry {
    var connections: [ObjectIdentifier: ConnectionControl] = [:]
    var isShuttingDown = false
}

private enum Admission {
    case admitted, full, shuttingDown
}

/// What the shutdown handler and a connection's tasks share: whether the server is draining and how many
/// requests are being carried out. Once draining with nothing in flight or unread, the server half-closes the
/// connection (FIN after the last answer) and keeps reading until the client closes, so that unread input
/// never turns the close into a reset that would destroy answers the client has not read yet.
final class ConnectionControl: Sendable {
    let channel: any Channel
    let maximumInFlight: Int
    /// `unread`: frames the connection has received that the request loop has not taken up yet.
    /// `settled`: when the server last took up a frame or finished a request for this connection.
    private let state = NIOLockedValueBox(State())

    private struct State {
        var draining = false
        var inFlight = 0
        var unread = 0
        var settled = NIODeadline.now()

        /// Draining, and every frame received so far has been answered or refused: the output can close.
        /// Frames that arrived but wait for the request loop still get their refusal first.
        var owesNothingWhileDraining: Bool { self.draining && self.inFlight == 0 && self.unread == 0 }
    }

    init(channel: any Channel, maximumInFlight: Int) {
        self.channel = channel
        self.maximumInFlight = maximumInFlight
    }

    var isDraining: Bool { self.state.withLockedValue { $0.draining } }
    /// A request is being carried out, or a received frame waits for the request loop (which may be slow
    /// to run on a loaded machine): either way the server owes the client, so the connection is not idle.
    var isBusy: Bool { self.state.withLockedValue { $0.inFlight > 0 || $0.unread > 0 } }
    /// When the server last owed this client nothing; only time since then (and since the client's last
    /// frame) counts as the client's idleness, so a slow server never times out a prompt client.
    var settledAt: NIODeadline { self.state.withLockedValue { $0.settled } }

    func frameArrived() { self.state.withLockedValue { $0.unread += 1 } }
    /// Called once the request loop has answered, refused or handed off the frame.
    func frameTakenUp() {
        self.update {
            $0.unread -= 1
            $0.settled = .now()
        }
    }

    enum Start { case admitted, draining, tooMany }

    /// Counts a request in, unless the server is draining or the connection has too many in flight.
    func requestStarted() -> Start {
        self.state.withLockedValue { state in
            guard !state.draining else { return .draining }
            guard state.inFlight < self.maximumInFlight else { return .tooMany }
            state.inFlight += 1
            return .admitted
        }
    }

    func requestFinished() {
        self.update {
            $0.inFlight -= 1
            $0.settled = .now()
        }
    }

    func beginDraining() {
        self.update { $0.draining = true }
    }

    /// Applies `change`; once draining leaves the server owing nothing, half-closes (FIN after the last answer).
    private func update(_ change: (inout State) -> Void) {
        let closeOutput = self.state.withLockedValue { state -> Bool in
            change(&state)
            return state.owesNothingWhileDraining
        }
        if closeOutput { self.channel.close(mode: .output, promise: nil) }
    }
}

/// Keeps the store open while the server runs and closes it (committing what is queued) when the service
/// group shuts down. List it before the server so that it stops after it.
public struct StoreService: Service {
    let store: EngageStore

    public init(store: EngageStore) { self.store = store }

    public func run() async throws {
        try? await gracefulShutdown()
        self.store.close()
    }
}
