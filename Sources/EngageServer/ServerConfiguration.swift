import EngageProtocol
import NIOCore

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
    /// Requests awaiting a response per connection (`max_in_flight`); past it the server stops reading.
    public var maximumInFlight: Int
    /// Bytes of request payloads being processed across all connections; past it every connection stops
    /// reading until the writer catches up.
    public var maximumBufferedBytes: Int
    /// Threads that run queries.
    public var queryThreads: Int
    /// On shutdown, how long clients get to read their last answers and close before they are cut off.
    public var shutdownGracePeriod: TimeAmount

    public init(
        host: String = "127.0.0.1",
        port: Int = 7733,
        serverName: String = "engaged 0.1.0",
        maximumFrameLength: Int = Frame.defaultMaximumLength,
        maximumBatchItems: Int = 100_000,
        maximumInFlight: Int = 64,
        maximumBufferedBytes: Int = 256 << 20,
        queryThreads: Int = 2,
        shutdownGracePeriod: TimeAmount = .seconds(10)
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
    }

    public static let defaultPort = 7733
}
