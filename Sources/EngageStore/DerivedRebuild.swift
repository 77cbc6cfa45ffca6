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
        for database in [
            self.schema.daily, self.schema.sessions, self.schema.dayActive, self.schema.series, self.schema.dayTotals,
            self.schema.userMonths, self.schema.registrations,
        ] {
            try txn.empty(database)
        }
        try self.resetUsers(txn)

        let counters = try StoreMeta.readCounters(txn, self.schema)
        let caches = WriterCaches(userCacheLimit: 1, filterBytes: 64)
        var session = self.makeSession(counters, caches)
        var staged = 0
        var currentDay = -1
        try txn.withCursor(self.schema.events) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                let day = Int(current.key.readU16(at: 0))
                if day != currentDay && staged >= DerivedRebuild.sliceSize {
                    try session.applyDerivedUpdates(txn)
                    try session.flush(txn)
                    session = self.makeSession(counters, caches)
                    staged = 0
                }
                currentDay = day
                let user = current.key.readU32(at: 2)
                let head = try StoredEvent.decodeHead(current.value, day: CivilDate(storeDay: StoreDay(day)))
                try session.restage(
                    user: user,
                    event: NewEvent(
                        timestampMs: head.timestampMs,
                        day: day,
                        actionKey: head.actionKey,
                        contextID: head.contextID
                    ),
                    txn
                )
                staged += 1
                entry = try cursor.next()
            }
        }
        try session.applyDerivedUpdates(txn)
        try session.flush(txn)
    }

    private func makeSession(_ counters: StoreCounters, _ caches: WriterCaches) -> WriteSession {
        WriteSession(
            schema: self.schema,
            settings: self.settings,
            catalog: self.catalog,
            counters: counters,
            caches: caches
        )
    }

    /// Forgets every user's event days (and registration dates derived from them), in slices.
    private func resetUsers(_ txn: borrowing Transaction) throws {
        var start: [UInt8] = []
        while true {
            var slice: [(key: [UInt8], record: UserRecord)] = []
            try txn.forEach(self.schema.users, from: start, whilePrefix: []) { entry in
                var record = try UserRecord(decoding: entry.value)
                record.firstEventDay = nil
                if !record.registrationIsExplicit { record.registration = nil }
                slice.append((Array(entry.key), record))
                return slice.count < DerivedRebuild.sliceSize
            }
            var registrations = MemberBitsCache(database: self.schema.registrations)
            for (key, record) in slice {
                try txn.put(self.schema.users, key: key, value: record.encoded())
                if let registration = record.registration {
                    try registrations.insert(
                        user: key.readU32(at: 0),
                        key: Key.u16(CivilDate(dayNumber: registration).storeDay!),
                        txn
                    )
                }
            }
            try registrations.flush(txn)
            guard let last = slice.last, slice.count == DerivedRebuild.sliceSize else { return }
            start = Key.u32(last.key.readU32(at: 0) + 1)
        }
    }
}

extension Array where Element == UInt8 {
    func readU16(at offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }
    func readU64(at offset: Int) -> UInt64 {
        UInt64(self.readU32(at: offset)) << 32 | UInt64(self.readU32(at: offset + 4))
    }
    func readU32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8
            | UInt32(self[offset + 3])
    }
}
