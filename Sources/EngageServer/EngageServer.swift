import CoreMetrics
import EngageConcurrency
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
        let machineConfiguration = ConnectionStateMachine.Configuration(
            maximumFrameLength: self.configuration.maximumFrameLength,
            maximumBatchItems: self.configuration.maximumBatchItems,
            maximumInFlight: self.configuration.maximumInFlight,
            idleTimeout: self.configuration.idleTimeout,
            frameTimeout: self.configuration.frameTimeout,
            serverName: self.configuration.serverName,
            timeZone: self.store.timeZone
        )
        let authenticate = self.configuration.tokens.map { tokens in { @Sendable token in tokens.roles(of: token) } }
        let tls = self.configuration.tls
        let metrics = self.metrics
        let server = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Closing input for shutdown (or a client's half-close) must leave output open for the answers.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: self.configuration.host, port: self.configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ServerConnection(
                        channel: channel,
                        machine: ConnectionStateMachine(configuration: machineConfiguration, authenticate: authenticate)
                    )
                    // TLS first: the guard watches plaintext frames, and its idle timer also ends a
                    // connection that never completes the TLS handshake.
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionGuard(
                            connection: connection,
                            idleTimeout: machineConfiguration.idleTimeout,
                            frameTimeout: machineConfiguration.frameTimeout,
                            onError: { metrics.error($0.code) }
                        )
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
            for connection in open {
                if connection.update({ $0.shutdownBegan() }) == .halfClose {
                    connection.channel.close(mode: .output, promise: nil)
                }
            }
            // Clients that neither finish nor close are cut off after the grace period.
            let grace = self.configuration.shutdownGracePeriod
            self.eventLoopGroup.next().scheduleTask(in: grace) {
                for connection in open { connection.channel.close(promise: nil) }
            }
        }
        self.logger.info("server stopped")
    }

    private func serve(_ asyncChannel: NIOAsyncChannel<Frame, Frame>) async {
        let channel = asyncChannel.channel
        let id = ObjectIdentifier(channel)
        guard let connection = try? await channel.pipeline.handler(type: ConnectionGuard.self).map(\.connection).get()
        else {
            try? await channel.close()
            return
        }
        let limit = self.configuration.maximumConnections
        let admission = self.connections.withLockedValue { registry -> Admission in
            guard !registry.isShuttingDown else { return .shuttingDown }
            guard registry.connections.count < limit else { return .full }
            registry.connections[id] = connection
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
            try? await asyncChannel.executeThenClose { _, outbound in
                try await outbound.write(
                    ErrorResponse(
                        ProtocolError(.tooManyConnections, "the server is at its limit of \(limit) connections")
                    )
                    .frame(requestID: 0)
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
            try await asyncChannel.executeThenClose { inbound, outbound in
                try await self.exchange(inbound: inbound, outbound: outbound, connection: connection, logger: logger)
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
        logger.debug("connection closed")
    }

    /// The request loop: takes up each frame, carries out what the state machine says, and encodes every
    /// answer. Requests run concurrently (pipelining); their answers are written as they finish.
    private func exchange(
        inbound: NIOAsyncChannelInboundStream<Frame>,
        outbound: NIOAsyncChannelOutboundWriter<Frame>,
        connection: ServerConnection,
        logger: Logger
    ) async throws {
        let handler = self.handler
        let metrics = self.metrics
        let bufferedBytes = self.bufferedBytes
        let requestBytesInHandler = self.requestBytesInHandler
        let allocator = connection.channel.allocator
        try await withThrowingDiscardingTaskGroup { group in
            do {
                for try await frame in inbound {
                    let action = connection.update { $0.frameReceived(frame) }
                    metrics.count(action)
                    switch action {
                    case .none, .checkAgain:
                        continue
                    case .sendHelloOK(let ok, let requestID):
                        try await outbound.write(ok.frame(requestID: requestID, allocator: allocator))
                    case .sendPong(let pong, let requestID):
                        try await outbound.write(pong.frame(requestID: requestID, allocator: allocator))
                    case .halfClose:
                        connection.channel.close(mode: .output, promise: nil)
                    case .sendError(let error, let requestID, let then):
                        try? await outbound.write(
                            ErrorResponse(error).frame(requestID: requestID, allocator: allocator)
                        )
                        switch then {
                        case .keepOpen: continue
                        case .halfClose: connection.channel.close(mode: .output, promise: nil)
                        case .close:
                            logger.debug("closing after error", metadata: ["error": "\(error)"])
                            return
                        }
                    case .execute(let command, let requestID):
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
                            let response = await handler.handle(command)
                            metrics.bufferedBytes.record(
                                requestBytesInHandler.withLockedValue {
                                    $0 -= size
                                    return $0
                                }
                            )
                            metrics.record(
                                command,
                                response,
                                nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started)
                            )
                            bufferedBytes.release(size)
                            // The slot is free before the answer leaves: the client may send its next
                            // request the moment it reads this one.
                            connection.observe { $0.requestFinished() }
                            try? await outbound.write(response.encode(requestID: requestID, allocator: allocator))
                            if connection.update({ $0.responseWritten() }) == .halfClose {
                                connection.channel.close(mode: .output, promise: nil)
                            }
                        }
                    }
                }
            } catch let error as ProtocolError {
                logger.info("protocol error, closing", metadata: ["error": "\(error)"])
                let action = connection.update { $0.decodingFailed(error) }
                metrics.count(action)
                if case .sendError(let error, let requestID, _) = action {
                    try? await outbound.write(ErrorResponse(error).frame(requestID: requestID, allocator: allocator))
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
    var connections: [ObjectIdentifier: ServerConnection] = [:]
    var isShuttingDown = false
}

private enum Admission {
    case admitted, full, shuttingDown
}
