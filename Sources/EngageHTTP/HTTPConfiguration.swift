import EngageServer
import NIOSSL

/// How the HTTP/JSON API listens and what it allows (`engaged --http-port` and the `--http-*` flags); tokens,
/// TLS identity and batch limits are the binary protocol's.
public struct HTTPConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (reported through the server's `onListening`).
    public var port: Int
    /// Tokens and their roles, as for the binary protocol; nil: no authentication (loopback only, unless
    /// `allowUnauthenticatedRemote`).
    public var tokens: TokenTable?
    public var allowUnauthenticatedRemote: Bool
    /// When set, the API speaks HTTPS only (the binary port's certificate and key).
    public var tls: TLSConfiguration?
    /// Largest request body accepted; larger ones get 413 `frame_too_large` before they are read in full.
    public var maximumBodyBytes: Int
    /// Most records in one POST body (`--max-batch-items`); more get 413 `too_many_items`.
    public var maximumBatchItems: Int
    /// Requests under `/v1/` carried out at once; more get 429 `too_many_in_flight` at once.
    public var maximumConcurrentRequests: Int
    /// A keep-alive connection with no request for this long is closed.
    public var idleTimeoutSeconds: Int64
    public var serverName: String

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        tokens: TokenTable? = nil,
        allowUnauthenticatedRemote: Bool = false,
        tls: TLSConfiguration? = nil,
        maximumBodyBytes: Int = 16 << 20,
        maximumBatchItems: Int = 100_000,
        maximumConcurrentRequests: Int = 64,
        idleTimeoutSeconds: Int64 = 300,
        serverName: String = "engaged"
    ) {
        self.host = host
        self.port = port
        self.tokens = tokens
        self.allowUnauthenticatedRemote = allowUnauthenticatedRemote
        self.tls = tls
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumBatchItems = maximumBatchItems
        self.maximumConcurrentRequests = maximumConcurrentRequests
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.serverName = serverName
    }

    /// The binary port's rule: no authentication only on loopback, unless told otherwise.
    public func checkExposure() throws {
        if self.tokens == nil && !self.allowUnauthenticatedRemote && !ServerConfiguration.isLoopback(self.host) {
            throw ServerConfiguration.ExposureError(
                description: "refusing to serve HTTP on \(self.host) without authentication: give --tokens FILE, "
                    + "or --insecure-no-auth to accept anyone who can reach this address, or use --http-host 127.0.0.1"
            )
        }
    }
}
