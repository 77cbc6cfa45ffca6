import EngageProtocol

/// Why a client call failed.
public enum EngageClientError: Error, CustomStringConvertible, Equatable {
    /// The server answered with an ERROR frame.
    case server(ProtocolError)
    /// The connection closed before the response arrived; the request may or may not have been carried out
    /// (an ingest batch that was not acknowledged must be sent again: duplicates are dropped by event id).
    case connectionClosed
    /// The server answered with a message that does not match the request.
    case unexpectedResponse(String)
    /// `host:port` could not be read.
    case invalidAddress(String)
    /// The server closed the connection before answering HELLO.
    case closedDuringHandshake
    /// TLS could not be set up or the handshake failed (unknown certificate authority, wrong host name,
    /// or a server that does not speak TLS).
    case tls(String)

    public var description: String {
        switch self {
        case .server(let error): return "server error \(error.code.rawValue) \(error.code.name): \(error.message)"
        case .connectionClosed: return "the connection to the server closed before the response arrived"
        case .unexpectedResponse(let detail): return "unexpected response: \(detail)"
        case .invalidAddress(let text): return "cannot read the server address '\(text)': use HOST:PORT"
        case .closedDuringHandshake:
            return "the server closed the connection during the handshake (a server started with --tls-cert only accepts TLS clients)"
        case .tls(let detail): return "TLS failed: \(detail)"
        }
    }
}
