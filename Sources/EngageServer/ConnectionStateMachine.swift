import EngageModel
import EngageProtocol
import NIOCore

/// The protocol state of one connection, without sockets: feed it frames, execute the actions it returns.
///
/// awaitingHello --HELLO ok--> ready --(frame-level error | second HELLO)--> closed
///      \--anything else or a bad HELLO--> closed
public struct ConnectionStateMachine {
    public enum State: Equatable {
        case awaitingHello
        case ready(version: UInt16, roles: Set<Role>)
        case closed
    }

    public enum Action: Equatable {
        /// Send this frame; keep going.
        case send(Frame)
        /// Send this frame, then close the connection.
        case sendAndClose(Frame)
        /// Carry out the request and answer it with `requestID`.
        case execute(requestID: UInt32, request: Request)
        /// Ignore (the connection is already closing).
        case none
    }

    public struct Limits: Equatable, Sendable {
        public var maximumFrameLength: Int
        public var maximumBatchItems: Int
        public var maximumInFlight: Int

        public init(maximumFrameLength: Int, maximumBatchItems: Int, maximumInFlight: Int) {
            self.maximumFrameLength = maximumFrameLength
            self.maximumBatchItems = maximumBatchItems
            self.maximumInFlight = maximumInFlight
        }
    }

    public private(set) var state: State = .awaitingHello
    /// Set once the server is shutting down: requests read from then on are refused, not carried out.
    public private(set) var isDraining = false
    let limits: Limits
    let serverName: String
    let timeZone: String
    /// The roles of a HELLO token, nil for an unknown one. nil when the server runs without tokens (then
    /// every connection has every role).
    let authenticate: (@Sendable (String) -> Set<Role>?)?
    /// Protocol versions this server speaks.
    static let supportedVersions: ClosedRange<UInt16> = 1...1

    public init(
        limits: Limits,
        serverName: String,
        timeZone: String,
        authenticate: (@Sendable (String) -> Set<Role>?)? = nil
    ) {
        self.limits = limits
        self.serverName = serverName
        self.timeZone = timeZone
        self.authenticate = authenticate
    }

    public mutating func frameReceived(_ frame: Frame) -> Action {
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello:
            guard frame.type == MessageType.hello.rawValue else {
                return self.fail(
                    frame.requestID,
                    ProtocolError(.handshakeRequired, "the first frame must be HELLO (type 0x01)")
                )
            }
            let hello: Hello
            do {
                guard case .hello(let decoded) = try Request.decode(frame) else {
                    return self.fail(
                        frame.requestID,
                        ProtocolError(.handshakeRequired, "the first frame must be HELLO")
                    )
                }
                hello = decoded
            } catch {
                // A HELLO that cannot be read ends the connection whatever the code.
                return self.fail(frame.requestID, error, forceClose: true)
            }
            let low = max(hello.minimumVersion, Self.supportedVersions.lowerBound)
            let high = min(hello.maximumVersion, Self.supportedVersions.upperBound)
            guard low <= high else {
                return self.fail(
                    frame.requestID,
                    ProtocolError(
                        .unsupportedVersion,
                        "client speaks versions \(hello.minimumVersion)...\(hello.maximumVersion); this server speaks \(Self.supportedVersions.lowerBound)...\(Self.supportedVersions.upperBound)"
                    )
                )
            }
            let version = high
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
            self.state = .ready(version: version, roles: roles)
            let ok = HelloOK(
                version: version,
                serverName: self.serverName,
                timeZone: self.timeZone,
                maximumFrameLength: UInt32(self.limits.maximumFrameLength),
                maximumBatchItems: UInt32(self.limits.maximumBatchItems),
                maximumInFlight: UInt16(clamping: self.limits.maximumInFlight)
            )
            return .send(Response.helloOK(ok).encode(requestID: frame.requestID))
        case .ready(_, let roles):
            let request: Request
            do {
                request = try Request.decode(frame)
            } catch {
                return self.fail(frame.requestID, error)
            }
            if self.isDraining {
                return .send(
                    Response.error(
                        ProtocolError(.shuttingDown, "the server is shutting down; this request was not carried out")
                    )
                    .encode(requestID: frame.requestID)
                )
            }
            switch request {
            case .hello:
                return self.fail(
                    frame.requestID,
                    ProtocolError(.handshakeRequired, "HELLO was already sent on this connection")
                )
            case .ping(let nonce):
                return .send(Response.pong(nonce: nonce).encode(requestID: frame.requestID))
            default:
                if let role = request.requiredRole, !roles.contains(role), !roles.contains(.admin) {
                    return self.fail(
                        frame.requestID,
                        ProtocolError(
                            .forbidden,
                            "\(request.type) needs the role '\(role.rawValue)'; this token has \(roles.map(\.rawValue).sorted().joined(separator: ", "))"
                        )
                    )
                }
                if request.itemCount > self.limits.maximumBatchItems {
                    return self.fail(
                        frame.requestID,
                        ProtocolError(
                            .tooManyItems,
                            "\(request.itemCount) items in one request; at most \(self.limits.maximumBatchItems)"
                        )
                    )
                }
                return .execute(requestID: frame.requestID, request: request)
            }
        }
    }

    /// The server began shutting down: answer what is in flight, refuse what comes next.
    public mutating func shutdownBegan() {
        self.isDraining = true
    }

    /// The frame decoder failed: the stream cannot be trusted past this point.
    public mutating func decodingFailed(_ error: ProtocolError) -> Action {
        guard self.state != .closed else { return .none }
        return self.fail(0, error, forceClose: true)
    }

    private mutating func fail(_ requestID: UInt32, _ error: ProtocolError, forceClose: Bool = false) -> Action {
        let frame = Response.error(error).encode(requestID: requestID)
        if forceClose || error.code.closesConnection || self.state == .awaitingHello {
            self.state = .closed
            return .sendAndClose(frame)
        }
        return .send(frame)
    }
}
