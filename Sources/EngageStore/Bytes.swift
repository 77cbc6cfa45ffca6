/// Appends big-endian integers and LEB128 varints to a byte array: the store's key and value encoding.
/// Keys use fixed-width big-endian fields so that byte order is numeric order.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 32) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ value: UInt8) { self.bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        self.bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        self.bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            self.bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            self.bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    /// Big-endian with the sign bit flipped, so that negative values sort first.
    mutating func i64Ordered(_ value: Int64) { self.u64(UInt64(bitPattern: value) ^ (1 << 63)) }

    mutating func varint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            self.bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.bytes.append(UInt8(remaining))
    }

    mutating func varint(_ value: Int) { self.varint(UInt64(value)) }

    mutating func zigzag(_ value: Int64) { self.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    /// A varint length followed by the bytes.
    mutating func lengthPrefixed(_ data: some Collection<UInt8>) {
        self.varint(data.count)
        self.bytes.append(contentsOf: data)
    }

    mutating func raw(_ data: some Sequence<UInt8>) { self.bytes.append(contentsOf: data) }
}

/// The stored bytes are not what this version of Engage wrote.
public struct CorruptRecord: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "corrupt record: \(self.what)" }
}

/// Reads what ``ByteWriter`` wrote, from bytes that may point into the LMDB map.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset: Int = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var isAtEnd: Bool { self.offset >= self.buffer.count }
    var remaining: Int { self.buffer.count - self.offset }

    mutating func u8() throws(CorruptRecord) -> UInt8 {
        guard self.offset < self.buffer.count else { throw CorruptRecord(what: "truncated") }
        defer { self.offset += 1 }
        return self.buffer[self.offset]
    }

    mutating func u16() throws(CorruptRecord) -> UInt16 {
        UInt16(try self.u8()) << 8 | UInt16(try self.u8())
    }

    mutating func u32() throws(CorruptRecord) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(try self.u8()) }
        return value
    }

    mutating func u64() throws(CorruptRecord) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(try self.u8()) }
        return value
    }

    mutating func i64Ordered() throws(CorruptRecord) -> Int64 { Int64(bitPattern: try self.u64() ^ (1 << 63)) }

    mutating func varint() throws(CorruptRecord) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.u8()
            guard shift < 64 else { throw CorruptRecord(what: "varint too long") }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    mutating func int() throws(CorruptRecord) -> Int { Int(truncatingIfNeeded: try self.varint()) }

    mutating func zigzag() throws(CorruptRecord) -> Int64 {
        let raw = try self.varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    mutating func bytes(_ count: Int) throws(CorruptRecord) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= self.remaining else { throw CorruptRecord(what: "truncated field") }
        defer { self.offset += count }
        return UnsafeRawBufferPointer(rebasing: self.buffer[self.offset..<self.offset + count])
    }

    mutating func lengthPrefixed() throws(CorruptRecord) -> UnsafeRawBufferPointer {
        try self.bytes(try self.int())
    }

    mutating func rest() -> UnsafeRawBufferPointer {
        defer { self.offset = self.buffer.count }
        return UnsafeRawBufferPointer(rebasing: self.buffer[self.offset...])
    }
}

extension UnsafeRawBufferPointer {
    func readU16(at offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }
    func readU32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8
            | UInt32(self[offset + 3])
    }
    var string: String { String(decoding: self, as: UTF8.self) }
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
