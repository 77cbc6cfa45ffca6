import EngageModel
import Foundation
import LMDB

extension EngageStore {
    /// Recomputes every derived record from the raw events and compares it with the stored one.
    ///
    /// Runs in a write transaction (ingestion waits meanwhile) that rebuilds into empty scratch tables and is
    /// then rolled back: nothing is changed. Reports up to `maximumReported` differences and counts all.
    public func verify(maximumReported: Int = 1000) throws -> VerificationReport {
        try self.environment.writeAndRollBack { txn in
            try StoreMeta.requireAllRawEvents("verify needs every raw event", txn, self.schema)
            let scratch = self.schema.scratchVariant
            for database in self.schema.scratch.values { try txn.empty(database) }
            try self.schema.users.forEach(txn) { user, record in
                try scratch.users.put(user, record, txn)
                return true
            }
            let catalog = try StoreMeta.readCatalog(txn, self.schema)
            try DerivedRebuild(schema: scratch, settings: self.settings, catalog: catalog).run(txn)
            var comparison = Comparison(schema: self.schema, catalog: catalog, maximumReported: maximumReported)
            try comparison.compare("users", self.schema.users, scratch.users, txn)
            try comparison.compare("daily", self.schema.daily, scratch.daily, txn)
            try comparison.compare("sessions", self.schema.sessions, scratch.sessions, txn)
            try comparison.compare("day_active", self.schema.dayActive, scratch.dayActive, txn)
            try comparison.compare("series", self.schema.series, scratch.series, txn)
            try comparison.compare("day_totals", self.schema.dayTotals, scratch.dayTotals, txn)
            try comparison.compare("user_months", self.schema.userMonths, scratch.userMonths, txn)
            try comparison.compare("registrations", self.schema.registrations, scratch.registrations, txn)
            return comparison.report
        }
    }
}

/// A derived table's records in words, for verification reports: the record ("2026-01-03 user u7-000001")
/// and what differs between two values of it ("total_actions stored 7, recomputed 6").
private protocol DescribedRecords: ValueCodec where Value: Equatable {
    static func name(of key: Key, _ comparison: inout Comparison, _ txn: borrowing Transaction) throws -> String
    static func differences(
        _ stored: Value,
        _ recomputed: Value,
        key: Key,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String]
}

extension DescribedRecords where Key == StoreDay {
    /// Records keyed by a day are named by it.
    fileprivate static func name(
        of key: StoreDay,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        CivilDate(storeDay: key).description
    }
}

/// Walks each stored table and its recomputed twin in key order, in slices, so that a large table is
/// compared in bounded memory.
private struct Comparison {
    let schema: Schema
    let catalog: ActionCatalog
    let maximumReported: Int
    var report = VerificationReport(checked: [:], issues: [], totalIssues: 0)
    var userNames: [UInt32: String] = [:]

    init(schema: Schema, catalog: ActionCatalog, maximumReported: Int) {
        self.schema = schema
        self.catalog = catalog
        self.maximumReported = maximumReported
    }

    static let sliceSize = 50_000

    mutating func compare<Keys: KeyCodec, Values: DescribedRecords>(
        _ name: String,
        _ stored: Table<Keys, Values>,
        _ recomputed: Table<Keys, Values>,
        _ txn: borrowing Transaction
    ) throws {
        var start: [UInt8] = []
        var checked = 0
        while true {
            let storedRows = try stored.rawSlice(from: start, limit: Self.sliceSize, txn)
            let recomputedRows = try recomputed.rawSlice(from: start, limit: Self.sliceSize, txn)
            guard !storedRows.isEmpty || !recomputedRows.isEmpty else { break }
            // Compare keys up to the smaller of the two slices' last keys; the rest comes with the next slice.
            let limit = [storedRows.last?.key, recomputedRows.last?.key].compactMap { $0 }
                .min { $0.lexicographicallyPrecedes($1) }!
            let fullSlices = storedRows.count == Self.sliceSize || recomputedRows.count == Self.sliceSize
            var left = storedRows.filter { !fullSlices || !limit.lexicographicallyPrecedes($0.key) }[...]
            var right = recomputedRows.filter { !fullSlices || !limit.lexicographicallyPrecedes($0.key) }[...]
            while !left.isEmpty || !right.isEmpty {
                checked += 1
                if let l = left.first, let r = right.first, l.key == r.key {
                    if l.value != r.value {
                        let key = try l.key.withUnsafeBytes { try Keys.decode($0) }
                        let before = try l.value.withUnsafeBytes { try Values.decode($0, key: key) }
                        let after = try r.value.withUnsafeBytes { try Values.decode($0, key: key) }
                        var fields = try Values.differences(before, after, key: key, &self, txn)
                        if fields.isEmpty { fields = ["stored and recomputed values differ in their encoding"] }
                        try self.record(name, key, Values.self, fields.joined(separator: "; "), txn)
                    }
                    left.removeFirst()
                    right.removeFirst()
                } else if let l = left.first, right.first.map({ l.key.lexicographicallyPrecedes($0.key) }) ?? true {
                    let key = try l.key.withUnsafeBytes { try Keys.decode($0) }
                    try self.record(name, key, Values.self, "unexpected: the raw events imply no such record", txn)
                    left.removeFirst()
                } else {
                    let key = try right.first!.key.withUnsafeBytes { try Keys.decode($0) }
                    try self.record(name, key, Values.self, "missing: the raw events imply this record", txn)
                    right.removeFirst()
                }
            }
            guard fullSlices else { break }
            start = limit + [0]
        }
        self.report.checked[name] = checked
    }

    /// Counts an issue; describes it (which can read the store) only while the report has room.
    mutating func record<Values: DescribedRecords>(
        _ table: String,
        _ key: Values.Key,
        _: Values.Type,
        _ detail: String,
        _ txn: borrowing Transaction
    ) throws {
        self.report.totalIssues += 1
        guard self.report.issues.count < self.maximumReported else { return }
        let name = try Values.name(of: key, &self, txn)
        self.report.issues.append(VerificationIssue(table: table, key: name, detail: detail))
    }

    mutating func userName(_ user: UInt32, _ txn: borrowing Transaction) throws -> String {
        if let name = self.userNames[user] { return name }
        let name = try self.schema.users.get(user, txn).map { String(decoding: $0.userID, as: UTF8.self) } ?? "#\(user)"
        self.userNames[user] = name
        return name
    }

    /// "name stored a, recomputed b" when they differ.
    static func field<Value: Equatable>(_ name: String, _ stored: Value, _ recomputed: Value) -> [String] {
        stored == recomputed ? [] : ["\(name) stored \(stored), recomputed \(recomputed)"]
    }
}

extension UserRecordValue: DescribedRecords {
    fileprivate static func name(
        of key: UInt32,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        "user " + (try comparison.userName(key, txn))
    }

    fileprivate static func differences(
        _ stored: UserRecord,
        _ recomputed: UserRecord,
        key: UInt32,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        Comparison.field(
            "registration_date",
            stored.registrationDate?.description ?? "none",
            recomputed.registrationDate?.description ?? "none"
        )
            + Comparison.field(
                "first_event_day",
                stored.firstEventDay.map { CivilDate(storeDay: $0).description } ?? "none",
                recomputed.firstEventDay.map { CivilDate(storeDay: $0).description } ?? "none"
            )
            + Comparison.field("attribute value ids", stored.attributeValueIDs, recomputed.attributeValueIDs)
    }
}

extension DailyRecordValue: DescribedRecords {
    fileprivate static func name(
        of key: DayUser,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        "\(CivilDate(storeDay: key.day)) user \(try comparison.userName(key.user, txn))"
    }

    fileprivate static func differences(
        _ stored: DailyRecord,
        _ recomputed: DailyRecord,
        key: DayUser,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        var fields = Comparison.field("total_actions", stored.totalActions, recomputed.totalActions)
        fields += Comparison.field("unique_action_types", stored.uniqueActionTypes, recomputed.uniqueActionTypes)
        fields += Comparison.field("sessions_count", stored.sessionsCount, recomputed.sessionsCount)
        fields += Comparison.field("total_session_duration", stored.sessionSeconds, recomputed.sessionSeconds)
        fields += Comparison.field("engagement_tier", stored.tier.name, recomputed.tier.name)
        fields += Comparison.field("rolling_active_days", stored.rollingActiveDays, recomputed.rollingActiveDays)
        fields += Comparison.field("rolling_actions", stored.rollingActions, recomputed.rollingActions)
        fields += Comparison.field(
            "carried_session",
            stored.carryStartMs.map(Timestamp.formatISO8601) ?? "none",
            recomputed.carryStartMs.map(Timestamp.formatISO8601) ?? "none"
        )
        for action in Set(stored.actionCounts.map(\.action) + recomputed.actionCounts.map(\.action)).sorted() {
            let name =
                comparison.catalog.record(action).map { String(decoding: $0.actionType, as: UTF8.self) }
                ?? "action #\(action)"
            fields += Comparison.field(
                "'\(name)' events",
                stored.actionCounts.first { $0.action == action }?.count ?? 0,
                recomputed.actionCounts.first { $0.action == action }?.count ?? 0
            )
        }
        return fields
    }
}

extension SessionRecordValue: DescribedRecords {
    fileprivate static func name(
        of key: SessionKey,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        "\(CivilDate(storeDay: key.day)) user \(try comparison.userName(key.user, txn)) starting \(Timestamp.formatISO8601(key.startMs))"
    }

    fileprivate static func differences(
        _ stored: SessionRecord,
        _ recomputed: SessionRecord,
        key: SessionKey,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        Comparison.field(
            "session_end",
            Timestamp.formatISO8601(stored.endMs),
            Timestamp.formatISO8601(recomputed.endMs)
        )
            + Comparison.field("actions_count", stored.actionsCount, recomputed.actionsCount)
            + Comparison.field("core_actions", stored.coreActionsCount, recomputed.coreActionsCount)
            + Comparison.field("screens_visited", stored.screensVisited, recomputed.screensVisited)
    }
}

extension ChunkBitsValue: DescribedRecords where Key == DayChunk {
    fileprivate static func name(
        of key: DayChunk,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        "\(CivilDate(storeDay: key.day)) chunk \(key.chunk)"
    }

    fileprivate static func differences(
        _ stored: ChunkBits,
        _ recomputed: ChunkBits,
        key: DayChunk,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        let base = UInt32(key.chunk) * UInt32(usersPerChunk)
        var names: [String] = []
        for offset in 0..<usersPerChunk where stored.contains(offset) != recomputed.contains(offset) {
            if names.count == 5 {
                names.append("...")
                break
            }
            let name = try comparison.userName(base + UInt32(offset), txn)
            names.append("\(name) (\(stored.contains(offset) ? "stored only" : "recomputed only"))")
        }
        return [
            "users stored \(stored.count), recomputed \(recomputed.count); differing: \(names.joined(separator: ", "))"
        ]
    }
}

extension SeriesValue: DescribedRecords {
    fileprivate static func differences(
        _ stored: SeriesRecord,
        _ recomputed: SeriesRecord,
        key: StoreDay,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        Comparison.field("dau", stored.dau, recomputed.dau) + Comparison.field("wau", stored.wau, recomputed.wau)
            + Comparison.field("mau", stored.mau, recomputed.mau)
    }
}

extension DayTotalsValue: DescribedRecords {
    fileprivate static func differences(
        _ stored: DayTotals,
        _ recomputed: DayTotals,
        key: StoreDay,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        Comparison.field("events", stored.events, recomputed.events)
            + Comparison.field("daily_records", stored.records, recomputed.records)
    }
}

extension MonthRecordValue: DescribedRecords {
    fileprivate static func name(
        of key: MonthUser,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> String {
        "\(CivilMonth(index: Int(key.month))) user \(try comparison.userName(key.user, txn))"
    }

    fileprivate static func differences(
        _ stored: MonthRecord,
        _ recomputed: MonthRecord,
        key: MonthUser,
        _ comparison: inout Comparison,
        _ txn: borrowing Transaction
    ) throws -> [String] {
        Comparison.field("daily_records", stored.records, recomputed.records)
            + Comparison.field("active_days", stored.activeDays, recomputed.activeDays)
            + Comparison.field("actions_on_active_days", stored.activeActions, recomputed.activeActions)
            + Comparison.field("actions", stored.actions, recomputed.actions)
            + Comparison.field("sessions", stored.sessions, recomputed.sessions)
    }
}
