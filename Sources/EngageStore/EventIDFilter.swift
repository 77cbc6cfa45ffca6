import EngageModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed-size blocked Bloom filter over (user_key, event_id): "certainly never stored" or "maybe stored".
///
/// Raw events are keyed by (day, user, event_id), so a duplicate on the same local day is found by the put
/// itself. A duplicate whose `ts` falls on another day is only possible if this filter says "maybe"; then the
/// user's other days are checked exactly. The filter's size is fixed (heap bounded whatever the data size);
/// as a store outgrows it, false positives rise and cost extra lookups, never wrong answers. It lives in
/// memory only and is rebuilt from the stored keys when a store opens.
final class EventIDFilter {
    private let words: UnsafeMutablePointer<UInt64>
    /// Number of 512-bit blocks; a power of two.
    private let blockCount: Int
    private(set) var insertions = 0

    /// Eight 64-bit words: one cache line.
    private static let wordsPerBlock = 8
    private static let bitsPerKey = 6

    init(bytes: Int) {
        let blocks = max(1, bytes / (EventIDFilter.wordsPerBlock * 8))
        var powerOfTwo = 1
        while powerOfTwo * 2 <= blocks { powerOfTwo *= 2 }
        self.blockCount = powerOfTwo
        let byteCount = powerOfTwo * EventIDFilter.wordsPerBlock * 8
        // Every probe lands on a random cache line: with 4 KiB pages nearly every one also misses the TLB.
        // Aligned to 2 MiB and advised, the kernel backs the filter with huge pages where it can.
        var raw: UnsafeMutableRawPointer?
        let alignment = byteCount >= EventIDFilter.hugePage ? EventIDFilter.hugePage : 64
        guard posix_memalign(&raw, alignment, byteCount) == 0, let raw else {
            fatalError("cannot allocate the event-id filter")
        }
        if byteCount >= EventIDFilter.hugePage { _ = madvise(raw, byteCount, MADV_HUGEPAGE) }
        memset(raw, 0, byteCount)
        self.words = raw.bindMemory(to: UInt64.self, capacity: byteCount / 8)
    }

    deinit { free(self.words) }

    static let hugePage = 2 << 20

    var sizeInBytes: Int { self.blockCount * EventIDFilter.wordsPerBlock * 8 }

    func insert(user: UInt32, eventID: UnsafeRawBufferPointer) {
        self.insert(hash: EventIDFilter.hash(user: user, eventID: eventID))
    }

    func mayContain(user: UInt32, eventID: UnsafeRawBufferPointer) -> Bool {
        self.mayContain(hash: EventIDFilter.hash(user: user, eventID: eventID))
    }

    /// Adds a key by its ``hash(user:eventID:)``.
    func insert(hash key: UInt64) {
        self.insertions += 1
        var hash = key
        let block = Int(truncatingIfNeeded: hash) & (self.blockCount - 1)
        let base = self.words + block * EventIDFilter.wordsPerBlock
        for _ in 0..<EventIDFilter.bitsPerKey {
            hash = EventIDFilter.mix(hash)
            let bit = Int(truncatingIfNeeded: hash >> 55)  // 0..<512
            base[bit >> 6] |= 1 << UInt64(bit & 63)
        }
    }

    func mayContain(hash key: UInt64) -> Bool {
        var hash = key
        let block = Int(truncatingIfNeeded: hash) & (self.blockCount - 1)
        let base = self.words + block * EventIDFilter.wordsPerBlock
        for _ in 0..<EventIDFilter.bitsPerKey {
            hash = EventIDFilter.mix(hash)
            let bit = Int(truncatingIfNeeded: hash >> 55)
            if base[bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return false }
        }
        return true
    }

    /// FNV-1a over the user key and the id, finished with a SplitMix64 round.
    static func hash(user: UInt32, eventID: UnsafeRawBufferPointer) -> UInt64 {
        // The user key's bytes, least significant first, then the id's.
        let userHash = withUnsafeBytes(of: user.littleEndian) { FNV1a.hash($0) }
        return EventIDFilter.mix(FNV1a.hash(eventID, continuing: userHash))
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
