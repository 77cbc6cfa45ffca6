/// An open-addressing hash table from non-zero, well-mixed 64-bit keys (hashes already) to 64-bit values.
///
/// Hand-written because `Dictionary<UInt64, _>` hashes every key again with SipHash and checks exclusivity and
/// uniqueness on each access; on the sequencer's path (every event looked up, inserted and later removed)
/// that cost more than the rest of deciding an event. Linear probing; deletion shifts the following entries
/// back, so there are no tombstones and lookups stay short at any age.
struct HashSlots {
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        self.keys = Array(repeating: 0, count: size)
        self.values = Array(repeating: 0, count: size)
        self.mask = size - 1
    }

    /// The value stored under `key` (non-zero).
    func value(for key: UInt64) -> UInt64? {
        var slot = Int(truncatingIfNeeded: key) & self.mask
        while true {
            let stored = self.keys[slot]
            if stored == key { return self.values[slot] }
            if stored == 0 { return nil }
            slot = (slot + 1) & self.mask
        }
    }

    /// Stores `value` under `key` (non-zero) unless the key is present; false when it was.
    mutating func insert(_ key: UInt64, _ value: UInt64) -> Bool {
        if (self.count + 1) * 2 > self.keys.count { self.grow() }
        var slot = Int(truncatingIfNeeded: key) & self.mask
        while true {
            let stored = self.keys[slot]
            if stored == key { return false }
            if stored == 0 {
                self.keys[slot] = key
                self.values[slot] = value
                self.count += 1
                return true
            }
            slot = (slot + 1) & self.mask
        }
    }

    /// Removes `key` when it holds `value`; false otherwise.
    @discardableResult
    mutating func remove(_ key: UInt64, ifValue value: UInt64) -> Bool {
        var slot = Int(truncatingIfNeeded: key) & self.mask
        while true {
            let stored = self.keys[slot]
            if stored == 0 { return false }
            if stored == key { break }
            slot = (slot + 1) & self.mask
        }
        guard self.values[slot] == value else { return false }
        // Shift back the entries after it whose home slot is at or before the hole.
        var hole = slot
        var next = (hole + 1) & self.mask
        while self.keys[next] != 0 {
            let home = Int(truncatingIfNeeded: self.keys[next]) & self.mask
            if (next > hole && (home <= hole || home > next)) || (next < hole && home <= hole && home > next) {
                self.keys[hole] = self.keys[next]
                self.values[hole] = self.values[next]
                hole = next
            }
            next = (next + 1) & self.mask
        }
        self.keys[hole] = 0
        self.values[hole] = 0
        self.count -= 1
        return true
    }

    private mutating func grow() {
        let oldKeys = self.keys
        let oldValues = self.values
        let size = oldKeys.count * 2
        self.keys = Array(repeating: 0, count: size)
        self.values = Array(repeating: 0, count: size)
        self.mask = size - 1
        self.count = 0
        for index in oldKeys.indices where oldKeys[index] != 0 { _ = self.insert(oldKeys[index], oldValues[index]) }
    }
}
