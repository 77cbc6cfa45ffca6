import EngageModel
import NIOCore

/// EXPORT (0x11): one page of a star-schema table; the cursor of the previous page asks for the next (4.20).
public struct Export: RequestMessage {
    public typealias Response = ExportPageResult
    public static let messageType = MessageType.export

    public var table: ExportTable
    public var from: CivilDate?
    public var to: CivilDate?
    /// Empty for the first page.
    public var cursor: [UInt8]
    public var limit: Int

    public init(_ table: ExportTable, from: CivilDate? = nil, to: CivilDate? = nil, cursor: [UInt8] = [], limit: Int) {
        self.table = table
        self.from = from
        self.to = to
        self.cursor = cursor
        self.limit = limit
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let raw = try payload.read(UInt8.self, "table")
        guard let table = ExportTable(wireValue: raw) else {
            throw ProtocolError(.invalidField, "table \(raw) is not one of 0...\(ExportTable.allCases.count - 1)")
        }
        self.table = table
        self.from = try payload.readOptionalDate("from")
        self.to = try payload.readOptionalDate("to")
        self.cursor = try payload.readLengthPrefixedBytes("cursor")
        self.limit = try payload.readCount("limit")
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.table.wireValue)
        payload.writeDate(self.from)
        payload.writeDate(self.to)
        payload.writeLengthPrefixed(self.cursor)
        payload.writeCount(self.limit)
    }
}

/// EXPORT_PAGE (0x91): rows of tagged values; an empty `next` cursor means the export is complete.
public struct ExportPageResult: ResponseMessage {
    public static let messageType = MessageType.exportPage

    public var rows: [[ExportValue]]
    public var next: [UInt8]

    public init(rows: [[ExportValue]], next: [UInt8]) {
        self.rows = rows
        self.next = next
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 1)
        let columns = Int(try payload.read(UInt16.self, "column_count"))
        guard count.multipliedReportingOverflow(by: columns).partialValue <= payload.readableBytes else {
            throw ProtocolError(
                .truncatedPayload,
                "'values' announces \(count) x \(columns) values; the payload cannot hold them"
            )
        }
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> [ExportValue] in
            try buffer.readItems(columns) { (buffer: inout ByteBuffer) throws(ProtocolError) -> ExportValue in
                try buffer.readExportValue()
            }
        }
        self.next = try payload.readLengthPrefixedBytes("next_cursor")
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        payload.writeInteger(UInt16(clamping: self.rows.first?.count ?? 0))
        for row in self.rows { for value in row { payload.writeExportValue(value) } }
        payload.writeLengthPrefixed(self.next)
    }
}

extension ByteBuffer {
    /// A tagged export value: 0 null, 1 integer (i64), 2 text (str), 3 boolean (bool).
    mutating func readExportValue() throws(ProtocolError) -> ExportValue {
        switch try self.read(UInt8.self, "value_tag") {
        case 0: return .null
        case 1: return .integer(try self.read(Int64.self, "integer"))
        case 2: return .text(try self.readShortString("text"))
        case 3: return .boolean(try self.readFlag("boolean"))
        case let tag:
            throw ProtocolError(.invalidField, "value tag \(tag) is not 0 (null), 1 (integer), 2 (text) or 3 (boolean)")
        }
    }

    mutating func writeExportValue(_ value: ExportValue) {
        switch value {
        case .null: self.writeInteger(UInt8(0))
        case .integer(let number):
            self.writeInteger(UInt8(1))
            self.writeInteger(number)
        case .text(let text):
            self.writeInteger(UInt8(2))
            self.writeShortString(text)
        case .boolean(let flag):
            self.writeInteger(UInt8(3))
            self.writeFlag(flag)
        }
    }
}

extension ExportTable {
    /// The `table` byte: 0 users, 1 actions, 2 dates, 3 events, 4 sessions, 5 daily-activity.
    var wireValue: UInt8 {
        switch self {
        case .users: return 0
        case .actions: return 1
        case .dates: return 2
        case .events: return 3
        case .sessions: return 4
        case .dailyActivity: return 5
        }
    }

    init?(wireValue: UInt8) {
        guard let table = ExportTable.allCases.first(where: { $0.wireValue == wireValue }) else { return nil }
        self = table
    }
}
