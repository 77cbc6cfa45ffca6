import EngageModel
import LMDB

/// The per-day active-user bitsets a transaction reads and changes, loaded once per (day, chunk).
struct DayBitsCache {
    let table: Table<DayChunkKey, ChunkBitsValue<DayChunk>>
    private var chunks: [UInt32: (bits: ChunkBits, dirty: Bool)] = [:]

    init(table: Table<DayChunkKey, ChunkBitsValue<DayChunk>>) { self.table = table }

    private static func slot(_ day: Int, _ chunk: UInt16) -> UInt32 { UInt32(day) << 16 | UInt32(chunk) }

    private mutating func load(_ day: Int, _ chunk: UInt16, _ txn: borrowing Transaction) throws {
        let slot = DayBitsCache.slot(day, chunk)
        guard self.chunks[slot] == nil else { return }
        let bits = try self.table.get(DayChunk(day: StoreDay(day), chunk: chunk), txn) ?? ChunkBits()
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
            let key = DayChunk(day: StoreDay(slot >> 16), chunk: UInt16(slot & 0xFFFF))
            if entry.bits.isEmpty {
                try self.table.delete(key, txn)
            } else {
                try self.table.put(key, entry.bits, txn)
            }
            self.chunks[slot]!.dirty = false
        }
    }
}

/// Bitsets of users kept by chunk under a key (attribute members, registrations) that a transaction changes,
/// each chunk read once and written once.
struct MemberBitsCache<Keys: KeyCodec> where Keys.Key: Hashable {
    let table: Table<Keys, ChunkBitsValue<Keys.Key>>
    private var chunks: [Keys.Key: (bits: ChunkBits, dirty: Bool)] = [:]

    init(table: Table<Keys, ChunkBitsValue<Keys.Key>>) { self.table = table }

    /// Sets or clears `offset` in the chunk stored under `key`.
    mutating func set(_ offset: Int, in key: Keys.Key, _ member: Bool, _ txn: borrowing Transaction) throws {
        if self.chunks[key] == nil {
            self.chunks[key] = (try self.table.get(key, txn) ?? ChunkBits(), false)
        }
        if member { self.chunks[key]!.bits.insert(offset) } else { self.chunks[key]!.bits.remove(offset) }
        self.chunks[key]!.dirty = true
    }

    mutating func flush(_ txn: borrowing Transaction) throws {
        for (key, entry) in self.chunks where entry.dirty {
            if entry.bits.isEmpty {
                try self.table.delete(key, txn)
            } else {
                try self.table.put(key, entry.bits, txn)
            }
            self.chunks[key]!.dirty = false
        }
    }
}

extension MemberBitsCache where Keys == AttributeChunkKey {
    /// Adds or removes `user` among the holders of `value`.
    mutating func set(user: UInt32, holds value: AttributeValueID, _ holds: Bool, _ txn: borrowing Transaction) throws {
        let (chunk, offset) = user.chunkPosition
        try self.set(offset, in: AttributeChunk(value: value, chunk: chunk), holds, txn)
    }
}

extension MemberBitsCache where Keys == DayChunkKey {
    /// Adds or removes `user` among the users registered on `day`.
    mutating func set(user: UInt32, registeredOn day: StoreDay, _ registered: Bool, _ txn: borrowing Transaction) throws
    {
        let (chunk, offset) = user.chunkPosition
        try self.set(offset, in: DayChunk(day: day, chunk: chunk), registered, txn)
    }
}
