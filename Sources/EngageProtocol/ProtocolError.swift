/// A stable numeric error code of the protocol (proto-spec/PROTOCOL.md, "Errors"). Extensible: clients must
/// treat unknown codes as errors of the request they answer.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The length field is below 5.
    public static let malformedFrame = ErrorCode(rawValue: 1)
    /// The length field exceeds the server's maximum frame size.
    public static let frameTooLarge = ErrorCode(rawValue: 2)
    /// The message type is not a request this server knows.
    public static let unknownMessageType = ErrorCode(rawValue: 3)
    /// The payload ended before its fields did.
    public static let truncatedPayload = ErrorCode(rawValue: 4)
    /// Bytes remain after the message's last field.
    public static let trailingBytes = ErrorCode(rawValue: 5)
    /// A string is not well-formed UTF-8 (outside an ingest batch, where it rejects events only).
    public static let invalidUTF8 = ErrorCode(rawValue: 6)
    /// A field holds a value outside its domain.
    public static let invalidField = ErrorCode(rawValue: 7)
    /// The first frame was not HELLO, or HELLO was sent twice.
    public static let handshakeRequired = ErrorCode(rawValue: 8)
    /// HELLO did not start with the magic bytes `ENGA`.
    public static let badMagic = ErrorCode(rawValue: 9)
    /// No protocol version in common.
    public static let unsupportedVersion = ErrorCode(rawValue: 10)
    /// The token is missing or unknown.
    public static let unauthenticated = ErrorCode(rawValue: 11)
    /// The token's roles do not allow this request.
    public static let forbidden = ErrorCode(rawValue: 12)
    /// The batch holds more items than the server's maximum.
    public static let tooManyItems = ErrorCode(rawValue: 13)
    /// More requests in flight on this connection than the server allows.
    public static let tooManyInFlight = ErrorCode(rawValue: 14)
    /// The connection sent nothing for longer than the idle timeout.
    public static let idleTimeout = ErrorCode(rawValue: 15)
    /// A frame was started but not completed within the frame timeout.
    public static let slowClient = ErrorCode(rawValue: 16)
    /// The server accepts no more connections.
    public static let tooManyConnections = ErrorCode(rawValue: 17)
    /// The query's parameters are invalid (range, dimension, value).
    public static let invalidQuery = ErrorCode(rawValue: 20)
    /// An EXPORT cursor the server did not hand out for this table and range (never "the last page").
    public static let invalidCursor = ErrorCode(rawValue: 21)
    /// The server's disk is full: nothing of the request was stored.
    public static let storageFull = ErrorCode(rawValue: 30)
    /// The server is shutting down: the request was not carried out.
    public static let shuttingDown = ErrorCode(rawValue: 31)
    /// An unexpected server failure: the request was not carried out.
    public static let internalError = ErrorCode(rawValue: 32)
    /// The request needs raw events that raw-event retention dropped (VERIFY, REBUILD).
    public static let rawEventsDropped = ErrorCode(rawValue: 34)
    /// A BACKUP could not be written; the message says why. Nothing else is affected.
    public static let backupFailed = ErrorCode(rawValue: 35)

    public var name: String {
        switch self.rawValue {
        case 1: return "malformed_frame"
        case 2: return "frame_too_large"
        case 3: return "unknown_message_type"
        case 4: return "truncated_payload"
        case 5: return "trailing_bytes"
        case 6: return "invalid_utf8"
        case 7: return "invalid_field"
        case 8: return "handshake_required"
        case 9: return "bad_magic"
        case 10: return "unsupported_version"
        case 11: return "unauthenticated"
        case 12: return "forbidden"
        case 13: return "too_many_items"
        case 14: return "too_many_in_flight"
        case 15: return "idle_timeout"
        case 16: return "slow_client"
        case 17: return "too_many_connections"
        case 20: return "invalid_query"
        case 21: return "invalid_cursor"
        case 30: return "storage_full"
        case 31: return "shutting_down"
        case 32: return "internal_error"
        case 34: return "raw_events_dropped"
        case 35: return "backup_failed"
        default: return "error_\(self.rawValue)"
        }
    }

    /// Whether the server closes the connection after sending this error.
    public var closesConnection: Bool {
        [
            .malformedFrame, .frameTooLarge, .handshakeRequired, .badMagic, .unsupportedVersion, .unauthenticated,
            .idleTimeout, .slowClient, .tooManyConnections,
        ].contains(self)
    }

    public var description: String { self.name }
}

/// A protocol violation or a request the server refuses, carried by an ERROR frame.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code.name): \(self.message)" }
}
