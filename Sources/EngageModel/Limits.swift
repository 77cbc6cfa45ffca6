/// Sizes that every layer enforces the same way (SEMANTICS.md and proto-spec/).
public enum Limits {
    /// `user_id`: 1...256 bytes of UTF-8.
    public static let userIDBytes = 1...256
    /// `event_id`: 1...128 bytes.
    public static let eventIDBytes = 1...128
    /// `action_type`: 1...128 bytes.
    public static let actionTypeBytes = 1...128
    /// `action_category` and attribute values: 1...128 bytes.
    public static let labelBytes = 1...128
    /// `context`: 0...256 bytes; empty means none.
    public static let contextBytes = 0...256
    /// `metadata`: a JSON object of at most 4 KiB serialized; empty means none.
    public static let metadataBytes = 4096
    /// Earliest accepted event time: 2000-01-01T00:00:00Z.
    public static let earliestTimestampMs: Int64 = 946_684_800_000
    /// Events may be at most this far ahead of the server clock.
    public static let futureToleranceMs: Int64 = 24 * 3_600_000
    /// The local dates a store can hold (its keys store days since 1999-12-01 in two bytes): registration
    /// dates, query ranges and every event's local day lie inside. Every event is after 2000-01-01T00:00Z,
    /// which is 1999-12-31 west of UTC.
    public static let storedDates = CivilDate(year: 1999, month: 12, day: 1)!...CivilDate(year: 2179, month: 5, day: 6)!
    /// Longest date range one query may span (10 years).
    public static let maxQueryDays = 3661
}

extension Array where Element == UInt8 {
    /// Whether these bytes are well-formed UTF-8.
    public var isValidUTF8: Bool {
        self.withUnsafeBufferPointer { UTF8Validation.isValid($0) }
    }
}

public enum UTF8Validation {
    /// Strict UTF-8 validation (no overlongs, no surrogates, at most U+10FFFF).
    public static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: return false
            }
            guard index + length <= count else { return false }
            let second = bytes[index + 1]
            guard second >= lower, second <= upper else { return false }
            for offset in 2..<max(length, 2) where offset < length {
                let continuation = bytes[index + offset]
                guard continuation & 0xC0 == 0x80 else { return false }
            }
            index += length
        }
        return true
    }
}
