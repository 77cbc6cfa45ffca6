/// FNV-1a, 64 bits: the hash of node routing (PROTOCOL.md section 8), of the import's string tables and of
/// the event-id filter's keys, defined once.
public enum FNV1a {
    @inlinable public static var offsetBasis: UInt64 { 0xcbf2_9ce4_8422_2325 }
    @inlinable public static var prime: UInt64 { 0x0000_0100_0000_01b3 }

    /// The hash of `bytes`, continuing from `hash` (several pieces hash as their concatenation).
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>, continuing hash: UInt64 = FNV1a.offsetBasis) -> UInt64 {
        var hash = hash
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* Self.prime }
        return hash
    }
}
