import EngageModel
import EngageProtocol
import EngageServer
import NIOCore
import Testing

@Suite("Connection state machine (no sockets)")
struct ConnectionStateMachineTests {
    static let limits = ConnectionStateMachine.Limits(
        maximumFrameLength: 1 << 20,
        maximumBatchItems: 3,
        maximumInFlight: 8
    )

    static func machine(tokens: [String: Set<Role>]? = nil) -> ConnectionStateMachine {
        var authenticate: (@Sendable (String) -> Set<Role>?)?
        if let tokens {
            let table = TokenTable(entries: tokens.map { ($0.key, $0.value) })
            authenticate = { @Sendable token in table.roles(of: token) }
        }
        return ConnectionStateMachine(
            limits: limits,
            serverName: "engaged test",
            timeZone: "UTC",
            authenticate: authenticate
        )
    }

    static func hello(_ hello: Hello = Hello(clientName: "t"), id: UInt32 = 1) -> Frame {
        Request.hello(hello).encode(requestID: id)
    }

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
        guard case .send(let frame) = machine.frameReceived(Self.hello(id: 9)),
            case .helloOK(let ok) = try Response.decode(frame)
        else {
            Issue.record("no HELLO_OK")
            return
        }
        #expect(frame.requestID == 9)
        #expect(ok.version == 1)
        #expect(ok.maximumBatchItems == 3)
        #expect(ok.timeZone == "UTC")
        #expect(machine.state == .ready(version: 1, roles: Set(Role.allCases)))
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
        #expect(
            Self.error(
                machine.frameReceived(Self.hello(Hello(minimumVersion: 2, maximumVersion: 5, clientName: "future")))
            )?.0 == .unsupportedVersion
        )
        var inverted = Self.machine()
        #expect(
            Self.error(
                inverted.frameReceived(Self.hello(Hello(minimumVersion: 1, maximumVersion: 0, clientName: "x")))
            )?.0 == .unsupportedVersion
        )
        var wide = Self.machine()
        guard
            case .send = wide.frameReceived(Self.hello(Hello(minimumVersion: 1, maximumVersion: 9, clientName: "wide")))
        else {
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
        let result = Self.error(
            truncated.frameReceived(Frame(type: 1, requestID: 1, payload: ByteBuffer(bytes: Array("ENGA".utf8))))
        )
        #expect(result?.0 == .truncatedPayload)
        #expect(result?.closes == true)
    }

    static let tokens: [String: Set<Role>] = [
        "ingest-token-0123456789": [.ingest], "query-token-0123456789": [.query], "admin-token-0123456789": [.admin],
        "both-token-0123456789": [.ingest, .query],
    ]

    @Test("tokens: missing or unknown closes with unauthenticated; a known one is admitted")
    func tokens() {
        var none = Self.machine(tokens: Self.tokens)
        let missing = Self.error(none.frameReceived(Self.hello()))
        #expect(missing?.0 == .unauthenticated)
        #expect(missing?.closes == true)
        var wrong = Self.machine(tokens: Self.tokens)
        #expect(
            Self.error(wrong.frameReceived(Self.hello(Hello(token: "ingest-token-012345678", clientName: "x"))))?.0
                == .unauthenticated
        )
        var longer = Self.machine(tokens: Self.tokens)
        #expect(
            Self.error(longer.frameReceived(Self.hello(Hello(token: "ingest-token-01234567890", clientName: "x"))))?.0
                == .unauthenticated
        )
        var right = Self.machine(tokens: Self.tokens)
        guard case .send = right.frameReceived(Self.hello(Hello(token: "query-token-0123456789", clientName: "x")))
        else {
            Issue.record("known token refused")
            return
        }
        #expect(right.state == .ready(version: 1, roles: [.query]))
    }

    /// One request of every type.
    static let everyRequest: [Request] = [
        .ping(nonce: 1),
        .defineActions([ActionDefinition(actionType: "a", category: "c", engagementWeight: 1, isCoreAction: true)]),
        .upsertUsers([UserProfile(userID: "u")]),
        .ingestEvents(
            IngestBatch(events: [Event(userID: "u", eventID: "e", timestampMs: 1_771_111_209_608, action: "a")])
        ),
        .queryActivity(ActivityQuery(from: CivilDate("2026-01-01")!, to: CivilDate("2026-01-02")!)),
        .stats,
        .queryActiveDays(from: CivilDate("2026-01-01")!, to: CivilDate("2026-01-02")!, Selection()),
        .queryTiers(.month(CivilMonth("2026-01")!), Selection()),
        .queryTransitions(CivilMonth("2026-01")!, filters: []),
        .queryRetention(
            period: .week,
            from: CivilDate("2026-01-01")!,
            to: CivilDate("2026-01-02")!,
            periods: 1,
            Selection()
        ),
        .queryLifecycle(period: .week, from: CivilDate("2026-01-01")!, to: CivilDate("2026-01-02")!, filters: []),
        .querySessions(from: CivilDate("2026-01-01")!, to: CivilDate("2026-01-02")!, filters: []),
        .queryUser(userID: "u"),
        .queryAtRisk(asOf: CivilDate("2026-01-02")!, limit: 1, filters: []),
        .queryActions(from: CivilDate("2026-01-01")!, to: CivilDate("2026-01-02")!, filters: []),
        .export(.users, from: nil, to: nil, cursor: [], limit: 1),
        .verify(maximumReported: 1),
        .rebuild,
        .backup(path: "/tmp/x"),
        .queryValues(.attribute(.region)),
    ]

    @Test("the auth matrix: each role against each request")
    func authMatrix() throws {
        let requestTypes = Set(Self.everyRequest.map(\.type))
        #expect(
            requestTypes.count == MessageType.allCases.filter { $0.rawValue < 0x80 && $0 != .hello }.count,
            "a request type is missing"
        )
        for (token, roles) in Self.tokens {
            var machine = Self.machine(tokens: Self.tokens)
            _ = machine.frameReceived(Self.hello(Hello(token: token, clientName: "matrix")))
            for (index, request) in Self.everyRequest.enumerated() {
                let action = machine.frameReceived(request.encode(requestID: UInt32(index + 10)))
                let allowed: Bool
                switch request {
                case .ping: allowed = true
                case .defineActions, .upsertUsers, .ingestEvents:
                    allowed = roles.contains(.ingest) || roles.contains(.admin)
                case .verify, .rebuild, .backup: allowed = roles.contains(.admin)
                default: allowed = roles.contains(.query) || roles.contains(.admin)
                }
                if allowed {
                    switch action {
                    case .execute, .send: break
                    default: Issue.record("\(token): \(request.type) refused")
                    }
                    if let error = Self.error(action) { Issue.record("\(token): \(request.type) answered \(error.0)") }
                } else {
                    let error = Self.error(action)
                    #expect(error?.0 == .forbidden, "\(token): \(request.type)")
                    #expect(error?.closes == false)
                }
            }
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
        let events = (0..<4).map {
            Event(userID: "u", eventID: "\($0)", timestampMs: 1_771_111_209_608, action: "like")
        }
        let tooMany = Self.error(
            machine.frameReceived(Request.ingestEvents(IngestBatch(events: events)).encode(requestID: 6))
        )
        #expect(tooMany?.0 == .tooManyItems)
        #expect(tooMany?.closes == false)
        #expect(machine.state == .ready(version: 1, roles: Set(Role.allCases)))
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
