import EngageModel
import LMDB

/// Lookup caches the writer keeps between commits. Only committed facts enter them (after the commit),
/// so an aborted transaction never leaves a stale entry. Bounded: a full cache is emptied and refilled.
final class WriterCaches {
    // Keyed by String: its hashing works on the whole UTF-8 buffer at once, [UInt8]'s byte by byte.
    var userKeys: [String: UInt32] = [:]
    var contextIDs: [String: UInt32] = [:]
    let userCacheLimit: Int
    let filter: EventIDFilter

    static let contextCacheLimit = 100_000

    init(userCacheLimit: Int, filterBytes: Int) {
        self.userCacheLimit = userCacheLimit
        self.filter = EventIDFilter(bytes: filterBytes)
    }

    func remember(userID: String, key: UInt32) {
        if self.userKeys.count >= self.userCacheLimit { self.userKeys.removeAll(keepingCapacity: true) }
        self.userKeys[userID] = key
    }

    func remember(context: String, id: UInt32) {
        if self.contextIDs.count >= WriterCaches.contextCacheLimit { self.contextIDs.removeAll(keepingCapacity: true) }
        self.contextIDs[context] = id
    }
}

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
    var timestampMs: Int64
    var day: Int
    var actionKey: UInt16
    var contextID: UInt32
}

/// All the work of one write transaction: raw events, then every derived record they change.
/// Created per transaction by the writer; nothing in it outlives the transaction except what
/// ``publish(to:)`` hands back after the commit.
final class WriteSession {
    let schema: Schema
    let settings: StoreSettings
    var mapper: ReportingTimeZone.DayMapper
    var catalog: ActionCatalog
    var counters: StoreCounters
    let caches: WriterCaches

    private var pendingUserKeys: [String: UInt32] = [:]
    private var pendingContexts: [String: UInt32] = [:]
    private var pendingAttributeValues: [AttributeText: UInt32] = [:]
    var users: [UInt32: UserState] = [:]
    private var newEvents: [UInt32: [NewEvent]] = [:]
    /// The day sets and the series, month and day-total changes of the derived updates.
    var derived: DerivedOutput
    var memberBits: MemberBitsCache<AttributeChunkKey>
    private var attributeCountDeltas: [AttributeValueID: Int] = [:]
    var registrationBits: MemberBitsCache<DayChunkKey>

    init(schema: Schema, settings: StoreSettings, catalog: ActionCatalog, counters: StoreCounters, caches: WriterCaches)
    {
        self.schema = schema
        self.settings = settings
        self.mapper = ReportingTimeZone.DayMapper(zone: settings.zone)
        self.catalog = catalog
        self.counters = counters
        self.caches = caches
        self.derived = DerivedOutput(dayBits: DayBitsCache(table: schema.dayActive))
        self.memberBits = MemberBitsCache(table: schema.attributeMembers)
        self.registrationBits = MemberBitsCache(table: schema.registrations)
    }

    // MARK: - Dimensions

    func userKey(for name: String, createIn txn: borrowing Transaction) throws -> UInt32 {
        if let key = self.caches.userKeys[name] ?? self.pendingUserKeys[name] {
            try self.loadUser(key, txn)
            return key
        }
        let userID = Array(name.utf8)
        if let key = try self.schema.userIDs.get(userID, txn) {
            self.caches.remember(userID: name, key: key)
            try self.loadUser(key, txn)
            return key
        }
        let key = self.counters.nextUserKey
        self.counters.nextUserKey += 1
        self.pendingUserKeys[name] = key
        try self.schema.userIDs.put(userID, key, txn)
        let record = UserRecord(userID: userID)
        self.users[key] = UserState(record: record, original: nil)
        for attribute in Attribute.allCases {
            let unknown = AttributeValueID(attribute: attribute, id: 0)
            try self.memberBits.set(user: key, holds: unknown, true, txn)
            self.attributeCountDeltas[unknown, default: 0] += 1
        }
        return key
    }

    private func loadUser(_ key: UInt32, _ txn: borrowing Transaction) throws {
        guard self.users[key] == nil else { return }
        guard let record = try self.schema.users.get(key, txn) else {
            throw CorruptRecord(what: "user \(key) has an id but no record")
        }
        self.users[key] = UserState(record: record, original: record)
    }

    /// The key of `actionType`, registering it (core by the store's default) when first seen.
    func actionKey(for name: String, _ txn: borrowing Transaction) throws -> UInt16? {
        if let key = self.catalog.key(named: name) { return key }
        guard let key = self.catalog.nextKey else { return nil }
        let record = ActionRecord(
            actionType: Array(name.utf8),
            category: ActionDefinition.autoRegisteredCategory,
            weight: 1,
            isCore: self.settings.autoRegisteredActionsAreCore
        )
        self.catalog.set(key, record)
        try self.schema.actions.put(key, record, txn)
        return key
    }

    func contextID(for name: String, _ txn: borrowing Transaction) throws -> UInt32 {
        if name.isEmpty { return 0 }
        if let id = self.caches.contextIDs[name] ?? self.pendingContexts[name] { return id }
        let context = Array(name.utf8)
        if let id = try self.schema.contexts.get(context, txn) {
            self.caches.remember(context: name, id: id)
            return id
        }
        let id = self.counters.nextContextID
        self.counters.nextContextID += 1
        self.pendingContexts[name] = id
        try self.schema.contexts.put(context, id, txn)
        try self.schema.contextNames.put(id, context, txn)
        return id
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

    /// Creates or updates a user; the reason when the profile is refused (nothing is stored then).
    func upsert(_ profile: UserProfile, _ txn: borrowing Transaction) throws -> RejectReason? {
        if let reason = EventValidation.rejection(of: profile) { return reason }
        let key = try self.userKey(for: profile.userID, createIn: txn)
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
        return nil
    }

    /// What defining an action did.
    enum ActionDefinitionOutcome: Equatable {
        case rejected(RejectReason)
        /// Stored (or already stored as given); `coreChanged`: derived data must follow.
        case stored(coreChanged: Bool)
    }

    /// Defines or updates an action; refused when invalid or when the catalog has no key left for a new one.
    func define(_ action: ActionDefinition, _ txn: borrowing Transaction) throws -> ActionDefinitionOutcome {
        if let reason = EventValidation.rejection(of: action) { return .rejected(reason) }
        let type = Array(action.actionType.utf8)
        let record = ActionRecord(
            actionType: type,
            category: action.category,
            weight: action.engagementWeight,
            isCore: action.isCoreAction
        )
        let key: UInt16
        var coreChanged = false
        if let existing = self.catalog.key(of: type) {
            key = existing
            guard self.catalog.record(existing) != record else { return .stored(coreChanged: false) }
            coreChanged = self.catalog.record(existing)?.isCore != record.isCore
        } else {
            guard self.catalog.count < ActionCatalog.capacity - 1, let next = self.catalog.nextKey else {
                return .rejected(.invalidAction)
            }
            key = next
        }
        self.catalog.set(key, record)
        try self.schema.actions.put(key, record, txn)
        return .stored(coreChanged: coreChanged)
    }

    // MARK: - Events

    enum EventOutcome {
        case accepted
        case duplicate
        case rejected(RejectReason)
    }

    /// An event that passed validation, with its keys resolved, waiting to be stored.
    private struct Candidate {
        let request: Int
        let position: Int
        let user: UInt32
        let day: StoreDay
        let actionKey: UInt16
        let contextID: UInt32
        let timestampMs: Int64
        let eventID: [UInt8]
        let metadata: String
        var filterHash: UInt64 = 0
        var mayBeStored = false
    }

    /// (user, event id): an event's identity.
    private struct Identity: Hashable {
        let user: UInt32
        let eventID: [UInt8]

        func hash(into hasher: inout Hasher) {
            hasher.combine(self.user)
            self.eventID.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// Validates and stores the raw events of several requests (in arrival order: a later event with the
    /// identity of an earlier one is a duplicate); derived updates wait for ``applyDerivedUpdates(_:)``.
    ///
    /// Works in passes so that memory is touched in bulk: resolve every event, drop duplicates within the
    /// commit, probe the event-id filter for all of them (independent loads overlap their cache misses), then
    /// insert in key order (consecutive inserts share B-tree pages that are already in cache).
    func stage(
        _ requests: [[Event]],
        nowMs: Int64,
        horizon: StoreDay? = nil,
        _ txn: borrowing Transaction
    ) throws -> [[EventOutcome]] {
        var outcomes = requests.map { [EventOutcome](repeating: .accepted, count: $0.count) }
        var candidates: [Candidate] = []
        candidates.reserveCapacity(requests.reduce(0) { $0 + $1.count })
        var seen = Set<Identity>()
        for (requestIndex, events) in requests.enumerated() {
            for (position, event) in events.enumerated() {
                if let reason = EventValidation.rejection(of: event, nowMs: nowMs) {
                    outcomes[requestIndex][position] = .rejected(reason)
                    continue
                }
                let user = try self.userKey(for: event.userID, createIn: txn)
                guard let actionKey = try self.actionKey(for: event.action, txn) else {
                    outcomes[requestIndex][position] = .rejected(.invalidAction)
                    continue
                }
                let contextID = try self.contextID(for: event.context, txn)
                guard let day = self.mapper.localDay(epochMs: event.timestampMs).storeDay else {
                    outcomes[requestIndex][position] = .rejected(.timestampOutOfRange)
                    continue
                }
                if let horizon, day < horizon {
                    outcomes[requestIndex][position] = .rejected(.olderThanRetention)
                    continue
                }
                let eventID = Array(event.eventID.utf8)
                guard seen.insert(Identity(user: user, eventID: eventID)).inserted else {
                    outcomes[requestIndex][position] = .duplicate
                    self.counters.duplicateCount += 1
                    continue
                }
                candidates.append(
                    Candidate(
                        request: requestIndex,
                        position: position,
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
        }
        let filter = self.caches.filter
        for index in candidates.indices {
            candidates[index].filterHash = candidates[index].eventID.withUnsafeBytes {
                EventIDFilter.hash(user: candidates[index].user, eventID: $0)
            }
        }
        for index in candidates.indices {
            candidates[index].mayBeStored = filter.mayContain(hash: candidates[index].filterHash)
        }
        let order = candidates.indices.sorted {
            let a = candidates[$0]
            let b = candidates[$1]
            if a.day != b.day { return a.day < b.day }
            if a.user != b.user { return a.user < b.user }
            return a.eventID.lexicographicallyPrecedes(b.eventID)
        }
        var buffers = EncodingBuffers()
        for index in order {
            let candidate = candidates[index]
            if candidate.mayBeStored,
                try self.isStoredOnAnotherDay(
                    user: candidate.user,
                    eventID: candidate.eventID,
                    except: Int(candidate.day),
                    txn
                )
            {
                outcomes[candidate.request][candidate.position] = .duplicate
                self.counters.duplicateCount += 1
                continue
            }
            let stored = StoredEvent(
                timestampMs: candidate.timestampMs,
                actionKey: candidate.actionKey,
                contextID: candidate.contextID,
                metadata: candidate.metadata
            )
            let key = EventKey(day: candidate.day, user: candidate.user, eventID: candidate.eventID)
            guard try self.schema.events.insert(key, stored, txn, reusing: &buffers) else {
                outcomes[candidate.request][candidate.position] = .duplicate
                self.counters.duplicateCount += 1
                continue
            }
            filter.insert(hash: candidate.filterHash)
            self.counters.eventCount += 1
            self.newEvents[candidate.user, default: []].append(
                NewEvent(
                    timestampMs: candidate.timestampMs,
                    day: Int(candidate.day),
                    actionKey: candidate.actionKey,
                    contextID: candidate.contextID
                )
            )
        }
        return outcomes
    }

    /// Exact check for an event id of `user` stored on a day other than `day`: only reached when the filter
    /// says "maybe". Looks at every day between the user's first and last event day.
    private func isStoredOnAnotherDay(
        user: UInt32,
        eventID: [UInt8],
        except day: Int,
        _ txn: borrowing Transaction
    ) throws -> Bool {
        var days = Set(self.newEvents[user]?.map(\.day) ?? [])
        if let first = self.users[user]?.original?.firstEventDay, let last = self.counters.lastDay, first <= last {
            days.formUnion(Int(first)...Int(last))
        }
        days.remove(day)
        for candidate in days.sorted() {
            if try self.schema.events.contains(EventKey(day: StoreDay(candidate), user: user, eventID: eventID), txn) {
                return true
            }
        }
        return false
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
        for user in self.newEvents.keys.sorted() {
            var events = self.newEvents[user]!
            events.sort { $0.timestampMs < $1.timestampMs }
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
        self.newEvents[user, default: []].append(event)
    }

    /// Writes what was accumulated in memory (users, bitsets, series, totals, counters) and forgets it.
    func flush(_ txn: borrowing Transaction) throws {
        for (key, state) in self.users where state.record != state.original {
            try self.schema.users.put(key, state.record, txn)
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

    /// After the commit: lets the writer's caches learn what this transaction created.
    func publish() {
        for (id, key) in self.pendingUserKeys { self.caches.remember(userID: id, key: key) }
        for (context, id) in self.pendingContexts { self.caches.remember(context: context, id: id) }
    }
}
