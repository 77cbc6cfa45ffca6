import EngageModel
import Foundation
import LMDB

extension EngageStore {

    /// For each k >= 1, the users with exactly k active days in [from, to] (values of k with no users are left
    /// out), per group.
    public func activeDays(
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) throws -> [ActiveDaysRow] {
        try Self.checkRange(from, to)
        return try self.read { txn, reader in
            let grouping = try reader.grouping(selection, txn)
            var counts = [UInt16](repeating: 0, count: grouping.capacity)
            for day in StoreReader.storeDays(from...to) {
                try reader.activeChunks(day, txn) { chunk, bits in
                    let base = Int(chunk) * usersPerChunk
                    for (index, word) in bits.words.enumerated() where word != 0 {
                        var remaining = word
                        while remaining != 0 {
                            let user = base + index * 64 + remaining.trailingZeroBitCount
                            remaining &= remaining - 1
                            if user < counts.count { counts[user] += 1 }
                        }
                    }
                }
            }
            var histogram = [[Int: Int]](repeating: [:], count: grouping.names.count)
            for (user, count) in counts.enumerated() where count > 0 {
                let group = grouping.group(UInt32(user))
                if group >= 0 { histogram[group][Int(count), default: 0] += 1 }
            }
            var rows: [ActiveDaysRow] = []
            for (group, name) in grouping.names.enumerated() {
                for days in histogram[group].keys.sorted() {
                    rows.append(ActiveDaysRow(group: name, activeDays: days, users: histogram[group][days]!))
                }
            }
            return rows
        }
    }

    /// Tier table over a calendar month or a rolling window: per tier other than inactive, the users and the
    /// sums of their daily records inside the window. Every tier is listed, in the order power, core, regular,
    /// casual, per group.
    public func tiers(_ window: TierWindow, _ selection: Selection = Selection()) throws -> [TierRow] {
        try self.read { txn, reader in
            let grouping = try reader.grouping(selection, txn)
            var sums = [[Tier: (users: Int, record: MonthRecord)]](repeating: [:], count: grouping.names.count)
            func add(_ user: UInt32, _ record: MonthRecord) {
                let group = grouping.group(user)
                guard group >= 0 else { return }
                let tier = record.tier(powerThreshold: self.settings.powerThreshold)
                guard tier != .inactive else { return }
                let current = sums[group][tier] ?? (0, MonthRecord())
                sums[group][tier] = (current.users + 1, current.record + record)
            }
            switch window {
            case .month(let month):
                // Summed as the month's records are read: no table of every user in between (the dashboard
                // asks this on every refresh).
                try reader.forEachUserMonth(month, txn) { user, record in add(user, record) }
            case .asOf:
                for (user, record) in try reader.windowTotals(window.days, catalog: try reader.catalog(txn), txn) {
                    add(user, record)
                }
            }
            var rows: [TierRow] = []
            for (group, name) in grouping.names.enumerated() {
                for tier in Tier.reported {
                    let (users, record) = sums[group][tier] ?? (0, MonthRecord())
                    rows.append(
                        TierRow(
                            group: name,
                            tier: tier,
                            users: users,
                            records: Int(record.records),
                            sessions: Int(record.sessions),
                            actions: Int(record.actions)
                        )
                    )
                }
            }
            return rows
        }
    }

    /// Monthly tier of each user in `month` and the next, counted per (from, to) pair; users inactive in
    /// both months are left out. Rows are ordered by tier names.
    public func transitions(_ month: CivilMonth, _ selection: Selection = Selection()) throws -> [TransitionRow] {
        try self.read { txn, reader in
            let grouping = try reader.grouping(Selection(filters: selection.filters), txn)
            // Tiers by user key in an array rather than a dictionary: both months' records are read in full.
            let limit = try reader.userKeyLimit(txn)
            var from = [Tier](repeating: .inactive, count: limit)
            var to = [Tier](repeating: .inactive, count: limit)
            try reader.forEachUserMonth(month, txn) { user, record in
                if Int(user) < limit { from[Int(user)] = record.tier(powerThreshold: self.settings.powerThreshold) }
            }
            try reader.forEachUserMonth(CivilMonth(index: month.index + 1), txn) { user, record in
                if Int(user) < limit { to[Int(user)] = record.tier(powerThreshold: self.settings.powerThreshold) }
            }
            var counts: [[Tier]: Int] = [:]
            for user in 0..<limit
            where (from[user] != .inactive || to[user] != .inactive) && grouping.group(UInt32(user)) >= 0 {
                counts[[from[user], to[user]], default: 0] += 1
            }
            // Ordered by the tiers' names, as the protocol promises.
            return counts.keys.sorted { ($0[0].name, $0[1].name) < ($1[0].name, $1[1].name) }.map {
                TransitionRow(fromTier: $0[0], toTier: $0[1], users: counts[$0]!)
            }
        }
    }

    /// Cohort retention: for each period C overlapping [from, to], the users registered in C (cohorts with
    /// no users are left out) and, for k = 0...periods, how many were active in period C + k.
    public func retention(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        periods: Int,
        _ selection: Selection = Selection()
    ) throws -> [RetentionRow] {
        try Self.checkRange(from, to)
        guard (0...400).contains(periods) else {
            throw StoreError(.invalidQuery, "periods must be 0...400, not \(periods)")
        }
        return try self.read { txn, reader in
            let grouping = try reader.grouping(selection, txn)
            let lastDay = try reader.lastDay(txn)
            var activeByPeriod: [CivilDate: UserSet] = [:]
            var rows: [RetentionRow] = []
            for cohort in period.starts(overlapping: from, to) {
                let members = try reader.registeredUsers(period.days(from: cohort), capacity: grouping.capacity, txn)
                let sizes = members.countByGroup(grouping)
                var retained = [[Int]](repeating: [], count: grouping.names.count)
                for offset in 0...periods {
                    let start = period.advance(cohort, by: offset)
                    if activeByPeriod[start] == nil {
                        activeByPeriod[start] = try reader.activeUsers(
                            period.days(from: start),
                            capacity: grouping.capacity,
                            txn
                        )
                    }
                    let counts = members.intersection(activeByPeriod[start]!).countByGroup(grouping)
                    for group in 0..<counts.count { retained[group].append(counts[group]) }
                }
                for (group, name) in grouping.names.enumerated() where sizes[group] > 0 {
                    for offset in 0...periods {
                        let days = period.days(from: period.advance(cohort, by: offset))
                        rows.append(
                            RetentionRow(
                                group: name,
                                cohort: cohort,
                                cohortSize: sizes[group],
                                periodOffset: offset,
                                retained: reader.isFinished(days, lastDay: lastDay) ? retained[group][offset] : nil
                            )
                        )
                    }
                }
            }
            return rows.sorted {
                ($0.group ?? "", $0.cohort, $0.periodOffset) < ($1.group ?? "", $1.cohort, $1.periodOffset)
            }
        }
    }

    /// Per period P overlapping [from, to], among users active in P: new (registered in P), returning
    /// (active in P - 1 too), resurrecting (not); and dormant: active in P - 1, not in P.
    public func lifecycle(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) throws -> [LifecycleRow] {
        try Self.checkRange(from, to)
        return try self.read { txn, reader in
            let grouping = try reader.grouping(Selection(filters: selection.filters), txn)
            let capacity = grouping.capacity
            var everyone = UserSet(capacity: capacity)
            for user in 0..<capacity where grouping.group(UInt32(user)) >= 0 { everyone.insert(UInt32(user)) }
            var rows: [LifecycleRow] = []
            var previous: UserSet?
            let lastDay = try reader.lastDay(txn)
            for start in period.starts(overlapping: from, to) {
                guard reader.isFinished(period.days(from: start), lastDay: lastDay) else {
                    rows.append(.unfinished(start))
                    continue
                }
                let before =
                    try previous
                    ?? reader.activeUsers(period.days(from: period.advance(start, by: -1)), capacity: capacity, txn)
                    .intersection(everyone)
                let active = try reader.activeUsers(period.days(from: start), capacity: capacity, txn).intersection(
                    everyone
                )
                let registered = try reader.registeredUsers(period.days(from: start), capacity: capacity, txn)
                let new = active.intersection(registered)
                let returning = active.intersection(before).subtracting(registered)
                let resurrecting = active.subtracting(before).subtracting(registered)
                rows.append(
                    LifecycleRow(
                        period: start,
                        new: new.count,
                        returning: returning.count,
                        resurrecting: resurrecting.count,
                        dormant: before.subtracting(active).count
                    )
                )
                previous = active
            }
            return rows
        }
    }

    /// Sessions that start on a day in [from, to].
    public func sessionSummary(
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) throws -> SessionSummary {
        try Self.checkRange(from, to)
        return try self.read { txn, reader in
            let grouping = try reader.grouping(Selection(filters: selection.filters), txn)
            var users = UserSet(capacity: grouping.capacity)
            // Sessions per duration in seconds: an array for the first hours (an increment instead of a hash
            // per session; this query reads every session of its range), a dictionary beyond.
            var shortDurations = [Int](repeating: 0, count: 1 << 14)
            var longDurations: [Int: Int] = [:]
            var summary = SessionSummary(
                sessions: 0,
                users: 0,
                totalDurationSeconds: 0,
                totalActions: 0,
                bounces: 0,
                p50DurationSeconds: 0,
                p90DurationSeconds: 0
            )
            for day in StoreReader.storeDays(from...to) {
                try reader.schema.sessionTotals.forEach(prefix: DayKey.prefix(StoreDay(day)), txn) { key, record in
                    let user = key.user
                    guard grouping.group(user) >= 0 else { return true }
                    let duration = Int(record.durationSeconds)
                    summary.sessions += 1
                    summary.totalDurationSeconds += duration
                    summary.totalActions += Int(record.actionsCount)
                    if record.actionsCount == 1 { summary.bounces += 1 }
                    if duration >= 0 && duration < shortDurations.count {
                        shortDurations[duration] += 1
                    } else {
                        longDurations[duration, default: 0] += 1
                    }
                    users.insert(user)
                    return true
                }
            }
            summary.users = users.count
            // Nearest rank: the ceil(q * n)-th smallest.
            func percentile(_ q: Double) -> Int {
                guard summary.sessions > 0 else { return 0 }
                let rank = max(1, Int((q * Double(summary.sessions)).rounded(.up)))
                var seen = 0
                for duration in longDurations.keys.sorted() where duration < 0 {
                    seen += longDurations[duration]!
                    if seen >= rank { return duration }
                }
                for (duration, count) in shortDurations.enumerated() where count > 0 {
                    seen += count
                    if seen >= rank { return duration }
                }
                for duration in longDurations.keys.sorted() where duration >= 0 {
                    seen += longDurations[duration]!
                    if seen >= rank { return duration }
                }
                return 0
            }
            summary.p50DurationSeconds = percentile(0.5)
            summary.p90DurationSeconds = percentile(0.9)
            return summary
        }
    }

    /// Users whose rolling tier seven days before `asOf` was regular or better and who have no active day in
    /// [asOf - 6, asOf]: most active first (active days, then actions, in that earlier window).
    public func atRisk(asOf: CivilDate, limit: Int, _ selection: Selection = Selection()) throws -> [AtRiskRow] {
        try Self.checkRange(asOf, asOf)
        return try self.read { txn, reader in
            let grouping = try reader.grouping(Selection(filters: selection.filters), txn)
            let before = asOf.adding(days: -7)
            var lastActive: [UInt32: Int] = [:]
            let totals = try reader.windowTotals(TierWindow.asOf(before).days, catalog: try reader.catalog(txn), txn) {
                user,
                day in
                lastActive[user] = max(lastActive[user] ?? day, day)
            }
            let recent = try reader.activeUsers(asOf.adding(days: -6)...asOf, capacity: grouping.capacity, txn)
            var candidates: [(user: UInt32, tier: Tier, record: MonthRecord)] = []
            for (user, record) in totals where grouping.group(user) >= 0 && !recent.contains(user) {
                let tier = record.tier(powerThreshold: self.settings.powerThreshold)
                if tier >= .regular { candidates.append((user, tier, record)) }
            }
            candidates.sort {
                ($1.record.activeDays, $1.record.activeActions, $0.user) < (
                    $0.record.activeDays, $0.record.activeActions, $1.user
                )
            }
            return try candidates.prefix(max(0, limit)).map { candidate in
                AtRiskRow(
                    userID: try reader.userID(candidate.user, txn),
                    tierBefore: candidate.tier,
                    activeDays: Int(candidate.record.activeDays),
                    actions: Int(candidate.record.activeActions),
                    lastActiveDay: CivilDate(storeDay: StoreDay(lastActive[candidate.user]!))
                )
            }
        }
    }

    /// Events and distinct users per action category and per action type, over [from, to]: categories
    /// first (by name), then action types (by category, then name).
    public func actionUsage(
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) throws -> [ActionUsageRow] {
        try Self.checkRange(from, to)
        return try self.read { txn, reader in
            let grouping = try reader.grouping(Selection(filters: selection.filters), txn)
            let catalog = try reader.catalog(txn)
            var events: [UInt16: Int] = [:]
            var users: [UInt16: UserSet] = [:]
            for day in StoreReader.storeDays(from...to) {
                try reader.schema.daily.forEach(prefix: DayKey.prefix(StoreDay(day)), txn) { key, record in
                    let user = key.user
                    guard grouping.group(user) >= 0 else { return true }
                    for (action, count) in record.actionCounts {
                        events[action, default: 0] += Int(count)
                        users[action, default: UserSet(capacity: grouping.capacity)].insert(user)
                    }
                    return true
                }
            }
            // Categories grouped by their bytes, as the store and ClickHouse tell names apart (UTF8Key).
            var categoryEvents: [UTF8Key: Int] = [:]
            var categoryUsers: [UTF8Key: UserSet] = [:]
            var actionRows: [ActionUsageRow] = []
            for (action, count) in events {
                guard let record = catalog.record(action) else { continue }
                let category = UTF8Key(record.category)
                categoryEvents[category, default: 0] += count
                categoryUsers[category, default: UserSet(capacity: grouping.capacity)].formUnion(users[action]!)
                actionRows.append(
                    ActionUsageRow(
                        category: record.category,
                        actionType: String(decoding: record.actionType, as: UTF8.self),
                        isCoreAction: record.isCore,
                        events: count,
                        users: users[action]!.count
                    )
                )
            }
            let categoryRows = categoryEvents.keys.sorted { $0.text < $1.text }.map {
                ActionUsageRow(
                    category: $0.text,
                    actionType: nil,
                    isCoreAction: nil,
                    events: categoryEvents[$0]!,
                    users: categoryUsers[$0]!.count
                )
            }
            return categoryRows
                + actionRows.sorted { ($0.category, $0.actionType ?? "") < ($1.category, $1.actionType ?? "") }
        }
    }

    /// One user's profile, daily records, sessions and rolling tier as of `today` (default: the current local
    /// date of the reporting time zone). nil for an unknown user.
    public func user(_ userID: String, today: CivilDate? = nil) throws -> UserDetail? {
        let asOf = today ?? self.settings.zone.localDay(epochMs: Int64(Date().timeIntervalSince1970 * 1000))
        return try self.read { txn, reader in
            guard let user = try reader.schema.userIDs.get(Array(userID.utf8), txn),
                let record = try reader.schema.users.get(user, txn)
            else { return nil }
            var attributes: [Attribute: String] = [:]
            for attribute in Attribute.allCases {
                let id = AttributeValueID(attribute: attribute, id: record.attributeValueIDs[attribute.index])
                attributes[attribute] = try reader.schema.attributeNames.get(id, txn)?.text ?? Attribute.unknownValue
            }
            let profile = UserProfile(userID: userID, registrationDate: record.registrationDate, attributes: attributes)
            let catalog = try reader.catalog(txn)
            var days: [UserDetail.Day] = []
            var sessions: [UserDetail.Session] = []
            var window = MonthRecord()
            let lastDay = try reader.schema.dayTotals.lastKey(txn)
            if let first = record.firstEventDay, let last = lastDay, first <= last {
                for day in Int(first)...Int(last) {
                    let date = CivilDate(storeDay: StoreDay(day))
                    guard let daily = try reader.schema.daily.get(DayUser(day: StoreDay(day), user: user), txn) else {
                        continue
                    }
                    let active = daily.isActive(catalog)
                    days.append(
                        UserDetail.Day(
                            date: date,
                            sessionsCount: Int(daily.sessionsCount),
                            totalSessionDuration: Int(daily.sessionSeconds),
                            totalActions: daily.totalActions,
                            uniqueActionTypes: daily.uniqueActionTypes,
                            isActiveDay: active,
                            engagementTier: daily.tier
                        )
                    )
                    if TierWindow.asOf(asOf).days.contains(date) {
                        window = window + MonthRecord(day: daily, isActive: active)
                    }
                    try reader.schema.sessions.forEach(
                        prefix: SessionKeyCodec.prefix(day: StoreDay(day), user: user),
                        txn
                    ) { _, session in
                        sessions.append(
                            UserDetail.Session(
                                startMs: session.startMs,
                                endMs: session.endMs,
                                actionsCount: Int(session.actionsCount),
                                screensVisited: session.screensVisited,
                                sessionType: session.sessionType
                            )
                        )
                        return true
                    }
                }
            }
            return UserDetail(
                profile: profile,
                currentTier: window.tier(powerThreshold: self.settings.powerThreshold),
                asOf: asOf,
                days: days,
                sessions: sessions
            )
        }
    }

    /// The one check of a query's date range: both days inside what a store holds, in order, at most
    /// ``Limits/maxQueryDays`` apart. Messages give the valid domain.
    static func checkRange(_ from: CivilDate, _ to: CivilDate) throws(StoreError) {
        let domain = Limits.storedDates
        for date in [from, to] where !domain.contains(date) {
            throw StoreError(
                .invalidQuery,
                "\(date) is outside the dates a store holds (\(domain.lowerBound) ... \(domain.upperBound))"
            )
        }
        guard from <= to else { throw StoreError(.invalidQuery, "from \(from) is after to \(to)") }
        let days = Int(to.dayNumber) - Int(from.dayNumber) + 1
        guard days <= Limits.maxQueryDays else {
            throw StoreError(
                .invalidQuery,
                "a query spans at most \(Limits.maxQueryDays) days (10 years); \(from) ... \(to) is \(days) days"
            )
        }
    }
}
