/// A string compared and hashed by its UTF-8 bytes, for dictionaries of ids.
///
/// `String` equality is Unicode canonical equivalence: "é" written as one scalar equals "e" followed by a
/// combining accent. The store's ids are bytes (LMDB keys, the journal, the wire, clients in other languages),
/// so a dictionary keyed by `String` gave two such spellings one user (or context, or action type) while the
/// store kept them apart: which one an event reached depended on what a cache held.
public struct UTF8Key: Hashable, Sendable {
    public let text: String

    @inlinable
    public init(_ text: String) { self.text = text }

    @inlinable
    public static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        let equal = lhs.text.utf8.withContiguousStorageIfAvailable { left in
            rhs.text.utf8.withContiguousStorageIfAvailable { right in
                Self.bytesEqual(left, right)
            }
        }
        if let equal = equal ?? nil { return equal }
        return lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    /// Eight bytes at a time (ids are short; a byte loop cost 3% of the write path's CPU).
    @inlinable
    static func bytesEqual(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Bool {
        guard left.count == right.count else { return false }
        guard let leftBase = left.baseAddress, let rightBase = right.baseAddress, leftBase != rightBase else {
            return true  // empty, or the same storage (names decoded once per batch are shared by its events)
        }
        let leftBytes = UnsafeRawPointer(leftBase)
        let rightBytes = UnsafeRawPointer(rightBase)
        var offset = 0
        while offset + 8 <= left.count {
            guard
                leftBytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    == rightBytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            else { return false }
            offset += 8
        }
        while offset < left.count {
            guard leftBase[offset] == rightBase[offset] else { return false }
            offset += 1
        }
        return true
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        let hashed: Void? = self.text.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashed == nil {
            // Not contiguous (never for native Strings): the same bytes through the same call, so that equal
            // keys hash alike whichever path they take. (`withUTF8` on a copy would serve both paths, but
            // cost 6% of the write path's CPU.)
            Array(self.text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
