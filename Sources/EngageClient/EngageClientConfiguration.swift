import NIOSSL

/// How an ``EngageConnection`` reaches and talks to `engaged`. Every property has a documented default.
///
/// ```swift
/// var configuration = EngageClientConfiguration(server: "engage.internal:7733")
/// configuration.token = try String(contentsOfFile: "/etc/engage/token", encoding: .utf8)
/// configuration.tls = .init(caFile: "/etc/engage/ca.pem")
/// configuration.requestTimeout = .seconds(5)
/// let connection = try await EngageConnection.connect(configuration)
/// ```
public struct EngageClientConfiguration: Sendable {
    /// TLS for the connection: the server's certificate is verified against ``caFile`` (PEM), or against the
    /// system's trust store when nil, and must name ``serverName`` (by default the host connected to; for an
    /// IP address, the certificate must list that address).
    public struct TLS: Sendable, Equatable {
        /// PEM file of the certificate authority that signed the server's certificate; nil: the system's
        /// trust store.
        public var caFile: String?
        /// The name the server's certificate must carry; nil: the host connected to.
        public var serverName: String?

        /// TLS verified against `caFile` (or the system's trust store) for `serverName` (or the host).
        public init(caFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.serverName = serverName
        }

        func sslConfiguration() throws -> TLSConfiguration {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            if let caFile = self.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            return configuration
        }
    }

    /// `HOST:PORT` of the server (`[::1]:7733` for an IPv6 address). Default `127.0.0.1:7733`.
    public var server: String
    /// The token of `engaged --tokens` (its roles decide what the connection may do). Default none.
    public var token: String?
    /// TLS, for a server started with `--tls-cert`. Default none (plain TCP).
    public var tls: TLS?
    /// Shown in the server's log. Default `engage-client`.
    public var clientName: String
    /// Longest wait for the TCP connection and for the handshake each. Default 10 seconds.
    public var connectTimeout: Duration
    /// Longest wait for a response; nil waits as long as it takes. A request that times out throws
    /// ``EngageClientError/Code-swift.struct/timeout``, its late response is dropped, and the connection and
    /// the other requests on it go on. Default 60 seconds (admin commands such as verify may need more).
    public var requestTimeout: Duration?

    /// A configuration; every argument has the default documented on its property.
    public init(
        server: String = "127.0.0.1:7733",
        token: String? = nil,
        tls: TLS? = nil,
        clientName: String = "engage-client",
        connectTimeout: Duration = .seconds(10),
        requestTimeout: Duration? = .seconds(60)
    ) {
        self.server = server
        self.token = token
        self.tls = tls
        self.clientName = clientName
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }
}
