import EngageModel
import NIOCore

// The field types of proto-spec/PROTOCOL.md section 1 and the pieces several messages share (section 4.10).
// Readers fail with the protocol's error codes and name the field; counts are checked against the bytes left
// before anything is allocated for them.

/// Day numbers on the wire: signed days since 1970-01-01. "None" is Int32.min.
let noDay = Int32.min

/// A `u32` count that is not known (a day or period after the store's last day): `FF FF FF FF`.
let unknownCount = UInt32.max

extension ByteBuffer {
    mutating func read<Value: FixedWidthInteger>(
        _ type: Value.Type,
        _ field: StaticString
    ) throws(ProtocolError) -> Value {
        guard let value = self.readInteger(as: Value.self) else {
            throw ProtocolError(.truncatedPayload, "payload ends inside field '\(field)'")
        }
        return value
    }

    /// A `u32` count as `Int`.
    mutating func readCount(_ field: StaticString) throws(ProtocolError) -> Int {
        Int(try self.read(UInt32.self, field))
    }

    /// A `u64` count or total as `Int`; values past `Int.max` cannot come from a real store and are refused.
    mutating func readCount64(_ field: StaticString) throws(ProtocolError) -> Int {
        let value = try self.read(UInt64.self, field)
        guard let count = Int(exactly: value) else {
            throw ProtocolError(
                .invalidField,
                "field '\(field)' is \(value), past the largest supported value \(Int.max)"
            )
        }
        return count
    }

    /// A `u32` count, or `FF FF FF FF` for "unknown".
    mutating func readOptionalCount(_ field: StaticString) throws(ProtocolError) -> Int? {
        let value = try self.read(UInt32.self, field)
        return value == unknownCount ? nil : Int(value)
    }

    mutating func writeCount(_ value: Int) { self.writeInteger(UInt32(clamping: value)) }

    mutating func writeCount64(_ value: Int) { self.writeInteger(UInt64(clamping: value)) }

    /// Counts past the largest u32 but one are clamped to it; unknown is `FF FF FF FF`.
    mutating func writeOptionalCount(_ value: Int?) {
        self.writeInteger(value.map { UInt32(clamping: min($0, Int(unknownCount) - 1)) } ?? unknownCount)
    }

    /// The number of items that follow (`u32` or narrower), checked against the bytes left: each item takes
    /// at least `minimumSize` bytes.
    mutating func readItemCount<Width: FixedWidthInteger>(
        _ width: Width.Type,
        _ field: StaticString,
        minimumSize: Int
    ) throws(ProtocolError) -> Int {
        let count = Int(try self.read(Width.self, field))
        guard count.multipliedReportingOverflow(by: minimumSize).partialValue <= self.readableBytes else {
            throw ProtocolError(.truncatedPayload, "'\(field)' announces \(count) items; the payload cannot hold them")
        }
        return count
    }

    /// Reads `count` items with `read`, reserving room for them first.
    mutating func readItems<Item>(
        _ count: Int,
        _ read: (inout ByteBuffer) throws(ProtocolError) -> Item
    ) throws(ProtocolError) -> [Item] {
        var items: [Item] = []
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(try read(&self)) }
        return items
    }

    /// `u16 length | bytes`.
    mutating func readLengthPrefixedBytes(_ field: StaticString) throws(ProtocolError) -> [UInt8] {
        let length = try self.read(UInt16.self, field)
        guard let bytes = self.readBytes(length: Int(length)) else {
            throw ProtocolError(.truncatedPayload, "payload ends inside field '\(field)' (\(length) bytes announced)")
        }
        return bytes
    }

    /// `str`: `u16 length | UTF-8 bytes`; invalid UTF-8 is refused.
    mutating func readShortString(_ field: StaticString) throws(ProtocolError) -> String {
        let bytes = try self.readLengthPrefixedBytes(field)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ProtocolError(.invalidUTF8, "field '\(field)' is not valid UTF-8")
        }
        return text
    }

    /// `bool`: a `u8` that must be 0 or 1.
    mutating func readFlag(_ field: StaticString) throws(ProtocolError) -> Bool {
        switch try self.read(UInt8.self, field) {
        case 0: return false
        case 1: return true
        case let other: throw ProtocolError(.invalidField, "field '\(field)' must be 0 or 1, not \(other)")
        }
    }

    mutating func writeFlag(_ value: Bool) { self.writeInteger(UInt8(value ? 1 : 0)) }

    func expectEnd() throws(ProtocolError) {
        guard self.readableBytes == 0 else {
            throw ProtocolError(.trailingBytes, "\(self.readableBytes) bytes after the message's last field")
        }
    }

    /// Writes `u16 length | bytes`. Longer values are cut at 65,535 bytes: callers check limits first.
    mutating func writeLengthPrefixed(_ bytes: some Collection<UInt8>) {
        let count = min(bytes.count, Int(UInt16.max))
        self.writeInteger(UInt16(count))
        self.writeBytes(bytes.prefix(count))
    }

    mutating func writeShortString(_ text: String) {
        self.writeLengthPrefixed(text.utf8)
    }

    // MARK: - Dates

    /// Dates on the wire must lie in 1700-01-01 ... 2299-12-31: far outside anything a store holds, and
    /// inside what calendar arithmetic handles without overflow.
    static let acceptedDayNumbers: ClosedRange<Int32> = -98_615...120_529

    mutating func readDate(_ field: StaticString) throws(ProtocolError) -> CivilDate {
        try Self.checked(try self.read(Int32.self, field), field)
    }

    mutating func readOptionalDate(_ field: StaticString) throws(ProtocolError) -> CivilDate? {
        let day = try self.read(Int32.self, field)
        return day == noDay ? nil : try Self.checked(day, field)
    }

    static func checked(_ day: Int32, _ field: StaticString) throws(ProtocolError) -> CivilDate {
        guard Self.acceptedDayNumbers.contains(day) else {
            throw ProtocolError(.invalidField, "'\(field)' is day \(day), outside 1700-01-01 ... 2299-12-31")
        }
        return CivilDate(dayNumber: day)
    }

    mutating func writeDate(_ date: CivilDate?) { self.writeInteger(date?.dayNumber ?? noDay) }

    // MARK: - Names with a fixed set of values

    mutating func readTier(_ field: StaticString) throws(ProtocolError) -> Tier {
        let name = try self.readShortString(field)
        guard let tier = Tier(name: name) else {
            throw ProtocolError(
                .invalidField,
                "'\(field)' is '\(name)', not one of inactive, casual, regular, core, power"
            )
        }
        return tier
    }

    mutating func readSessionType(_ field: StaticString) throws(ProtocolError) -> SessionType {
        let name = try self.readShortString(field)
        guard let type = SessionType(rawValue: name) else {
            throw ProtocolError(.invalidField, "'\(field)' is '\(name)', not one of bounce, engaged, passive")
        }
        return type
    }

    mutating func readPeriod() throws(ProtocolError) -> Period {
        let raw = try self.read(UInt8.self, "period")
        guard let period = Period(wireValue: raw) else {
            throw ProtocolError(.invalidField, "period must be 0 (day), 1 (week) or 2 (month), not \(raw)")
        }
        return period
    }

    // MARK: - Filters and breakdowns (4.10)

    /// `filter_count u8`, then (dimension, value) pairs: values of one dimension OR, dimensions AND.
    mutating func readFilters() throws(ProtocolError) -> [DimensionFilter] {
        let count = Int(try self.read(UInt8.self, "filter_count"))
        var pairs: [(EngageModel.Dimension, String)] = []
        for _ in 0..<count {
            guard let dimension = try self.readDimension("dimension") else {
                throw ProtocolError(.invalidQuery, "a filter needs a dimension")
            }
            pairs.append((dimension, try self.readShortString("value")))
        }
        return DimensionFilter.grouping(pairs)
    }

    mutating func writeFilters(_ filters: [DimensionFilter]) {
        let pairs = filters.flatMap { filter in filter.values.map { (filter.dimension, $0) } }
        self.writeInteger(UInt8(min(pairs.count, 255)))
        for (dimension, value) in pairs.prefix(255) {
            self.writeShortString(dimension.name)
            self.writeShortString(value)
        }
    }

    /// A dimension name; empty means none.
    mutating func readDimension(_ field: StaticString) throws(ProtocolError) -> EngageModel.Dimension? {
        let name = try self.readShortString(field)
        if name.isEmpty { return nil }
        guard let dimension = EngageModel.Dimension(name: name) else {
            throw ProtocolError(
                .invalidQuery,
                "unknown dimension '\(name)'; known: \(EngageModel.Dimension.allNames.joined(separator: ", "))"
            )
        }
        return dimension
    }

    /// `filters` then `breakdown`.
    mutating func readSelection() throws(ProtocolError) -> Selection {
        let filters = try self.readFilters()
        return Selection(filters: filters, breakdown: try self.readDimension("breakdown"))
    }

    mutating func writeSelection(_ selection: Selection) {
        self.writeFilters(selection.filters)
        self.writeShortString(selection.breakdown?.name ?? "")
    }

    /// A result row's `group`: the breakdown value, empty without a breakdown.
    mutating func readGroup() throws(ProtocolError) -> String? {
        let group = try self.readShortString("group")
        return group.isEmpty ? nil : group
    }

    mutating func writeGroup(_ group: String?) { self.writeShortString(group ?? "") }
}

extension Period {
    /// The `period` byte: 0 day, 1 week, 2 month.
    var wireValue: UInt8 {
        switch self {
        case .day: return 0
        case .week: return 1
        case .month: return 2
        }
    }

    init?(wireValue: UInt8) {
        switch wireValue {
        case 0: self = .day
        case 1: self = .week
        case 2: self = .month
        default: return nil
        }
    }
}
