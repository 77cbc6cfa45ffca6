import EngageDashboard
import EngageModel
import EngageOutput
import EngageProtocol
import EngageServer
import EngageStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP/JSON API and the dashboard (`engaged --http-port`): a Hummingbird application, run as a `Service`
/// of engaged's group beside the binary server. Every request under `/v1/` becomes the same `Command` the
/// binary protocol carries, carried out by the same ``RequestHandler`` (queries on its thread pool, writes
/// through the store's writer), so the two doors validate, refuse and answer alike. `openapi.yaml`
/// describes every route; a test checks the two against each other.
public struct HTTPServer: Service {
    let configuration: HTTPConfiguration
    let api: API
    let logger: Logger
    let onListening: @Sendable (SocketAddress) -> Void

    public init(
        configuration: HTTPConfiguration,
        store: EngageStore,
        handler: RequestHandler,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.api = API(
            configuration: configuration,
            handler: handler,
            timeZone: store.timeZone,
            files: try StaticFiles.load()
        )
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware(api: self.api))
        self.api.register(on: router)
        let http1 = HTTPServerBuilder.http1(
            configuration: HTTP1Channel.Configuration(idleTimeout: .seconds(self.configuration.idleTimeoutSeconds))
        )
        let server = try self.configuration.tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1
        let scheme = self.configuration.tls == nil ? "http" : "https"
        let logger = self.logger
        let onListening = self.onListening
        let app = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(self.configuration.host, port: self.configuration.port),
                serverName: self.configuration.serverName
            ),
            onServerRunning: { channel in
                if let address = channel.localAddress {
                    let host = address.ipAddress.map { address.protocol == .inet6 ? "[\($0)]" : $0 } ?? "?"
                    logger.info("HTTP API and dashboard at \(scheme)://\(host):\(address.port ?? 0)/")
                    onListening(address)
                }
            },
            logger: self.logger
        )
        try await app.run()
    }
}
