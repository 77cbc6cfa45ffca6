import NIOCore

/// Field readers that fail with the protocol's error codes instead of returning nil.
extension ByteBuffer {
    mutating func read<Value: FixedWidthInteger>(
        _ type: Value.Type,
        _ field: StaticString
    ) throws(ProtocolError) -> Value {
        guard let value = self.readInteger(as: Value.self) else {
            throw ProtocolError(.truncatedPayload, "payload ends inside field '\(field)'")
        }
        return value
    }

    /// A `u64` count or total as `Int`; values past `Int.max` cannot come from a real store and are refused.
    mutating func readCount64(_ field: StaticString) throws(ProtocolError) -> Int {
        let value = try self.read(UInt64.self, field)
        guard let count = Int(exactly: value) else {
            throw ProtocolError(
                .invalidField,
                "field '\(field)' is \(value), past the largest supported value \(Int.max)"
            )
        }
        return count
    }

    /// `u16 length | bytes`.
    mutating func readLengthPrefixedBytes(_ field: StaticString) throws(ProtocolError) -> [UInt8] {
        let length = try self.read(UInt16.self, field)
        guard let bytes = self.readBytes(length: Int(length)) else {
            throw ProtocolError(.truncatedPayload, "payload ends inside field '\(field)' (\(length) bytes announced)")
        }
        return bytes
    }

    /// `u16 length | UTF-8 bytes`; invalid UTF-8 is refused.
    mutating func readShortString(_ field: StaticString) throws(ProtocolError) -> String {
        let bytes = try self.readLengthPrefixedBytes(field)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ProtocolError(.invalidUTF8, "field '\(field)' is not valid UTF-8")
        }
        return text
    }

    mutating func readFlag(_ field: StaticString) throws(ProtocolError) -> Bool {
        switch try self.read(UInt8.self, field) {
        case 0: return false
        case 1: return true
        case let other: throw ProtocolError(.invalidField, "field '\(field)' must be 0 or 1, not \(other)")
        }
    }

    /// Checks that `count` items of at least `minimumSize` bytes each can fit, before allocating for them.
    func checkCount(_ count: Int, minimumSize: Int, _ field: StaticString) throws(ProtocolError) {
        guard count.multipliedReportingOverflow(by: minimumSize).partialValue <= self.readableBytes else {
            throw ProtocolError(.truncatedPayload, "'\(field)' announces \(count) items; the payload cannot hold them")
        }
    }

    func expectEnd() throws(ProtocolError) {
        guard self.readableBytes == 0 else {
            throw ProtocolError(.trailingBytes, "\(self.readableBytes) bytes after the message's last field")
        }
    }

    /// Writes `u16 length | bytes`. Longer values are cut at 65,535 bytes: callers check limits first.
    mutating func writeLengthPrefixed(_ bytes: some Collection<UInt8>) {
        let count = min(bytes.count, Int(UInt16.max))
        self.writeInteger(UInt16(count))
        self.writeBytes(bytes.prefix(count))
    }

    mutating func writeShortString(_ text: String) {
        self.writeLengthPrefixed(text.utf8)
    }
}
