import EngageModel
import EngageProtocol
import EngageServer
import NIOCore
import Testing

@Suite("Connection state machine (no sockets)")
struct ConnectionStateMachineTests {
    static let limits = ConnectionStateMachine.Limits(maximumFrameLength: 1 << 20, maximumBatchItems: 3, maximumInFlight: 8)

    static func machine(tokens: Set<String>? = nil) -> ConnectionStateMachine {
        var authenticate: (@Sendable (String) -> Bool)?
        if let tokens { authenticate = { @Sendable token in tokens.contains(token) } }
        return ConnectionStateMachine(limits: limits, serverName: "engaged test", timeZone: "UTC", authenticate: authenticate)
    }

    static func hello(_ hello: Hello = Hello(clientName: "t"), id: UInt32 = 1) -> Frame { Request.hello(hello).encode(requestID: id) }

    static func error(_ action: ConnectionStateMachine.Action) -> (ErrorCode, UInt32, closes: Bool)? {
        switch action {
        case .send(let frame), .sendAndClose(let frame):
            guard case .error(let error) = try? Response.decode(frame) else { return nil }
            if case .sendAndClose = action { return (error.code, frame.requestID, true) }
            return (error.code, frame.requestID, false)
        default: return nil
        }
    }

    @Test("HELLO is answered with HELLO_OK carrying the limits")
    func handshake() throws {
        var machine = Self.machine()
        guard case .send(let frame) = machine.frameReceived(Self.hello(id: 9)), case .helloOK(let ok) = try Response.decode(frame) else {
            Issue.record("no HELLO_OK")
            return
        }
        #expect(frame.requestID == 9)
        #expect(ok.version == 1)
        #expect(ok.maximumBatchItems == 3)
        #expect(ok.timeZone == "UTC")
        #expect(machine.state == .ready(version: 1))
    }

    @Test("anything before HELLO closes with handshake_required")
    func requestBeforeHello() {
        var machine = Self.machine()
        let result = Self.error(machine.frameReceived(Request.stats.encode(requestID: 4)))
        #expect(result?.0 == .handshakeRequired)
        #expect(result?.1 == 4)
        #expect(result?.closes == true)
        #expect(machine.state == .closed)
        #expect(machine.frameReceived(Self.hello()) == .none)
    }

    @Test("versions with nothing in common close with unsupported_version")
    func versions() {
        var machine = Self.machine()
        #expect(Self.error(machine.frameReceived(Self.hello(Hello(minimumVersion: 2, maximumVersion: 5, clientName: "future"))))?.0 == .unsupportedVersion)
        var inverted = Self.machine()
        #expect(Self.error(inverted.frameReceived(Self.hello(Hello(minimumVersion: 1, maximumVersion: 0, clientName: "x"))))?.0 == .unsupportedVersion)
        var wide = Self.machine()
        guard case .send = wide.frameReceived(Self.hello(Hello(minimumVersion: 1, maximumVersion: 9, clientName: "wide"))) else {
            Issue.record("a client speaking 1...9 must be admitted")
            return
        }
    }

    @Test("bad magic and unreadable HELLOs close")
    func badHello() {
        var machine = Self.machine()
        var payload = ByteBuffer(bytes: Array("EGGS".utf8))
        payload.writeBytes([0, 1, 0, 1, 0, 0, 0, 0])
        #expect(Self.error(machine.frameReceived(Frame(type: 1, requestID: 1, payload: payload)))?.0 == .badMagic)
        var truncated = Self.machine()
        let result = Self.error(truncated.frameReceived(Frame(type: 1, requestID: 1, payload: ByteBuffer(bytes: Array("ENGA".utf8)))))
        #expect(result?.0 == .truncatedPayload)
        #expect(result?.closes == true)
    }

    @Test("tokens: missing or unknown closes with unauthenticated; a known one is admitted")
    func tokens() {
        var none = Self.machine(tokens: ["t0k"])
        #expect(Self.error(none.frameReceived(Self.hello()))?.0 == .unauthenticated)
        var wrong = Self.machine(tokens: ["t0k"])
        #expect(Self.error(wrong.frameReceived(Self.hello(Hello(token: "nope", clientName: "x"))))?.0 == .unauthenticated)
        var right = Self.machine(tokens: ["t0k"])
        guard case .send = right.frameReceived(Self.hello(Hello(token: "t0k", clientName: "x"))) else {
            Issue.record("known token refused")
            return
        }
    }

    @Test("after HELLO: ping answered directly, requests executed, errors answered without closing")
    func ready() throws {
        var machine = Self.machine()
        _ = machine.frameReceived(Self.hello())
        guard case .send(let pong) = machine.frameReceived(Request.ping(nonce: 5).encode(requestID: 2)) else {
            Issue.record("no PONG")
            return
        }
        #expect(try Response.decode(pong) == .pong(nonce: 5))
        #expect(machine.frameReceived(Request.stats.encode(requestID: 3)) == .execute(requestID: 3, request: .stats))
        let unknown = Self.error(machine.frameReceived(Frame(type: 0x33, requestID: 4, payload: ByteBuffer())))
        #expect(unknown?.0 == .unknownMessageType)
        #expect(unknown?.closes == false)
        var trailing = Request.stats.encode(requestID: 5)
        trailing.payload.writeInteger(UInt8(1))
        #expect(Self.error(machine.frameReceived(trailing))?.0 == .trailingBytes)
        let events = (0..<4).map { Event(userID: "u", eventID: "\($0)", timestampMs: 1_771_111_209_608, action: "like") }
        let tooMany = Self.error(machine.frameReceived(Request.ingestEvents(IngestBatch(events: events)).encode(requestID: 6)))
        #expect(tooMany?.0 == .tooManyItems)
        #expect(tooMany?.closes == false)
        #expect(machine.state == .ready(version: 1))
        let again = Self.error(machine.frameReceived(Self.hello(id: 7)))
        #expect(again?.0 == .handshakeRequired)
        #expect(again?.closes == true)
        #expect(machine.state == .closed)
    }

    @Test("a frame-level decoding failure closes with request id 0")
    func decodingFailure() {
        var machine = Self.machine()
        _ = machine.frameReceived(Self.hello())
        let result = Self.error(machine.decodingFailed(ProtocolError(.frameTooLarge, "too large")))
        #expect(result?.0 == .frameTooLarge)
        #expect(result?.1 == 0)
        #expect(result?.closes == true)
    }
}

extension ConnectionStateMachineTests {
    @Test("once shutdown began, requests are refused with shutting_down and the connection stays open")
    func draining() {
        var machine = Self.machine()
        _ = machine.frameReceived(Self.hello())
        machine.shutdownBegan()
        let refused = Self.error(machine.frameReceived(Request.stats.encode(requestID: 8)))
        #expect(refused?.0 == .shuttingDown)
        #expect(refused?.1 == 8)
        #expect(refused?.closes == false)
    }
}
