import EngageModel
import LMDB

/// Raw-event retention: which local days of raw events are kept, and dropping the older ones in slices of
/// bounded size so that requests never wait long behind a purge. Derived records are untouched.
struct RawEventRetention {
    /// Days of raw events kept; nil keeps everything.
    let days: Int?
    let zone: ReportingTimeZone
    /// Events deleted per transaction.
    static let sliceSize = 50_000

    /// The first local day whose events are kept, or nil without retention.
    func horizon(nowMs: Int64) -> StoreDay? {
        guard let days = self.days else { return nil }
        return self.zone.localDay(epochMs: nowMs).adding(days: -days).storeDay ?? 0
    }

    /// Deletes up to ``sliceSize`` events of days before `horizon`, lowering `counters`' event count, and
    /// records the horizon in `meta` once no older event is left. Returns how many it deleted and whether
    /// more remain.
    func dropSlice(
        before horizon: StoreDay,
        counters: inout StoreCounters,
        _ txn: borrowing Transaction,
        _ schema: Schema
    ) throws -> (removed: Int, more: Bool) {
        // The keys first, then deletes by key: a cursor that deletes the table's last entry has no "current"
        // entry left to move on from.
        var doomed: [[UInt8]] = []
        var reachedEnd = true
        try txn.forEach(schema.events.database, prefix: []) { entry in
            guard try EventKeyCodec.parts(entry.key).day < horizon else { return false }
            guard doomed.count < Self.sliceSize else {
                reachedEnd = false
                return false
            }
            doomed.append(Array(entry.key))
            return true
        }
        for key in doomed { try txn.delete(schema.events.database, key: key) }
        let removed = doomed.count
        if removed > 0 {
            counters.eventCount -= UInt64(removed)
            try StoreMeta.write(counters, txn, schema)
        }
        if reachedEnd, UInt64(horizon) > (try StoreMeta.number(MetaKey.rawRetainedFrom, txn, schema) ?? 0) {
            try StoreMeta.put(MetaKey.rawRetainedFrom, number: UInt64(horizon), txn, schema)
        }
        return (removed, !reachedEnd)
    }
}
