/// A failure talking to ClickHouse, with a code saying what kind.
public struct ClickHouseError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The URL given is not `http://host[:port][/]`.
        case invalidURL = "invalid_url"
        /// No connection (refused, unreachable, closed before the answer).
        case connectionFailed = "connection_failed"
        /// No complete answer within the request timeout.
        case timeout
        /// The server answered with an error (its message and code are in the description).
        case server
        /// An answer that is not what the query promised (bad JSON, a missing column).
        case badResponse = "bad_response"
        /// The cluster named is not in the server's `system.clusters`, or its shards cannot be reached.
        case cluster
        /// A SQL file's placeholder has no value, or a value is not allowed there.
        case placeholder
        /// The sync's state in ClickHouse disagrees with the engaged node (another node id, a lost feed).
        case sync
    }

    public var code: Code
    public var message: String
    /// ClickHouse's own error code (`Code: 60` ...), for `.server`.
    public var serverCode: Int?

    public init(_ code: Code, _ message: String, serverCode: Int? = nil) {
        self.code = code
        self.message = message
        self.serverCode = serverCode
    }

    public var description: String { self.message }
}
