import EngageModel
import NIOCore

/// How export rows (``ExportTable`` columns, as engaged sends them) become rows of a ClickHouse table in the
/// RowBinary format: each table column is an export column converted to the table's type, or the node id,
/// or the version. `INSERT INTO t (columns) FORMAT RowBinary` names the columns, so the table's own column
/// order does not matter.
struct RowBinaryTable: Sendable {
    enum Source: Sendable {
        case column(Int, Kind)
        case node
        case version
    }

    enum Kind: Sendable {
        case string, nullableString, uint8, uint16, uint32, uint64, int64, boolean, date, nullableDate
    }

    /// The ClickHouse table (without database, without `_local`).
    let table: String
    let columns: [(name: String, source: Source)]
    /// Export columns the row must have at least.
    let exportColumns: Int

    init(_ table: String, exportColumns: Int, _ columns: [(String, Source)]) {
        self.table = table
        self.exportColumns = exportColumns
        self.columns = columns.map { (name: $0.0, source: $0.1) }
    }

    /// `INSERT INTO {name} (c1, c2, ...) FORMAT RowBinary`.
    func insertStatement(into name: String) -> String {
        "INSERT INTO \(name) (\(self.columns.map(\.name).joined(separator: ", "))) FORMAT RowBinary"
    }

    /// Appends `row` to `buffer`.
    func encode(_ row: [ExportValue], node: UInt16, version: UInt64, into buffer: inout ByteBuffer) throws {
        guard row.count >= self.exportColumns else {
            throw ClickHouseError(.badResponse, "an export row of \(self.table) has \(row.count) columns")
        }
        for (name, source) in self.columns {
            switch source {
            case .node: buffer.writeInteger(node, endianness: .little)
            case .version: buffer.writeInteger(version, endianness: .little)
            case .column(let index, let kind):
                try Self.write(row[index], kind, into: &buffer, column: name, table: self.table)
            }
        }
    }

    static func write(
        _ value: ExportValue,
        _ kind: Kind,
        into buffer: inout ByteBuffer,
        column: String,
        table: String
    ) throws {
        switch (kind, value) {
        case (.nullableString, .null), (.nullableDate, .null):
            buffer.writeInteger(UInt8(1))
        case (.nullableString, .text(let text)):
            buffer.writeInteger(UInt8(0))
            Self.writeString(text, into: &buffer)
        case (.string, .text(let text)):
            Self.writeString(text, into: &buffer)
        case (.uint8, .integer(let number)) where (0...0xFF).contains(number):
            buffer.writeInteger(UInt8(number))
        case (.uint16, .integer(let number)) where (0...0xFFFF).contains(number):
            buffer.writeInteger(UInt16(number), endianness: .little)
        case (.uint32, .integer(let number)) where (0...0xFFFF_FFFF).contains(number):
            buffer.writeInteger(UInt32(number), endianness: .little)
        case (.uint64, .integer(let number)) where number >= 0:
            buffer.writeInteger(UInt64(number), endianness: .little)
        case (.int64, .integer(let number)):
            buffer.writeInteger(number, endianness: .little)
        case (.boolean, .boolean(let flag)), (.uint8, .boolean(let flag)):
            buffer.writeInteger(UInt8(flag ? 1 : 0))
        case (.date, .text(let text)):
            buffer.writeInteger(try Self.dayNumber(text, column: column, table: table), endianness: .little)
        case (.nullableDate, .text(let text)):
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(try Self.dayNumber(text, column: column, table: table), endianness: .little)
        default:
            throw ClickHouseError(.badResponse, "\(table).\(column): the export sent \(value), not a \(kind)")
        }
    }

    static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { bytes in
            var length = UInt64(bytes.count)
            while length >= 0x80 {
                buffer.writeInteger(UInt8(truncatingIfNeeded: length) | 0x80)
                length >>= 7
            }
            buffer.writeInteger(UInt8(length))
            buffer.writeBytes(bytes)
        }
    }

    /// `YYYY-MM-DD` as ClickHouse's Date: days since 1970-01-01 as a UInt16 (1970-01-01 ... 2149-06-06).
    static func dayNumber(_ text: String, column: String, table: String) throws -> UInt16 {
        guard let date = CivilDate(text), let days = UInt16(exactly: date.dayNumber) else {
            throw ClickHouseError(.badResponse, "\(table).\(column): '\(text)' is not a date ClickHouse's Date holds")
        }
        return days
    }
}

extension RowBinaryTable {
    /// Columns of the export tables (proto-spec/PROTOCOL.md 4.20) mapped onto clickhouse/schema/local.sql.
    static let users = RowBinaryTable(
        "dim_users",
        exportColumns: 7,
        [
            ("user_id", .column(1, .string)), ("user_key", .column(0, .uint64)),
            ("registration_date", .column(2, .nullableDate)), ("acquisition_channel", .column(3, .string)),
            ("user_segment", .column(4, .string)), ("device_type", .column(5, .string)),
            ("region", .column(6, .string)), ("node_id", .node), ("version", .version),
        ]
    )

    static let actions = RowBinaryTable(
        "dim_actions",
        exportColumns: 5,
        [
            ("action_type", .column(1, .string)), ("node_id", .node), ("action_key", .column(0, .uint64)),
            ("action_category", .column(2, .string)), ("engagement_weight", .column(3, .int64)),
            ("is_core_action", .column(4, .boolean)), ("version", .version),
        ]
    )

    static let dates = RowBinaryTable(
        "dim_date",
        exportColumns: 10,
        [
            ("full_date", .column(1, .date)), ("date_key", .column(0, .uint32)), ("year", .column(2, .uint16)),
            ("quarter", .column(3, .uint8)), ("month", .column(4, .uint8)), ("day_of_month", .column(5, .uint8)),
            ("day_of_week", .column(6, .uint8)), ("week_of_year", .column(7, .uint8)),
            ("is_weekend", .column(8, .boolean)), ("day_number", .column(9, .int64)), ("version", .version),
        ]
    )

    static let dailyActivity = RowBinaryTable(
        "fact_daily_user_activity",
        exportColumns: 10,
        [
            ("date", .column(9, .date)), ("user_id", .column(8, .string)), ("user_key", .column(0, .uint64)),
            ("date_key", .column(1, .uint32)), ("sessions_count", .column(2, .uint32)),
            ("total_session_duration", .column(3, .uint64)), ("total_actions", .column(4, .uint32)),
            ("unique_action_types", .column(5, .uint32)), ("is_active_day", .column(6, .boolean)),
            ("engagement_tier", .column(7, .string)), ("node_id", .node), ("version", .version),
        ]
    )

    static let sessions = RowBinaryTable(
        "fact_user_sessions",
        exportColumns: 14,
        [
            ("date", .column(11, .date)), ("user_id", .column(10, .string)), ("start_ms", .column(12, .int64)),
            ("end_ms", .column(13, .int64)), ("session_id", .column(3, .string)),
            ("session_key", .column(0, .uint64)), ("user_key", .column(1, .uint64)),
            ("date_key", .column(2, .uint32)), ("session_duration_seconds", .column(6, .uint32)),
            ("actions_count", .column(7, .uint32)), ("screens_visited", .column(8, .uint32)),
            ("session_type", .column(9, .string)), ("node_id", .node), ("version", .version),
        ]
    )

    static let events = RowBinaryTable(
        "fact_user_actions",
        exportColumns: 13,
        [
            ("date", .column(11, .date)), ("user_id", .column(8, .string)), ("ts_ms", .column(12, .int64)),
            ("event_id", .column(9, .string)), ("action_type", .column(10, .string)),
            ("action_context", .column(6, .nullableString)), ("action_metadata", .column(7, .nullableString)),
            ("action_instance_key", .column(0, .uint64)), ("user_key", .column(1, .uint64)),
            ("session_key", .column(2, .uint64)), ("action_key", .column(3, .uint64)),
            ("date_key", .column(4, .uint32)), ("node_id", .node), ("version", .version),
        ]
    )
}
