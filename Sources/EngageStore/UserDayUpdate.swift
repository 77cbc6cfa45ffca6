import EngageModel
import LMDB

/// The derived updates for one user's new events in one transaction: daily records, sessions, the
/// per-day active sets and the DAU/WAU/MAU series, rolling tiers, and the user's first/last day.
///
/// Everything here depends only on the set of stored events, never on their arrival order: sessions are
/// re-merged around each new event, rolling windows are updated by exact deltas, and MAU/WAU grow by
/// exactly the days a new active day newly covers.
struct UserDayUpdate {
    let user: UInt32
    /// Sorted by timestamp.
    let events: ArraySlice<NewEvent>
    /// The user's profile: its first event day (and the registration it implies) follow the new events.
    private(set) var record: UserRecord
    /// The last day with events before this transaction, when the user had events before (records of the
    /// user can lie anywhere up to it); nil for a user without earlier events.
    let lastDayBefore: Int?
    let context: DerivedContext
    private var days: [Int: DayEntry] = [:]
    /// Start days of sessions written or removed.
    private var sessionDays: [Int] = []

    /// A daily record in the working set.
    struct DayEntry {
        var record: DailyRecord
        let existed: Bool
        var dirty: Bool
        let activeBefore: Bool
        /// total_actions before this transaction, if the day was active (its share of rolling windows).
        let contributionBefore: Int
        /// The record's share of its month before this transaction (zero for a new record).
        let monthShareBefore: MonthRecord
    }

    init(user: UInt32, events: ArraySlice<NewEvent>, record: UserRecord, lastDayBefore: Int?, context: DerivedContext) {
        self.user = user
        self.events = events
        self.record = record
        self.lastDayBefore = lastDayBefore
        self.context = context
    }

    private var catalog: ActionCatalog { self.context.catalog }
    private var gapMs: Int64 { self.context.settings.sessionGapMs }

    private func localDay(_ epochMs: Int64) -> Int {
        var mapper = self.context.mapper
        return Int(mapper.localDay(epochMs: epochMs).storeDay ?? 0)
    }

    /// The record of `day`, loaded on first use; nil when the user has no events that day.
    private mutating func entry(_ day: Int, _ txn: borrowing Transaction) throws -> DayEntry? {
        if let entry = self.days[day] { return entry }
        guard day >= 0, day <= Int(UInt16.max),
            let record = try self.context.schema.daily.get(DayUser(day: StoreDay(day), user: self.user), txn)
        else { return nil }
        let active = record.isActive(self.catalog)
        let entry = DayEntry(
            record: record,
            existed: true,
            dirty: false,
            activeBefore: active,
            contributionBefore: active ? record.totalActions : 0,
            monthShareBefore: MonthRecord(day: record, isActive: active)
        )
        self.days[day] = entry
        return entry
    }

    private mutating func modify(_ day: Int, _ txn: borrowing Transaction, _ change: (inout DailyRecord) -> Void) throws
    {
        guard var entry = try self.entry(day, txn) else {
            throw CorruptRecord(what: "no daily record for user \(self.user) on day \(day)")
        }
        change(&entry.record)
        entry.dirty = true
        self.days[day] = entry
    }

    /// Updates the derived records in `txn`, the day sets in `output.dayBits`, and adds the series, month and
    /// day-total changes to `output.deltas`.
    mutating func apply(_ txn: borrowing Transaction, _ output: inout DerivedOutput) throws {
        // 1. Action counts of the days that received events.
        var eventsPerDay: [Int: Int] = [:]
        for event in self.events {
            eventsPerDay[event.day, default: 0] += 1
            if try self.entry(event.day, txn) == nil {
                self.days[event.day] = DayEntry(
                    record: DailyRecord(),
                    existed: false,
                    dirty: true,
                    activeBefore: false,
                    contributionBefore: 0,
                    monthShareBefore: MonthRecord()
                )
                output.deltas.addDayTotals(day: event.day, events: 0, records: 1)
            }
            try self.modify(event.day, txn) { $0.add(action: event.actionKey, count: 1) }
        }
        let changedDays = eventsPerDay.keys.sorted()
        for (day, count) in eventsPerDay { output.deltas.addDayTotals(day: day, events: Int64(count), records: 0) }

        // 2. Sessions.
        try self.mergeSessions(txn)

        // 3. Days that became active: the day sets and the exact WAU/MAU ranges they newly cover.
        for day in changedDays {
            let entry = self.days[day]!
            if !entry.activeBefore && entry.record.isActive(self.catalog) {
                try self.activate(day, txn, &output)
            }
        }

        // 4. Rolling windows and tiers.
        try self.updateRollingWindows(changedDays: changedDays, lastDayBefore: self.lastDayBefore, txn, &output)

        // 5. The user's first event day, and the registration date it implies.
        let first = min(changedDays.first!, self.record.firstEventDay.map(Int.init) ?? Int.max)
        self.record.firstEventDay = StoreDay(first)
        if !self.record.registrationIsExplicit {
            self.record.registration = CivilDate(storeDay: StoreDay(first)).dayNumber
        }

        // 6. Write the changed records, and move their shares of their months.
        for (day, entry) in self.days where entry.dirty {
            let date = CivilDate(storeDay: StoreDay(day))
            let share = MonthRecord(day: entry.record, isActive: entry.record.isActive(self.catalog))
            output.deltas.addMonth(date.monthIndex, user: self.user, share - entry.monthShareBefore)
            try self.context.schema.daily.put(DayUser(day: StoreDay(day), user: self.user), entry.record, txn)
            output.changes.dailyDays.insert(StoreDay(day))
        }
        for day in self.sessionDays { output.changes.sessionDays.insert(StoreDay(day)) }
    }

    // MARK: - Sessions

    /// One connected run of sessions and new events under the gap rule.
    private struct Component {
        var startMs: Int64
        var endMs: Int64
        var actions: UInt32 = 0
        var coreActions: UInt32 = 0
        var contexts: Set<UInt32> = []
        var replaced: [SessionRecord] = []
        var newEvents = 0
    }

    private mutating func mergeSessions(_ txn: borrowing Transaction) throws {
        let gap = self.gapMs
        // Existing sessions that can touch a new event: those overlapping [first - gap, last + gap] of each
        // cluster of new events (clusters split where new events are more than two gaps apart).
        var existing: [Int64: SessionRecord] = [:]
        var clusterStart = self.events.first!.timestampMs
        var previous = clusterStart
        for event in self.events.dropFirst() {
            if event.timestampMs - previous > 2 * gap {
                try self.loadSessions(overlapping: (clusterStart - gap)...(previous + gap), into: &existing, txn)
                clusterStart = event.timestampMs
            }
            previous = event.timestampMs
        }
        try self.loadSessions(overlapping: (clusterStart - gap)...(previous + gap), into: &existing, txn)

        // Sweep sessions (as intervals) and new events (as points) by start time.
        var sessions = existing.values.sorted { $0.startMs < $1.startMs }[...]
        var events = self.events[...]
        var components: [Component] = []
        while !sessions.isEmpty || !events.isEmpty {
            let takeSession: Bool
            if let session = sessions.first, let event = events.first {
                takeSession = session.startMs <= event.timestampMs
            } else {
                takeSession = !sessions.isEmpty
            }
            let start: Int64
            let end: Int64
            if takeSession {
                start = sessions.first!.startMs
                end = sessions.first!.endMs
            } else {
                start = events.first!.timestampMs
                end = start
            }
            if components.isEmpty || start - components[components.count - 1].endMs > gap {
                components.append(Component(startMs: start, endMs: end))
            }
            let index = components.count - 1
            components[index].endMs = max(components[index].endMs, end)
            if takeSession {
                let session = sessions.removeFirst()
                components[index].actions += session.actionsCount
                components[index].coreActions += session.coreActionsCount
                components[index].contexts.formUnion(session.contexts)
                components[index].replaced.append(session)
            } else {
                let event = events.removeFirst()
                components[index].actions += 1
                if self.catalog.isCore(event.actionKey) { components[index].coreActions += 1 }
                if event.contextID != 0 { components[index].contexts.insert(event.contextID) }
                components[index].newEvents += 1
            }
        }

        for component in components where component.newEvents > 0 {
            for old in component.replaced {
                let day = self.localDay(old.startMs)
                try self.context.schema.sessions.delete(
                    SessionKey(day: StoreDay(day), user: self.user, startMs: old.startMs),
                    txn
                )
                self.sessionDays.append(day)
                try self.modify(day, txn) {
                    $0.sessionsCount -= 1
                    $0.sessionSeconds -= UInt64(old.durationSeconds)
                }
            }
            let merged = SessionRecord(
                startMs: component.startMs,
                endMs: component.endMs,
                actionsCount: component.actions,
                coreActionsCount: component.coreActions,
                contexts: component.contexts.sorted()
            )
            let startDay = self.localDay(merged.startMs)
            self.sessionDays.append(startDay)
            try self.context.schema.sessions.put(
                SessionKey(day: StoreDay(startDay), user: self.user, startMs: merged.startMs),
                merged,
                txn
            )
            try self.modify(startDay, txn) {
                $0.sessionsCount += 1
                $0.sessionSeconds += UInt64(merged.durationSeconds)
            }
            let endDay = self.localDay(merged.endMs)
            if endDay > startDay {
                for day in (startDay + 1)...endDay {
                    try self.modify(day, txn) { $0.carryStartMs = merged.startMs }
                }
            }
        }
    }

    /// Adds the stored sessions that overlap `window` to `sessions`. A session that started before the
    /// window's first day and reaches into it holds that day's first event: the day's carry names it.
    private mutating func loadSessions(
        overlapping window: ClosedRange<Int64>,
        into sessions: inout [Int64: SessionRecord],
        _ txn: borrowing Transaction
    ) throws {
        let firstDay = self.localDay(window.lowerBound)
        let lastDay = self.localDay(window.upperBound)
        let schema = self.context.schema
        if let entry = try self.entry(firstDay, txn), entry.existed, let carry = entry.record.carryStartMs,
            sessions[carry] == nil
        {
            let key = SessionKey(day: StoreDay(self.localDay(carry)), user: self.user, startMs: carry)
            guard let carried = try schema.sessions.get(key, txn) else {
                throw CorruptRecord(what: "carried session \(carry) of user \(self.user) is missing")
            }
            if carried.endMs >= window.lowerBound { sessions[carry] = carried }
        }
        for day in firstDay...lastDay {
            try schema.sessions.forEach(prefix: SessionKeyCodec.prefix(day: StoreDay(day), user: self.user), txn) {
                key,
                record in
                guard key.startMs <= window.upperBound else { return false }
                if sessions[key.startMs] == nil && record.endMs >= window.lowerBound { sessions[key.startMs] = record }
                return true
            }
        }
    }

    // MARK: - Activity

    /// Marks `day` active and adds the WAU/MAU days it newly covers:
    /// [max(d, p + w), min(d + w - 1, n - 1)] for the nearest active days p < d < n and window w.
    private mutating func activate(_ day: Int, _ txn: borrowing Transaction, _ output: inout DerivedOutput) throws {
        let previous = try output.dayBits.previousActive(user: self.user, before: day, within: 29, txn)
        let next = try output.dayBits.nextActive(user: self.user, after: day, within: 29, txn)
        output.deltas.addSeries(days: day...day, dau: 1)
        func covered(_ window: Int) -> ClosedRange<Int>? {
            let low = previous.map { max(day, $0 + window) } ?? day
            let high = next.map { min(day + window - 1, $0 - 1) } ?? day + window - 1
            return low <= high ? low...high : nil
        }
        if let days = covered(30) { output.deltas.addSeries(days: days, mau: 1) }
        if let days = covered(7) { output.deltas.addSeries(days: days, wau: 1) }
        try output.dayBits.setActive(user: self.user, day: day, true, txn)
    }

    // MARK: - Rolling tiers

    private mutating func updateRollingWindows(
        changedDays: [Int],
        lastDayBefore: Int?,
        _ txn: borrowing Transaction,
        _ output: inout DerivedOutput
    ) throws {
        // What each changed day adds to the windows that contain it.
        var deltas: [(day: Int, activeDays: Int, actions: Int)] = []
        for day in changedDays {
            let entry = self.days[day]!
            let active = entry.record.isActive(self.catalog)
            let contribution = active ? entry.record.totalActions : 0
            let activeDelta = (active ? 1 : 0) - (entry.activeBefore ? 1 : 0)
            let actionsDelta = contribution - entry.contributionBefore
            if activeDelta != 0 || actionsDelta != 0 { deltas.append((day, activeDelta, actionsDelta)) }
        }
        let threshold = self.context.settings.powerThreshold

        // Records that existed: their windows move by the deltas inside [y - 29, y].
        if let lastDayBefore {
            var affected = Set<Int>()
            for delta in deltas where delta.day <= lastDayBefore {
                affected.formUnion(delta.day...min(delta.day + 29, lastDayBefore))
            }
            for day in affected.sorted() {
                guard let entry = try self.entry(day, txn), entry.existed else { continue }
                var activeDays = Int(entry.record.rollingActiveDays)
                var actions = Int(entry.record.rollingActions)
                for delta in deltas where delta.day <= day && delta.day >= day - 29 {
                    activeDays += delta.activeDays
                    actions += delta.actions
                }
                try self.modify(day, txn) {
                    $0.rollingActiveDays = UInt8(activeDays)
                    $0.rollingActions = UInt64(actions)
                    $0.tier = Tier.of(activeDays: activeDays, actions: actions, powerThreshold: threshold)
                }
            }
        }

        // New records, ascending: the window before y is the latest earlier active day p's window, minus
        // the active days that fall out between p's window and y's.
        for day in changedDays where !self.days[day]!.existed {
            var activeDays = 0
            var actions = 0
            if let previous = try output.dayBits.previousActive(user: self.user, before: day, within: 29, txn) {
                guard let previousEntry = try self.entry(previous, txn) else {
                    throw CorruptRecord(what: "active day \(previous) of user \(self.user) has no record")
                }
                actions = Int(previousEntry.record.rollingActions)
                for dropped in (previous - 29)...(day - 30)
                where try output.dayBits.isActive(user: self.user, day: dropped, txn) {
                    guard let droppedEntry = try self.entry(dropped, txn) else {
                        throw CorruptRecord(what: "active day \(dropped) of user \(self.user) has no record")
                    }
                    actions -= droppedEntry.record.totalActions
                }
                for candidate in (day - 29)...(day - 1)
                where try output.dayBits.isActive(user: self.user, day: candidate, txn) {
                    activeDays += 1
                }
            }
            let record = self.days[day]!.record
            if record.isActive(self.catalog) {
                activeDays += 1
                actions += record.totalActions
            }
            try self.modify(day, txn) {
                $0.rollingActiveDays = UInt8(activeDays)
                $0.rollingActions = UInt64(actions)
                $0.tier = Tier.of(activeDays: activeDays, actions: actions, powerThreshold: threshold)
            }
        }
    }
}

/// What the derived updates of one transaction read and do not change.
struct DerivedContext {
    let schema: Schema
    let settings: StoreSettings
    let catalog: ActionCatalog
    let mapper: ReportingTimeZone.DayMapper
}

/// What the derived updates of one transaction accumulate before ``WriteSession/flush(_:)`` writes it.
struct DerivedOutput {
    var dayBits: DayBitsCache
    var deltas = DerivedDeltas()
    /// What the transaction rewrote, for the change feed.
    var changes = ChangeSet()
}

/// Changes to the whole-population series, the day totals and the month totals, summed over the users of
/// one transaction and written once each.
struct DerivedDeltas {
    /// Changes to the series as a difference array: adding `n` over days `a...b` adds `n` at `a` and takes it
    /// away at `b + 1` (a new active day changes up to 30 MAU days; this is two entries instead of 30).
    private(set) var seriesSteps: [Int: (dau: Int32, wau: Int32, mau: Int32)] = [:]
    private(set) var dayTotals: [Int: (events: Int64, records: Int64)] = [:]
    private(set) var months: [MonthUser: MonthRecord] = [:]

    /// Adds to the DAU, WAU or MAU of every day of `days`.
    mutating func addSeries(days: ClosedRange<Int>, dau: Int32 = 0, wau: Int32 = 0, mau: Int32 = 0) {
        self.step(days.lowerBound, dau, wau, mau)
        self.step(days.upperBound + 1, -dau, -wau, -mau)
    }

    private mutating func step(_ day: Int, _ dau: Int32, _ wau: Int32, _ mau: Int32) {
        var delta = self.seriesSteps[day] ?? (0, 0, 0)
        delta.dau += dau
        delta.wau += wau
        delta.mau += mau
        self.seriesSteps[day] = delta
    }

    mutating func addMonth(_ month: Int, user: UInt32, _ delta: MonthRecord) {
        guard delta != MonthRecord() else { return }
        let key = MonthUser(month: UInt16(month), user: user)
        self.months[key] = (self.months[key] ?? MonthRecord()) + delta
    }

    mutating func addDayTotals(day: Int, events: Int64, records: Int64) {
        var delta = self.dayTotals[day] ?? (0, 0)
        delta.events += events
        delta.records += records
        self.dayTotals[day] = delta
    }

    /// Adds everything to the stored values; returns the last day that received events.
    func write(_ txn: borrowing Transaction, _ schema: Schema) throws -> StoreDay? {
        for (key, delta) in self.months where delta != MonthRecord() {
            let updated = (try schema.userMonths.get(key, txn) ?? MonthRecord()) + delta
            if updated.isEmpty {
                try schema.userMonths.delete(key, txn)
            } else {
                try schema.userMonths.put(key, updated, txn)
            }
        }
        // The running sum of the steps is each day's change.
        var running: (dau: Int32, wau: Int32, mau: Int32) = (0, 0, 0)
        var changes: [(day: Int, delta: (dau: Int32, wau: Int32, mau: Int32))] = []
        let steps = self.seriesSteps.keys.sorted()
        for (index, day) in steps.enumerated() {
            let step = self.seriesSteps[day]!
            running = (running.dau + step.dau, running.wau + step.wau, running.mau + step.mau)
            guard running != (0, 0, 0) else { continue }
            let end = index + 1 < steps.count ? steps[index + 1] : day + 1
            for changed in day..<end { changes.append((changed, running)) }
        }
        for (day, delta) in changes {
            guard let key = StoreDay(exactly: day) else { continue }
            let current = try schema.series.get(key, txn) ?? SeriesRecord(dau: 0, wau: 0, mau: 0)
            let updated = SeriesRecord(
                dau: UInt32(Int64(current.dau) + Int64(delta.dau)),
                wau: UInt32(Int64(current.wau) + Int64(delta.wau)),
                mau: UInt32(Int64(current.mau) + Int64(delta.mau))
            )
            try schema.series.put(key, updated, txn)
        }
        var lastDay: StoreDay?
        for (day, delta) in self.dayTotals {
            if delta.events > 0 { lastDay = max(lastDay ?? 0, StoreDay(day)) }
            let key = StoreDay(day)
            let current = try schema.dayTotals.get(key, txn) ?? DayTotals(events: 0, records: 0)
            let updated = DayTotals(
                events: UInt64(Int64(current.events) + delta.events),
                records: UInt64(Int64(current.records) + delta.records)
            )
            try schema.dayTotals.put(key, updated, txn)
        }
        return lastDay
    }
}
