import EngageModel

/// One member value of a flat JSON object, as the import format needs it.
enum JSONMember {
    case string(String)
    case integer(Int64)
    /// A number that is not an integer (a fraction or an exponent).
    case fraction
    case bool(Bool)
    case null
    /// An object, as the exact text it was written with (already checked to be valid JSON).
    case object(UnsafeRawBufferPointer)
    /// A string as valid UTF-8 bytes, from a reader given a scratch buffer: a slice of the line, or of the
    /// scratch buffer where escapes were decoded.
    case text(UnsafeRawBufferPointer)
    case array
}

/// Why a line is not a JSON object.
struct JSONSyntaxError: Error {
    let detail: String
}

/// Reads the members of one JSON object from UTF-8 bytes, without building a dictionary or going through
/// Foundation: `engage import` spent three quarters of its time in `JSONSerialization` for lines of a few
/// hundred bytes. Strict RFC 8259 syntax (no comments, no trailing commas); strings must be valid UTF-8;
/// nesting at most ``JSONSyntax/maximumDepth``. Members the caller does not ask for are skipped (still
/// checked for syntax). A repeated name: the last one wins, as in most JSON readers.
struct JSONObjectReader {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    /// With one (at least as long as the line), strings come as ``JSONMember/text(_:)``, escaped ones decoded
    /// into it; without, as ``JSONMember/string(_:)``.
    private let scratch: UnsafeMutableRawBufferPointer?
    private var scratchUsed = 0

    init(_ bytes: UnsafeRawBufferPointer, textScratch: UnsafeMutableRawBufferPointer? = nil) {
        self.bytes = bytes
        self.scratch = textScratch
    }

    /// Calls `member` with each name (as bytes) and its position; `member` returns whether it wants the value
    /// decoded (true) or skipped (false), and then receives it through `value`.
    mutating func forEachMember(
        wants: (UnsafeRawBufferPointer) -> Int?,
        _ value: (Int, JSONMember) throws -> Void
    ) throws {
        self.skipWhitespace()
        guard self.peek == UInt8(ascii: "{") else {
            throw JSONSyntaxError(
                detail: self.peek == UInt8(ascii: "[")
                    ? "the line is a JSON array, not an object" : "the line is not a JSON object"
            )
        }
        self.index += 1
        self.skipWhitespace()
        if self.peek == UInt8(ascii: "}") {
            self.index += 1
            return try self.expectEnd()
        }
        while true {
            self.skipWhitespace()
            guard self.peek == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(detail: "expected a member name at byte \(self.index + 1)")
            }
            let nameStart = self.index + 1
            try self.skipString()
            let name = UnsafeRawBufferPointer(rebasing: self.bytes[nameStart..<(self.index - 1)])
            self.skipWhitespace()
            guard self.peek == UInt8(ascii: ":") else {
                throw JSONSyntaxError(detail: "expected ':' at byte \(self.index + 1)")
            }
            self.index += 1
            self.skipWhitespace()
            if let slot = wants(name) {
                try value(slot, try self.readValue())
            } else {
                try self.skipValue(depth: 1)
            }
            self.skipWhitespace()
            switch self.peek {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return try self.expectEnd()
            default: throw JSONSyntaxError(detail: "expected ',' or '}' at byte \(self.index + 1)")
            }
        }
    }

    /// The byte ranges of the elements of one JSON array (each checked for syntax, nesting counted from the
    /// array), for request bodies that hold a JSON array of import records.
    mutating func arrayElements() throws -> [Range<Int>] {
        self.skipWhitespace()
        guard self.peek == UInt8(ascii: "[") else { throw JSONSyntaxError(detail: "the body is not a JSON array") }
        self.index += 1
        self.skipWhitespace()
        var elements: [Range<Int>] = []
        if self.peek == UInt8(ascii: "]") {
            self.index += 1
            try self.expectEnd(after: "array")
            return elements
        }
        while true {
            self.skipWhitespace()
            let start = self.index
            try self.skipValue(depth: 2)
            elements.append(start..<self.index)
            self.skipWhitespace()
            switch self.peek {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                try self.expectEnd(after: "array")
                return elements
            case nil: throw JSONSyntaxError(detail: "the body ends inside the array (element \(elements.count))")
            default:
                throw JSONSyntaxError(
                    detail: "expected ',' or ']' after element \(elements.count - 1) at byte \(self.index + 1)"
                )
            }
        }
    }

    private mutating func expectEnd(after what: String = "object") throws {
        self.skipWhitespace()
        guard self.index == self.bytes.count else {
            throw JSONSyntaxError(detail: "text follows the \(what) at byte \(self.index + 1)")
        }
    }

    private var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    private mutating func readValue() throws -> JSONMember {
        guard let byte = self.peek else { throw JSONSyntaxError(detail: "the line ends inside a value") }
        switch byte {
        case UInt8(ascii: "\""): return try self.readString()
        case UInt8(ascii: "{"):
            let start = self.index
            try self.skipValue(depth: 1)
            return .object(UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]))
        case UInt8(ascii: "["):
            try self.skipValue(depth: 1)
            return .array
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let isTrue = byte == UInt8(ascii: "t")
            let isNull = byte == UInt8(ascii: "n")
            try self.skipValue(depth: 1)
            return isNull ? .null : .bool(isTrue)
        default:
            return try self.readNumber()
        }
    }

    /// A number: an integer that fits Int64, or `.fraction` for anything else that is a valid number.
    private mutating func readNumber() throws -> JSONMember {
        let start = self.index
        var negative = false
        if self.peek == UInt8(ascii: "-") {
            negative = true
            self.index += 1
        }
        guard let first = self.peek, first.isDigit else {
            throw JSONSyntaxError(detail: "invalid value at byte \(start + 1)")
        }
        var magnitude: UInt64 = 0
        var overflow = false
        if first == UInt8(ascii: "0") {
            self.index += 1
        } else {
            while let digit = self.peek, digit.isDigit {
                let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = plus
                self.index += 1
            }
        }
        var integral = true
        if self.peek == UInt8(ascii: ".") {
            integral = false
            self.index += 1
            guard let digit = self.peek, digit.isDigit else {
                throw JSONSyntaxError(detail: "invalid number at byte \(start + 1)")
            }
            while let digit = self.peek, digit.isDigit { self.index += 1 }
        }
        if let e = self.peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            integral = false
            self.index += 1
            if let sign = self.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { self.index += 1 }
            guard let digit = self.peek, digit.isDigit else {
                throw JSONSyntaxError(detail: "invalid number at byte \(start + 1)")
            }
            while let digit = self.peek, digit.isDigit { self.index += 1 }
        }
        guard integral, !overflow else { return .fraction }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return .fraction }
            return .integer(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { return .fraction }
        return .integer(Int64(magnitude))
    }

    /// Skips a string starting at the opening quote, checking escapes and that it holds no control characters.
    private mutating func skipString() throws {
        self.index += 1
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"):
                guard let escaped = self.peek else { break }
                self.index += 1
                if escaped == UInt8(ascii: "u") {
                    for _ in 0..<4 {
                        guard let hex = self.peek, hex.hexValue != nil else {
                            throw JSONSyntaxError(detail: "invalid \\u escape")
                        }
                        self.index += 1
                    }
                } else if !Self.simpleEscapes.contains(escaped) {
                    throw JSONSyntaxError(detail: "invalid escape at byte \(self.index)")
                }
            case 0x00..<0x20: throw JSONSyntaxError(detail: "a control character inside a string at byte \(self.index)")
            default: continue
            }
        }
        throw JSONSyntaxError(detail: "the line ends inside a string")
    }

    private static let simpleEscapes: Set<UInt8> = Set("\"\\/bfnrt".utf8)

    /// Reads a string value, decoding escapes; the result must be valid UTF-8 (else `invalid_utf8`).
    private mutating func readString() throws -> JSONMember {
        let start = self.index + 1
        var cursor = start
        var ascii = true
        // The common case: no escapes, so the bytes are the string.
        while cursor < self.bytes.count {
            let byte = self.bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: self.bytes[start..<cursor])
                self.index = cursor + 1
                // ASCII needs no validation; String(validating:as:) is generic and looks its metadata up at run
                // time on every call (12% of engage import's CPU when every string went through it).
                if ascii { return self.scratch == nil ? .string(String(decoding: raw, as: UTF8.self)) : .text(raw) }
                guard let text = String(validating: raw, as: UTF8.self) else { throw InvalidUTF8() }
                return self.scratch == nil ? .string(text) : .text(raw)
            }
            ascii = ascii && byte < 0x80
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 {
                throw JSONSyntaxError(detail: "a control character inside a string at byte \(cursor + 1)")
            }
            cursor += 1
        }
        var decoded: [UInt8] = Array(self.bytes[start..<cursor])
        self.index = cursor
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: decoded, as: UTF8.self) else { throw InvalidUTF8() }
                guard let scratch = self.scratch else { return .string(text) }
                // Decoded text is never longer than its escaped form, so the line's length is enough for all.
                let target = UnsafeMutableRawBufferPointer(
                    rebasing: scratch[self.scratchUsed..<(self.scratchUsed + decoded.count)]
                )
                target.copyBytes(from: decoded)
                self.scratchUsed += decoded.count
                return .text(UnsafeRawBufferPointer(target))
            case UInt8(ascii: "\\"):
                guard let escaped = self.peek else { throw JSONSyntaxError(detail: "the line ends inside a string") }
                self.index += 1
                switch escaped {
                case UInt8(ascii: "\""): decoded.append(0x22)
                case UInt8(ascii: "\\"): decoded.append(0x5C)
                case UInt8(ascii: "/"): decoded.append(0x2F)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try self.readHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard self.peek == UInt8(ascii: "\\"), self.index + 1 < self.bytes.count,
                            self.bytes[self.index + 1] == UInt8(ascii: "u")
                        else { throw InvalidUTF8() }
                        self.index += 2
                        let low = try self.readHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw InvalidUTF8() }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw InvalidUTF8()
                    }
                    decoded.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw JSONSyntaxError(detail: "invalid escape at byte \(self.index)")
                }
            case 0x00..<0x20:
                throw JSONSyntaxError(detail: "a control character inside a string at byte \(self.index)")
            default:
                decoded.append(byte)
            }
        }
        throw JSONSyntaxError(detail: "the line ends inside a string")
    }

    private mutating func readHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let hex = self.peek?.hexValue else { throw JSONSyntaxError(detail: "invalid \\u escape") }
            value = value << 4 | UInt32(hex)
            self.index += 1
        }
        return value
    }

    /// Skips any value, checking its syntax.
    private mutating func skipValue(depth: Int) throws {
        guard depth <= JSONSyntax.maximumDepth else {
            throw JSONSyntaxError(detail: "nested deeper than \(JSONSyntax.maximumDepth) levels")
        }
        self.skipWhitespace()
        guard let byte = self.peek else { throw JSONSyntaxError(detail: "the line ends inside a value") }
        switch byte {
        case UInt8(ascii: "\""):
            try self.skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = byte == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            self.index += 1
            self.skipWhitespace()
            if self.peek == close {
                self.index += 1
                return
            }
            while true {
                self.skipWhitespace()
                if isObject {
                    guard self.peek == UInt8(ascii: "\"") else {
                        throw JSONSyntaxError(detail: "expected a member name at byte \(self.index + 1)")
                    }
                    try self.skipString()
                    self.skipWhitespace()
                    guard self.peek == UInt8(ascii: ":") else {
                        throw JSONSyntaxError(detail: "expected ':' at byte \(self.index + 1)")
                    }
                    self.index += 1
                }
                try self.skipValue(depth: depth + 1)
                self.skipWhitespace()
                if self.peek == UInt8(ascii: ",") {
                    self.index += 1
                } else if self.peek == close {
                    self.index += 1
                    return
                } else {
                    throw JSONSyntaxError(
                        detail: "expected ',' or '\(Character(Unicode.Scalar(close)))' at byte \(self.index + 1)"
                    )
                }
            }
        case UInt8(ascii: "t"): try self.literal("true")
        case UInt8(ascii: "f"): try self.literal("false")
        case UInt8(ascii: "n"): try self.literal("null")
        default: _ = try self.readNumber()
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else {
            throw JSONSyntaxError(detail: "invalid value at byte \(self.index + 1)")
        }
        for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] {
            throw JSONSyntaxError(detail: "invalid value at byte \(self.index + 1)")
        }
        self.index += count
    }
}

/// A string (after escapes) is not valid UTF-8.
struct InvalidUTF8: Error {}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    fileprivate var hexValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return self - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return self - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return self - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
