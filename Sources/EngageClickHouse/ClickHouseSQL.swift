import EngageModel

/// The SQL files of `clickhouse/` and their placeholder rules (clickhouse/README.md "Placeholders"; the
/// Python reference is tools/clickhouse_sql.py).
public enum ClickHouseSQL {
    /// `clickhouse/schema/NAME.sql` (`local`, `distributed`).
    public static func schema(_ name: String) -> String {
        guard let text = EmbeddedSQL.schema[name] else { preconditionFailure("no schema file \(name).sql") }
        return text
    }

    /// `clickhouse/queries/NAME.sql`.
    public static func query(_ name: String) -> String {
        guard let text = EmbeddedSQL.queries[name] else { preconditionFailure("no query file \(name).sql") }
        return text
    }

    public static var queryNames: [String] { EmbeddedSQL.queries.keys.sorted() }

    /// Drops the lines that are `--` comments (18.16's parser stumbles over some comments inside parentheses).
    public static func stripComments(_ sql: String) -> String {
        sql.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.drop { $0 == " " || $0 == "\t" }.hasPrefix("--") }
            .joined(separator: "\n")
    }

    /// Comment lines dropped, then every `{name}` (`[a-z_]+` in braces) replaced by `values[name]`; a
    /// placeholder without a value is an error.
    public static func render(_ sql: String, _ values: [String: String]) throws -> String {
        let text = Array(self.stripComments(sql).unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < text.count {
            if text[index] == "{" {
                var end = index + 1
                while end < text.count, ("a"..."z").contains(text[end]) || text[end] == "_" { end += 1 }
                if end < text.count, text[end] == "}", end > index + 1 {
                    let name = String(String.UnicodeScalarView(text[(index + 1)..<end]))
                    guard let value = values[name] else {
                        throw ClickHouseError(.placeholder, "no value for the placeholder {\(name)}")
                    }
                    out.append(contentsOf: value.unicodeScalars)
                    index = end + 1
                    continue
                }
            }
            out.append(text[index])
            index += 1
        }
        return String(out)
    }

    /// The statements of a schema file: comments dropped, split at a `;` that ends a line.
    public static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current: [Substring] = []
        for line in self.stripComments(sql).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.reversed().drop { $0 == " " || $0 == "\t" }
            if trimmed.first == ";" {
                current.append(line[..<line.lastIndex(of: ";")!])
                statements.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        statements.append(current.joined(separator: "\n"))
        return statements.map { $0.trimmingSpace }.filter { !$0.isEmpty }
    }

    /// A ClickHouse string literal: single quotes, `\` and `'` escaped by a backslash.
    public static func quote(_ value: String) -> String {
        var out = "'"
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            default: out.append(character)
            }
        }
        return out + "'"
    }

    /// A date as the queries take it: `'2026-01-01'`.
    public static func date(_ value: CivilDate) -> String { "'\(value.description)'" }

    /// Checks an identifier (database, cluster): `[A-Za-z_][A-Za-z0-9_]*`.
    public static func identifier(_ value: String, what: String) throws -> String {
        let scalars = Array(value.unicodeScalars)
        func letter(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_" }
        guard let first = scalars.first, letter(first), scalars.allSatisfy({ letter($0) || ("0"..."9").contains($0) })
        else {
            throw ClickHouseError(.placeholder, "\(what) '\(value)' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        }
        return value
    }

    /// The registration month of a user, 'YYYY-MM'; NULL without a registration date.
    static let cohortExpression = "substring(toString(registration_date), 1, 7)"

    /// `{user_filter}`, `{group_expr}` and `{group_column}` for `--where` filters and `--by`.
    public static func selectionPlaceholders(filters: [DimensionFilter], breakdown: Dimension?) -> [String: String] {
        var conditions: [String] = []
        for filter in filters where !filter.values.isEmpty {
            let column = self.column(of: filter.dimension)
            conditions.append("\(column) IN (\(filter.values.map(self.quote).joined(separator: ", ")))")
        }
        return [
            "user_filter": conditions.isEmpty ? "1" : conditions.joined(separator: " AND "),
            "group_expr": breakdown.map(self.column(of:)) ?? "''",
            "group_column": breakdown == nil ? "" : "grp AS `group`,",
        ]
    }

    static func column(of dimension: Dimension) -> String {
        switch dimension {
        case .attribute(let attribute): return attribute.rawValue
        case .cohort: return self.cohortExpression
        }
    }
}

extension String {
    var trimmingSpace: String {
        let scalars = self.unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let start = scalars.firstIndex(where: { !isSpace($0) }),
            let end = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[start...end])
    }
}
