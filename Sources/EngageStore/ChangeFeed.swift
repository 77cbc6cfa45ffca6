import EngageModel
import LMDB

/// What one applier commit rewrote, by export unit: an entry of the change feed, which lets a sync (the
/// ClickHouse tier) re-export exactly the units that changed since its checkpoint.
struct ChangeSet: Equatable {
    /// The action catalog changed: every day's daily rows and sessions may have changed (and dim_actions).
    var catalogChanged = false
    /// Days whose daily records were written (a new active day ripples the rolling tier over 30 days).
    var dailyDays = Set<StoreDay>()
    /// Days whose sessions (by start day) were written or removed.
    var sessionDays = Set<StoreDay>()
    /// Days that received raw events.
    var eventDays = Set<StoreDay>()
    /// Users whose profile row changed (new users, upserts, registration dates moved by events).
    var users = Set<UInt32>()

    var isEmpty: Bool {
        !self.catalogChanged && self.dailyDays.isEmpty && self.sessionDays.isEmpty && self.eventDays.isEmpty
            && self.users.isEmpty
    }

    mutating func formUnion(_ other: ChangeSet) {
        self.catalogChanged = self.catalogChanged || other.catalogChanged
        self.dailyDays.formUnion(other.dailyDays)
        self.sessionDays.formUnion(other.sessionDays)
        self.eventDays.formUnion(other.eventDays)
        self.users.formUnion(other.users)
    }

    /// The model's view: dates, sorted.
    func change(sequence: UInt64) -> StoreChange {
        func dates(_ days: Set<StoreDay>) -> [CivilDate] { days.sorted().map(CivilDate.init(storeDay:)) }
        return StoreChange(
            sequence: sequence,
            catalogChanged: self.catalogChanged,
            dailyDays: dates(self.dailyDays),
            sessionDays: dates(self.sessionDays),
            eventDays: dates(self.eventDays),
            userKeys: self.users.sorted()
        )
    }
}

/// A change-feed entry's value: flags, then three sorted day lists and the user keys, as varints.
enum ChangeSetValue: ValueCodec {
    static func encode(_ value: ChangeSet, key: UInt64, into writer: inout ByteWriter) {
        writer.u8(value.catalogChanged ? 1 : 0)
        for days in [value.dailyDays, value.sessionDays, value.eventDays] {
            writer.varint(days.count)
            for day in days.sorted() { writer.varint(Int(day)) }
        }
        writer.varint(value.users.count)
        for user in value.users.sorted() { writer.varint(Int(user)) }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, key: UInt64) throws(CorruptRecord) -> ChangeSet {
        var reader = ByteReader(bytes)
        var value = ChangeSet()
        value.catalogChanged = try reader.u8() & 1 != 0
        func days() throws(CorruptRecord) -> Set<StoreDay> {
            let count = try reader.int()
            guard count >= 0, count <= reader.remaining else { throw CorruptRecord(what: "change feed: day count") }
            var days = Set<StoreDay>()
            for _ in 0..<count { days.insert(StoreDay(truncatingIfNeeded: try reader.varint())) }
            return days
        }
        value.dailyDays = try days()
        value.sessionDays = try days()
        value.eventDays = try days()
        let users = try reader.int()
        guard users >= 0, users <= reader.remaining else { throw CorruptRecord(what: "change feed: user count") }
        for _ in 0..<users { value.users.insert(UInt32(truncatingIfNeeded: try reader.varint())) }
        return value
    }
}

/// The change feed: commit sequence -> ``ChangeSet``, written by the applier in the commit it describes.
enum ChangeFeed {
    /// Entries kept: a sync that falls further behind must export everything again (CHANGES says so).
    static let retainedCommits: UInt64 = 1_000_000
    /// Most entries one CHANGES answers.
    static let maximumPage = 10_000

    /// Records `changes` as the next commit (numbered after the last one) and drops entries past retention.
    static func record(_ changes: ChangeSet, _ txn: borrowing Transaction, _ schema: Schema) throws {
        guard !changes.isEmpty else { return }
        let sequence = (try schema.changes.lastKey(txn) ?? 0) + 1
        try schema.changes.put(sequence, changes, txn)
        if sequence > Self.retainedCommits {
            var dropped = 0
            while dropped < 16, let first = try schema.changes.firstKey(txn), first <= sequence - Self.retainedCommits {
                try schema.changes.delete(first, txn)
                dropped += 1
            }
        }
    }
}

extension EngageStore {
    /// Commits after `since` that rewrote something, oldest first, at most `limit` (0: ``ChangeFeed/maximumPage``),
    /// with the latest commit sequence and the oldest one the feed still holds.
    public func changes(since: UInt64, limit: Int = 0) throws -> ChangeFeedPage {
        let limit = limit <= 0 ? ChangeFeed.maximumPage : min(limit, ChangeFeed.maximumPage)
        return try self.read { txn, reader in
            var changes: [StoreChange] = []
            try reader.schema.changes.forEach(from: since &+ 1, txn) { sequence, value in
                guard sequence > since else { return true }
                changes.append(value.change(sequence: sequence))
                return changes.count < limit
            }
            return ChangeFeedPage(
                current: try reader.schema.changes.lastKey(txn) ?? 0,
                oldest: try reader.schema.changes.firstKey(txn) ?? 0,
                changes: changes
            )
        }
    }
}
