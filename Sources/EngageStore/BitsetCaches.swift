import EngageModel
import LMDB

/// The per-day active-user bitsets a transaction reads and changes, loaded once per (day, chunk).
struct DayBitsCache {
    let database: Database
    private var chunks: [UInt32: (bits: ChunkBits, dirty: Bool)] = [:]

    init(database: Database) { self.database = database }

    private static func slot(_ day: Int, _ chunk: UInt16) -> UInt32 { UInt32(day) << 16 | UInt32(chunk) }

    private mutating func load(_ day: Int, _ chunk: UInt16, _ txn: borrowing Transaction) throws {
        let slot = DayBitsCache.slot(day, chunk)
        guard self.chunks[slot] == nil else { return }
        let bits =
            try txn.get(self.database, key: Key.dayChunk(StoreDay(day), chunk)).map(ChunkBits.init) ?? ChunkBits()
        self.chunks[slot] = (bits, false)
    }

    mutating func isActive(user: UInt32, day: Int, _ txn: borrowing Transaction) throws -> Bool {
        guard day >= 0, day <= Int(UInt16.max) else { return false }
        let (chunk, offset) = user.chunkPosition
        try self.load(day, chunk, txn)
        return self.chunks[DayBitsCache.slot(day, chunk)]!.bits.contains(offset)
    }

    mutating func setActive(user: UInt32, day: Int, _ active: Bool, _ txn: borrowing Transaction) throws {
        let (chunk, offset) = user.chunkPosition
        try self.load(day, chunk, txn)
        let slot = DayBitsCache.slot(day, chunk)
        if active { self.chunks[slot]!.bits.insert(offset) } else { self.chunks[slot]!.bits.remove(offset) }
        self.chunks[slot]!.dirty = true
    }

    /// The latest active day of `user` in [day - span, day - 1], or nil.
    mutating func previousActive(
        user: UInt32,
        before day: Int,
        within span: Int,
        _ txn: borrowing Transaction
    ) throws -> Int? {
        var candidate = day - 1
        while candidate >= day - span {
            if try self.isActive(user: user, day: candidate, txn) { return candidate }
            candidate -= 1
        }
        return nil
    }

    /// The earliest active day of `user` in [day + 1, day + span], or nil.
    mutating func nextActive(
        user: UInt32,
        after day: Int,
        within span: Int,
        _ txn: borrowing Transaction
    ) throws -> Int? {
        var candidate = day + 1
        while candidate <= day + span {
            if try self.isActive(user: user, day: candidate, txn) { return candidate }
            candidate += 1
        }
        return nil
    }

    mutating func flush(_ txn: borrowing Transaction) throws {
        for (slot, entry) in self.chunks where entry.dirty {
            let key = Key.dayChunk(StoreDay(slot >> 16), UInt16(slot & 0xFFFF))
            if entry.bits.isEmpty {
                try txn.delete(self.database, key: key)
            } else {
                try txn.put(self.database, key: key, value: entry.bits.encoded())
            }
            self.chunks[slot]!.dirty = false
        }
    }
}

/// Bitsets of users kept under a key prefix plus a chunk number (attribute members, registrations) that a
/// transaction changes, each chunk read once and written once.
struct MemberBitsCache {
    let database: Database
    private var chunks: [[UInt8]: (bits: ChunkBits, dirty: Bool)] = [:]

    init(database: Database) { self.database = database }

    private mutating func update(
        user: UInt32,
        key prefix: [UInt8],
        _ txn: borrowing Transaction,
        _ change: (inout ChunkBits, Int) -> Void
    ) throws {
        let (chunk, offset) = user.chunkPosition
        let key = prefix + Key.u16(chunk)
        if self.chunks[key] == nil {
            let bits = try txn.get(self.database, key: key).map(ChunkBits.init) ?? ChunkBits()
            self.chunks[key] = (bits, false)
        }
        change(&self.chunks[key]!.bits, offset)
        self.chunks[key]!.dirty = true
    }

    mutating func insert(user: UInt32, key prefix: [UInt8], _ txn: borrowing Transaction) throws {
        try self.update(user: user, key: prefix, txn) { $0.insert($1) }
    }

    mutating func remove(user: UInt32, key prefix: [UInt8], _ txn: borrowing Transaction) throws {
        try self.update(user: user, key: prefix, txn) { $0.remove($1) }
    }

    mutating func flush(_ txn: borrowing Transaction) throws {
        for (key, entry) in self.chunks where entry.dirty {
            if entry.bits.isEmpty {
                try txn.delete(self.database, key: key)
            } else {
                try txn.put(self.database, key: key, value: entry.bits.encoded())
            }
            self.chunks[key]!.dirty = false
        }
    }
}
