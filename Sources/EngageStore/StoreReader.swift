import EngageModel
import LMDB

/// Read helpers over one read-only transaction.
struct StoreReader {
    let schema: Schema
    let settings: StoreSettings

    func catalog(_ txn: borrowing Transaction) throws -> ActionCatalog {
        try StoreMeta.readCatalog(txn, self.schema)
    }

    /// The store's last day: the latest local date of any stored event (nil for an empty store). Days after
    /// it, and periods that end after it, are unfinished (SEMANTICS.md): their numbers are unknown.
    func lastDay(_ txn: borrowing Transaction) throws -> CivilDate? {
        try self.schema.dayTotals.lastKey(txn).map(CivilDate.init(storeDay:))
    }

    /// Whether every day of `days` is on or before the store's last day.
    func isFinished(_ days: ClosedRange<CivilDate>, lastDay: CivilDate?) -> Bool {
        guard let lastDay else { return false }
        return days.upperBound <= lastDay
    }

    /// The values of `dimension` that at least one user holds, with their users, ordered by value.
    func dimensionValues(_ dimension: Dimension, _ txn: borrowing Transaction) throws -> [DimensionValueRow] {
        switch dimension {
        case .attribute(let attribute):
            return try self.heldValues(attribute, txn).map { DimensionValueRow(value: $0.name, users: $0.users) }
        case .cohort:
            // From the registration index (users by registration day, as bitsets): a few bitsets per day
            // instead of every user record. Each user with a registration date is in exactly one of them.
            var counts: [Int: Int] = [:]
            try self.schema.registrations.forEach(txn) { key, bits in
                counts[CivilDate(storeDay: key.day).monthIndex, default: 0] += bits.count
                return true
            }
            return counts.keys.sorted().compactMap {
                counts[$0]! > 0 ? DimensionValueRow(value: CivilMonth(index: $0).description, users: counts[$0]!) : nil
            }
        }
    }

    /// One past the highest user key.
    func userKeyLimit(_ txn: borrowing Transaction) throws -> Int {
        Int(try StoreMeta.number(MetaKey.nextUserKey, txn, self.schema) ?? 1)
    }

    /// The values of `attribute` that at least one user holds, with their ids and users, sorted by value.
    func heldValues(
        _ attribute: Attribute,
        _ txn: borrowing Transaction
    ) throws -> [(id: UInt32, name: String, users: Int)] {
        var values: [(id: UInt32, name: String, users: Int)] = []
        try self.schema.attributeNames.forEach(prefix: AttributeValueIDKey.prefix(attribute), txn) { key, value in
            if value.users > 0 { values.append((key.id, value.text, Int(value.users))) }
            return true
        }
        return values.sorted { $0.name < $1.name }
    }

    func valueID(_ attribute: Attribute, _ value: String, _ txn: borrowing Transaction) throws -> UInt32? {
        if value == Attribute.unknownValue { return 0 }
        return try self.schema.attributeValues.get(AttributeText(attribute: attribute, value: Array(value.utf8)), txn)
    }

    /// Users holding value `valueID` of `attribute`.
    func members(
        _ attribute: Attribute,
        _ valueID: UInt32,
        capacity: Int,
        _ txn: borrowing Transaction
    ) throws -> UserSet {
        var set = UserSet(capacity: capacity)
        let value = AttributeValueID(attribute: attribute, id: valueID)
        try self.schema.attributeMembers.forEach(prefix: AttributeChunkKey.prefix(value), txn) { key, bits in
            set.formUnion(chunk: key.chunk, bits: bits)
            return true
        }
        return set
    }

    /// Every user, by registration month (users without a registration date are left out).
    func registrationMonths(_ txn: borrowing Transaction) throws -> [UInt32: CivilMonth] {
        var months: [UInt32: CivilMonth] = [:]
        try self.schema.users.forEach(txn) { user, record in
            if let date = record.registrationDate { months[user] = CivilMonth(index: date.monthIndex) }
            return true
        }
        return months
    }

    /// The users matching every filter (values of one dimension OR, dimensions AND); nil means everyone.
    func matching(_ filters: [DimensionFilter], capacity: Int, _ txn: borrowing Transaction) throws -> UserSet? {
        var result: UserSet?
        var months: [UInt32: CivilMonth]?
        for filter in filters {
            var set = UserSet(capacity: capacity)
            switch filter.dimension {
            case .attribute(let attribute):
                for value in filter.values {
                    guard let id = try self.valueID(attribute, value, txn) else { continue }
                    set.formUnion(try self.members(attribute, id, capacity: capacity, txn))
                }
            case .cohort:
                var wanted = Set<CivilMonth>()
                for value in filter.values {
                    guard let month = CivilMonth(value) else {
                        throw StoreError(.invalidQuery, "cohort values are months (YYYY-MM), not '\(value)'")
                    }
                    wanted.insert(month)
                }
                if months == nil { months = try self.registrationMonths(txn) }
                for (user, month) in months! where wanted.contains(month) { set.insert(user) }
            }
            if result == nil { result = set } else { result!.formIntersection(set) }
        }
        return result
    }

    /// The breakdown groups of `dimension`: each value any user holds, with its members.
    func groups(
        _ dimension: Dimension,
        capacity: Int,
        _ txn: borrowing Transaction
    ) throws -> [(name: String, users: UserSet)] {
        switch dimension {
        case .attribute(let attribute):
            return try self.heldValues(attribute, txn).map { value in
                (value.name, try self.members(attribute, value.id, capacity: capacity, txn))
            }
        case .cohort:
            var byMonth: [CivilMonth: UserSet] = [:]
            for (user, month) in try self.registrationMonths(txn) {
                byMonth[month, default: UserSet(capacity: capacity)].insert(user)
            }
            return byMonth.keys.sorted().map { ($0.description, byMonth[$0]!) }
        }
    }

    /// Active users of `day` by chunk.
    func activeChunks(_ day: Int, _ txn: borrowing Transaction, _ body: (UInt16, ChunkBits) throws -> Void) throws {
        guard day >= 0, day <= Int(UInt16.max) else { return }
        try self.schema.dayActive.forEach(prefix: DayKey.prefix(StoreDay(day)), txn) { key, bits in
            try body(key.chunk, bits)
            return true
        }
    }
}

extension StoreReader {
    /// Users active on any day of `days`.
    func activeUsers(_ days: ClosedRange<CivilDate>, capacity: Int, _ txn: borrowing Transaction) throws -> UserSet {
        var set = UserSet(capacity: capacity)
        for day in Self.storeDays(days) {
            try self.activeChunks(day, txn) { chunk, bits in set.formUnion(chunk: chunk, bits: bits) }
        }
        return set
    }

    /// Users whose registration date falls in `days`.
    func registeredUsers(_ days: ClosedRange<CivilDate>, capacity: Int, _ txn: borrowing Transaction) throws -> UserSet
    {
        var set = UserSet(capacity: capacity)
        for day in Self.storeDays(days) {
            try self.schema.registrations.forEach(prefix: DayKey.prefix(StoreDay(day)), txn) { key, bits in
                set.formUnion(chunk: key.chunk, bits: bits)
                return true
            }
        }
        return set
    }

    /// The store days of a date range, clipped to what keys can hold.
    static func storeDays(_ days: ClosedRange<CivilDate>) -> ClosedRange<Int> {
        let first = max(Int(days.lowerBound.dayNumber) - Int(CivilDate.storeEpochDayNumber), 0)
        let last = min(Int(days.upperBound.dayNumber) - Int(CivilDate.storeEpochDayNumber), Int(UInt16.max))
        return first <= last ? first...last : 1...0
    }

    /// Month totals per user of a calendar month.
    func forEachUserMonth(
        _ month: CivilMonth,
        _ txn: borrowing Transaction,
        _ body: (UInt32, MonthRecord) throws -> Void
    ) throws {
        try self.schema.userMonths.forEach(prefix: MonthUserKey.prefix(month: UInt16(month.index)), txn) {
            key,
            record in
            try body(key.user, record)
            return true
        }
    }

    /// Per-user totals over the daily records of `days` (records, active days, actions, sessions).
    func windowTotals(
        _ days: ClosedRange<CivilDate>,
        catalog: ActionCatalog,
        _ txn: borrowing Transaction,
        lastActive: ((UInt32, Int) -> Void)? = nil
    ) throws -> [UInt32: MonthRecord] {
        var totals: [UInt32: MonthRecord] = [:]
        for day in Self.storeDays(days) {
            try self.schema.daily.forEach(prefix: DayKey.prefix(StoreDay(day)), txn) { key, record in
                let active = record.isActive(catalog)
                totals[key.user, default: MonthRecord()] =
                    totals[key.user, default: MonthRecord()] + MonthRecord(day: record, isActive: active)
                if active { lastActive?(key.user, day) }
                return true
            }
        }
        return totals
    }

    func userID(_ user: UInt32, _ txn: borrowing Transaction) throws -> String {
        guard let record = try self.schema.users.get(user, txn) else {
            throw CorruptRecord(what: "user \(user) has records but no profile")
        }
        return String(decoding: record.userID, as: UTF8.self)
    }
}
