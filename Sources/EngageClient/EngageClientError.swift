import EngageProtocol

/// Why a client call failed: a code to branch on, a message written for people, and the underlying error
/// when there is one.
///
/// The code is a struct, not an enum, so that new codes can come without breaking code that switches over
/// the ones it knows (as in valkey-swift's `ValkeyClientError`).
public struct EngageClientError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure: compare with the static members (`error.code == .timeout`); new codes may be
    /// added in later versions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case server
            case connectionRefused = "connection_refused"
            case cannotResolve = "cannot_resolve"
            case connectTimeout = "connect_timeout"
            case notAnEngageServer = "not_an_engage_server"
            case connectionClosed = "connection_closed"
            case tls
            case invalidAddress = "invalid_address"
            case unexpectedResponse = "unexpected_response"
            case timeout
            case cancelled
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an ERROR frame; ``EngageClientError/serverError`` carries its code.
        public static let server = Code(.server)
        /// Nothing listens at the address (ECONNREFUSED).
        public static let connectionRefused = Code(.connectionRefused)
        /// The host name could not be resolved.
        public static let cannotResolve = Code(.cannotResolve)
        /// The TCP connection could not be set up in time.
        public static let connectTimeout = Code(.connectTimeout)
        /// Something answered, but not as an engaged server does (another program holds the port).
        public static let notAnEngageServer = Code(.notAnEngageServer)
        /// The connection closed before the response arrived: the request may or may not have been carried
        /// out (an unacknowledged ingest batch must be sent again; duplicates are dropped by event id).
        public static let connectionClosed = Code(.connectionClosed)
        /// TLS could not be set up or its handshake failed.
        public static let tls = Code(.tls)
        /// The server address could not be read (`HOST:PORT`).
        public static let invalidAddress = Code(.invalidAddress)
        /// The server answered with a message that does not match the request.
        public static let unexpectedResponse = Code(.unexpectedResponse)
        /// No response within the request timeout; the connection stays usable.
        public static let timeout = Code(.timeout)
        /// The calling task was cancelled; the response, if it comes, is dropped.
        public static let cancelled = Code(.cancelled)

        /// A stable snake_case name (`connection_refused`, `timeout`, ...), for logs and metrics labels.
        public var name: String { self.base.rawValue }
        /// The same as ``name``.
        public var description: String { self.name }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, in words.
    public var message: String
    /// The server's ERROR, for ``Code-swift.struct/server``.
    public var serverError: ServerError?
    /// The error that caused this one (a socket or TLS error), if any.
    public var underlying: (any Error)?

    /// An error with `code` and `message`; `serverError` for ``Code-swift.struct/server``, `underlying` for
    /// the error that caused it. (For test doubles of code that handles these errors.)
    public init(_ code: Code, _ message: String, serverError: ServerError? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.serverError = serverError
        self.underlying = underlying
    }

    /// The server refused the request with `error`.
    static func server(_ error: ProtocolError) -> EngageClientError {
        EngageClientError(
            .server,
            error.message,
            serverError: ServerError(code: error.code.rawValue, name: error.code.name, message: error.message)
        )
    }

    static func unexpected(_ detail: String) -> EngageClientError {
        EngageClientError(.unexpectedResponse, "unexpected response: \(detail)")
    }

    static let cancelled = EngageClientError(
        .cancelled,
        "the request's task was cancelled; a response that comes later is dropped"
    )

    static let closed = EngageClientError(
        .connectionClosed,
        "the connection to the server closed before the response arrived"
    )

    /// The message.
    public var description: String { self.message }

    /// An ERROR frame's contents: the protocol's numeric code (proto-spec/PROTOCOL.md section 5), its name
    /// (`invalid_query`, `forbidden`, ...) and the server's message.
    public struct ServerError: Hashable, Sendable, CustomStringConvertible {
        /// The protocol's error code (`forbidden` is 10, `too_many_items` 13, ...).
        public var code: UInt16
        /// The code's snake_case name; `error_N` for a code this client does not know.
        public var name: String
        /// What the server said, in words.
        public var message: String

        /// The contents of an ERROR frame.
        public init(code: UInt16, name: String, message: String) {
            self.code = code
            self.name = name
            self.message = message
        }

        /// `name: message`.
        public var description: String { "\(self.name): \(self.message)" }
    }
}
