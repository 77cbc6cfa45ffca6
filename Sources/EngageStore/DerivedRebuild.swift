import EngageModel
import LMDB

/// Recomputes every derived record (daily records, sessions, day sets, series, day totals, users' event
/// days) from the raw events, inside the caller's write transaction. Replays the events day by day through
/// the same incremental updates as ingestion, a bounded slice at a time, so memory stays bounded.
struct DerivedRebuild {
    let schema: Schema
    let settings: StoreSettings
    let catalog: ActionCatalog

    /// Events replayed between two flushes.
    static let sliceSize = 100_000

    func run(_ txn: borrowing Transaction) throws {
        try self.schema.daily.removeAll(txn)
        try self.schema.sessions.removeAll(txn)
        try self.schema.dayActive.removeAll(txn)
        try self.schema.series.removeAll(txn)
        try self.schema.dayTotals.removeAll(txn)
        try self.schema.userMonths.removeAll(txn)
        try self.schema.registrations.removeAll(txn)
        try self.resetUsers(txn)

        let counters = try StoreMeta.readCounters(txn, self.schema)
        var session = self.makeSession(counters)
        var staged = 0
        var currentDay = -1
        try self.schema.eventHeads.forEach(txn) { key, head in
            let day = Int(key.day)
            if day != currentDay && staged >= DerivedRebuild.sliceSize {
                try session.applyDerivedUpdates(txn)
                try session.flush(txn)
                session = self.makeSession(counters)
                staged = 0
            }
            currentDay = day
            try session.restage(
                user: key.user,
                event: NewEvent(
                    user: key.user,
                    timestampMs: head.timestampMs,
                    day: day,
                    actionKey: head.actionKey,
                    contextID: head.contextID
                ),
                txn
            )
            staged += 1
            return true
        }
        try session.applyDerivedUpdates(txn)
        try session.flush(txn)
    }

    private func makeSession(_ counters: StoreCounters) -> WriteSession {
        WriteSession(schema: self.schema, settings: self.settings, catalog: self.catalog, counters: counters)
    }

    /// Forgets every user's event days (and registration dates derived from them), in slices.
    private func resetUsers(_ txn: borrowing Transaction) throws {
        var start: UInt32 = 0
        while true {
            var slice: [(user: UInt32, record: UserRecord)] = []
            try self.schema.users.forEach(from: start, txn) { user, record in
                var record = record
                record.firstEventDay = nil
                if !record.registrationIsExplicit { record.registration = nil }
                slice.append((user, record))
                return slice.count < DerivedRebuild.sliceSize
            }
            var registrations = MemberBitsCache(table: self.schema.registrations)
            for (user, record) in slice {
                try self.schema.users.put(user, record, txn)
                if let day = record.registrationDate?.storeDay {
                    try registrations.set(user: user, registeredOn: day, true, txn)
                }
            }
            try registrations.flush(txn)
            guard let last = slice.last, slice.count == DerivedRebuild.sliceSize else { return }
            start = last.user + 1
        }
    }
}
