import EngageModel
import EngageProtocol
import EngageServer
import NIOCore
import Testing

/// The connection state machine alone: frames and times in, actions out (no sockets, no clocks).
@Suite("Connection state machine (no sockets)")
struct ConnectionStateMachineTests {
    static let configuration = ConnectionStateMachine.Configuration(
        maximumFrameLength: 1 << 20,
        maximumBatchItems: 3,
        maximumInFlight: 2,
        idleTimeout: .seconds(300),
        frameTimeout: .seconds(30),
        serverName: "engaged test",
        timeZone: "UTC"
    )
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func machine(tokens: [String: Set<Role>]? = nil) -> ConnectionStateMachine {
        var authenticate: (@Sendable (String) -> Set<Role>?)?
        if let tokens {
            let table = TokenTable(entries: tokens.map { ($0.key, $0.value) })
            authenticate = { @Sendable token in table.roles(of: token) }
        }
        return ConnectionStateMachine(configuration: Self.configuration, authenticate: authenticate, now: Self.start)
    }

    static func hello(_ hello: Hello = Hello(clientName: "t"), id: UInt32 = 1) -> Frame {
        hello.frame(requestID: id)
    }

    /// A machine past a successful handshake.
    static func ready(tokens: [String: Set<Role>]? = nil, token: String = "") -> ConnectionStateMachine {
        var machine = Self.machine(tokens: tokens)
        _ = machine.frameReceived(Self.hello(Hello(token: token, clientName: "t")), now: Self.start)
        return machine
    }

    /// The error an action sends, with its request id and what happens after it.
    static func error(
        _ action: ConnectionStateMachine.Action
    ) -> (code: ErrorCode, requestID: UInt32, then: ConnectionStateMachine.AfterSend)? {
        guard case .sendError(let error, let requestID, let then) = action else { return nil }
        return (error.code, requestID, then)
    }

    @Test("HELLO is answered with HELLO_OK carrying the limits and HELLO's request id")
    func handshake() throws {
        var machine = Self.machine()
        let action = machine.frameReceived(Self.hello(id: 9))
        guard case .sendHelloOK(let ok, let requestID) = action else {
            Issue.record("no HELLO_OK: \(action)")
            return
        }
        #expect(requestID == 9)
        #expect(ok.version == 1)
        #expect(ok.maximumBatchItems == 3)
        #expect(ok.maximumInFlight == 2)
        #expect(ok.timeZone == "UTC")
        #expect(machine.state == .ready(version: 1, roles: Set(Role.allCases)))
    }

    @Test("anything before HELLO closes with handshake_required, echoing that frame's request id")
    func requestBeforeHello() {
        var machine = Self.machine()
        let result = Self.error(machine.frameReceived(Stats().frame(requestID: 4)))
        #expect(result?.code == .handshakeRequired)
        #expect(result?.requestID == 4)
        #expect(result?.then == .close)
        #expect(machine.state == .closed)
        #expect(machine.frameReceived(Self.hello()) == .none)
    }

    @Test("versions with nothing in common close with unsupported_version")
    func versions() {
        var machine = Self.machine()
        #expect(
            Self.error(
                machine.frameReceived(Self.hello(Hello(minimumVersion: 2, maximumVersion: 5, clientName: "future")))
            )?.code
                == .unsupportedVersion
        )
        var inverted = Self.machine()
        #expect(
            Self.error(
                inverted.frameReceived(Self.hello(Hello(minimumVersion: 1, maximumVersion: 0, clientName: "x")))
            )?.code
                == .unsupportedVersion
        )
        var wide = Self.machine()
        guard
            case .sendHelloOK(let ok, _) = wide.frameReceived(
                Self.hello(Hello(minimumVersion: 1, maximumVersion: 9, clientName: "wide"))
            )
        else {
            Issue.record("a client speaking 1...9 must be admitted")
            return
        }
        #expect(ok.version == 1)
    }

    @Test("bad magic and unreadable HELLOs close, echoing HELLO's request id")
    func badHello() {
        var machine = Self.machine()
        var payload = ByteBuffer(bytes: Array("EGGS".utf8))
        payload.writeBytes([0, 1, 0, 1, 0, 0, 0, 0])
        let magic = Self.error(machine.frameReceived(Frame(type: 1, requestID: 6, payload: payload)))
        #expect(magic?.code == .badMagic && magic?.requestID == 6 && magic?.then == .close)
        var truncated = Self.machine()
        let result = Self.error(
            truncated.frameReceived(Frame(type: 1, requestID: 1, payload: ByteBuffer(bytes: Array("ENGA".utf8))))
        )
        #expect(result?.code == .truncatedPayload)
        #expect(result?.then == .close)
    }

    static let tokens: [String: Set<Role>] = [
        "ingest-token-0123456789": [.ingest], "query-token-0123456789": [.query], "admin-token-0123456789": [.admin],
        "both-token-0123456789": [.ingest, .query],
    ]

    @Test("tokens: missing or unknown closes with unauthenticated; a known one is admitted")
    func tokens() {
        var none = Self.machine(tokens: Self.tokens)
        let missing = Self.error(none.frameReceived(Self.hello()))
        #expect(missing?.code == .unauthenticated)
        #expect(missing?.then == .close)
        var wrong = Self.machine(tokens: Self.tokens)
        #expect(
            Self.error(wrong.frameReceived(Self.hello(Hello(token: "ingest-token-012345678", clientName: "x"))))?.code
                == .unauthenticated
        )
        var longer = Self.machine(tokens: Self.tokens)
        #expect(
            Self.error(longer.frameReceived(Self.hello(Hello(token: "ingest-token-01234567890", clientName: "x"))))?
                .code == .unauthenticated
        )
        var right = Self.machine(tokens: Self.tokens)
        guard
            case .sendHelloOK = right.frameReceived(Self.hello(Hello(token: "query-token-0123456789", clientName: "x")))
        else {
            Issue.record("a known token must be admitted")
            return
        }
        #expect(right.state == .ready(version: 1, roles: [.query]))
    }

    static let day = CivilDate("2026-01-01")!
    static let everyCommand: [any RequestMessage] = [
        DefineActions([ActionDefinition(actionType: "a", category: "c", engagementWeight: 1, isCoreAction: true)]),
        UpsertUsers([UserProfile(userID: "u")]),
        IngestEvents(
            IngestBatch(events: [Event(userID: "u", eventID: "e", timestampMs: 1_771_111_209_608, action: "a")])
        ),
        QueryActivity(ActivityQuery(from: day, to: day.adding(days: 1))),
        Stats(),
        QueryActiveDays(from: day, to: day.adding(days: 1)),
        QueryTiers(.month(CivilMonth("2026-01")!)),
        QueryTransitions(CivilMonth("2026-01")!),
        QueryRetention(period: .week, from: day, to: day.adding(days: 1), periods: 1),
        QueryLifecycle(period: .week, from: day, to: day.adding(days: 1)),
        QuerySessions(from: day, to: day.adding(days: 1)),
        QueryUser(userID: "u"),
        QueryAtRisk(asOf: day.adding(days: 1), limit: 1),
        QueryActions(from: day, to: day.adding(days: 1)),
        Export(.users, limit: 1),
        Verify(maximumReported: 1),
        Rebuild(),
        Backup(path: "/tmp/x"),
        QueryValues(.attribute(.region)),
        WaitApplied(),
        Changes(since: 0),
        ExportUsers(keys: [1]),
    ]

    @Test("the auth matrix: each role against each request")
    func authMatrix() throws {
        let types = Set(Self.everyCommand.map { type(of: $0).messageType })
        #expect(
            types.count == MessageType.allCases.filter { $0.isRequest && $0 != .hello && $0 != .ping }.count,
            "a request type is missing"
        )
        for (token, roles) in Self.tokens {
            for (index, command) in Self.everyCommand.enumerated() {
                // A fresh connection per request, so that the in-flight limit does not interfere.
                var machine = Self.ready(tokens: Self.tokens, token: token)
                let type = type(of: command).messageType
                let action = machine.frameReceived(command.frame(requestID: UInt32(index + 10)))
                let allowed: Bool
                switch type {
                case .defineActions, .upsertUsers, .ingestEvents:
                    allowed = roles.contains(.ingest) || roles.contains(.admin)
                case .verify, .rebuild, .backup: allowed = roles.contains(.admin)
                case .waitApplied: allowed = true
                default: allowed = roles.contains(.query) || roles.contains(.admin)
                }
                if allowed {
                    guard case .execute(let executed, let requestID) = action else {
                        Issue.record("\(token): \(type.specName) not executed: \(action)")
                        continue
                    }
                    #expect(executed.type == type && requestID == UInt32(index + 10))
                } else {
                    let error = Self.error(action)
                    #expect(error?.code == .forbidden, "\(token): \(type.specName)")
                    #expect(error?.then == .keepOpen)
                }
            }
            var machine = Self.ready(tokens: Self.tokens, token: token)
            #expect(
                machine.frameReceived(Ping(nonce: 4).frame(requestID: 2)) == .sendPong(Pong(nonce: 4), requestID: 2),
                "PING needs no role"
            )
        }
    }

    @Test("after HELLO: ping answered directly, requests executed, errors answered without closing")
    func ready() throws {
        var machine = Self.ready()
        #expect(machine.frameReceived(Ping(nonce: 5).frame(requestID: 2)) == .sendPong(Pong(nonce: 5), requestID: 2))
        #expect(machine.frameReceived(Stats().frame(requestID: 3)) == .execute(.stats(Stats()), requestID: 3))
        let unknown = Self.error(machine.frameReceived(Frame(type: 0x33, requestID: 4, payload: ByteBuffer())))
        #expect(unknown?.code == .unknownMessageType && unknown?.requestID == 4 && unknown?.then == .keepOpen)
        var trailing = Stats().frame(requestID: 5)
        trailing.payload.writeInteger(UInt8(1))
        #expect(Self.error(machine.frameReceived(trailing))?.code == .trailingBytes)
        let events = (0..<4).map {
            Event(userID: "u", eventID: "\($0)", timestampMs: 1_771_111_209_608, action: "like")
        }
        let tooMany = Self.error(machine.frameReceived(IngestEvents(IngestBatch(events: events)).frame(requestID: 6)))
        #expect(tooMany?.code == .tooManyItems && tooMany?.then == .keepOpen)
        #expect(machine.state == .ready(version: 1, roles: Set(Role.allCases)))
        let again = Self.error(machine.frameReceived(Self.hello(id: 7)))
        #expect(again?.code == .handshakeRequired && again?.then == .close)
        #expect(machine.state == .closed)
    }

    @Test("the in-flight limit: past it a request is refused, and a finished one makes room")
    func inFlightLimit() {
        var machine = Self.ready()
        #expect(machine.frameReceived(Stats().frame(requestID: 2)) == .execute(.stats(Stats()), requestID: 2))
        #expect(machine.frameReceived(Stats().frame(requestID: 3)) == .execute(.stats(Stats()), requestID: 3))
        let refused = Self.error(machine.frameReceived(Stats().frame(requestID: 4)))
        #expect(refused?.code == .tooManyInFlight && refused?.requestID == 4 && refused?.then == .keepOpen)
        #expect(machine.inFlight == 2)
        // The slot frees when the request finishes, before its answer is written: a client that sends the
        // next request as soon as it reads the answer is not refused.
        machine.requestFinished()
        #expect(machine.frameReceived(Stats().frame(requestID: 5)) == .execute(.stats(Stats()), requestID: 5))
        #expect(machine.responseWritten() == .none)
    }

    @Test("a frame-level decoding failure closes with request id 0")
    func decodingFailure() {
        var machine = Self.ready()
        let result = Self.error(machine.decodingFailed(ProtocolError(.frameTooLarge, "too large")))
        #expect(result?.code == .frameTooLarge && result?.requestID == 0 && result?.then == .close)
        #expect(machine.decodingFailed(ProtocolError(.frameTooLarge, "again")) == .none)
    }

    @Test("draining: new requests refused with shutting_down; the output closes once nothing is owed")
    func draining() {
        var machine = Self.ready()
        machine.frameArrived(now: Self.start)
        #expect(machine.frameReceived(Stats().frame(requestID: 2)) == .execute(.stats(Stats()), requestID: 2))
        #expect(machine.shutdownBegan() == .none, "a request is still being carried out")
        machine.frameArrived(now: Self.start)
        let refused = Self.error(machine.frameReceived(Stats().frame(requestID: 8)))
        #expect(refused?.code == .shuttingDown && refused?.requestID == 8 && refused?.then == .keepOpen)
        machine.requestFinished()
        #expect(machine.state != .closed, "the answer is not written yet")
        #expect(machine.responseWritten() == .halfClose, "the last answer is out: FIN")
        #expect(machine.state == .closed)

        // A connection that owes nothing half-closes at once; one whose last owed frame is a refusal after it.
        var idle = Self.ready()
        #expect(idle.shutdownBegan() == .halfClose)
        var waiting = Self.ready()
        waiting.frameArrived(now: Self.start)
        #expect(waiting.shutdownBegan() == .none, "a received frame still waits for its refusal")
        #expect(Self.error(waiting.frameReceived(Stats().frame(requestID: 3)))?.then == .halfClose)
    }

    @Test("idle timer: closes after the idle time with nothing owed; waiting for the server is not idleness")
    func idleTimer() {
        var machine = Self.ready()
        let idle = Self.configuration.idleTimeout
        #expect(machine.idleTimerFired(now: Self.start + .seconds(100)) == .checkAgain(at: Self.start + idle))
        // A request in flight: not idle, however long it takes.
        #expect(
            machine.frameReceived(Stats().frame(requestID: 2), now: Self.start + .seconds(200))
                == .execute(.stats(Stats()), requestID: 2)
        )
        #expect(
            machine.idleTimerFired(now: Self.start + .seconds(900))
                == .checkAgain(at: Self.start + .seconds(900) + idle)
        )
        machine.requestFinished(now: Self.start + .seconds(999))
        _ = machine.responseWritten(now: Self.start + .seconds(1000))
        // Idleness counts from when the server stopped owing the client.
        #expect(
            machine.idleTimerFired(now: Self.start + .seconds(1200))
                == .checkAgain(at: Self.start + .seconds(1000) + idle)
        )
        let closed = Self.error(machine.idleTimerFired(now: Self.start + .seconds(1300)))
        #expect(closed?.code == .idleTimeout && closed?.requestID == 0 && closed?.then == .close)
        #expect(machine.state == .closed)
    }

    @Test("frame timer: a half-received frame is a slow client only once the server owes nothing")
    func frameTimer() {
        var machine = Self.ready()
        let timeout = Self.configuration.frameTimeout
        #expect(machine.frameTimerFired(now: Self.start) == .none, "no frame on its way")
        machine.frameBegan(now: Self.start)
        #expect(machine.frameTimerFired(now: Self.start + .seconds(10)) == .checkAgain(at: Self.start + timeout))
        // The server owes an answer (and may have stopped reading): the clock starts again.
        _ = machine.frameReceived(Stats().frame(requestID: 2), now: Self.start)
        #expect(
            machine.frameTimerFired(now: Self.start + .seconds(40))
                == .checkAgain(at: Self.start + .seconds(40) + timeout)
        )
        machine.requestFinished(now: Self.start + .seconds(41))
        _ = machine.responseWritten(now: Self.start + .seconds(41))
        let slow = Self.error(machine.frameTimerFired(now: Self.start + .seconds(71)))
        #expect(slow?.code == .slowClient && slow?.requestID == 0 && slow?.then == .close)
        // A frame that completes in time stops the clock.
        var prompt = Self.ready()
        prompt.frameBegan(now: Self.start)
        prompt.frameArrived(now: Self.start + .seconds(1))
        #expect(prompt.frameTimerFired(now: Self.start + .seconds(60)) == .none)
    }
}
