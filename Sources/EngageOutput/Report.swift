import Foundation

/// A cell of command output.
public enum Value: Sendable, Hashable {
    case int(Int)
    /// A ratio or an average: 6 decimals (the contract's precision).
    case ratio(Double)
    case string(String)
    case bool(Bool)
    /// Unknown (an unfinished period) or absent: `null` in JSON, empty in CSV and tables.
    case null

    public static func count(_ value: Int?) -> Value { value.map(Value.int) ?? .null }
    public static func ratio(_ value: Double?) -> Value { value.map(Value.ratio) ?? .null }
    public static func text(_ value: String?) -> Value { value.map(Value.string) ?? .null }

    /// As written in CSV: ratios with 6 decimals, no digit grouping.
    public var plain: String {
        switch self {
        case .int(let value): return String(value)
        case .ratio(let value): return Value.fixed(value)
        case .string(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .null: return ""
        }
    }

    /// As shown in a table: integers grouped by thousands, ratios with 6 decimals so points line up.
    public var tableText: String {
        switch self {
        case .int(let value): return Value.grouped(value)
        default: return self.plain
        }
    }

    public var json: String {
        switch self {
        case .int, .bool: return self.plain
        case .ratio(let value): return Value.compact(value)
        case .string(let value): return Value.quote(value)
        case .null: return "null"
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .int, .ratio: return true
        default: return false
        }
    }

    /// 6 decimals, trailing zeros dropped, at least one decimal: 1.0, 0.6, 0.714286 (JSON numbers).
    public static func compact(_ value: Double) -> String {
        var text = self.fixed(value)
        while text.hasSuffix("0") && !text.hasSuffix(".0") { text.removeLast() }
        return text
    }

    /// Exactly 6 decimals: 0.600000.
    public static func fixed(_ value: Double) -> String {
        guard value.isFinite else { return "0.000000" }
        let text = String(format: "%.6f", value)
        return text == "-0.000000" ? "0.000000" : text
    }

    /// 1234567 -> 1,234,567.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Rows with named columns, printed as one JSON object `{"query": NAME, "rows": [...]}`, an aligned table,
/// CSV, or JSON lines (one row object per line).
public struct Report: Sendable {
    public let name: String
    public let columns: [String]
    public var rows: [[Value]] = []
    /// Extra top-level JSON members after "rows" (already encoded JSON values).
    public var extraJSON: [(key: String, json: String)] = []

    public init(name: String, columns: [String], rows: [[Value]] = []) {
        self.name = name
        self.columns = columns
        self.rows = rows
    }

    public enum Rendering: Sendable { case json, jsonLines, csv, table }

    public func render(_ rendering: Rendering) -> String {
        switch rendering {
        case .json:
            let body = self.rows.map { "  " + self.object($0) }.joined(separator: ",\n")
            let extra = self.extraJSON.map { ", \(Value.quote($0.key)): \($0.json)" }.joined()
            return
                "{\"query\": \(Value.quote(self.name)), \"rows\": [\n\(body)\(self.rows.isEmpty ? "" : "\n")]\(extra)}"
        case .jsonLines:
            return self.rows.map { self.object($0) }.joined(separator: "\n")
        case .csv:
            return
                ([self.columns.map(Report.csvField).joined(separator: ",")]
                + self.rows.map { $0.map { Report.csvField($0.plain) }.joined(separator: ",") }).joined(separator: "\n")
        case .table:
            return self.table()
        }
    }

    /// Columns as wide as their widest cell in terminal columns (East Asian wide characters take two),
    /// numbers right-aligned.
    private func table() -> String {
        let cells = [self.columns] + self.rows.map { $0.map(\.tableText) }
        let widths = self.columns.indices.map { column in cells.map { $0[column].displayWidth }.max() ?? 0 }
        return cells.enumerated().map { index, row in
            let line = row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.displayWidth)
                let numeric = index == 0 ? self.isNumericColumn(column) : self.rows[index - 1][column].isNumeric
                return numeric ? pad + cell : cell + pad
            }.joined(separator: "  ")
            return line.trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }

    /// A header sits over numbers when the column's cells are numbers.
    private func isNumericColumn(_ column: Int) -> Bool {
        self.rows.contains { $0[column].isNumeric }
    }

    public func object(_ row: [Value]) -> String {
        "{" + zip(self.columns, row).map { "\(Value.quote($0)): \($1.json)" }.joined(separator: ", ") + "}"
    }

    public static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension String {
    public func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }

    /// Columns the text takes in a terminal: East Asian wide and fullwidth characters and emoji take two,
    /// combining marks and zero-width characters none.
    public var displayWidth: Int {
        self.unicodeScalars.reduce(0) { $0 + $1.displayWidth }
    }
}

extension Unicode.Scalar {
    public var displayWidth: Int {
        switch self.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if self.properties.isEmojiPresentation { return 2 }
        switch self.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x2FFFD,
            0x30000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}
