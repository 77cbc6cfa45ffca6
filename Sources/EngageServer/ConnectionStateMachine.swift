import EngageModel
import EngageProtocol
import NIOCore

/// All the protocol state of one connection, without sockets or clocks of its own: feed it what happened,
/// carry out the action it returns. Tested in isolation (ConnectionStateMachineTests).
///
/// ```
/// awaitingHello --HELLO ok--> ready --shutdown--> draining --nothing owed--> (half-closed)
///       \--anything else, a bad HELLO--> closed <--frame-level error, timeout--/
/// ```
///
/// Besides the state it counts what the server owes the client: frames received but not yet taken up by the
/// request loop, and requests being carried out. Owing the client is never the client's idleness or
/// slowness; a connection that is draining closes its output once it owes nothing.
public struct ConnectionStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maximumFrameLength: Int
        public var maximumBatchItems: Int
        public var maximumInFlight: Int
        /// Nothing received and nothing owed for this long closes the connection (`idle_timeout`).
        public var idleTimeout: TimeAmount
        /// A frame begun and not completed within this long, while nothing is owed, closes it (`slow_client`).
        public var frameTimeout: TimeAmount
        public var serverName: String
        public var timeZone: String

        public init(
            maximumFrameLength: Int,
            maximumBatchItems: Int,
            maximumInFlight: Int,
            idleTimeout: TimeAmount = .seconds(300),
            frameTimeout: TimeAmount = .seconds(30),
            serverName: String = "engaged",
            timeZone: String = "UTC"
        ) {
            self.maximumFrameLength = maximumFrameLength
            self.maximumBatchItems = maximumBatchItems
            self.maximumInFlight = maximumInFlight
            self.idleTimeout = idleTimeout
            self.frameTimeout = frameTimeout
            self.serverName = serverName
            self.timeZone = timeZone
        }
    }

    public enum State: Equatable, Sendable {
        case awaitingHello
        case ready(version: UInt16, roles: Set<Role>)
        /// The server is shutting down: requests are refused, those in flight answered, then the output closes.
        case draining(version: UInt16, roles: Set<Role>)
        case closed
    }

    /// What the connection does next. Sending means encoding the message with the request id given.
    public enum Action: Equatable, Sendable {
        case none
        case sendHelloOK(HelloOK, requestID: UInt32)
        case sendPong(Pong, requestID: UInt32)
        /// Carry out the command; report ``requestFinished(now:)`` before writing the answer and
        /// ``responseWritten(now:)`` after.
        case execute(Command, requestID: UInt32)
        case sendError(ProtocolError, requestID: UInt32, then: AfterSend)
        /// Close the output (FIN after the last answer); keep reading until the client closes.
        case halfClose
        /// Check the timer again at this time.
        case checkAgain(at: NIODeadline)
    }

    public enum AfterSend: Equatable, Sendable {
        case keepOpen
        /// The last thing owed while draining: close the output after it.
        case halfClose
        /// The stream cannot go on: close the connection after it.
        case close
    }

    public private(set) var state: State = .awaitingHello
    let configuration: Configuration
    /// The roles of a HELLO token, nil for an unknown one. nil when the server runs without tokens (then every
    /// connection has every role).
    let authenticate: (@Sendable (String) -> Set<Role>?)?
    /// Protocol versions this server speaks.
    static let supportedVersions: ClosedRange<UInt16> = 1...1

    /// Frames received that the request loop has not taken up yet.
    public private(set) var unread = 0
    /// Requests being carried out (what the in-flight limit counts).
    public private(set) var inFlight = 0
    /// Answers of finished requests not yet written.
    public private(set) var unwritten = 0
    /// When the client last completed a frame or the server last stopped owing it anything.
    private var lastActivity: NIODeadline
    /// When the frame now arriving began (nil between frames).
    private var frameStartedAt: NIODeadline?

    public init(
        configuration: Configuration,
        authenticate: (@Sendable (String) -> Set<Role>?)? = nil,
        now: NIODeadline = .now()
    ) {
        self.configuration = configuration
        self.authenticate = authenticate
        self.lastActivity = now
    }

    /// The server owes the client answers: a request is being carried out, or a received frame waits for
    /// the request loop (which may be slow to run on a loaded machine).
    public var owesAnswers: Bool { self.inFlight > 0 || self.unread > 0 || self.unwritten > 0 }

    // MARK: - Bytes and frames

    /// The first bytes of a frame arrived.
    public mutating func frameBegan(now: NIODeadline) {
        if self.frameStartedAt == nil { self.frameStartedAt = now }
    }

    /// A whole frame arrived (it waits for the request loop).
    public mutating func frameArrived(now: NIODeadline) {
        self.unread += 1
        self.frameStartedAt = nil
        self.lastActivity = now
    }

    /// The request loop takes up a frame.
    public mutating func frameReceived(_ frame: Frame, now: NIODeadline = .now()) -> Action {
        self.unread = max(0, self.unread - 1)
        self.lastActivity = now
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello:
            return self.handshake(frame)
        case .ready(_, let roles), .draining(_, let roles):
            let request: Request
            do {
                request = try Request.decode(frame)
            } catch {
                return self.fail(frame.requestID, error)
            }
            if case .draining = self.state {
                let drained = !self.owesAnswers
                if drained { self.state = .closed }
                return .sendError(
                    ProtocolError(.shuttingDown, "the server is shutting down; this request was not carried out"),
                    requestID: frame.requestID,
                    then: drained ? .halfClose : .keepOpen
                )
            }
            switch request {
            case .hello:
                return self.fail(
                    frame.requestID,
                    ProtocolError(.handshakeRequired, "HELLO was already sent on this connection")
                )
            case .ping(let ping):
                return .sendPong(Pong(nonce: ping.nonce), requestID: frame.requestID)
            case .command(let command):
                return self.admit(command, requestID: frame.requestID, roles: roles)
            }
        }
    }

    /// A request handed out by ``Action/execute(_:requestID:)`` was carried out; its answer is about to be
    /// written. Its in-flight slot is free from here: a client that sends its next request as soon as it reads
    /// this answer must find room.
    public mutating func requestFinished(now: NIODeadline = .now()) {
        self.inFlight = max(0, self.inFlight - 1)
        self.unwritten += 1
        self.lastActivity = now
    }

    /// The answer of a finished request was written. While draining, the last one closes the output.
    public mutating func responseWritten(now: NIODeadline = .now()) -> Action {
        self.unwritten = max(0, self.unwritten - 1)
        self.lastActivity = now
        return self.halfCloseIfDrained()
    }

    /// The server began shutting down: answer what is owed, refuse what comes next.
    public mutating func shutdownBegan() -> Action {
        switch self.state {
        case .ready(let version, let roles):
            self.state = .draining(version: version, roles: roles)
            return self.halfCloseIfDrained()
        case .awaitingHello:
            // Nothing was ever owed: no answers to wait for.
            self.state = .closed
            return .halfClose
        case .draining, .closed:
            return .none
        }
    }

    /// The frame decoder refused the byte stream: nothing after this point can be trusted.
    public mutating func decodingFailed(_ error: ProtocolError) -> Action {
        guard self.state != .closed else { return .none }
        self.state = .closed
        return .sendError(error, requestID: 0, then: .close)
    }

    // MARK: - Timers

    /// The idle timer fired: close an idle connection, or say when to look again.
    public mutating func idleTimerFired(now: NIODeadline) -> Action {
        guard self.state != .closed else { return .none }
        // Waiting for our own answers is not idleness, nor is a frame on its way.
        if self.owesAnswers || self.frameStartedAt != nil {
            return .checkAgain(at: now + self.configuration.idleTimeout)
        }
        let deadline = self.lastActivity + self.configuration.idleTimeout
        if deadline > now { return .checkAgain(at: deadline) }
        self.state = .closed
        return .sendError(
            ProtocolError(.idleTimeout, "nothing received for \(Self.seconds(self.configuration.idleTimeout)) s"),
            requestID: 0,
            then: .close
        )
    }

    /// The frame timer fired: a frame begun and not finished is a slow client, unless the server owes the
    /// connection answers (it may have stopped reading it: the rest of the frame can be waiting in our own
    /// socket buffer), in which case the clock starts again.
    public mutating func frameTimerFired(now: NIODeadline) -> Action {
        guard self.state != .closed, let started = self.frameStartedAt else { return .none }
        if self.owesAnswers {
            self.frameStartedAt = now
            return .checkAgain(at: now + self.configuration.frameTimeout)
        }
        let deadline = started + self.configuration.frameTimeout
        if deadline > now { return .checkAgain(at: deadline) }
        self.state = .closed
        return .sendError(
            ProtocolError(
                .slowClient,
                "a frame was begun but not completed within \(Self.seconds(self.configuration.frameTimeout)) s"
            ),
            requestID: 0,
            then: .close
        )
    }

    // MARK: - Private

    private mutating func handshake(_ frame: Frame) -> Action {
        guard frame.type == MessageType.hello.rawValue else {
            return self.fail(
                frame.requestID,
                ProtocolError(.handshakeRequired, "the first frame must be HELLO (type 0x01)")
            )
        }
        let hello: Hello
        do {
            hello = try Hello.decode(frame)
        } catch {
            // A HELLO that cannot be read ends the connection whatever the code.
            return self.fail(frame.requestID, error)
        }
        let low = max(hello.minimumVersion, Self.supportedVersions.lowerBound)
        let high = min(hello.maximumVersion, Self.supportedVersions.upperBound)
        guard low <= high else {
            return self.fail(
                frame.requestID,
                ProtocolError(
                    .unsupportedVersion,
                    "client speaks versions \(hello.minimumVersion)...\(hello.maximumVersion); "
                        + "this server speaks \(Self.supportedVersions.lowerBound)...\(Self.supportedVersions.upperBound)"
                )
            )
        }
        var roles = Set(Role.allCases)
        if let authenticate {
            guard let granted = authenticate(hello.token) else {
                return self.fail(
                    frame.requestID,
                    ProtocolError(
                        .unauthenticated,
                        hello.token.isEmpty ? "this server requires a token" : "unknown token"
                    )
                )
            }
            roles = granted
        }
        self.state = .ready(version: high, roles: roles)
        let ok = HelloOK(
            version: high,
            serverName: self.configuration.serverName,
            timeZone: self.configuration.timeZone,
            maximumFrameLength: UInt32(clamping: self.configuration.maximumFrameLength),
            maximumBatchItems: UInt32(clamping: self.configuration.maximumBatchItems),
            maximumInFlight: UInt16(clamping: self.configuration.maximumInFlight)
        )
        return .sendHelloOK(ok, requestID: frame.requestID)
    }

    private mutating func admit(_ command: Command, requestID: UInt32, roles: Set<Role>) -> Action {
        if let role = command.requiredRole, !roles.contains(role), !roles.contains(.admin) {
            return self.fail(
                requestID,
                ProtocolError(
                    .forbidden,
                    "\(command.type.specName) needs the role '\(role.rawValue)'; this token has \(roles.map(\.rawValue).sorted().joined(separator: ", "))"
                )
            )
        }
        guard command.itemCount <= self.configuration.maximumBatchItems else {
            return self.fail(
                requestID,
                ProtocolError(
                    .tooManyItems,
                    "\(command.itemCount) items in one request; at most \(self.configuration.maximumBatchItems)"
                )
            )
        }
        guard self.inFlight < self.configuration.maximumInFlight else {
            return self.fail(
                requestID,
                ProtocolError(
                    .tooManyInFlight,
                    "\(self.configuration.maximumInFlight) requests already await responses on this connection; this one was not carried out"
                )
            )
        }
        self.inFlight += 1
        return .execute(command, requestID: requestID)
    }

    /// An error answer; before HELLO_OK, and for errors that end the stream, the connection closes after it.
    private mutating func fail(_ requestID: UInt32, _ error: ProtocolError) -> Action {
        if error.code.closesConnection || self.state == .awaitingHello {
            self.state = .closed
            return .sendError(error, requestID: requestID, then: .close)
        }
        return .sendError(error, requestID: requestID, then: .keepOpen)
    }

    private mutating func halfCloseIfDrained() -> Action {
        guard case .draining = self.state, !self.owesAnswers else { return .none }
        self.state = .closed
        return .halfClose
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
