/// A strict JSON syntax check (RFC 8259) that allocates nothing: enough to refuse metadata that is not
/// a JSON object before it is stored, without building the value.
public enum JSONSyntax {
    /// Nesting deeper than this is refused (a 4 KiB object cannot use more sensibly).
    public static let maximumDepth = 64

    /// Whether `bytes` is exactly one JSON object, optionally surrounded by whitespace.
    public static func isObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek == UInt8(ascii: "{") else { return false }
        guard parser.value(depth: 0) else { return false }
        parser.skipWhitespace()
        return parser.index == bytes.count
    }

    public static func isObject(_ text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { isObject(UnsafeRawBufferPointer($0)) }
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

        mutating func skipWhitespace() {
            while let byte = self.peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                self.index += 1
            }
        }

        mutating func expect(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard self.index + count <= self.bytes.count else { return false }
            for offset in 0..<count where self.bytes[self.index + offset] != literal.utf8Start[offset] {
                return false
            }
            self.index += count
            return true
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < JSONSyntax.maximumDepth else { return false }
            self.skipWhitespace()
            guard let byte = self.peek else { return false }
            switch byte {
            case UInt8(ascii: "{"): return self.object(depth: depth)
            case UInt8(ascii: "["): return self.array(depth: depth)
            case UInt8(ascii: "\""): return self.string()
            case UInt8(ascii: "t"): return self.expect("true")
            case UInt8(ascii: "f"): return self.expect("false")
            case UInt8(ascii: "n"): return self.expect("null")
            default: return self.number()
            }
        }

        mutating func object(depth: Int) -> Bool {
            self.index += 1
            self.skipWhitespace()
            if self.peek == UInt8(ascii: "}") {
                self.index += 1
                return true
            }
            while true {
                self.skipWhitespace()
                guard self.peek == UInt8(ascii: "\""), self.string() else { return false }
                self.skipWhitespace()
                guard self.peek == UInt8(ascii: ":") else { return false }
                self.index += 1
                guard self.value(depth: depth + 1) else { return false }
                self.skipWhitespace()
                switch self.peek {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "}"):
                    self.index += 1
                    return true
                default: return false
                }
            }
        }

        mutating func array(depth: Int) -> Bool {
            self.index += 1
            self.skipWhitespace()
            if self.peek == UInt8(ascii: "]") {
                self.index += 1
                return true
            }
            while true {
                guard self.value(depth: depth + 1) else { return false }
                self.skipWhitespace()
                switch self.peek {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "]"):
                    self.index += 1
                    return true
                default: return false
                }
            }
        }

        mutating func string() -> Bool {
            self.index += 1
            while let byte = self.peek {
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""): return true
                case UInt8(ascii: "\\"):
                    guard let escaped = self.peek else { return false }
                    self.index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = self.peek, hex.isHexDigit else { return false }
                            self.index += 1
                        }
                    default: return false
                    }
                case 0x00..<0x20: return false
                default: continue
                }
            }
            return false
        }

        mutating func number() -> Bool {
            if self.peek == UInt8(ascii: "-") { self.index += 1 }
            guard let first = self.peek, first.isDigit else { return false }
            self.index += 1
            if first != UInt8(ascii: "0") {
                while let byte = self.peek, byte.isDigit { self.index += 1 }
            }
            if self.peek == UInt8(ascii: ".") {
                self.index += 1
                guard let byte = self.peek, byte.isDigit else { return false }
                while let byte = self.peek, byte.isDigit { self.index += 1 }
            }
            if let byte = self.peek, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                self.index += 1
                if let sign = self.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { self.index += 1 }
                guard let digit = self.peek, digit.isDigit else { return false }
                while let byte = self.peek, byte.isDigit { self.index += 1 }
            }
            return true
        }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    fileprivate var isHexDigit: Bool {
        self.isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
