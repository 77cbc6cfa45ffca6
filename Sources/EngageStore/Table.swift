import EngageModel
import LMDB

/// Builds and parses the bytes of an LMDB key: one type per key layout, both directions in one place (as
/// heed's `BytesEncode`/`BytesDecode`), so that no code outside it slices keys by offset.
protocol KeyCodec {
    associatedtype Key
    static func encode(_ key: Key, into writer: inout ByteWriter)
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> Key
}

extension KeyCodec {
    /// The bytes of `key`.
    static func bytes(_ key: Key) -> [UInt8] {
        var writer = ByteWriter(capacity: 16)
        Self.encode(key, into: &writer)
        return writer.bytes
    }
}

/// A key whose first field is the local day (so that a table's keys of one day are contiguous).
protocol DayFirstKey {
    var day: StoreDay { get }
}

/// Builds and parses the bytes of a value stored under a key of `Key`; the key is at hand both ways because
/// some values are stored relative to it (times as offsets from the key's day or start).
protocol ValueCodec {
    associatedtype Key
    associatedtype Value
    static func encode(_ value: Value, key: Key, into writer: inout ByteWriter)
    static func decode(_ bytes: UnsafeRawBufferPointer, key: Key) throws(CorruptRecord) -> Value
}

/// An LMDB database whose keys and values are typed through their codecs.
struct Table<Keys: KeyCodec, Values: ValueCodec>: Sendable where Values.Key == Keys.Key {
    typealias Key = Keys.Key
    typealias Value = Values.Value

    let database: Database

    init(_ database: Database) { self.database = database }

    static func keyBytes(_ key: Key) -> [UInt8] { Keys.bytes(key) }

    static func valueBytes(_ value: Value, key: Key) -> [UInt8] {
        var writer = ByteWriter(capacity: 32)
        Values.encode(value, key: key, into: &writer)
        return writer.bytes
    }

    func get(_ key: Key, _ txn: borrowing Transaction) throws -> Value? {
        guard let raw = try txn.get(self.database, key: Self.keyBytes(key)) else { return nil }
        return try Values.decode(raw, key: key)
    }

    func contains(_ key: Key, _ txn: borrowing Transaction) throws -> Bool {
        try txn.get(self.database, key: Self.keyBytes(key)) != nil
    }

    func put(_ key: Key, _ value: Value, _ txn: borrowing Transaction) throws {
        try txn.put(self.database, key: Self.keyBytes(key), value: Self.valueBytes(value, key: key))
    }

    /// Stores `value` unless `key` is taken; false when it was.
    func insert(_ key: Key, _ value: Value, _ txn: borrowing Transaction) throws -> Bool {
        try txn.put(
            self.database,
            key: Self.keyBytes(key),
            value: Self.valueBytes(value, key: key),
            flags: .noOverwrite
        )
    }

    @discardableResult
    func delete(_ key: Key, _ txn: borrowing Transaction) throws -> Bool {
        try txn.delete(self.database, key: Self.keyBytes(key))
    }

    func count(_ txn: borrowing Transaction) throws -> Int { try txn.count(self.database) }

    func removeAll(_ txn: borrowing Transaction) throws { try txn.empty(self.database) }

    /// Every entry whose key starts with `prefix` (see the key codec's prefix builders), in key order, until
    /// `body` returns false.
    func forEach(prefix: [UInt8] = [], _ txn: borrowing Transaction, _ body: (Key, Value) throws -> Bool) throws {
        try txn.forEach(self.database, prefix: prefix) { entry in
            let key = try Keys.decode(entry.key)
            return try body(key, try Values.decode(entry.value, key: key))
        }
    }

    /// Every entry from the first key >= `start` (all keys when nil) while keys start with `prefix`.
    func forEach(
        from start: Key?,
        whilePrefix prefix: [UInt8] = [],
        _ txn: borrowing Transaction,
        _ body: (Key, Value) throws -> Bool
    ) throws {
        var startBytes = prefix
        if let start { startBytes = Keys.bytes(start) }
        try txn.forEach(self.database, from: startBytes, whilePrefix: prefix) { entry in
            let key = try Keys.decode(entry.key)
            return try body(key, try Values.decode(entry.value, key: key))
        }
    }

    /// Every entry from the first key >= `start` (raw key bytes: a prefix, or a key followed by a 0 to start
    /// just after it), to the end or until `body` returns false.
    func forEach(startingAt start: [UInt8], _ txn: borrowing Transaction, _ body: (Key, Value) throws -> Bool) throws {
        try txn.forEach(self.database, from: start, whilePrefix: []) { entry in
            let key = try Keys.decode(entry.key)
            return try body(key, try Values.decode(entry.value, key: key))
        }
    }

    /// The keys only, from `start`, in order (the values are not decoded).
    func forEachKey(from start: [UInt8], _ txn: borrowing Transaction, _ body: (Key) throws -> Bool) throws {
        try txn.forEach(self.database, from: start, whilePrefix: []) { entry in try body(try Keys.decode(entry.key)) }
    }

    /// The first and last keys (nil for an empty table).
    func firstKey(_ txn: borrowing Transaction) throws -> Key? {
        try txn.withCursor(self.database) { cursor in try cursor.first().map { try Keys.decode($0.key) } }
    }

    func lastKey(_ txn: borrowing Transaction) throws -> Key? {
        try txn.withCursor(self.database) { cursor in try cursor.last().map { try Keys.decode($0.key) } }
    }

    /// Every entry as stored bytes (copied), from `start`, at most `limit`: for comparing two tables.
    func rawSlice(
        from start: [UInt8],
        limit: Int,
        _ txn: borrowing Transaction
    ) throws -> [(key: [UInt8], value: [UInt8])] {
        var rows: [(key: [UInt8], value: [UInt8])] = []
        try txn.forEach(self.database, from: start, whilePrefix: []) { entry in
            rows.append((Array(entry.key), Array(entry.value)))
            return rows.count < limit
        }
        return rows
    }
}

// MARK: - Key layouts

/// `day (u16)`, also the first field of every day-first layout.
enum DayKey: KeyCodec {
    /// The keys of one day, in any day-first layout (daily records, sessions, day sets, registrations).
    static func prefix(_ day: StoreDay) -> [UInt8] {
        [UInt8(truncatingIfNeeded: day >> 8), UInt8(truncatingIfNeeded: day)]
    }

    static func encode(_ key: StoreDay, into writer: inout ByteWriter) { writer.u16(key) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> StoreDay {
        var reader = ByteReader(bytes)
        return try reader.u16()
    }
}

/// A day number (i32, stored as its bit pattern): export cursors of the dates table.
enum DayNumberKey: KeyCodec {
    static func encode(_ key: Int32, into writer: inout ByteWriter) { writer.u32(UInt32(bitPattern: key)) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> Int32 {
        var reader = ByteReader(bytes)
        return Int32(bitPattern: try reader.u32())
    }
}

/// A `u64` (row numbers in export cursors).
enum U64Key: KeyCodec {
    static func encode(_ key: UInt64, into writer: inout ByteWriter) { writer.u64(key) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> UInt64 {
        var reader = ByteReader(bytes)
        return try reader.u64()
    }
}

/// A `u32`: a user key, a context id.
enum U32Key: KeyCodec {
    static func encode(_ key: UInt32, into writer: inout ByteWriter) { writer.u32(key) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> UInt32 {
        var reader = ByteReader(bytes)
        return try reader.u32()
    }
}

/// `action_key (u16)`.
enum ActionKey: KeyCodec {
    static func encode(_ key: UInt16, into writer: inout ByteWriter) { writer.u16(key) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> UInt16 {
        var reader = ByteReader(bytes)
        return try reader.u16()
    }
}

/// Raw bytes as the key (user ids, contexts, names in `meta`).
enum BytesKey: KeyCodec {
    static func encode(_ key: [UInt8], into writer: inout ByteWriter) { writer.raw(key) }
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> [UInt8] { Array(bytes) }
}

/// `day (u16) ++ user_key (u32)`: daily records.
struct DayUser: Hashable, Comparable, DayFirstKey {
    var day: StoreDay
    var user: UInt32

    static func < (lhs: DayUser, rhs: DayUser) -> Bool { (lhs.day, lhs.user) < (rhs.day, rhs.user) }
}

enum DayUserKey: KeyCodec {
    static func encode(_ key: DayUser, into writer: inout ByteWriter) {
        writer.u16(key.day)
        writer.u32(key.user)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> DayUser {
        var reader = ByteReader(bytes)
        return DayUser(day: try reader.u16(), user: try reader.u32())
    }

}

/// `day (u16) ++ user_key (u32) ++ event_id`: raw events.
struct EventKey: Hashable, DayFirstKey {
    var day: StoreDay
    var user: UInt32
    var eventID: [UInt8]
}

enum EventKeyCodec: KeyCodec {
    static func encode(_ key: EventKey, into writer: inout ByteWriter) {
        self.encode(day: key.day, user: key.user, eventID: key.eventID, into: &writer)
    }

    /// The key of an event whose id is not in an ``EventKey`` yet (the write path, without an array per event).
    static func encode(
        day: StoreDay,
        user: UInt32,
        eventID: some Sequence<UInt8>,
        into writer: inout ByteWriter
    ) {
        writer.u16(day)
        writer.u32(user)
        writer.raw(eventID)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> EventKey {
        let parts = try self.parts(bytes)
        return EventKey(day: parts.day, user: parts.user, eventID: Array(parts.eventID))
    }

    /// The key's fields with the event id left in place (scans over every event that keep no copy of it).
    static func parts(
        _ bytes: UnsafeRawBufferPointer
    ) throws(CorruptRecord) -> (day: StoreDay, user: UInt32, eventID: UnsafeRawBufferPointer) {
        var reader = ByteReader(bytes)
        return (try reader.u16(), try reader.u32(), reader.rest())
    }
}

/// `start day (u16) ++ user_key (u32) ++ start ms (i64, ordered)`: sessions.
struct SessionKey: Hashable, DayFirstKey {
    var day: StoreDay
    var user: UInt32
    var startMs: Int64
}

enum SessionKeyCodec: KeyCodec {
    static func encode(_ key: SessionKey, into writer: inout ByteWriter) {
        writer.u16(key.day)
        writer.u32(key.user)
        writer.i64Ordered(key.startMs)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> SessionKey {
        var reader = ByteReader(bytes)
        return SessionKey(day: try reader.u16(), user: try reader.u32(), startMs: try reader.i64Ordered())
    }

    /// Sessions of one user that start on one day.
    static func prefix(day: StoreDay, user: UInt32) -> [UInt8] {
        Table<DayUserKey, Unit<DayUser>>.keyBytes(DayUser(day: day, user: user))
    }
}

/// `day (u16) ++ chunk (u16)`: per-day active users and registrations, by chunk of users.
struct DayChunk: Hashable {
    var day: StoreDay
    var chunk: UInt16
}

enum DayChunkKey: KeyCodec {
    static func encode(_ key: DayChunk, into writer: inout ByteWriter) {
        writer.u16(key.day)
        writer.u16(key.chunk)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> DayChunk {
        var reader = ByteReader(bytes)
        return DayChunk(day: try reader.u16(), chunk: try reader.u16())
    }
}

/// `month (u16, months since 1970) ++ user_key (u32)`: month totals.
struct MonthUser: Hashable {
    var month: UInt16
    var user: UInt32
}

enum MonthUserKey: KeyCodec {
    static func encode(_ key: MonthUser, into writer: inout ByteWriter) {
        writer.u16(key.month)
        writer.u32(key.user)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> MonthUser {
        var reader = ByteReader(bytes)
        return MonthUser(month: try reader.u16(), user: try reader.u32())
    }

    static func prefix(month: UInt16) -> [UInt8] {
        [UInt8(truncatingIfNeeded: month >> 8), UInt8(truncatingIfNeeded: month)]
    }
}

/// `attribute (u8) ++ value bytes`: attribute value ids by text.
struct AttributeText: Hashable {
    var attribute: Attribute
    var value: [UInt8]
}

enum AttributeTextKey: KeyCodec {
    static func encode(_ key: AttributeText, into writer: inout ByteWriter) {
        writer.u8(UInt8(key.attribute.index))
        writer.raw(key.value)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> AttributeText {
        var reader = ByteReader(bytes)
        guard let attribute = Attribute(index: Int(try reader.u8())) else {
            throw CorruptRecord(what: "attribute index")
        }
        return AttributeText(attribute: attribute, value: Array(reader.rest()))
    }
}

/// `attribute (u8) ++ value id (u32)`: an attribute value.
struct AttributeValueID: Hashable {
    var attribute: Attribute
    var id: UInt32
}

enum AttributeValueIDKey: KeyCodec {
    static func encode(_ key: AttributeValueID, into writer: inout ByteWriter) {
        writer.u8(UInt8(key.attribute.index))
        writer.u32(key.id)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> AttributeValueID {
        var reader = ByteReader(bytes)
        guard let attribute = Attribute(index: Int(try reader.u8())) else {
            throw CorruptRecord(what: "attribute index")
        }
        return AttributeValueID(attribute: attribute, id: try reader.u32())
    }

    static func prefix(_ attribute: Attribute) -> [UInt8] { [UInt8(attribute.index)] }
}

/// `attribute (u8) ++ value id (u32) ++ chunk (u16)`: the users holding a value, by chunk of users.
struct AttributeChunk: Hashable {
    var value: AttributeValueID
    var chunk: UInt16
}

enum AttributeChunkKey: KeyCodec {
    static func encode(_ key: AttributeChunk, into writer: inout ByteWriter) {
        AttributeValueIDKey.encode(key.value, into: &writer)
        writer.u16(key.chunk)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CorruptRecord) -> AttributeChunk {
        var reader = ByteReader(bytes)
        guard let attribute = Attribute(index: Int(try reader.u8())) else {
            throw CorruptRecord(what: "attribute index")
        }
        let id = try reader.u32()
        return AttributeChunk(value: AttributeValueID(attribute: attribute, id: id), chunk: try reader.u16())
    }

    static func prefix(_ value: AttributeValueID) -> [UInt8] {
        Table<AttributeValueIDKey, Unit<AttributeValueID>>.keyBytes(value)
    }
}

// MARK: - Simple values

/// No value (used only to build keys of a layout through ``Table/keyBytes(_:)``).
enum Unit<K>: ValueCodec {
    typealias Key = K
    static func encode(_ value: Void, key: K, into writer: inout ByteWriter) {}
    static func decode(_ bytes: UnsafeRawBufferPointer, key: K) throws(CorruptRecord) {}
}

/// A `u32` (user keys, context ids, value ids).
enum U32Value<K>: ValueCodec {
    typealias Key = K
    static func encode(_ value: UInt32, key: K, into writer: inout ByteWriter) { writer.u32(value) }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: K) throws(CorruptRecord) -> UInt32 {
        var reader = ByteReader(bytes)
        return try reader.u32()
    }
}

/// Raw bytes (context names, settings).
enum BytesValue<K>: ValueCodec {
    typealias Key = K
    static func encode(_ value: [UInt8], key: K, into writer: inout ByteWriter) { writer.raw(value) }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: K) throws(CorruptRecord) -> [UInt8] { Array(bytes) }
}

/// A bitset of the users of one chunk.
enum ChunkBitsValue<K>: ValueCodec {
    typealias Key = K
    static func encode(_ value: ChunkBits, key: K, into writer: inout ByteWriter) { writer.raw(value.encoded()) }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: K) throws(CorruptRecord) -> ChunkBits {
        ChunkBits(decoding: bytes)
    }
}

/// DAU, WAU and MAU of one day.
struct SeriesRecord: Equatable {
    var dau: UInt32
    var wau: UInt32
    var mau: UInt32
}

enum SeriesValue: ValueCodec {
    static func encode(_ value: SeriesRecord, key: StoreDay, into writer: inout ByteWriter) {
        writer.u32(value.dau)
        writer.u32(value.wau)
        writer.u32(value.mau)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: StoreDay) throws(CorruptRecord) -> SeriesRecord {
        var reader = ByteReader(bytes)
        return SeriesRecord(dau: try reader.u32(), wau: try reader.u32(), mau: try reader.u32())
    }
}

/// Events and daily records of one day.
struct DayTotals: Equatable {
    var events: UInt64
    var records: UInt64
}

enum DayTotalsValue: ValueCodec {
    static func encode(_ value: DayTotals, key: StoreDay, into writer: inout ByteWriter) {
        writer.u64(value.events)
        writer.u64(value.records)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: StoreDay) throws(CorruptRecord) -> DayTotals {
        var reader = ByteReader(bytes)
        return DayTotals(events: try reader.u64(), records: try reader.u64())
    }
}

/// An attribute value's text and how many users hold it.
struct AttributeValueRecord: Equatable {
    var users: UInt32
    var name: [UInt8]

    var text: String { String(decoding: self.name, as: UTF8.self) }
}

enum AttributeValueRecordValue: ValueCodec {
    static func encode(_ value: AttributeValueRecord, key: AttributeValueID, into writer: inout ByteWriter) {
        writer.u32(value.users)
        writer.raw(value.name)
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer,
        key: AttributeValueID
    ) throws(CorruptRecord) -> AttributeValueRecord {
        var reader = ByteReader(bytes)
        return AttributeValueRecord(users: try reader.u32(), name: Array(reader.rest()))
    }
}
