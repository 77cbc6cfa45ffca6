import EngageModel
import LMDB

/// Counters kept in `meta`, copied into each transaction and published after its commit.
struct StoreCounters: Equatable {
    var nextUserKey: UInt32 = 1
    var nextContextID: UInt32 = 1
    var nextAttributeValueID: UInt32 = 1
    var eventCount: UInt64 = 0
    var duplicateCount: UInt64 = 0
    /// The sequence number of the last write batch applied (events, users or actions; 0 before any).
    var appliedSequence: UInt64 = 0
    /// The last day with any event, before this transaction (nil for an empty store). Records of any user
    /// can only exist up to it.
    var lastDay: StoreDay?
}

/// A user touched by the transaction.
struct UserState {
    var record: UserRecord
    /// The record as committed, nil for a user created in this transaction.
    let original: UserRecord?
}

/// An accepted event waiting for the derived updates of its user.
struct NewEvent {
    var user: UInt32
    var timestampMs: Int64
    var day: Int
    var actionKey: UInt16
    var contextID: UInt32
}

/// All the work of one write transaction of the applier: the journal records' users, contexts, actions and
/// raw events (every key already assigned by the ``Sequencer``), then every derived record they change.
/// Created per transaction; nothing in it outlives the transaction but its catalog and counters.
final class WriteSession {
    let schema: Schema
    let settings: StoreSettings
    var mapper: ReportingTimeZone.DayMapper
    var catalog: ActionCatalog
    var counters: StoreCounters

    /// Events of the records that were already stored (0 unless the store and the journal disagree).
    private(set) var eventsFoundStored = 0
    private var pendingAttributeValues: [AttributeText: UInt32] = [:]
    var users: [UInt32: UserState] = [:]
    /// Events stored in this transaction, waiting for the derived updates (one flat array: grouped by user
    /// once, by sorting, instead of a dictionary of arrays touched per event).
    private var newEvents: [NewEvent] = []
    /// The day sets and the series, month and day-total changes of the derived updates.
    var derived: DerivedOutput
    var memberBits: MemberBitsCache<AttributeChunkKey>
    private var attributeCountDeltas: [AttributeValueID: Int] = [:]
    var registrationBits: MemberBitsCache<DayChunkKey>

    init(schema: Schema, settings: StoreSettings, catalog: ActionCatalog, counters: StoreCounters) {
        self.schema = schema
        self.settings = settings
        self.mapper = ReportingTimeZone.DayMapper(zone: settings.zone)
        self.catalog = catalog
        self.counters = counters
        self.derived = DerivedOutput(dayBits: DayBitsCache(table: schema.dayActive))
        self.memberBits = MemberBitsCache(table: schema.attributeMembers)
        self.registrationBits = MemberBitsCache(table: schema.registrations)
    }

    // MARK: - Dimensions

    /// Creates users the sequencer gave keys to: every attribute `unknown`, no events yet.
    func createUsers(_ users: [NewUser], _ txn: borrowing Transaction) throws {
        for user in users {
            try self.schema.userIDs.put(Array(user.id.utf8), user.key, txn)
            self.users[user.key] = UserState(record: UserRecord(userID: Array(user.id.utf8)), original: nil)
            for attribute in Attribute.allCases {
                let unknown = AttributeValueID(attribute: attribute, id: 0)
                try self.memberBits.set(user: user.key, holds: unknown, true, txn)
                self.attributeCountDeltas[unknown, default: 0] += 1
            }
            self.counters.nextUserKey = max(self.counters.nextUserKey, user.key + 1)
        }
    }

    private func loadUser(_ key: UInt32, _ txn: borrowing Transaction) throws {
        guard self.users[key] == nil else { return }
        guard let record = try self.schema.users.get(key, txn) else {
            throw CorruptRecord(what: "user \(key) has an id but no record")
        }
        self.users[key] = UserState(record: record, original: record)
    }

    /// Creates contexts the sequencer gave ids to.
    func createContexts(_ contexts: [NewContext], _ txn: borrowing Transaction) throws {
        for context in contexts {
            let text = Array(context.text.utf8)
            try self.schema.contexts.put(text, context.id, txn)
            try self.schema.contextNames.put(context.id, text, txn)
            self.counters.nextContextID = max(self.counters.nextContextID, context.id + 1)
        }
    }

    func attributeValueID(_ attribute: Attribute, _ value: [UInt8], _ txn: borrowing Transaction) throws -> UInt32 {
        if value == Array(Attribute.unknownValue.utf8) { return 0 }
        let key = AttributeText(attribute: attribute, value: value)
        if let id = self.pendingAttributeValues[key] { return id }
        if let id = try self.schema.attributeValues.get(key, txn) { return id }
        let id = self.counters.nextAttributeValueID
        self.counters.nextAttributeValueID += 1
        self.pendingAttributeValues[key] = id
        try self.schema.attributeValues.put(key, id, txn)
        try self.schema.attributeNames.put(
            AttributeValueID(attribute: attribute, id: id),
            AttributeValueRecord(users: 0, name: value),
            txn
        )
        return id
    }

    // MARK: - Users and actions

    /// Updates user `key` with `profile` (attributes given replace the current ones; last write wins).
    func upsert(_ key: UInt32, _ profile: UserProfile, _ txn: borrowing Transaction) throws {
        try self.loadUser(key, txn)
        var state = self.users[key]!
        if let date = profile.registrationDate {
            state.record.registration = date.dayNumber
            state.record.registrationIsExplicit = true
        }
        for (attribute, value) in profile.attributes {
            let valueID = try self.attributeValueID(attribute, Array(value.utf8), txn)
            let current = state.record.attributeValueIDs[attribute.index]
            guard valueID != current else { continue }
            let old = AttributeValueID(attribute: attribute, id: current)
            let new = AttributeValueID(attribute: attribute, id: valueID)
            try self.memberBits.set(user: key, holds: old, false, txn)
            try self.memberBits.set(user: key, holds: new, true, txn)
            self.attributeCountDeltas[old, default: 0] -= 1
            self.attributeCountDeltas[new, default: 0] += 1
            state.record.attributeValueIDs[attribute.index] = valueID
        }
        self.users[key] = state
    }

    /// Stores an action definition (or an action type first seen in an event). True when it changed an
    /// existing action's core flag: every derived record must then follow.
    func define(_ assignment: ActionAssignment, _ txn: borrowing Transaction) throws -> Bool {
        let previous = self.catalog.record(assignment.key)
        guard previous != assignment.record else { return false }
        self.derived.changes.catalogChanged = true
        self.catalog.set(assignment.key, assignment.record)
        try self.schema.actions.put(assignment.key, assignment.record, txn)
        return previous.map { $0.isCore != assignment.record.isCore } ?? false
    }

    // MARK: - Events

    /// Stores raw events the sequencer accepted (it decided duplicates, so every key is new), ordered by day
    /// and user so that consecutive inserts share B-tree pages; derived updates wait for
    /// ``applyDerivedUpdates(_:)``.
    func insert(_ events: [ResolvedEvent], _ txn: borrowing Transaction) throws {
        // Sorting packed (day, user) keys with the index is much cheaper than comparing the events themselves;
        // within one user-day the order does not matter for page locality.
        var order = events.indices.map { index in
            (key: UInt64(events[index].day) << 32 | UInt64(events[index].user), index: index)
        }
        order.sort { $0.key < $1.key }
        var key = ByteWriter(capacity: 64)
        var value = ByteWriter(capacity: 256)
        self.newEvents.reserveCapacity(self.newEvents.count + events.count)
        for (_, index) in order {
            let event = events[index]
            key.bytes.removeAll(keepingCapacity: true)
            EventKeyCodec.encode(day: event.day, user: event.user, eventID: event.eventID.utf8, into: &key)
            value.bytes.removeAll(keepingCapacity: true)
            StoredEvent.encode(
                timestampMs: event.timestampMs,
                day: CivilDate(storeDay: event.day),
                actionKey: event.actionKey,
                contextID: event.contextID,
                metadata: event.metadata.utf8,
                into: &value
            )
            guard try txn.put(self.schema.events.database, key: key.bytes, value: value.bytes, flags: .noOverwrite)
            else {
                // The sequencer saw no such event, so this cannot happen unless the store and the journal
                // disagree; the stored one stays, and the applier reports the count.
                self.eventsFoundStored += 1
                continue
            }
            self.counters.eventCount += 1
            self.derived.changes.eventDays.insert(event.day)
            self.newEvents.append(
                NewEvent(
                    user: event.user,
                    timestampMs: event.timestampMs,
                    day: Int(event.day),
                    actionKey: event.actionKey,
                    contextID: event.contextID
                )
            )
        }
    }

    // MARK: - Derived records

    /// Applies every derived update of the staged events, user by user.
    func applyDerivedUpdates(_ txn: borrowing Transaction) throws {
        let context = DerivedContext(
            schema: self.schema,
            settings: self.settings,
            catalog: self.catalog,
            mapper: self.mapper
        )
        self.newEvents.sort { ($0.user, $0.timestampMs) < ($1.user, $1.timestampMs) }
        var start = self.newEvents.startIndex
        while start < self.newEvents.endIndex {
            let user = self.newEvents[start].user
            var end = start + 1
            while end < self.newEvents.endIndex && self.newEvents[end].user == user { end += 1 }
            let events = self.newEvents[start..<end]
            start = end
            try self.loadUser(user, txn)
            let state = self.users[user]!
            var update = UserDayUpdate(
                user: user,
                events: events,
                record: state.record,
                lastDayBefore: state.original?.firstEventDay == nil ? nil : self.counters.lastDay.map(Int.init),
                context: context
            )
            try update.apply(txn, &self.derived)
            self.users[user]!.record = update.record
        }
        self.newEvents.removeAll()
    }

    /// Re-queues a stored event for the derived updates (used to rebuild derived records).
    func restage(user: UInt32, event: NewEvent, _ txn: borrowing Transaction) throws {
        try self.loadUser(user, txn)
        self.newEvents.append(event)
    }

    /// Writes what was accumulated in memory (users, bitsets, series, totals, counters) and forgets it.
    func flush(_ txn: borrowing Transaction) throws {
        for (key, state) in self.users where state.record != state.original {
            try self.schema.users.put(key, state.record, txn)
            self.derived.changes.users.insert(key)
            if state.record.registration != state.original?.registration {
                if let old = state.original?.registrationDate?.storeDay {
                    try self.registrationBits.set(user: key, registeredOn: old, false, txn)
                }
                if let new = state.record.registrationDate?.storeDay {
                    try self.registrationBits.set(user: key, registeredOn: new, true, txn)
                }
            }
        }
        self.users.removeAll()
        try self.registrationBits.flush(txn)
        try self.derived.dayBits.flush(txn)
        try self.memberBits.flush(txn)
        if let lastDay = try self.derived.deltas.write(txn, self.schema) {
            self.counters.lastDay = max(self.counters.lastDay ?? 0, lastDay)
        }
        self.derived.deltas = DerivedDeltas()
        for (key, delta) in self.attributeCountDeltas where delta != 0 {
            guard var value = try self.schema.attributeNames.get(key, txn) else {
                throw CorruptRecord(what: "attribute value without a name")
            }
            value.users = UInt32(max(Int(value.users) + delta, 0))
            try self.schema.attributeNames.put(key, value, txn)
        }
        self.attributeCountDeltas.removeAll()
        try StoreMeta.write(self.counters, txn, self.schema)
    }
}
