import EngageProtocol
import NIOCore
import NIOEmbedded
import Testing

@testable import EngageServer

@Suite("Connection guard timers, on an embedded channel")
struct ConnectionGuardTests {
    @Test("a half-received frame is a slow client only once the server owes the connection nothing")
    func frameTimerWaitsForTheServer() throws {
        let channel = EmbeddedChannel()
        let configuration = ConnectionStateMachine.Configuration(
            maximumFrameLength: 1 << 20,
            maximumBatchItems: 10,
            maximumInFlight: 4,
            idleTimeout: .seconds(300),
            frameTimeout: .seconds(1)
        )
        let connection = ServerConnection(
            channel: channel,
            machine: ConnectionStateMachine(configuration: configuration, now: channel.embeddedEventLoop.now)
        )
        try channel.pipeline.syncOperations.addHandler(
            ConnectionGuard(connection: connection, idleTimeout: .seconds(300), frameTimeout: .seconds(1))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // The server is carrying out a request of this connection (and may have stopped reading it)...
        _ = connection.update { $0.frameReceived(Hello(clientName: "t").frame(requestID: 1)) }
        #expect(
            connection.update { $0.frameReceived(Stats().frame(requestID: 2)) }
                == .execute(.stats(Stats()), requestID: 2)
        )
        // ...while a frame has begun to arrive: 13 bytes announced, 1 received.
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 13, 2]))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(
            try channel.readOutbound(as: ByteBuffer.self) == nil,
            "not the client's slowness while the server is busy"
        )
        #expect(channel.isActive)

        connection.observe { $0.requestFinished(now: channel.embeddedEventLoop.now) }
        _ = connection.update { $0.responseWritten(now: channel.embeddedEventLoop.now) }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1100))
        var farewell = try #require(try channel.readOutbound(as: ByteBuffer.self))
        var decoder = FrameDecoder(maximumLength: 1 << 20)
        let frame = try #require(try decoder.decode(buffer: &farewell))
        let error = try ErrorResponse.decode(frame).error
        #expect(error.code == .slowClient)
        #expect(frame.requestID == 0)
        #expect(!channel.isActive)
    }
}
