import EngageModel
import LMDB

/// A local date as stored in keys: days since 1999-12-01, two bytes big-endian. It covers every local date
/// of an accepted event (2000-01-01T00:00Z is 1999-12-31 west of UTC) up to the year 2179.
typealias StoreDay = UInt16

extension CivilDate {
    /// Day number of 1999-12-01, the first `StoreDay`.
    static let storeEpochDayNumber: Int32 = 10_926

    var storeDay: StoreDay? {
        let offset = Int(self.dayNumber) - Int(CivilDate.storeEpochDayNumber)
        return (0...Int(UInt16.max)).contains(offset) ? StoreDay(offset) : nil
    }

    init(storeDay: StoreDay) {
        self.init(dayNumber: CivilDate.storeEpochDayNumber + Int32(storeDay))
    }

    /// Midnight UTC of this date number: the base that stored timestamps are offsets from.
    var utcMidnightMs: Int64 { Int64(self.dayNumber) * 86_400_000 }
}

/// Users per bitset chunk. A chunk is 1 KiB, small enough to stay inside a B-tree page (no overflow pages).
let usersPerChunk = 8192

/// The LMDB databases of a data directory. Keys are big-endian so that byte order is numeric order;
/// (day, user) comes first wherever writes happen, so that one day's writes stay in one region of the file.
struct Schema: Sendable {
    /// Settings and counters: ASCII name -> value.
    let meta: Database
    /// user_id bytes -> user_key (u32).
    let userIDs: Database
    /// user_key (u32) -> ``UserRecord``.
    var users: Database
    /// action_key (u16) -> ``ActionRecord``.
    let actions: Database
    /// context bytes -> context id (u32); 0 means "no context".
    let contexts: Database
    /// context id (u32) -> context bytes.
    let contextNames: Database
    /// attribute (u8) ++ value bytes -> value id (u32).
    let attributeValues: Database
    /// attribute (u8) ++ value id (u32) -> users holding it (u32) ++ value bytes.
    let attributeNames: Database
    /// attribute (u8) ++ value id (u32) ++ chunk (u16) -> bitset of the chunk's users holding that value.
    let attributeMembers: Database
    /// Raw events: day (u16) ++ user_key (u32) ++ event_id -> ``StoredEvent``. A duplicate on the same day is
    /// a put that finds its key taken.
    let events: Database
    /// Daily user activity: day (u16) ++ user_key (u32) -> ``DailyRecord``.
    var daily: Database
    /// Sessions: start day (u16) ++ user_key (u32) ++ start ms (i64, ordered) -> ``SessionRecord``.
    var sessions: Database
    /// Active users of a day: day (u16) ++ chunk (u16) -> bitset.
    var dayActive: Database
    /// Whole-population series: day (u16) -> dau, wau, mau (u32 each).
    var series: Database
    /// Per day: day (u16) -> events (u64), user-day records (u64).
    var dayTotals: Database
    /// Month totals per user: month (u16, months since 1970) ++ user_key (u32) -> ``MonthRecord``.
    var userMonths: Database
    /// Users by registration date: day (u16) ++ chunk (u16) -> bitset.
    var registrations: Database

    /// Empty twins of the derived databases, that ``EngageStore/verify(maximumReported:)`` rebuilds into
    /// inside a transaction it then aborts.
    let scratch: [String: Database]

    static let derivedNames = [
        "users", "daily", "sessions", "day_active", "series", "day_totals", "user_months", "registrations",
    ]
    static let databaseCount = 17 + Schema.derivedNames.count

    init(environment: Environment) throws {
        func open(_ name: String) throws -> Database { try environment.openDatabase(name) }
        self.meta = try open("meta")
        self.userIDs = try open("user_ids")
        self.users = try open("users")
        self.actions = try open("actions")
        self.contexts = try open("contexts")
        self.contextNames = try open("context_names")
        self.attributeValues = try open("attribute_values")
        self.attributeNames = try open("attribute_names")
        self.attributeMembers = try open("attribute_members")
        self.events = try open("events")
        self.daily = try open("daily")
        self.sessions = try open("sessions")
        self.dayActive = try open("day_active")
        self.series = try open("series")
        self.dayTotals = try open("day_totals")
        self.userMonths = try open("user_months")
        self.registrations = try open("registrations")
        var scratch: [String: Database] = [:]
        for name in Schema.derivedNames { scratch[name] = try open("verify_" + name) }
        self.scratch = scratch
    }

    /// The derived databases by name.
    var derived: [String: Database] {
        [
            "users": self.users, "daily": self.daily, "sessions": self.sessions, "day_active": self.dayActive,
            "series": self.series, "day_totals": self.dayTotals, "user_months": self.userMonths,
            "registrations": self.registrations,
        ]
    }

    /// This schema with every derived database replaced by its scratch twin.
    var scratchVariant: Schema {
        var copy = self
        copy.users = self.scratch["users"]!
        copy.daily = self.scratch["daily"]!
        copy.sessions = self.scratch["sessions"]!
        copy.dayActive = self.scratch["day_active"]!
        copy.series = self.scratch["series"]!
        copy.dayTotals = self.scratch["day_totals"]!
        copy.userMonths = self.scratch["user_months"]!
        copy.registrations = self.scratch["registrations"]!
        return copy
    }
}

/// Key builders, one per database.
enum Key {
    static func u16(_ value: UInt16) -> [UInt8] {
        var writer = ByteWriter(capacity: 2)
        writer.u16(value)
        return writer.bytes
    }

    static func u32(_ value: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 4)
        writer.u32(value)
        return writer.bytes
    }

    static func dayUser(_ day: StoreDay, _ user: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 6)
        writer.u16(day)
        writer.u32(user)
        return writer.bytes
    }

    static func event(_ day: StoreDay, _ user: UInt32, _ eventID: some Collection<UInt8>) -> [UInt8] {
        var writer = ByteWriter(capacity: 6 + eventID.count)
        writer.u16(day)
        writer.u32(user)
        writer.raw(eventID)
        return writer.bytes
    }

    static func session(_ day: StoreDay, _ user: UInt32, startMs: Int64) -> [UInt8] {
        var writer = ByteWriter(capacity: 14)
        writer.u16(day)
        writer.u32(user)
        writer.i64Ordered(startMs)
        return writer.bytes
    }

    static func dayChunk(_ day: StoreDay, _ chunk: UInt16) -> [UInt8] {
        var writer = ByteWriter(capacity: 4)
        writer.u16(day)
        writer.u16(chunk)
        return writer.bytes
    }

    static func userMonth(_ month: Int, _ user: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 6)
        writer.u16(UInt16(month))
        writer.u32(user)
        return writer.bytes
    }

    static func attributeValue(_ attribute: Attribute, _ value: some Collection<UInt8>) -> [UInt8] {
        var writer = ByteWriter(capacity: 1 + value.count)
        writer.u8(UInt8(attribute.index))
        writer.raw(value)
        return writer.bytes
    }

    static func attributeName(_ attribute: Attribute, _ valueID: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 5)
        writer.u8(UInt8(attribute.index))
        writer.u32(valueID)
        return writer.bytes
    }

}

/// Names in the `meta` database.
enum MetaKey {
    static let schemaVersion = "schema_version"
    static let timeZone = "time_zone"
    static let sessionGapMs = "session_gap_ms"
    static let powerThreshold = "power_threshold"
    static let defaultCore = "default_core"
    static let nextUserKey = "next_user_key"
    static let nextContextID = "next_context_id"
    static let nextAttributeValueID = "next_attribute_value_id"
    static let eventCount = "event_count"
    static let duplicateCount = "duplicate_count"
    /// A random number chosen when the directory is created: tells this store's export cursors from others'.
    static let storeID = "store_id"
    /// The first day whose raw events are all still stored, once retention dropped older ones.
    static let rawRetainedFrom = "raw_retained_from"
}
