import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves Prometheus text at `GET /metrics` on its own port (swift-prometheus has no HTTP exporter).
public struct MetricsEndpoint: Service {
    let host: String
    let port: Int
    /// The exposition body, rendered at each scrape.
    let render: @Sendable () -> [UInt8]
    let logger: Logger
    let onListening: @Sendable (SocketAddress) -> Void

    public init(
        host: String,
        port: Int,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        render: @escaping @Sendable () -> [UInt8]
    ) {
        self.host = host
        self.port = port
        self.render = render
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let render = self.render
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(render: render))
                }
            }
            .bind(host: self.host, port: self.port).get()
        self.logger.info("metrics at http://\(channel.localAddress.map { "\($0)" } ?? "?")/metrics")
        if let address = channel.localAddress { self.onListening(address) }
        try? await gracefulShutdown()
        try await channel.close()
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> [UInt8]
    private var path = ""

    init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.path = head.method == .GET ? head.uri : ""
        case .body:
            break
        case .end:
            let found = self.path == "/metrics" || self.path.hasPrefix("/metrics?")
            let body = found ? self.render() : Array("not found: GET /metrics\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.count))
            context.write(
                self.wrapOutboundOut(
                    .head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers))
                ),
                promise: nil
            )
            context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
