import LMDB

/// The users of one chunk (``usersPerChunk`` consecutive user keys) as a bitset of 128 words.
struct ChunkBits: Equatable {
    static let wordCount = usersPerChunk / 64
    var words: [UInt64]

    init() { self.words = Array(repeating: 0, count: ChunkBits.wordCount) }

    init(decoding bytes: UnsafeRawBufferPointer) {
        var words = Array(repeating: UInt64(0), count: ChunkBits.wordCount)
        let count = min(bytes.count / 8, ChunkBits.wordCount)
        for index in 0..<count {
            words[index] = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
        }
        self.words = words
    }

    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: ChunkBits.wordCount * 8)
        bytes.withUnsafeMutableBytes { raw in
            for (index, word) in self.words.enumerated() {
                raw.storeBytes(of: word.littleEndian, toByteOffset: index * 8, as: UInt64.self)
            }
        }
        return bytes
    }

    var isEmpty: Bool { self.words.allSatisfy { $0 == 0 } }

    func contains(_ offset: Int) -> Bool { self.words[offset >> 6] & (1 << UInt64(offset & 63)) != 0 }

    mutating func insert(_ offset: Int) { self.words[offset >> 6] |= 1 << UInt64(offset & 63) }

    mutating func remove(_ offset: Int) { self.words[offset >> 6] &= ~(1 << UInt64(offset & 63)) }

    mutating func formUnion(_ other: ChunkBits) {
        for index in 0..<ChunkBits.wordCount { self.words[index] |= other.words[index] }
    }

    mutating func formIntersection(_ other: ChunkBits) {
        for index in 0..<ChunkBits.wordCount { self.words[index] &= other.words[index] }
    }

    var count: Int { self.words.reduce(0) { $0 + $1.nonzeroBitCount } }
}

extension UInt32 {
    /// The bitset chunk a user key falls in, and its bit in that chunk.
    var chunkPosition: (chunk: UInt16, offset: Int) {
        (UInt16(truncatingIfNeeded: Int(self) / usersPerChunk), Int(self) % usersPerChunk)
    }
}

/// A set of user keys over the whole key space, in memory, for queries: one bit per user.
struct UserSet {
    private(set) var words: [UInt64]

    init(capacity userCount: Int) {
        self.words = Array(repeating: 0, count: (userCount + 64) / 64)
    }

    var capacity: Int { self.words.count * 64 }

    func contains(_ user: UInt32) -> Bool {
        let index = Int(user) >> 6
        return index < self.words.count && self.words[index] & (1 << UInt64(user & 63)) != 0
    }

    mutating func insert(_ user: UInt32) {
        let index = Int(user) >> 6
        if index >= self.words.count {
            self.words.append(contentsOf: repeatElement(0, count: index - self.words.count + 1))
        }
        self.words[index] |= 1 << UInt64(user & 63)
    }

    /// ORs `word` into word `index` of the set.
    mutating func insert(words word: UInt64, at index: Int) {
        if index >= self.words.count {
            self.words.append(contentsOf: repeatElement(0, count: index - self.words.count + 1))
        }
        self.words[index] |= word
    }

    /// Clears the bits of `word` in word `index`.
    mutating func removeBits(_ word: UInt64, at index: Int) {
        if index < self.words.count { self.words[index] &= ~word }
    }

    /// ORs a stored chunk into this set.
    mutating func formUnion(chunk: UInt16, bits: ChunkBits) {
        let base = Int(chunk) * ChunkBits.wordCount
        if base + ChunkBits.wordCount > self.words.count {
            self.words.append(contentsOf: repeatElement(0, count: base + ChunkBits.wordCount - self.words.count))
        }
        for index in 0..<ChunkBits.wordCount { self.words[base + index] |= bits.words[index] }
    }

    mutating func formIntersection(_ other: UserSet) {
        for index in 0..<self.words.count {
            self.words[index] &= index < other.words.count ? other.words[index] : 0
        }
    }

    var count: Int { self.words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Calls `body` with every member, ascending.
    func forEachMember(_ body: (UInt32) throws -> Void) rethrows {
        for (index, word) in self.words.enumerated() where word != 0 {
            var remaining = word
            while remaining != 0 {
                let bit = remaining.trailingZeroBitCount
                try body(UInt32(index * 64 + bit))
                remaining &= remaining - 1
            }
        }
    }

    /// The words of chunk `chunk` (zeros past the end).
    func chunkWords(_ chunk: UInt16) -> ArraySlice<UInt64> {
        let base = Int(chunk) * ChunkBits.wordCount
        if base >= self.words.count { return ArraySlice(repeatElement(0, count: ChunkBits.wordCount)) }
        let end = min(base + ChunkBits.wordCount, self.words.count)
        var slice = self.words[base..<end]
        if slice.count < ChunkBits.wordCount {
            slice.append(contentsOf: repeatElement(0, count: ChunkBits.wordCount - slice.count))
        }
        return slice
    }
}

extension UserSet {
    mutating func formUnion(_ other: UserSet) {
        for (index, word) in other.words.enumerated() where word != 0 { self.insert(words: word, at: index) }
    }

    mutating func formSubtraction(_ other: UserSet) {
        for index in 0..<self.words.count where index < other.words.count {
            self.removeBits(other.words[index], at: index)
        }
    }

    func intersection(_ other: UserSet) -> UserSet {
        var copy = self
        copy.formIntersection(other)
        return copy
    }

    func subtracting(_ other: UserSet) -> UserSet {
        var copy = self
        copy.formSubtraction(other)
        return copy
    }
}
