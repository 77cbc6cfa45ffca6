import ArgumentParser
import Foundation

/// A cell of command output.
enum Value {
    case int(Int)
    /// Printed with at most 6 decimals (the contract's precision).
    case double(Double)
    case string(String)
    case bool(Bool)
    case null

    var plain: String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return Value.format(value)
        case .string(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .null: return ""
        }
    }

    var json: String {
        switch self {
        case .int, .double, .bool: return self.plain
        case .string(let value): return Value.quote(value)
        case .null: return "null"
        }
    }

    /// 6 decimals, trailing zeros dropped, at least one decimal: 1.0, 0.6, 0.714286.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "0.0" }
        var text = String(format: "%.6f", value)
        while text.hasSuffix("0") && !text.hasSuffix(".0") { text.removeLast() }
        if text == "-0.0" { text = "0.0" }
        return text
    }

    static func quote(_ text: String) -> String {
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

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, table, csv, jsonl
}

/// Rows with named columns, printed as one JSON object `{"query": NAME, "rows": [...]}`, an aligned table,
/// CSV, or JSON lines (one row object per line).
struct Report {
    let name: String
    let columns: [String]
    var rows: [[Value]] = []

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .json:
            let body = self.rows.map { "  " + self.object($0) }.joined(separator: ",\n")
            return "{\"query\": \(Value.quote(self.name)), \"rows\": [\n\(body)\(self.rows.isEmpty ? "" : "\n")]}"
        case .jsonl:
            return self.rows.map { self.object($0) }.joined(separator: "\n")
        case .csv:
            return ([self.columns.map(Report.csvField).joined(separator: ",")]
                + self.rows.map { $0.map { Report.csvField($0.plain) }.joined(separator: ",") }).joined(separator: "\n")
        case .table:
            let cells = [self.columns] + self.rows.map { $0.map(\.plain) }
            let widths = self.columns.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
            return cells.enumerated().map { index, row in
                let line = row.enumerated().map { column, cell in
                    let pad = String(repeating: " ", count: widths[column] - cell.count)
                    if index > 0, case .int = self.rows[index - 1][column] { return pad + cell }
                    if index > 0, case .double = self.rows[index - 1][column] { return pad + cell }
                    return cell + pad
                }.joined(separator: "  ")
                return line.trimmingTrailingSpaces()
            }.joined(separator: "\n")
        }
    }

    func object(_ row: [Value]) -> String {
        "{" + zip(self.columns, row).map { "\(Value.quote($0)): \($1.json)" }.joined(separator: ", ") + "}"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func print(_ format: OutputFormat) {
        Swift.print(self.render(format))
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}

enum StandardError {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static var isTerminal: Bool { isatty(2) == 1 }
}
