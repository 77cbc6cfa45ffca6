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
        let control = ConnectionControl(channel: channel, maximumInFlight: 4)
        try channel.pipeline.syncOperations.addHandler(
            ConnectionGuard(control: control, idleTimeout: .seconds(300), frameTimeout: .seconds(1))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // The server is carrying out a request of this connection (and may have stopped reading it)...
        #expect(control.requestStarted() == .admitted)
        // ...while a frame has begun to arrive: 13 bytes announced, 1 received.
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 13, 2]))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(
            try channel.readOutbound(as: ByteBuffer.self) == nil,
            "not the client's slowness while the server is busy"
        )
        #expect(channel.isActive)

        control.requestFinished()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1100))
        var farewell = try #require(try channel.readOutbound(as: ByteBuffer.self))
        var decoder = FrameDecoder(maximumLength: 1 << 20)
        let frame = try #require(try decoder.decode(buffer: &farewell))
        guard case .error(let error) = try Response.decode(frame) else {
            Issue.record("expected an ERROR frame, got type \(frame.type)")
            return
        }
        #expect(error.code == .slowClient)
        #expect(!channel.isActive)
    }
}
