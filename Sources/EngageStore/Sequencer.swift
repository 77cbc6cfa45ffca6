import EngageModel
import LMDB

/// Decides every write before it is journaled, so that its acknowledgement is exact the moment the journal
/// is durable: validation, duplicates, and the keys of new users, contexts and action types.
///
/// It sees the store as LMDB holds it (what is applied, through a read transaction per group) plus what it
/// journaled that is not applied yet (``pendingEvents``, ``pendingUsers``, ``pendingContexts``), which it
/// forgets once the applier reports it committed. Only the sequencer thread touches it.
final class Sequencer {
    let schema: Schema
    let settings: StoreSettings
    let retention: RawEventRetention
    /// The catalog as journaled (ahead of the applier's).
    private(set) var catalog: ActionCatalog
    private(set) var nextUserKey: UInt32
    private(set) var nextContextID: UInt32
    let filter: EventIDFilter
    private var mapper: ReportingTimeZone.DayMapper

    /// user_id -> key of applied users, bounded (emptied when full; LMDB answers misses).
    private var userKeys: [UTF8Key: UInt32] = [:]
    private let userCacheLimit: Int
    private var contextIDs: [UTF8Key: UInt32] = [:]
    static let contextCacheLimit = 100_000

    /// Journaled, not applied yet. (Names are keyed by their bytes, as the store keys them: see UTF8Key.)
    private var pendingUsers: [UTF8Key: UInt32] = [:]
    private var pendingContexts: [UTF8Key: UInt32] = [:]
    private var pendingEvents = PendingEvents()
    /// What each journaled record added to the pending sets, oldest first, until the applier commits it.
    private var unapplied: [Unapplied] = []
    private var unappliedStart = 0
    /// Events journaled and not applied.
    private(set) var unappliedEvents = 0

    private struct Unapplied {
        var sequence: UInt64
        /// The record's token in ``pendingEvents`` and its events' hashes.
        let token: UInt32
        let hashes: [UInt64]
        let users: [String]
        let contexts: [String]
    }

    /// Tokens name records in ``pendingEvents``; they wrap, long after the record they named is gone.
    private var nextToken: UInt32 = 1

    init(
        schema: Schema,
        settings: StoreSettings,
        retention: RawEventRetention,
        catalog: ActionCatalog,
        counters: StoreCounters,
        filter: EventIDFilter,
        userCacheLimit: Int
    ) {
        self.schema = schema
        self.settings = settings
        self.retention = retention
        self.catalog = catalog
        self.nextUserKey = counters.nextUserKey
        self.nextContextID = counters.nextContextID
        self.filter = filter
        self.mapper = ReportingTimeZone.DayMapper(zone: settings.zone)
        self.userCacheLimit = userCacheLimit
    }

    // MARK: - One group

    /// The decisions for a group of requests, in order: a journal record and its acknowledgement for each
    /// batch, or the request itself for what the applier carries out (rebuild, purge).
    enum Decision {
        case journal(JournalRecord, BatchResult)
        case control
    }

    /// What a group changed, to undo it when its journal write fails (nothing of it is then acknowledged).
    struct Undo {
        fileprivate var catalog: ActionCatalog
        fileprivate var nextUserKey: UInt32
        fileprivate var nextContextID: UInt32
        fileprivate var unappliedCount: Int
    }

    /// Decides `requests` against the applied store (`txn`, a read transaction) and everything journaled.
    /// The caller journals the records and then calls ``journaled(_:firstSequence:)``, or ``undo(_:)``.
    func decide(
        _ requests: [WriteRequest],
        nowMs: Int64,
        _ txn: borrowing Transaction
    ) throws -> (decisions: [Decision], undo: Undo) {
        let undo = Undo(
            catalog: self.catalog,
            nextUserKey: self.nextUserKey,
            nextContextID: self.nextContextID,
            unappliedCount: self.unapplied.count
        )
        let horizon = self.retention.horizon(nowMs: nowMs)
        var decisions: [Decision] = []
        decisions.reserveCapacity(requests.count)
        do {
            let lastDay = try self.schema.dayTotals.lastKey(txn)
            for request in requests {
                switch request {
                case .events(let events):
                    decisions.append(try self.decide(events, nowMs: nowMs, horizon: horizon, lastDay: lastDay, txn))
                case .users(let profiles):
                    decisions.append(try self.decide(profiles, txn))
                case .actions(let actions):
                    decisions.append(self.decide(actions))
                case .rebuild, .purge:
                    decisions.append(.control)
                }
            }
        } catch {
            // Nothing of the group is journaled: forget what its first requests added.
            self.undo(undo)
            throw error
        }
        return (decisions, undo)
    }

    /// The group's records were journaled with sequence numbers from `firstSequence`: what they added to the
    /// pending sets stays until the applier reports them applied.
    func journaled(_ records: [JournalRecord], firstSequence: UInt64) {
        // The pending sets were filled while deciding; here each record's share is labelled with its number.
        var sequence = firstSequence
        for index in self.labelled..<self.unapplied.count {
            self.unapplied[index].sequence = sequence
            sequence += 1
        }
        self.labelled = self.unapplied.count
        precondition(sequence == firstSequence + UInt64(records.count))
    }

    private var labelled = 0

    /// Forgets a group whose journal write failed.
    func undo(_ undo: Undo) {
        for entry in self.unapplied[undo.unappliedCount...] { self.forget(entry) }
        self.unapplied.removeSubrange(undo.unappliedCount...)
        self.labelled = min(self.labelled, self.unapplied.count)
        self.catalog = undo.catalog
        self.nextUserKey = undo.nextUserKey
        self.nextContextID = undo.nextContextID
        // Keys are handed out in order, so the names the group added (including those of a batch that failed
        // half-way) are exactly the pending ones at or past the keys handed out again: forget them, or a name
        // would keep a key that the next new name is also given, and its NewUser/NewContext never be journaled.
        self.pendingUsers = self.pendingUsers.filter { $0.value < undo.nextUserKey }
        self.pendingContexts = self.pendingContexts.filter { $0.value < undo.nextContextID }
    }

    /// The applier committed every record up to `sequence`: LMDB answers for them from now on (read
    /// transactions begun after this call see that commit).
    func applied(through sequence: UInt64) {
        while self.unappliedStart < self.labelled, self.unapplied[self.unappliedStart].sequence <= sequence {
            let entry = self.unapplied[self.unappliedStart]
            self.forget(entry)
            for name in entry.users {
                if let key = self.pendingUsers.removeValue(forKey: UTF8Key(name)) { self.remember(user: name, key) }
            }
            for name in entry.contexts {
                if let id = self.pendingContexts.removeValue(forKey: UTF8Key(name)) { self.remember(context: name, id) }
            }
            self.unappliedStart += 1
        }
        // Drop the forgotten prefix now and then rather than shifting the array every time.
        if self.unappliedStart > 1024, self.unappliedStart * 2 > self.unapplied.count {
            self.unapplied.removeFirst(self.unappliedStart)
            self.labelled -= self.unappliedStart
            self.unappliedStart = 0
        }
    }

    private func forget(_ entry: Unapplied) {
        self.pendingEvents.remove(token: entry.token, hashes: entry.hashes)
        self.unappliedEvents -= entry.hashes.count
    }

    // MARK: - Events

    private func decide(
        _ events: [Event],
        nowMs: Int64,
        horizon: StoreDay?,
        lastDay: StoreDay?,
        _ txn: borrowing Transaction
    ) throws -> Decision {
        var result = BatchResult()
        var record = JournalRecord.EventsRecord()
        record.events.reserveCapacity(events.count)
        var hashes: [UInt64] = []
        hashes.reserveCapacity(events.count)
        var newUsers: [String] = []
        var newContexts: [String] = []
        let token = self.nextToken
        self.nextToken = self.nextToken == UInt32.max ? 1 : self.nextToken + 1
        // The hot state in locals for the loop (a class's stored properties are checked for exclusive access and
        // retained on every use); put back however the loop ends.
        var pending = self.pendingEvents
        self.pendingEvents = PendingEvents()
        defer { self.pendingEvents = pending }
        var actionKeys = self.catalog.keysByName
        // A batch uses few action types and contexts: a short list compared by equality (cheap for short
        // strings) answers most lookups without hashing the string.
        var recentActions = RecentNames<UInt16>()
        var recentContexts = RecentNames<UInt32>()
        let filter = self.filter
        do {
            for (position, event) in events.enumerated() {
                if let reason = EventValidation.rejection(of: event, nowMs: nowMs) {
                    result.rejected.append(Rejection(index: position, reason: reason))
                    continue
                }
                guard let day = self.mapper.localDay(epochMs: event.timestampMs).storeDay else {
                    result.rejected.append(Rejection(index: position, reason: .timestampOutOfRange))
                    continue
                }
                if let horizon, day < horizon {
                    result.rejected.append(Rejection(index: position, reason: .olderThanRetention))
                    continue
                }
                var actionKey = recentActions[event.action] ?? actionKeys[UTF8Key(event.action)]
                if actionKey == nil {
                    actionKey = self.registerAction(event.action, &record)
                    actionKeys = self.catalog.keysByName
                }
                if let actionKey { recentActions.remember(event.action, actionKey) }
                guard let actionKey else {
                    result.rejected.append(Rejection(index: position, reason: .invalidAction))
                    continue
                }
                let (user, isNewUser) = try self.userKey(for: event.userID, txn)
                if isNewUser {
                    record.newUsers.append(NewUser(key: user, id: event.userID))
                    newUsers.append(event.userID)
                }
                var eventID = event.eventID
                let hash = eventID.withUTF8 { EventIDFilter.hash(user: user, eventID: UnsafeRawBufferPointer($0)) }
                if pending.contains(hash, user: user, eventID: eventID, current: record.events, currentToken: token) {
                    result.duplicates += 1
                    continue
                }
                if !isNewUser, filter.mayContain(hash: hash),
                    try self.isStored(user: user, eventID: eventID, day: day, lastDay: lastDay, txn)
                {
                    result.duplicates += 1
                    continue
                }
                var contextID: UInt32 = 0
                if !event.context.isEmpty {
                    if let id = recentContexts[event.context] {
                        contextID = id
                    } else {
                        let (id, isNew) = try self.contextID(for: event.context, txn)
                        contextID = id
                        recentContexts.remember(event.context, id)
                        if isNew {
                            record.newContexts.append(NewContext(id: id, text: event.context))
                            newContexts.append(event.context)
                        }
                    }
                }
                filter.insert(hash: hash)
                pending.insert(hash, token: token, index: record.events.count)
                hashes.append(hash)
                record.events.append(
                    ResolvedEvent(
                        user: user,
                        day: day,
                        actionKey: actionKey,
                        contextID: contextID,
                        timestampMs: event.timestampMs,
                        eventID: eventID,
                        metadata: event.metadata
                    )
                )
            }
        } catch {
            pending.remove(token: token, hashes: hashes)
            throw error
        }
        pending.finish(token: token, events: record.events)
        result.accepted = record.events.count
        record.duplicates = result.duplicates
        self.unapplied.append(
            Unapplied(sequence: 0, token: token, hashes: hashes, users: newUsers, contexts: newContexts)
        )
        self.unappliedEvents += hashes.count
        return .journal(.events(record), result)
    }

    /// Exact check, reached only when the filter says "maybe": is (user, event id) stored on any day the user
    /// has events (from their first event day to the store's last day), or on `day`?
    private func isStored(
        user: UInt32,
        eventID: String,
        day: StoreDay,
        lastDay: StoreDay?,
        _ txn: borrowing Transaction
    ) throws -> Bool {
        let bytes = Array(eventID.utf8)
        if try self.schema.events.contains(EventKey(day: day, user: user, eventID: bytes), txn) { return true }
        guard let first = try self.schema.users.get(user, txn)?.firstEventDay, let lastDay, first <= lastDay else {
            return false
        }
        for candidate in first...lastDay where candidate != day {
            if try self.schema.events.contains(EventKey(day: candidate, user: user, eventID: bytes), txn) {
                return true
            }
        }
        return false
    }

    // MARK: - Users and actions

    private func decide(_ profiles: [UserProfile], _ txn: borrowing Transaction) throws -> Decision {
        var result = BatchResult()
        var record = JournalRecord.UsersRecord()
        var newUsers: [String] = []
        for (position, profile) in profiles.enumerated() {
            if let reason = EventValidation.rejection(of: profile) {
                result.rejected.append(Rejection(index: position, reason: reason))
                continue
            }
            let (key, isNew) = try self.userKey(for: profile.userID, txn)
            if isNew {
                record.newUsers.append(NewUser(key: key, id: profile.userID))
                newUsers.append(profile.userID)
            }
            record.profiles.append((key, profile))
        }
        result.accepted = record.profiles.count
        self.unapplied.append(Unapplied(sequence: 0, token: 0, hashes: [], users: newUsers, contexts: []))
        return .journal(.users(record), result)
    }

    private func decide(_ actions: [ActionDefinition]) -> Decision {
        var result = BatchResult()
        var record = JournalRecord.ActionsRecord()
        for (position, action) in actions.enumerated() {
            if let reason = EventValidation.rejection(of: action) {
                result.rejected.append(Rejection(index: position, reason: reason))
                continue
            }
            let definition = ActionRecord(
                actionType: Array(action.actionType.utf8),
                category: action.category,
                weight: action.engagementWeight,
                isCore: action.isCoreAction
            )
            let key: UInt16
            if let existing = self.catalog.key(of: definition.actionType) {
                key = existing
            } else {
                guard self.catalog.count < ActionCatalog.capacity - 1, let next = self.catalog.nextKey else {
                    result.rejected.append(Rejection(index: position, reason: .invalidAction))
                    continue
                }
                key = next
            }
            result.accepted += 1
            guard self.catalog.record(key) != definition else { continue }
            self.catalog.set(key, definition)
            record.definitions.append(ActionAssignment(key: key, record: definition))
        }
        self.unapplied.append(Unapplied(sequence: 0, token: 0, hashes: [], users: [], contexts: []))
        return .journal(.actions(record), result)
    }

    // MARK: - Keys

    private func userKey(for name: String, _ txn: borrowing Transaction) throws -> (key: UInt32, isNew: Bool) {
        let exact = UTF8Key(name)
        if let key = self.userKeys[exact] ?? self.pendingUsers[exact] { return (key, false) }
        if let key = try self.schema.userIDs.get(Array(name.utf8), txn) {
            self.remember(user: name, key)
            return (key, false)
        }
        let key = self.nextUserKey
        self.nextUserKey += 1
        self.pendingUsers[exact] = key
        return (key, true)
    }

    private func remember(user name: String, _ key: UInt32) {
        if self.userKeys.count >= self.userCacheLimit { self.userKeys.removeAll(keepingCapacity: true) }
        self.userKeys[UTF8Key(name)] = key
    }

    private func contextID(for name: String, _ txn: borrowing Transaction) throws -> (id: UInt32, isNew: Bool) {
        let exact = UTF8Key(name)
        if let id = self.contextIDs[exact] ?? self.pendingContexts[exact] { return (id, false) }
        if let id = try self.schema.contexts.get(Array(name.utf8), txn) {
            self.remember(context: name, id)
            return (id, false)
        }
        let id = self.nextContextID
        self.nextContextID += 1
        self.pendingContexts[exact] = id
        return (id, true)
    }

    private func remember(context name: String, _ id: UInt32) {
        if self.contextIDs.count >= Self.contextCacheLimit { self.contextIDs.removeAll(keepingCapacity: true) }
        self.contextIDs[UTF8Key(name)] = id
    }

    /// Registers an action type first seen in an event (core by the store's default); nil when the catalog is
    /// full.
    private func registerAction(_ name: String, _ record: inout JournalRecord.EventsRecord) -> UInt16? {
        if let key = self.catalog.key(named: name) { return key }
        guard let key = self.catalog.nextKey else { return nil }
        let action = ActionRecord(
            actionType: Array(name.utf8),
            category: ActionDefinition.autoRegisteredCategory,
            weight: 1,
            isCore: self.settings.autoRegisteredActionsAreCore
        )
        self.catalog.set(key, action)
        record.newActions.append(ActionAssignment(key: key, record: action))
        return key
    }
}

/// (user, event id) of events journaled and not applied, found by their filter hash: the hash locates the
/// event in its record, whose identity is then compared, so the answer is exact.
struct PendingEvents {
    /// hash -> (record token, index in the record)
    private var slots = HashSlots(capacity: 1 << 16)
    /// Further events whose hash equals one in `slots` (64-bit collisions: practically never).
    private var overflow: [UInt64: [UInt64]] = [:]
    /// The events of each journaled record by token, until it is applied.
    private var records: [UInt32: [ResolvedEvent]] = [:]

    static func key(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }
    private static func pack(_ token: UInt32, _ index: Int) -> UInt64 { UInt64(token) << 32 | UInt64(index) }

    private func event(_ packed: UInt64, current: [ResolvedEvent], currentToken: UInt32) -> ResolvedEvent {
        let token = UInt32(truncatingIfNeeded: packed >> 32)
        let index = Int(packed & 0xFFFF_FFFF)
        return token == currentToken ? current[index] : self.records[token]![index]
    }

    /// Whether (user, event id) is pending; `current` holds the events of the record being decided.
    func contains(
        _ hash: UInt64,
        user: UInt32,
        eventID: String,
        current: [ResolvedEvent],
        currentToken: UInt32
    ) -> Bool {
        let key = Self.key(hash)
        guard let packed = self.slots.value(for: key) else { return false }
        func matches(_ packed: UInt64) -> Bool {
            let event = self.event(packed, current: current, currentToken: currentToken)
            return event.user == user && UTF8Key(event.eventID) == UTF8Key(eventID)
        }
        return matches(packed) || (self.overflow[key]?.contains(where: matches) ?? false)
    }

    /// Adds event `index` of the record `token` (not pending yet: the caller checked).
    mutating func insert(_ hash: UInt64, token: UInt32, index: Int) {
        let key = Self.key(hash)
        if !self.slots.insert(key, Self.pack(token, index)) {
            self.overflow[key, default: []].append(Self.pack(token, index))
        }
    }

    /// The record `token` is complete: its events back its entries until ``remove(token:hashes:)``.
    mutating func finish(token: UInt32, events: [ResolvedEvent]) { self.records[token] = events }

    /// Forgets the events of record `token` (applied, or its journal write failed).
    mutating func remove(token: UInt32, hashes: [UInt64]) {
        for (index, hash) in hashes.enumerated() {
            let key = Self.key(hash)
            let packed = Self.pack(token, index)
            if self.slots.remove(key, ifValue: packed) {
                // Another event with this hash waits in the overflow: it takes the slot.
                if var others = self.overflow[key], !others.isEmpty {
                    _ = self.slots.insert(key, others.removeFirst())
                    self.overflow[key] = others.isEmpty ? nil : others
                }
            } else if var others = self.overflow[key], let position = others.firstIndex(of: packed) {
                others.remove(at: position)
                self.overflow[key] = others.isEmpty ? nil : others
            }
        }
        self.records[token] = nil
    }

    var count: Int { self.slots.count + self.overflow.values.reduce(0) { $0 + $1.count } }
}

/// The last few distinct names looked up and their keys, found by comparing strings (no hashing).
struct RecentNames<Value> {
    private var names: [String] = []
    private var values: [Value] = []
    static var capacity: Int { 16 }

    subscript(name: String) -> Value? {
        let exact = UTF8Key(name)
        for index in self.names.indices where UTF8Key(self.names[index]) == exact { return self.values[index] }
        return nil
    }

    mutating func remember(_ name: String, _ value: Value) {
        guard self.names.count < Self.capacity, self[name] == nil else { return }
        self.names.append(name)
        self.values.append(value)
    }
}
