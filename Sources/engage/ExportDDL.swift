import ArgumentParser
import EngageClickHouse
import EngageModel

// The SQL that `engage export --ddl` prints lives with the command: the model only says what the columns hold.
extension ExportTable {
    /// `CREATE TABLE` for this table (standard SQL; SQLite, DuckDB and PostgreSQL accept it).
    var ddl: String {
        let keys = self.columns.filter(\.primaryKey).map(\.name)
        let lines =
            self.columns.map { column in
                "    \(column.name) \(column.type.sqlType)\(column.nullable ? "" : " NOT NULL")"
            } + ["    PRIMARY KEY (\(keys.joined(separator: ", ")))"]
        return "CREATE TABLE \(self.tableName) (\n" + lines.joined(separator: ",\n") + "\n);"
    }
}

extension ExportColumn.ColumnType {
    /// The standard SQL type of the column.
    var sqlType: String {
        switch self {
        case .integer: return "BIGINT"
        case .text: return "VARCHAR"
        case .boolean: return "BOOLEAN"
        case .date: return "DATE"
        case .timestamp: return "TIMESTAMP"
        case .json: return "VARCHAR"
        }
    }
}

enum DDLDialect: String, ExpressibleByArgument, CaseIterable {
    case standard, clickhouse
}

/// The ClickHouse schema (clickhouse/schema/*.sql rendered): what `engage clickhouse init` runs on every shard.
func clickHouseDDL(database: String, cluster: String?) throws -> String {
    do {
        return try ClickHouseTarget.schemaStatements(database: database, cluster: cluster).map { $0 + ";" }
            .joined(separator: "\n\n")
    } catch let error as ClickHouseError {
        throw ValidationError(error.message)
    }
}
