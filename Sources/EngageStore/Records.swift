import EngageModel

/// A user's stored profile.
struct UserRecord: Equatable {
    var userID: [UInt8]
    /// Day number of the registration date, if known.
    var registration: Int32?
    /// A registration date was given by an upsert: events never move it.
    var registrationIsExplicit: Bool
    /// Value ids, indexed by ``Attribute/index``; 0 is `unknown`.
    var attributeValueIDs: [UInt32]
    /// The earliest day with an event. (No "last" day: it would change every day for every active user and
    /// cost a random page write per user per commit; the store's last day bounds what the writer searches.)
    var firstEventDay: StoreDay?

    init(userID: [UInt8]) {
        self.userID = userID
        self.registration = nil
        self.registrationIsExplicit = false
        self.attributeValueIDs = Array(repeating: 0, count: Attribute.allCases.count)
        self.firstEventDay = nil
    }

    func encode(into writer: inout ByteWriter) {
        var flags: UInt8 = 0
        if self.registration != nil { flags |= 1 }
        if self.registrationIsExplicit { flags |= 2 }
        if self.firstEventDay != nil { flags |= 4 }
        writer.u8(flags)
        if let registration { writer.zigzag(Int64(registration)) }
        if let firstEventDay { writer.varint(Int(firstEventDay)) }
        for id in self.attributeValueIDs { writer.varint(Int(id)) }
        writer.raw(self.userID)
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        let flags = try reader.u8()
        self.registration = flags & 1 != 0 ? Int32(truncatingIfNeeded: try reader.zigzag()) : nil
        self.registrationIsExplicit = flags & 2 != 0
        self.firstEventDay = flags & 4 != 0 ? StoreDay(truncatingIfNeeded: try reader.int()) : nil
        var ids: [UInt32] = []
        for _ in Attribute.allCases { ids.append(UInt32(truncatingIfNeeded: try reader.varint())) }
        self.attributeValueIDs = ids
        self.userID = Array(reader.rest())
    }

    var registrationDate: CivilDate? { self.registration.map { CivilDate(dayNumber: $0) } }
}

/// An action of the catalog.
struct ActionRecord: Equatable {
    var actionType: [UInt8]
    var category: String
    var weight: Int32
    var isCore: Bool

    func encode(into writer: inout ByteWriter) {
        writer.u8(self.isCore ? 1 : 0)
        writer.zigzag(Int64(self.weight))
        writer.lengthPrefixed(Array(self.category.utf8))
        writer.raw(self.actionType)
    }

    init(actionType: [UInt8], category: String, weight: Int32, isCore: Bool) {
        self.actionType = actionType
        self.category = category
        self.weight = weight
        self.isCore = isCore
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        self.isCore = try reader.u8() != 0
        self.weight = Int32(truncatingIfNeeded: try reader.zigzag())
        self.category = try reader.lengthPrefixed().string
        self.actionType = Array(reader.rest())
    }

    var definition: ActionDefinition {
        ActionDefinition(
            actionType: String(decoding: self.actionType, as: UTF8.self),
            category: self.category,
            engagementWeight: self.weight,
            isCoreAction: self.isCore
        )
    }
}

/// The value of a raw event; its key holds the day, the user and the event id.
struct StoredEvent: Equatable {
    var timestampMs: Int64
    var actionKey: UInt16
    /// 0 means no context.
    var contextID: UInt32
    /// The JSON object as sent, or empty.
    var metadata: String

    static func encode(
        timestampMs: Int64,
        day: CivilDate,
        actionKey: UInt16,
        contextID: UInt32,
        metadata: some Collection<UInt8>,
        into writer: inout ByteWriter
    ) {
        writer.zigzag(timestampMs - day.utcMidnightMs)
        writer.varint(Int(actionKey))
        writer.varint(Int(contextID))
        writer.raw(metadata)
    }

    /// Decodes the fixed fields only (sessions and recounts do not need the metadata).
    static func decodeHead(
        _ bytes: UnsafeRawBufferPointer,
        day: CivilDate
    ) throws(CorruptRecord) -> (timestampMs: Int64, actionKey: UInt16, contextID: UInt32, metadataOffset: Int) {
        var reader = ByteReader(bytes)
        let ts = try reader.zigzag() + day.utcMidnightMs
        let action = UInt16(truncatingIfNeeded: try reader.varint())
        let context = UInt32(truncatingIfNeeded: try reader.varint())
        return (ts, action, context, reader.offset)
    }
}

/// One user's activity on one local day.
struct DailyRecord: Equatable {
    /// (action key, events) sorted by action key.
    var actionCounts: [(action: UInt16, count: UInt32)]
    /// Sessions starting this day and the sum of their durations in seconds.
    var sessionsCount: UInt32
    var sessionSeconds: UInt64
    /// Active days and their total actions over [day - 29, day]: the rolling tier's inputs.
    var rollingActiveDays: UInt8
    var rollingActions: UInt64
    var tier: Tier
    /// Start of the session holding this day's first event, when that session began on an earlier day.
    var carryStartMs: Int64?

    init() {
        self.actionCounts = []
        self.sessionsCount = 0
        self.sessionSeconds = 0
        self.rollingActiveDays = 0
        self.rollingActions = 0
        self.tier = .inactive
        self.carryStartMs = nil
    }

    static func == (lhs: DailyRecord, rhs: DailyRecord) -> Bool {
        lhs.actionCounts.elementsEqual(rhs.actionCounts, by: { $0.action == $1.action && $0.count == $1.count })
            && lhs.sessionsCount == rhs.sessionsCount && lhs.sessionSeconds == rhs.sessionSeconds
            && lhs.rollingActiveDays == rhs.rollingActiveDays && lhs.rollingActions == rhs.rollingActions
            && lhs.tier == rhs.tier && lhs.carryStartMs == rhs.carryStartMs
    }

    var totalActions: Int { self.actionCounts.reduce(0) { $0 + Int($1.count) } }
    var uniqueActionTypes: Int { self.actionCounts.count }

    func isActive(_ catalog: ActionCatalog) -> Bool {
        self.actionCounts.contains { catalog.isCore($0.action) }
    }

    mutating func add(action: UInt16, count: UInt32) {
        var low = 0
        var high = self.actionCounts.count
        while low < high {
            let middle = (low + high) / 2
            if self.actionCounts[middle].action < action { low = middle + 1 } else { high = middle }
        }
        if low < self.actionCounts.count && self.actionCounts[low].action == action {
            self.actionCounts[low].count += count
        } else {
            self.actionCounts.insert((action, count), at: low)
        }
    }

    func encode(day: CivilDate, into writer: inout ByteWriter) {
        writer.varint(self.actionCounts.count)
        for entry in self.actionCounts {
            writer.varint(Int(entry.action))
            writer.varint(Int(entry.count))
        }
        writer.varint(Int(self.sessionsCount))
        writer.varint(self.sessionSeconds)
        writer.u8(self.rollingActiveDays)
        writer.varint(self.rollingActions)
        writer.u8(self.tier.rawValue)
        if let carryStartMs {
            writer.u8(1)
            writer.zigzag(day.utcMidnightMs - carryStartMs)
        } else {
            writer.u8(0)
        }
    }

    init(decoding bytes: UnsafeRawBufferPointer, day: CivilDate) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        let count = try reader.int()
        guard count <= bytes.count else { throw CorruptRecord(what: "daily record action count") }
        var counts: [(action: UInt16, count: UInt32)] = []
        counts.reserveCapacity(count)
        for _ in 0..<count {
            let action = UInt16(truncatingIfNeeded: try reader.varint())
            let events = UInt32(truncatingIfNeeded: try reader.varint())
            counts.append((action, events))
        }
        self.actionCounts = counts
        self.sessionsCount = UInt32(truncatingIfNeeded: try reader.varint())
        self.sessionSeconds = try reader.varint()
        self.rollingActiveDays = try reader.u8()
        self.rollingActions = try reader.varint()
        guard let tier = Tier(rawValue: try reader.u8()) else { throw CorruptRecord(what: "tier") }
        self.tier = tier
        self.carryStartMs = try reader.u8() != 0 ? day.utcMidnightMs - (try reader.zigzag()) : nil
    }
}

/// A session's aggregates; its key holds the start day, the user and the start instant.
struct SessionRecord: Equatable {
    var startMs: Int64
    var endMs: Int64
    var actionsCount: UInt32
    var coreActionsCount: UInt32
    /// Distinct non-empty contexts, ascending.
    var contexts: [UInt32]

    var durationSeconds: Int64 { (self.endMs - self.startMs) / 1000 }
    var screensVisited: Int { self.contexts.count }

    func encode(into writer: inout ByteWriter) {
        writer.varint(UInt64(self.endMs - self.startMs))
        writer.varint(Int(self.actionsCount))
        writer.varint(Int(self.coreActionsCount))
        writer.varint(self.contexts.count)
        var previous: UInt32 = 0
        for context in self.contexts {
            writer.varint(Int(context - previous))
            previous = context
        }
    }

    init(startMs: Int64, endMs: Int64, actionsCount: UInt32, coreActionsCount: UInt32, contexts: [UInt32]) {
        self.startMs = startMs
        self.endMs = endMs
        self.actionsCount = actionsCount
        self.coreActionsCount = coreActionsCount
        self.contexts = contexts
    }

    init(decoding bytes: UnsafeRawBufferPointer, startMs: Int64) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        self.startMs = startMs
        self.endMs = startMs + Int64(truncatingIfNeeded: try reader.varint())
        self.actionsCount = UInt32(truncatingIfNeeded: try reader.varint())
        self.coreActionsCount = UInt32(truncatingIfNeeded: try reader.varint())
        let count = try reader.int()
        guard count <= bytes.count else { throw CorruptRecord(what: "session context count") }
        var contexts: [UInt32] = []
        contexts.reserveCapacity(count)
        var previous: UInt32 = 0
        for _ in 0..<count {
            previous += UInt32(truncatingIfNeeded: try reader.varint())
            contexts.append(previous)
        }
        self.contexts = contexts
    }

    var sessionType: SessionType {
        SessionType.of(actions: Int(self.actionsCount), coreActions: Int(self.coreActionsCount))
    }
}

/// The action catalog, small enough to keep whole in memory.
struct ActionCatalog: Equatable {
    /// Indexed by action key; key 0 is unused.
    private(set) var actions: [ActionRecord?] = [nil]
    /// Action type -> key, byte-exact like the store's keys (UTF8Key; hashing a String's bytes is bulk, a
    /// [UInt8]'s per byte, so the hot path keeps this one index).
    private(set) var keysByName: [UTF8Key: UInt16] = [:]

    /// Action keys are two bytes; key 0 is reserved.
    static let capacity = Int(UInt16.max)

    func isCore(_ key: UInt16) -> Bool {
        Int(key) < self.actions.count ? (self.actions[Int(key)]?.isCore ?? false) : false
    }

    func key(of actionType: [UInt8]) -> UInt16? {
        self.keysByName[UTF8Key(String(decoding: actionType, as: UTF8.self))]
    }

    func key(named actionType: String) -> UInt16? { self.keysByName[UTF8Key(actionType)] }

    func record(_ key: UInt16) -> ActionRecord? { Int(key) < self.actions.count ? self.actions[Int(key)] : nil }

    var count: Int { self.keysByName.count }

    var nextKey: UInt16? { self.actions.count < ActionCatalog.capacity ? UInt16(self.actions.count) : nil }

    mutating func set(_ key: UInt16, _ record: ActionRecord) {
        while self.actions.count <= Int(key) { self.actions.append(nil) }
        self.actions[Int(key)] = record
        self.keysByName[UTF8Key(String(decoding: record.actionType, as: UTF8.self))] = key
    }

    var coreFlags: [Bool] { self.actions.map { $0?.isCore ?? false } }
}

/// One user's totals over one calendar month: what monthly tiers, transitions and month distributions
/// need, kept on write so that those queries read one small record per user.
struct MonthRecord: Equatable {
    /// Daily records in the month (days with any event).
    var records: Int64 = 0
    var activeDays: Int64 = 0
    /// total_actions summed over active days (the power test's A).
    var activeActions: Int64 = 0
    /// total_actions and sessions_count summed over all daily records.
    var actions: Int64 = 0
    var sessions: Int64 = 0

    var isEmpty: Bool { self.records == 0 }

    static func + (lhs: MonthRecord, rhs: MonthRecord) -> MonthRecord {
        MonthRecord(
            records: lhs.records + rhs.records,
            activeDays: lhs.activeDays + rhs.activeDays,
            activeActions: lhs.activeActions + rhs.activeActions,
            actions: lhs.actions + rhs.actions,
            sessions: lhs.sessions + rhs.sessions
        )
    }

    static func - (lhs: MonthRecord, rhs: MonthRecord) -> MonthRecord {
        MonthRecord(
            records: lhs.records - rhs.records,
            activeDays: lhs.activeDays - rhs.activeDays,
            activeActions: lhs.activeActions - rhs.activeActions,
            actions: lhs.actions - rhs.actions,
            sessions: lhs.sessions - rhs.sessions
        )
    }

    /// A daily record's share of its month.
    init(records: Int64 = 0, activeDays: Int64 = 0, activeActions: Int64 = 0, actions: Int64 = 0, sessions: Int64 = 0) {
        self.records = records
        self.activeDays = activeDays
        self.activeActions = activeActions
        self.actions = actions
        self.sessions = sessions
    }

    init(day record: DailyRecord, isActive: Bool) {
        let actions = Int64(record.totalActions)
        self.init(
            records: 1,
            activeDays: isActive ? 1 : 0,
            activeActions: isActive ? actions : 0,
            actions: actions,
            sessions: Int64(record.sessionsCount)
        )
    }

    func encode(into writer: inout ByteWriter) {
        for value in [self.records, self.activeDays, self.activeActions, self.actions, self.sessions] {
            writer.varint(UInt64(value))
        }
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        self.records = Int64(try reader.varint())
        self.activeDays = Int64(try reader.varint())
        self.activeActions = Int64(try reader.varint())
        self.actions = Int64(try reader.varint())
        self.sessions = Int64(try reader.varint())
    }

    func tier(powerThreshold: Int) -> Tier {
        Tier.of(activeDays: Int(self.activeDays), actions: Int(self.activeActions), powerThreshold: powerThreshold)
    }
}

// MARK: - Value codecs of the tables

enum UserRecordValue: ValueCodec {
    static func encode(_ value: UserRecord, key: UInt32, into writer: inout ByteWriter) { value.encode(into: &writer) }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: UInt32) throws(CorruptRecord) -> UserRecord {
        try UserRecord(decoding: bytes)
    }
}

enum ActionRecordValue: ValueCodec {
    static func encode(_ value: ActionRecord, key: UInt16, into writer: inout ByteWriter) {
        value.encode(into: &writer)
    }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: UInt16) throws(CorruptRecord) -> ActionRecord {
        try ActionRecord(decoding: bytes)
    }
}

/// A raw event's fixed fields (what sessions, recounts and rebuilds need), read without copying its metadata.
struct StoredEventHead: Equatable {
    var timestampMs: Int64
    var actionKey: UInt16
    /// 0 means no context.
    var contextID: UInt32
}

enum StoredEventValue: ValueCodec {
    static func encode(_ value: StoredEvent, key: EventKey, into writer: inout ByteWriter) {
        StoredEvent.encode(
            timestampMs: value.timestampMs,
            day: CivilDate(storeDay: key.day),
            actionKey: value.actionKey,
            contextID: value.contextID,
            metadata: value.metadata.utf8,
            into: &writer
        )
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: EventKey) throws(CorruptRecord) -> StoredEvent {
        let head = try StoredEvent.decodeHead(bytes, day: CivilDate(storeDay: key.day))
        return StoredEvent(
            timestampMs: head.timestampMs,
            actionKey: head.actionKey,
            contextID: head.contextID,
            metadata: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.metadataOffset...]), as: UTF8.self)
        )
    }
}

/// The same values, read for their head only.
enum StoredEventHeadValue: ValueCodec {
    static func encode(_ value: StoredEventHead, key: EventKey, into writer: inout ByteWriter) {
        StoredEvent.encode(
            timestampMs: value.timestampMs,
            day: CivilDate(storeDay: key.day),
            actionKey: value.actionKey,
            contextID: value.contextID,
            metadata: EmptyCollection<UInt8>(),
            into: &writer
        )
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: EventKey) throws(CorruptRecord) -> StoredEventHead {
        let head = try StoredEvent.decodeHead(bytes, day: CivilDate(storeDay: key.day))
        return StoredEventHead(timestampMs: head.timestampMs, actionKey: head.actionKey, contextID: head.contextID)
    }
}

enum DailyRecordValue: ValueCodec {
    static func encode(_ value: DailyRecord, key: DayUser, into writer: inout ByteWriter) {
        value.encode(day: CivilDate(storeDay: key.day), into: &writer)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: DayUser) throws(CorruptRecord) -> DailyRecord {
        try DailyRecord(decoding: bytes, day: CivilDate(storeDay: key.day))
    }
}

enum SessionRecordValue: ValueCodec {
    static func encode(_ value: SessionRecord, key: SessionKey, into writer: inout ByteWriter) {
        value.encode(into: &writer)
    }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: SessionKey) throws(CorruptRecord) -> SessionRecord {
        try SessionRecord(decoding: bytes, startMs: key.startMs)
    }
}

/// The two fields of a session record that the session summary reads, decoded without the contexts (the
/// summary reads every session of its range: no array allocated per session).
struct SessionTotals {
    var durationSeconds: Int64
    var actionsCount: UInt32
}

/// A read-only view of the sessions table (``Schema/sessionTotals``); sessions are written as whole
/// ``SessionRecord``s through ``SessionRecordValue``.
enum SessionTotalsValue: ValueCodec {
    static func encode(_ value: SessionTotals, key: SessionKey, into writer: inout ByteWriter) {
        preconditionFailure("SessionTotalsValue is a read-only view: write SessionRecord through SessionRecordValue")
    }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: SessionKey) throws(CorruptRecord) -> SessionTotals {
        var reader = ByteReader(bytes)
        let durationMs = Int64(truncatingIfNeeded: try reader.varint())
        return SessionTotals(
            durationSeconds: durationMs / 1000,
            actionsCount: UInt32(truncatingIfNeeded: try reader.varint())
        )
    }
}

enum MonthRecordValue: ValueCodec {
    static func encode(_ value: MonthRecord, key: MonthUser, into writer: inout ByteWriter) {
        value.encode(into: &writer)
    }
    static func decode(_ bytes: UnsafeRawBufferPointer, key: MonthUser) throws(CorruptRecord) -> MonthRecord {
        try MonthRecord(decoding: bytes)
    }
}
