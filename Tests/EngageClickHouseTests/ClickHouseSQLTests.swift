import EngageModel
import EngageTestSupport
import Foundation
import Testing

@testable import EngageClickHouse

@Suite struct EmbeddedSQLTests {
    /// The binary carries clickhouse/*.sql verbatim (tools/embed-clickhouse-sql writes EmbeddedSQL.swift).
    @Test(arguments: ["schema", "queries"])
    func embeddedFilesEqualTheRepository(folder: String) throws {
        let directory = RepositoryPaths.root.appendingPathComponent("clickhouse/\(folder)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        let embedded = folder == "schema" ? EmbeddedSQL.schema : EmbeddedSQL.queries
        #expect(Set(names.map { String($0.dropLast(4)) }) == Set(embedded.keys), "run tools/embed-clickhouse-sql")
        for name in names {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            #expect(
                embedded[String(name.dropLast(4))] == text,
                "\(folder)/\(name) differs: run tools/embed-clickhouse-sql"
            )
        }
    }
}

@Suite struct ClickHouseSQLTests {
    @Test func renderDropsCommentLinesAndFillsPlaceholders() throws {
        let sql = "-- a comment {nothing}\nSELECT {a}, '{b}'\n   -- indented comment\nFROM {db}.t"
        #expect(try ClickHouseSQL.render(sql, ["a": "1", "b": "x", "db": "engage"]) == "SELECT 1, 'x'\nFROM engage.t")
        #expect(throws: ClickHouseError.self) { try ClickHouseSQL.render("SELECT {missing}", [:]) }
        // Braces that are not a placeholder stay.
        #expect(try ClickHouseSQL.render("SELECT {1}, {A}, {}", [:]) == "SELECT {1}, {A}, {}")
    }

    @Test func statementsSplitAtSemicolonsEndingALine() {
        let sql = "-- head\nCREATE DATABASE x;\nCREATE TABLE y (\n  a String -- not a comment line\n);  \n\n"
        #expect(
            ClickHouseSQL.statements(sql) == [
                "CREATE DATABASE x", "CREATE TABLE y (\n  a String -- not a comment line\n)",
            ]
        )
    }

    @Test func everySchemaStatementRenders() throws {
        let cluster = try ClickHouseTarget.schemaStatements(database: "engage", cluster: "engage")
        let single = try ClickHouseTarget.schemaStatements(database: "engage", cluster: nil)
        #expect(cluster.count > single.count)
        #expect(
            cluster.contains {
                $0.contains("ENGINE = Distributed(engage, engage, dim_users_local, cityHash64(user_id))")
            }
        )
        #expect(!single.contains { $0.contains("_local") })
        #expect(throws: ClickHouseError.self) { try ClickHouseSQL.identifier("x; DROP", what: "database") }
    }

    @Test func quoteEscapesBackslashAndQuote() {
        #expect(ClickHouseSQL.quote("it's a \\ test") == "'it\\'s a \\\\ test'")
    }

    @Test func selectionPlaceholders() {
        let filters = DimensionFilter.grouping([
            (.attribute(.region), "eu"), (.attribute(.region), "na"), (.cohort, "2026-01"),
        ])
        let values = ClickHouseSQL.selectionPlaceholders(filters: filters, breakdown: .attribute(.deviceType))
        #expect(
            values["user_filter"]
                == "region IN ('eu', 'na') AND substring(toString(registration_date), 1, 7) IN ('2026-01')"
        )
        #expect(values["group_expr"] == "device_type")
        #expect(values["group_column"] == "grp AS `group`,")
        let none = ClickHouseSQL.selectionPlaceholders(filters: [], breakdown: nil)
        #expect(none == ["user_filter": "1", "group_expr": "''", "group_column": ""])
    }

    @Test func everyQueryRendersWithItsPlaceholders() throws {
        let day = CivilDate("2026-01-10")!
        let queries: [ClickHouseQuery] = [
            .activity(from: day, to: day, Selection()), .activeDays(from: day, to: day, Selection()),
            .tiers(.asOf(day), Selection()), .transitions(CivilMonth("2026-01")!, filters: []),
            .retention(period: .week, from: day, to: day, periods: 4, Selection()),
            .lifecycle(period: .month, from: day, to: day, filters: []), .sessions(from: day, to: day, filters: []),
        ]
        for query in queries {
            let sql = try query.sql(database: "engage", powerThreshold: 20)
            #expect(!sql.contains("{"), "\(query.file): a placeholder is left")
        }
    }
}

@Suite struct JSONValueTests {
    @Test func parsesWhatClickHouseWrites() throws {
        let value = try JSONValue.parse(
            Array(#"{"a":1,"b":0.714286,"c":null,"d":"x\"y\u00e9\ud83d\ude00","e":[true,false]}"#.utf8)
        )
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object["a"]?.int == 1)
        #expect(object["b"]?.double == 0.714286)
        #expect(object["c"]?.isNull == true)
        #expect(object["d"]?.string == "x\"yé😀")
        #expect(object["e"] == .array([.bool(true), .bool(false)]))
        #expect(throws: ClickHouseError.self) { try JSONValue.parse(Array("{\"a\":}".utf8)) }
    }
}

@Suite struct NodeRoutingTests {
    /// The test vectors of proto-spec/PROTOCOL.md section 8, read from the document itself.
    @Test func protocolVectors() throws {
        let text = try String(
            contentsOf: RepositoryPaths.root.appendingPathComponent("proto-spec/PROTOCOL.md"),
            encoding: .utf8
        )
        let section = try #require(text.range(of: "## 8. Several nodes"))
        var checked = 0
        for line in text[section.upperBound...].split(separator: "\n") where line.hasPrefix("| ") && line.contains("`")
        {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 7, cells[3].hasPrefix("`") else { continue }
            let userID = cells[1] == "(empty)" ? "" : String(cells[1].dropFirst().dropLast())
            let hex = cells[2].isEmpty ? "" : String(cells[2].dropFirst().dropLast())
            #expect(Array(userID.utf8).map { String(format: "%02x", $0) }.joined() == hex)
            #expect(String(format: "%016llx", NodeRouting.hash(userID)) == String(cells[3].dropFirst().dropLast()))
            for (index, count) in [2, 3, 5].enumerated() {
                #expect(NodeRouting.node(of: userID, nodeCount: count) == Int(cells[4 + index]), "\(userID) N=\(count)")
                // engage import routes by the line's bytes.
                let byBytes = Array(userID.utf8).withUnsafeBytes { NodeRouting.node(ofUTF8: $0, nodeCount: count) }
                #expect(byBytes == Int(cells[4 + index]), "\(userID) N=\(count), from bytes")
            }
            checked += 1
        }
        #expect(checked == 7)
    }
}
