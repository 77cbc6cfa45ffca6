import EngageModel
import Foundation
import LMDB

extension EngageStore {
    /// Recomputes every derived record from the raw events and compares it with the stored one.
    ///
    /// Runs in a write transaction (ingestion waits meanwhile) that rebuilds into empty scratch databases
    /// and is then aborted: nothing is changed. Reports up to `maximumReported` differences and counts all.
    public func verify(maximumReported: Int = 1000) throws -> VerificationReport {
        struct Finished: Error { let report: VerificationReport }
        do {
            try self.environment.write { txn in
                try StoreMeta.requireAllRawEvents("verify needs every raw event", txn, self.schema)
                let scratch = self.schema.scratchVariant
                for database in self.schema.scratch.values { try txn.empty(database) }
                try txn.forEach(self.schema.users, prefix: []) { entry in
                    try txn.put(scratch.users, key: entry.key, value: entry.value)
                    return true
                }
                let catalog = try StoreMeta.readCatalog(txn, self.schema)
                try DerivedRebuild(schema: scratch, settings: self.settings, catalog: catalog).run(txn)
                var comparison = Comparison(
                    schema: self.schema,
                    settings: self.settings,
                    catalog: catalog,
                    maximumReported: maximumReported
                )
                for name in Schema.derivedNames {
                    try comparison.compare(
                        name,
                        stored: self.schema.derived[name]!,
                        recomputed: scratch.derived[name]!,
                        txn
                    )
                }
                throw Finished(report: comparison.report)
            }
        } catch let finished as Finished {
            return finished.report
        }
        throw StoreError(.failed, "verification ended without a report")
    }
}

/// Walks a stored table and its recomputed twin in key order.
private struct Comparison {
    let schema: Schema
    let settings: StoreSettings
    let catalog: ActionCatalog
    let maximumReported: Int
    var report = VerificationReport(checked: [:], issues: [], totalIssues: 0)
    var userNames: [UInt32: String] = [:]

    init(schema: Schema, settings: StoreSettings, catalog: ActionCatalog, maximumReported: Int) {
        self.schema = schema
        self.settings = settings
        self.catalog = catalog
        self.maximumReported = maximumReported
    }

    mutating func compare(_ name: String, stored: Database, recomputed: Database, _ txn: borrowing Transaction) throws {
        var storedRows: [([UInt8], [UInt8])] = []
        var recomputedRows: [([UInt8], [UInt8])] = []
        // Both sides are read in slices so that a large table is compared in bounded memory.
        var start: [UInt8] = []
        var checked = 0
        while true {
            storedRows = try Self.slice(stored, from: start, txn)
            recomputedRows = try Self.slice(recomputed, from: start, txn)
            guard !storedRows.isEmpty || !recomputedRows.isEmpty else { break }
            // Compare keys up to the smaller of the two slices' last keys; the rest comes with the next slice.
            let limit = [storedRows.last?.0, recomputedRows.last?.0].compactMap { $0 }.min {
                $0.lexicographicallyPrecedes($1)
            }!
            let fullSlices = storedRows.count == Self.sliceSize || recomputedRows.count == Self.sliceSize
            var left = storedRows.filter { !fullSlices || !limit.lexicographicallyPrecedes($0.0) }[...]
            var right = recomputedRows.filter { !fullSlices || !limit.lexicographicallyPrecedes($0.0) }[...]
            while !left.isEmpty || !right.isEmpty {
                checked += 1
                if let l = left.first, let r = right.first, l.0 == r.0 {
                    if l.1 != r.1 {
                        try self.record(name, l.0, try self.describe(name, l.0, stored: l.1, recomputed: r.1, txn), txn)
                    }
                    left.removeFirst()
                    right.removeFirst()
                } else if let l = left.first, right.first.map({ l.0.lexicographicallyPrecedes($0.0) }) ?? true {
                    try self.record(name, l.0, "unexpected: the raw events imply no such record", txn)
                    left.removeFirst()
                } else {
                    try self.record(name, right.first!.0, "missing: the raw events imply this record", txn)
                    right.removeFirst()
                }
            }
            guard fullSlices else { break }
            start = limit + [0]
        }
        self.report.checked[name] = checked
    }

    static let sliceSize = 50_000

    static func slice(
        _ database: Database,
        from start: [UInt8],
        _ txn: borrowing Transaction
    ) throws -> [([UInt8], [UInt8])] {
        var rows: [([UInt8], [UInt8])] = []
        try txn.forEach(database, from: start, whilePrefix: []) { entry in
            rows.append((Array(entry.key), Array(entry.value)))
            return rows.count < sliceSize
        }
        return rows
    }

    mutating func record(_ table: String, _ key: [UInt8], _ detail: String, _ txn: borrowing Transaction) throws {
        self.report.totalIssues += 1
        guard self.report.issues.count < self.maximumReported else { return }
        self.report.issues.append(
            VerificationIssue(table: table, key: try self.readable(table, key, txn), detail: detail)
        )
    }

    mutating func userName(_ user: UInt32, _ txn: borrowing Transaction) throws -> String {
        if let name = self.userNames[user] { return name }
        let name =
            try txn.get(self.schema.users, key: Key.u32(user)).map {
                String(decoding: try UserRecord(decoding: $0).userID, as: UTF8.self)
            }
            ?? "#\(user)"
        self.userNames[user] = name
        return name
    }

    mutating func readable(_ table: String, _ key: [UInt8], _ txn: borrowing Transaction) throws -> String {
        func day(_ offset: Int) -> String {
            CivilDate(storeDay: StoreDay(UInt16(key[offset]) << 8 | UInt16(key[offset + 1]))).description
        }
        switch table {
        case "users": return "user " + (try self.userName(key.readU32(at: 0), txn))
        case "daily": return "\(day(0)) user \(try self.userName(key.readU32(at: 2), txn))"
        case "sessions":
            let start = key.withUnsafeBytes { raw -> Int64 in
                var keyReader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[6...]))
                return (try? keyReader.i64Ordered()) ?? 0
            }
            return
                "\(day(0)) user \(try self.userName(key.readU32(at: 2), txn)) starting \(Timestamp.formatISO8601(start))"
        case "day_active", "registrations": return "\(day(0)) chunk \(UInt16(key[2]) << 8 | UInt16(key[3]))"
        case "series", "day_totals": return day(0)
        case "user_months":
            return
                "\(CivilMonth(index: Int(UInt16(key[0]) << 8 | UInt16(key[1])))) user \(try self.userName(key.readU32(at: 2), txn))"
        default: return key.map { String($0, radix: 16) }.joined()
        }
    }

    /// What differs between a stored record and its recomputation, field by field in words
    /// ("total_actions stored 7, recomputed 6").
    mutating func describe(
        _ table: String,
        _ key: [UInt8],
        stored: [UInt8],
        recomputed: [UInt8],
        _ txn: borrowing Transaction
    ) throws -> String {
        var fields: [String] = []
        func field<Value: Equatable>(_ name: String, _ a: Value, _ b: Value) {
            if a != b { fields.append("\(name) stored \(a), recomputed \(b)") }
        }
        switch table {
        case "daily":
            let date = CivilDate(storeDay: StoreDay(UInt16(key[0]) << 8 | UInt16(key[1])))
            let left = try stored.withUnsafeBytes { try DailyRecord(decoding: $0, day: date) }
            let right = try recomputed.withUnsafeBytes { try DailyRecord(decoding: $0, day: date) }
            field("total_actions", left.totalActions, right.totalActions)
            field("unique_action_types", left.uniqueActionTypes, right.uniqueActionTypes)
            field("sessions_count", left.sessionsCount, right.sessionsCount)
            field("total_session_duration", left.sessionSeconds, right.sessionSeconds)
            field("engagement_tier", left.tier.name, right.tier.name)
            field("rolling_active_days", left.rollingActiveDays, right.rollingActiveDays)
            field("rolling_actions", left.rollingActions, right.rollingActions)
            field(
                "carried_session",
                left.carryStartMs.map(Timestamp.formatISO8601) ?? "none",
                right.carryStartMs.map(Timestamp.formatISO8601) ?? "none"
            )
            let actions = Set(left.actionCounts.map(\.action) + right.actionCounts.map(\.action)).sorted()
            for action in actions {
                let a = left.actionCounts.first { $0.action == action }?.count ?? 0
                let b = right.actionCounts.first { $0.action == action }?.count ?? 0
                let name =
                    self.catalog.record(action).map { String(decoding: $0.actionType, as: UTF8.self) }
                    ?? "action #\(action)"
                field("'\(name)' events", a, b)
            }
        case "sessions":
            let start = key.withUnsafeBytes { raw -> Int64 in
                var keyReader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[6...]))
                return (try? keyReader.i64Ordered()) ?? 0
            }
            let left = try stored.withUnsafeBytes { try SessionRecord(decoding: $0, startMs: start) }
            let right = try recomputed.withUnsafeBytes { try SessionRecord(decoding: $0, startMs: start) }
            field("session_end", Timestamp.formatISO8601(left.endMs), Timestamp.formatISO8601(right.endMs))
            field("actions_count", left.actionsCount, right.actionsCount)
            field("core_actions", left.coreActionsCount, right.coreActionsCount)
            field("screens_visited", left.screensVisited, right.screensVisited)
        case "series":
            for (index, name) in ["dau", "wau", "mau"].enumerated() {
                field(name, stored.readU32(at: index * 4), recomputed.readU32(at: index * 4))
            }
        case "day_totals":
            field("events", stored.readU64(at: 0), recomputed.readU64(at: 0))
            field("daily_records", stored.readU64(at: 8), recomputed.readU64(at: 8))
        case "user_months":
            let left = try stored.withUnsafeBytes { try MonthRecord(decoding: $0) }
            let right = try recomputed.withUnsafeBytes { try MonthRecord(decoding: $0) }
            field("daily_records", left.records, right.records)
            field("active_days", left.activeDays, right.activeDays)
            field("actions_on_active_days", left.activeActions, right.activeActions)
            field("actions", left.actions, right.actions)
            field("sessions", left.sessions, right.sessions)
        case "users":
            let left = try stored.withUnsafeBytes { try UserRecord(decoding: $0) }
            let right = try recomputed.withUnsafeBytes { try UserRecord(decoding: $0) }
            field(
                "registration_date",
                left.registrationDate?.description ?? "none",
                right.registrationDate?.description ?? "none"
            )
            field(
                "first_event_day",
                left.firstEventDay.map { CivilDate(storeDay: $0).description } ?? "none",
                right.firstEventDay.map { CivilDate(storeDay: $0).description } ?? "none"
            )
            field("attribute value ids", left.attributeValueIDs, right.attributeValueIDs)
        case "day_active", "registrations":
            let left = stored.withUnsafeBytes { ChunkBits(decoding: $0) }
            let right = recomputed.withUnsafeBytes { ChunkBits(decoding: $0) }
            let chunk = UInt32(UInt16(key[2]) << 8 | UInt16(key[3])) * UInt32(usersPerChunk)
            var names: [String] = []
            for offset in 0..<usersPerChunk where left.contains(offset) != right.contains(offset) {
                if names.count == 5 {
                    names.append("...")
                    break
                }
                let name = try self.userName(chunk + UInt32(offset), txn)
                names.append("\(name) (\(left.contains(offset) ? "stored only" : "recomputed only"))")
            }
            fields.append(
                "users stored \(left.count), recomputed \(right.count); differing: \(names.joined(separator: ", "))"
            )
        default:
            break
        }
        return fields.isEmpty
            ? "stored and recomputed values differ (\(stored.count) and \(recomputed.count) bytes)"
            : fields.joined(separator: "; ")
    }
}
