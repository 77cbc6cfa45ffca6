import ArgumentParser
import EngageClickHouse
import EngageCommandLine
import EngageHTTP
import EngageModel
import EngageServer
import EngageStore
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle
import UnixSignals

@main
struct Engaged: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engaged",
        abstract: "The Engage server: exact DAU/WAU/MAU, tiers, retention and sessions over a binary TCP protocol.",
        discussion: """
            Stores everything in an LMDB data directory. The reporting time zone is fixed when the directory is \
            created; opening it with another --timezone is refused. SIGTERM or SIGINT stop it gracefully: no \
            new connections or requests, requests in flight are committed and answered, exit status 0. Only \
            one process may use a data directory at a time (a second engaged exits 2, naming the first). \
            Durations are a number with a unit: 250ms, 90s, 30m, 1h. Exit status: 0 stopped cleanly, 1 failed \
            while running, 2 could not start (the log says why), 64 usage error.
            """,
        version: EngageVersion.current
    )

    @Option(name: .long, help: "Data directory (created if missing).")
    var data: String = "./engage-data"

    @Option(
        name: .long,
        help: """
            Directory of the write journal (default DATA/journal); on a device of its own, acknowledgements do not \
            wait for the store's disk syncs. The data directory remembers it: a start with another one is refused \
            while the old one holds writes not applied yet.
            """
    )
    var journal: String?

    @Flag(
        name: .long,
        help: """
            Start although the recorded journal directory no longer holds this data directory's journal (a lost \
            device); acknowledged writes that were only there are lost.
            """
    )
    var journalLost = false

    @Option(name: .long, help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "TCP port (0 picks a free one).")
    var port: Int = ServerConfiguration.defaultPort

    @Option(
        name: .long,
        help:
            "Reporting time zone (IANA name) for a new data directory; an existing directory keeps its own. (default: UTC)"
    )
    var timezone: String?

    @Option(
        name: .long,
        help: "Session gap for a new data directory; an existing directory keeps its own. (default: 30m)",
        transform: DurationArgument.parse
    )
    var sessionGap: DurationArgument?

    @Option(
        name: .long,
        help: "Power tier threshold P (actions per active day) for a new data directory. (default: 20)"
    )
    var powerThreshold: Int?

    @Option(
        name: .long,
        help:
            "is_core_action (true or false) of action types first seen in events, for a new data directory. (default: true)"
    )
    var autoRegisteredCore: Bool?

    @Option(name: .long, help: "Largest frame accepted, in bytes.")
    var maxFrameBytes: Int = 16 * 1024 * 1024

    @Option(name: .long, help: "Most actions, users or events in one request.")
    var maxBatchItems: Int = 100_000

    @Option(name: .long, help: "Requests awaiting a response per connection; more are refused with too_many_in_flight.")
    var maxInFlight: Int = 64

    @Option(
        name: .long,
        help:
            "Bytes of requests being carried out across all connections; past it the server stops reading sockets until the writer catches up."
    )
    var maxBufferedBytes: Int = 256 << 20

    @Option(name: .long, help: "Heap bytes for the event-id filter that speeds up duplicate checks.")
    var eventFilterBytes: Int = 64 << 20

    @Option(name: .long, help: "Threads that run queries.")
    var queryThreads: Int = 2

    @Option(name: .long, help: "Write the bound port to this file once listening (useful with --port 0).")
    var portFile: String?

    @Option(
        name: .long,
        help:
            "Token file: one 'TOKEN ROLE[,ROLE]' per line, roles ingest, query, admin. Without it the server only listens on loopback."
    )
    var tokens: String?

    @Flag(name: .long, help: "Accept unauthenticated connections on a non-loopback --host.")
    var insecureNoAuth = false

    @Option(
        name: .long,
        help: "PEM certificate chain (server certificate first): with --tls-key, every connection must use TLS."
    )
    var tlsCert: String?

    @Option(name: .long, help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(name: .long, help: "Most open connections.")
    var maxConnections: Int = 1024

    @Option(
        name: .long,
        help: "Time without a frame (and nothing in flight) before a connection is closed. (default: 5m)",
        transform: DurationArgument.parse
    )
    var idleTimeout = DurationArgument(milliseconds: 300_000)

    @Option(
        name: .long,
        help: "Time a begun frame may take to arrive in full. (default: 30s)",
        transform: DurationArgument.parse
    )
    var frameTimeout = DurationArgument(milliseconds: 30_000)

    @Option(name: .long, help: "Serve Prometheus metrics at http://METRICS-HOST:PORT/metrics.")
    var metricsPort: Int?

    @Option(name: .long, help: "Address of the metrics endpoint.")
    var metricsHost: String = "127.0.0.1"

    @Option(name: .long, help: "Write the metrics port to this file once listening.")
    var metricsPortFile: String?

    @Option(
        name: .long,
        help:
            "Serve the HTTP/JSON API (described at /openapi.yaml) and the dashboard (at /) on this port (0 picks a free one)."
    )
    var httpPort: Int?

    @Option(name: .long, help: "Address of the HTTP API; the same rule as --host: off loopback only with --tokens.")
    var httpHost: String = "127.0.0.1"

    @Option(name: .long, help: "Write the HTTP port to this file once listening.")
    var httpPortFile: String?

    @Option(name: .long, help: "Largest HTTP request body accepted, in bytes; larger ones get 413.")
    var httpMaxBodyBytes: Int = 16 * 1024 * 1024

    @Option(name: .long, help: "HTTP API requests carried out at once; more get 429 too_many_in_flight.")
    var httpMaxRequests: Int = 64

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        name: .long,
        help:
            "Keep raw events for this many days before today; older ones are dropped (derived numbers stay whole) and refused."
    )
    var rawRetentionDays: Int?

    @Flag(name: .long, help: .hidden)
    var unsafeNoSync = false

    @Option(
        name: .long,
        help:
            "Keep this ClickHouse (http://host:port/) in sync with the store, as `engage clickhouse sync` does; lag in /metrics."
    )
    var clickhouseUrl: String?

    @Option(name: .long, help: "With --clickhouse-url: the database.")
    var clickhouseDatabase: String = "engage"

    @Option(
        name: .long,
        help: "With --clickhouse-url: the cluster of remote_servers; without it, the tables are on one server."
    )
    var clickhouseCluster: String?

    @Option(name: .long, help: "With --clickhouse-url: this node's number in the deployment (0...65535).")
    var clickhouseNode: Int = 0

    @Option(name: .long, help: "With --clickhouse-url and --tokens: file holding a token with the query role.")
    var clickhouseTokenFile: String?

    func validate() throws {
        guard (1...Int(UInt32.max)).contains(self.maxFrameBytes), self.maxFrameBytes >= 64 else {
            throw ValidationError("--max-frame-bytes must be between 64 and 4294967295")
        }
        guard self.maxBatchItems >= 1 else { throw ValidationError("--max-batch-items must be at least 1") }
        guard (1...65535).contains(self.maxInFlight) else { throw ValidationError("--max-in-flight must be 1...65535") }
        guard self.maxBufferedBytes >= 1 << 20 else {
            throw ValidationError("--max-buffered-bytes must be at least 1048576")
        }
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be 0...65535") }
        if let httpPort, !(0...65535).contains(httpPort) { throw ValidationError("--http-port must be 0...65535") }
        guard self.httpMaxBodyBytes >= 1024 else {
            throw ValidationError("--http-max-body-bytes must be at least 1024")
        }
        guard self.httpMaxRequests >= 1 else { throw ValidationError("--http-max-requests must be at least 1") }
        if let timezone, TimeZone(identifier: timezone) == nil {
            throw ValidationError("unknown time zone '\(timezone)': use an IANA name such as UTC or America/New_York")
        }
        if let sessionGap, !StoreConfiguration.sessionGapRange.contains(sessionGap.milliseconds) {
            throw ValidationError("--session-gap must be between 1ms and 12h")
        }
        if let powerThreshold, powerThreshold < 1 { throw ValidationError("--power-threshold must be at least 1") }
        guard self.queryThreads >= 1 else { throw ValidationError("--query-threads must be at least 1") }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("unknown --log-level \(self.logLevel)")
        }
        guard self.maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        if let days = self.rawRetentionDays, days < 1 {
            throw ValidationError("--raw-retention-days must be at least 1")
        }
        if self.clickhouseUrl == nil
            && (self.clickhouseCluster != nil || self.clickhouseDatabase != "engage" || self.clickhouseNode != 0
                || self.clickhouseTokenFile != nil)
        {
            throw ValidationError("--clickhouse-database, -cluster, -node and -token-file go with --clickhouse-url")
        }
        guard (0...65535).contains(self.clickhouseNode) else {
            throw ValidationError("--clickhouse-node must be 0...65535")
        }
        if self.clickhouseUrl != nil && self.tlsCert != nil {
            throw ValidationError(
                "--clickhouse-url syncs over the server's own port, which --tls-cert makes TLS-only: run `engage clickhouse sync --tls-ca ...` beside it instead"
            )
        }
        guard self.idleTimeout.milliseconds >= 1000, self.frameTimeout.milliseconds >= 1000 else {
            throw ValidationError("--idle-timeout and --frame-timeout must be at least 1s")
        }
        guard (self.tlsCert == nil) == (self.tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    /// Once listening, writes the bound port to `path` (for `--port 0`), if given.
    static func writePort(to path: String?) -> @Sendable (SocketAddress) -> Void {
        { address in
            if let path, let port = address.port {
                try? "\(port)\n".write(toFile: path, atomically: true, encoding: .utf8)
            }
        }
    }

    func run() async throws {
        // Past a file size limit, writes should fail with EFBIG (reported to clients as storage_full), not kill us.
        signal(SIGXFSZ, SIG_IGN)
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "engaged")
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .seconds(1), .seconds(5),
        ]
        factory.defaultValueHistogramBuckets = [1, 10, 100, 1000, 5000, 20_000, 100_000, 500_000]
        MetricsSystem.bootstrap(factory)
        /// A start-up step whose failure is logged and ends the process with exit code 2.
        func startupStep<Value>(_ context: String = "", _ step: () throws -> Value) throws -> Value {
            do {
                return try step()
            } catch {
                logger.critical("\(context)\(error)")
                throw ExitCode(2)
            }
        }
        let tokenTable = try self.tokens.map { path in try startupStep { try TokenTable(contentsOf: path) } }
        var tls: NIOSSLContext?
        var httpTLS: TLSConfiguration?
        if let tlsCert, let tlsKey {
            // The PEM files are read once; the binary port takes a context, the HTTP port a configuration.
            let configuration = try startupStep {
                try ServerTLS.makeConfiguration(certificateFile: tlsCert, keyFile: tlsKey)
            }
            tls = try startupStep {
                try ServerTLS.makeContext(configuration, certificateFile: tlsCert, keyFile: tlsKey)
            }
            httpTLS = configuration
        }
        var storeConfiguration = StoreConfiguration(
            path: self.data,
            timeZone: self.timezone,
            sessionGapMs: self.sessionGap?.milliseconds,
            powerThreshold: self.powerThreshold,
            autoRegisteredActionsAreCore: self.autoRegisteredCore,
            eventFilterBytes: self.eventFilterBytes,
            unsafeNoSync: self.unsafeNoSync,
            rawRetentionDays: self.rawRetentionDays
        )
        storeConfiguration.journalDirectory = self.journal
        storeConfiguration.journalLost = self.journalLost
        // Recovery tests only: acknowledged writes stay in the journal (see StoreConfiguration).
        storeConfiguration.holdsApplierForTesting =
            ProcessInfo.processInfo.environment["ENGAGE_TEST_HOLD_APPLIER"] == "1"
        let store = try startupStep("cannot open the data directory: ") {
            try EngageStore(configuration: storeConfiguration, logger: Logger(label: "engaged.store"))
        }
        let listeningPort = NIOLockedValueBox<Int?>(nil)
        let queryPool = NIOThreadPool(numberOfThreads: self.queryThreads)
        queryPool.start()
        let server = EngageServer(
            configuration: ServerConfiguration(
                host: self.host,
                port: self.port,
                maximumFrameLength: self.maxFrameBytes,
                maximumBatchItems: self.maxBatchItems,
                maximumInFlight: self.maxInFlight,
                maximumBufferedBytes: self.maxBufferedBytes,
                queryThreads: self.queryThreads,
                maximumConnections: self.maxConnections,
                idleTimeout: .milliseconds(self.idleTimeout.milliseconds),
                frameTimeout: .milliseconds(self.frameTimeout.milliseconds),
                tokens: tokenTable,
                allowUnauthenticatedRemote: self.insecureNoAuth,
                tls: tls
            ),
            store: store,
            queryPool: queryPool,
            logger: Logger(label: "engaged.server"),
            onListening: { address in
                Self.writePort(to: self.portFile)(address)
                listeningPort.withLockedValue { $0 = address.port }
            }
        )
        try startupStep { try server.configuration.checkExposure() }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: store), .init(service: server),
        ]
        if let httpPort = self.httpPort {
            let configuration = HTTPConfiguration(
                host: self.httpHost,
                port: httpPort,
                tokens: tokenTable,
                allowUnauthenticatedRemote: self.insecureNoAuth,
                tls: httpTLS,
                maximumBodyBytes: self.httpMaxBodyBytes,
                maximumBatchItems: self.maxBatchItems,
                maximumConcurrentRequests: self.httpMaxRequests,
                idleTimeoutSeconds: max(1, self.idleTimeout.milliseconds / 1000),
                serverName: "engaged/\(EngageVersion.current)"
            )
            try startupStep { try configuration.checkExposure() }
            let http = try startupStep("cannot serve HTTP: ") {
                try HTTPServer(
                    configuration: configuration,
                    store: store,
                    handler: RequestHandler(store: store, queryPool: queryPool, logger: Logger(label: "engaged.http")),
                    logger: Logger(label: "engaged.http"),
                    onListening: Self.writePort(to: self.httpPortFile)
                )
            }
            services.append(.init(service: http))
        }
        if let metricsPort = self.metricsPort {
            services.append(
                .init(
                    service: MetricsEndpoint(
                        host: self.metricsHost,
                        port: metricsPort,
                        logger: Logger(label: "engaged.metrics"),
                        onListening: Self.writePort(to: self.metricsPortFile),
                        render: { registry.emitToBuffer() }
                    )
                )
            )
        }
        if let clickhouseUrl = self.clickhouseUrl {
            let token = try self.clickhouseTokenFile.map { path in
                try startupStep("cannot read --clickhouse-token-file: ") {
                    try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            services.append(
                .init(
                    service: ClickHouseSyncService(
                        configuration: ClickHouseSyncConfiguration(
                            clickhouse: ClickHouseConfiguration(
                                url: clickhouseUrl,
                                database: self.clickhouseDatabase,
                                cluster: self.clickhouseCluster
                            ),
                            nodeID: UInt16(self.clickhouseNode)
                        ),
                        port: listeningPort,
                        token: token,
                        logger: Logger(label: "engaged.clickhouse")
                    )
                )
            )
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("stopped: \(error)")
            store.close()
            try? await queryPool.shutdownGracefully()
            throw ExitCode(1)
        }
        try? await queryPool.shutdownGracefully()
        logger.info("stopped cleanly")
    }
}
