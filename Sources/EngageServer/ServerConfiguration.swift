import EngageProtocol
import NIOCore
import NIOSSL

/// How `engaged` listens and what it allows each connection.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (reported through ``EngageServer/run(onListening:)``).
    public var port: Int
    public var serverName: String
    /// Largest frame `length` accepted (proto-spec: `max_frame_length`).
    public var maximumFrameLength: Int
    /// Most actions, users or events in one request (`max_batch_items`).
    public var maximumBatchItems: Int
    /// Requests awaiting a response per connection (`max_in_flight`); more are refused (`too_many_in_flight`).
    public var maximumInFlight: Int
    /// Open connections; the next one gets `too_many_connections` and is closed.
    public var maximumConnections: Int
    /// A connection with nothing received (and nothing in flight) for this long is closed (`idle_timeout`).
    public var idleTimeout: TimeAmount
    /// A frame begun and not completed within this long closes the connection (`slow_client`).
    public var frameTimeout: TimeAmount
    /// Tokens and their roles; nil: no authentication (then the server only listens on loopback, unless
    /// `allowUnauthenticatedRemote`).
    public var tokens: TokenTable?
    /// Accept unauthenticated connections on a non-loopback address (`--insecure-no-auth`).
    public var allowUnauthenticatedRemote: Bool
    /// Bytes of request payloads being processed across all connections; past it every connection stops
    /// reading until the writer catches up.
    public var maximumBufferedBytes: Int
    /// Threads that run queries.
    public var queryThreads: Int
    /// On shutdown, how long clients get to read their last answers and close before they are cut off.
    public var shutdownGracePeriod: TimeAmount
    /// When set, every connection must speak TLS (see ``ServerTLS``); plain connections fail their handshake.
    public var tls: NIOSSLContext?

    public init(
        host: String = "127.0.0.1",
        port: Int = 7733,
        serverName: String = "engaged 0.1.0",
        maximumFrameLength: Int = Frame.defaultMaximumLength,
        maximumBatchItems: Int = 100_000,
        maximumInFlight: Int = 64,
        maximumBufferedBytes: Int = 256 << 20,
        queryThreads: Int = 2,
        shutdownGracePeriod: TimeAmount = .seconds(10),
        maximumConnections: Int = 1024,
        idleTimeout: TimeAmount = .seconds(300),
        frameTimeout: TimeAmount = .seconds(30),
        tokens: TokenTable? = nil,
        allowUnauthenticatedRemote: Bool = false,
        tls: NIOSSLContext? = nil
    ) {
        self.host = host
        self.port = port
        self.serverName = serverName
        self.maximumFrameLength = maximumFrameLength
        self.maximumBatchItems = maximumBatchItems
        self.maximumInFlight = maximumInFlight
        self.maximumBufferedBytes = maximumBufferedBytes
        self.queryThreads = queryThreads
        self.shutdownGracePeriod = shutdownGracePeriod
        self.maximumConnections = maximumConnections
        self.idleTimeout = idleTimeout
        self.frameTimeout = frameTimeout
        self.tokens = tokens
        self.allowUnauthenticatedRemote = allowUnauthenticatedRemote
        self.tls = tls
    }

    /// Whether `host` only accepts connections from this machine.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Refuses to serve without authentication on an address other machines can reach.
    public func checkExposure() throws {
        if self.tokens == nil && !self.allowUnauthenticatedRemote && !Self.isLoopback(self.host) {
            throw ExposureError(
                description: "refusing to listen on \(self.host) without authentication: give --tokens FILE, "
                    + "or --insecure-no-auth to accept anyone who can reach this address, or listen on 127.0.0.1"
            )
        }
    }

    public struct ExposureError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static let defaultPort = 7733
}
