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

/// The LMDB databases of a data directory, each a ``Table`` with its key and value codecs. Keys are
/// big-endian so that byte order is numeric order; (day, user) comes first wherever writes happen, so that
/// one day's writes stay in one region of the file.
struct Schema: Sendable {
    /// Settings and counters: ASCII name -> value (``StoreMeta``).
    let meta: Table<BytesKey, BytesValue<[UInt8]>>
    /// user_id bytes -> user_key.
    let userIDs: Table<BytesKey, U32Value<[UInt8]>>
    /// user_key -> ``UserRecord``.
    var users: Table<U32Key, UserRecordValue>
    /// action_key -> ``ActionRecord``.
    let actions: Table<ActionKey, ActionRecordValue>
    /// context bytes -> context id; 0 means "no context".
    let contexts: Table<BytesKey, U32Value<[UInt8]>>
    /// context id -> context bytes.
    let contextNames: Table<U32Key, BytesValue<UInt32>>
    /// (attribute, value text) -> value id.
    let attributeValues: Table<AttributeTextKey, U32Value<AttributeText>>
    /// (attribute, value id) -> users holding it and the value's text.
    let attributeNames: Table<AttributeValueIDKey, AttributeValueRecordValue>
    /// (attribute, value id, chunk) -> bitset of the chunk's users holding that value.
    let attributeMembers: Table<AttributeChunkKey, ChunkBitsValue<AttributeChunk>>
    /// Raw events: (day, user_key, event_id) -> ``StoredEvent``. A duplicate on the same day is an insert
    /// that finds its key taken.
    let events: Table<EventKeyCodec, StoredEventValue>
    /// Daily user activity: (day, user_key) -> ``DailyRecord``.
    var daily: Table<DayUserKey, DailyRecordValue>
    /// Sessions: (start day, user_key, start ms) -> ``SessionRecord``.
    var sessions: Table<SessionKeyCodec, SessionRecordValue>
    /// The sessions table read for totals only (duration and actions; see ``SessionTotalsValue``).
    var sessionTotals: Table<SessionKeyCodec, SessionTotalsValue> { Table(self.sessions.database) }
    /// Active users of a day: (day, chunk) -> bitset.
    var dayActive: Table<DayChunkKey, ChunkBitsValue<DayChunk>>
    /// Whole-population series: day -> dau, wau, mau.
    var series: Table<DayKey, SeriesValue>
    /// Per day: day -> events, user-day records.
    var dayTotals: Table<DayKey, DayTotalsValue>
    /// Month totals per user: (month, user_key) -> ``MonthRecord``.
    var userMonths: Table<MonthUserKey, MonthRecordValue>
    /// Users by registration date: (day, chunk) -> bitset.
    var registrations: Table<DayChunkKey, ChunkBitsValue<DayChunk>>
    /// The change feed: commit sequence -> what the commit rewrote (``ChangeFeed``).
    let changes: Table<U64Key, ChangeSetValue>

    /// The raw events read for their fixed fields only (no copy of the metadata).
    var eventHeads: Table<EventKeyCodec, StoredEventHeadValue> { Table(self.events.database) }

    /// Empty twins of the derived databases, that ``EngageStore/verify(maximumReported:)`` rebuilds into
    /// inside a transaction it then rolls back.
    let scratch: [String: Database]

    static let derivedNames = [
        "users", "daily", "sessions", "day_active", "series", "day_totals", "user_months", "registrations",
    ]
    static let databaseCount = 18 + Schema.derivedNames.count

    init(environment: Environment) throws {
        func open(_ name: String) throws -> Database { try environment.openDatabase(name) }
        self.meta = Table(try open("meta"))
        self.userIDs = Table(try open("user_ids"))
        self.users = Table(try open("users"))
        self.actions = Table(try open("actions"))
        self.contexts = Table(try open("contexts"))
        self.contextNames = Table(try open("context_names"))
        self.attributeValues = Table(try open("attribute_values"))
        self.attributeNames = Table(try open("attribute_names"))
        self.attributeMembers = Table(try open("attribute_members"))
        self.events = Table(try open("events"))
        self.daily = Table(try open("daily"))
        self.sessions = Table(try open("sessions"))
        self.dayActive = Table(try open("day_active"))
        self.series = Table(try open("series"))
        self.dayTotals = Table(try open("day_totals"))
        self.userMonths = Table(try open("user_months"))
        self.registrations = Table(try open("registrations"))
        self.changes = Table(try open("changes"))
        var scratch: [String: Database] = [:]
        for name in Schema.derivedNames { scratch[name] = try open("verify_" + name) }
        self.scratch = scratch
    }

    /// The derived databases by name.
    var derived: [String: Database] {
        [
            "users": self.users.database, "daily": self.daily.database, "sessions": self.sessions.database,
            "day_active": self.dayActive.database, "series": self.series.database,
            "day_totals": self.dayTotals.database,
            "user_months": self.userMonths.database, "registrations": self.registrations.database,
        ]
    }

    /// This schema with every derived database replaced by its scratch twin.
    var scratchVariant: Schema {
        var copy = self
        copy.users = Table(self.scratch["users"]!)
        copy.daily = Table(self.scratch["daily"]!)
        copy.sessions = Table(self.scratch["sessions"]!)
        copy.dayActive = Table(self.scratch["day_active"]!)
        copy.series = Table(self.scratch["series"]!)
        copy.dayTotals = Table(self.scratch["day_totals"]!)
        copy.userMonths = Table(self.scratch["user_months"]!)
        copy.registrations = Table(self.scratch["registrations"]!)
        return copy
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
    /// Write batches applied since the directory was created: the sequence number of the last one.
    static let appliedSequence = "applied_sequence"
    /// A random number chosen when the directory is created: tells this store's export cursors from others'.
    static let storeID = "store_id"
    /// Where the journal is: "" for `DATA/journal`, else an absolute path (``JournalLocation``).
    static let journalDirectory = "journal_directory"
    /// The token the journal's directory holds in its `journal-id` file (``JournalLocation``).
    static let journalToken = "journal_token"
    /// The first day whose raw events are all still stored, once retention dropped older ones.
    static let rawRetainedFrom = "raw_retained_from"
}
