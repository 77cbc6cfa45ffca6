/// A JSON value as ClickHouse's JSONEachRow writes it. Numbers keep their text, so that 64-bit integers and
/// doubles convert exactly.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var int: Int? {
        switch self {
        case .number(let text): return Int(text) ?? Double(text).flatMap { $0.rounded() == $0 ? Int(exactly: $0) : nil }
        case .bool(let value): return value ? 1 : 0
        case .string(let text): return Int(text)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .number(let text): return Double(text)
        case .string(let text): return Double(text)
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Parses one JSON value (the whole input).
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = Parser(bytes: bytes)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0

        func error(_ what: String) -> ClickHouseError {
            ClickHouseError(.badResponse, "bad JSON from ClickHouse at byte \(self.index): \(what)")
        }

        mutating func skipSpace() {
            while self.index < self.bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(self.bytes[self.index]) {
                self.index += 1
            }
        }

        mutating func value() throws -> JSONValue {
            self.skipSpace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end") }
            switch self.bytes[self.index] {
            case UInt8(ascii: "{"):
                self.index += 1
                var object: [String: JSONValue] = [:]
                self.skipSpace()
                if self.peek(UInt8(ascii: "}")) { return .object(object) }
                while true {
                    self.skipSpace()
                    let key = try self.string()
                    self.skipSpace()
                    try self.expect(UInt8(ascii: ":"))
                    object[key] = try self.value()
                    self.skipSpace()
                    if self.peek(UInt8(ascii: "}")) { return .object(object) }
                    try self.expect(UInt8(ascii: ","))
                }
            case UInt8(ascii: "["):
                self.index += 1
                var array: [JSONValue] = []
                self.skipSpace()
                if self.peek(UInt8(ascii: "]")) { return .array(array) }
                while true {
                    array.append(try self.value())
                    self.skipSpace()
                    if self.peek(UInt8(ascii: "]")) { return .array(array) }
                    try self.expect(UInt8(ascii: ","))
                }
            case UInt8(ascii: "\""):
                return .string(try self.string())
            case UInt8(ascii: "t"):
                try self.literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try self.literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try self.literal("null")
                return .null
            default:
                let start = self.index
                while self.index < self.bytes.count,
                    "+-0123456789.eE".utf8.contains(self.bytes[self.index])
                {
                    self.index += 1
                }
                guard self.index > start else { throw self.error("unexpected character") }
                let text = String(decoding: self.bytes[start..<self.index], as: UTF8.self)
                // ClickHouse writes inf and nan as text; they never appear in the engage queries' results.
                guard Double(text) != nil else { throw self.error("bad number '\(text)'") }
                return .number(text)
            }
        }

        mutating func peek(_ byte: UInt8) -> Bool {
            guard self.index < self.bytes.count, self.bytes[self.index] == byte else { return false }
            self.index += 1
            return true
        }

        mutating func expect(_ byte: UInt8) throws {
            guard self.peek(byte) else { throw self.error("expected '\(Character(Unicode.Scalar(byte)))'") }
        }

        mutating func literal(_ word: String) throws {
            for byte in word.utf8 { try self.expect(byte) }
        }

        mutating func string() throws -> String {
            try self.expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard self.index < self.bytes.count else { throw self.error("unfinished escape") }
                    let escaped = self.bytes[self.index]
                    self.index += 1
                    switch escaped {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try self.hex4()
                        if (0xD800..<0xDC00).contains(scalar), self.peek(UInt8(ascii: "\\")) {
                            try self.expect(UInt8(ascii: "u"))
                            let low = try self.hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        out.append(
                            contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                        )
                    default: out.append(escaped)
                    }
                default:
                    out.append(byte)
                }
            }
            throw self.error("unfinished string")
        }

        mutating func hex4() throws -> UInt32 {
            guard self.index + 4 <= self.bytes.count,
                let value = UInt32(String(decoding: self.bytes[self.index..<self.index + 4], as: UTF8.self), radix: 16)
            else { throw self.error("bad \\u escape") }
            self.index += 4
            return value
        }
    }
}
