import EngageModel
import NIOCore

/// QUERY_ACTIVITY (0x06): daily DAU, WAU and MAU over a range, filtered and broken down (4.7).
public struct QueryActivity: RequestMessage {
    public typealias Response = ActivityResult
    public static let messageType = MessageType.queryActivity

    public var query: ActivityQuery

    public init(_ query: ActivityQuery) { self.query = query }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let from = try payload.readDate("from")
        let to = try payload.readDate("to")
        let selection = try payload.readSelection()
        self.query = ActivityQuery(from: from, to: to, filters: selection.filters, breakdown: selection.breakdown)
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeDate(self.query.from)
        payload.writeDate(self.query.to)
        payload.writeSelection(Selection(filters: self.query.filters, breakdown: self.query.breakdown))
    }
}

/// ACTIVITY_RESULT (0x86): rows by group, then date; unknown counts (unfinished days) are FF FF FF FF.
public struct ActivityResult: ResponseMessage {
    public static let messageType = MessageType.activityResult

    public var rows: [ActivityRow]

    public init(_ rows: [ActivityRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 18)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> ActivityRow in
            ActivityRow(
                group: try buffer.readGroup(),
                date: try buffer.readDate("date"),
                dau: try buffer.readOptionalCount("dau"),
                wau: try buffer.readOptionalCount("wau"),
                mau: try buffer.readOptionalCount("mau")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.reserveCapacity(payload.writerIndex + 4 + self.rows.count * 24)
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeGroup(row.group)
            payload.writeDate(row.date)
            payload.writeOptionalCount(row.dau)
            payload.writeOptionalCount(row.wau)
            payload.writeOptionalCount(row.mau)
        }
    }
}
