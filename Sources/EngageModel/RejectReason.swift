/// Why one item of a batch (an event, a user, an action) was rejected. Stable numeric codes: the wire
/// carries `rawValue`; new codes may be added, so clients must accept codes they do not know.
public struct RejectReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `user_id` empty or longer than 256 bytes.
    public static let invalidUserID = RejectReason(rawValue: 1)
    /// `event_id` empty or longer than 128 bytes.
    public static let invalidEventID = RejectReason(rawValue: 2)
    /// `action_type` empty or longer than 128 bytes.
    public static let invalidAction = RejectReason(rawValue: 3)
    /// `ts` before 2000-01-01T00:00:00Z or more than 24 hours past the server clock.
    public static let timestampOutOfRange = RejectReason(rawValue: 4)
    /// A string field is not well-formed UTF-8.
    public static let invalidUTF8 = RejectReason(rawValue: 5)
    /// `context` longer than 256 bytes.
    public static let invalidContext = RejectReason(rawValue: 6)
    /// `metadata` longer than 4096 bytes or not a JSON object.
    public static let invalidMetadata = RejectReason(rawValue: 7)
    /// A string-table index that does not exist in the batch.
    public static let invalidReference = RejectReason(rawValue: 8)
    /// The event is older than the raw-event retention horizon.
    public static let olderThanRetention = RejectReason(rawValue: 9)
    /// An attribute value or action category empty or longer than 128 bytes.
    public static let invalidAttribute = RejectReason(rawValue: 10)
    /// A registration date outside the dates a store holds, 1999-12-01 ... 2179-05-06.
    public static let invalidDate = RejectReason(rawValue: 11)

    public static let all: [RejectReason] = [
        .invalidUserID, .invalidEventID, .invalidAction, .timestampOutOfRange, .invalidUTF8, .invalidContext,
        .invalidMetadata, .invalidReference, .olderThanRetention, .invalidAttribute, .invalidDate,
    ]

    public var name: String {
        switch self.rawValue {
        case 1: return "invalid_user_id"
        case 2: return "invalid_event_id"
        case 3: return "invalid_action"
        case 4: return "timestamp_out_of_range"
        case 5: return "invalid_utf8"
        case 6: return "invalid_context"
        case 7: return "invalid_metadata"
        case 8: return "invalid_reference"
        case 9: return "older_than_retention"
        case 10: return "invalid_attribute"
        case 11: return "invalid_date"
        default: return "reason_\(self.rawValue)"
        }
    }

    public var description: String { self.name }

    /// What the rule is, for people reading an import report.
    public var explanation: String {
        switch self.rawValue {
        case 1: return "user_id must be 1 to 256 bytes of UTF-8"
        case 2: return "event_id must be 1 to 128 bytes of UTF-8"
        case 3: return "the action type must be 1 to 128 bytes of UTF-8"
        case 4: return "ts must be between 2000-01-01T00:00:00Z and 24 hours past the server clock"
        case 5: return "a text field is not valid UTF-8"
        case 6: return "context must be at most 256 bytes"
        case 7: return "metadata must be a JSON object of at most 4096 bytes"
        case 8: return "a string-table index is outside the batch's table"
        case 9: return "the event is older than the server's raw-event retention"
        case 10: return "attribute values and categories must be 1 to 128 bytes"
        case 11: return "the date is outside 1999-12-01 ... 2179-05-06, the dates a store holds"
        default: return "rejected by the server (reason \(self.rawValue))"
        }
    }
}

/// One rejected item of a batch: its zero-based position in the batch and why.
public struct Rejection: Hashable, Sendable {
    public var index: Int
    public var reason: RejectReason

    public init(index: Int, reason: RejectReason) {
        self.index = index
        self.reason = reason
    }
}
