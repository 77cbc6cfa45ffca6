import EngageModel
import NIOCore

/// QUERY_TRANSITIONS (0x0A): monthly tiers of a month and the next, counted per pair (4.13).
public struct QueryTransitions: RequestMessage {
    public typealias Response = TransitionsResult
    public static let messageType = MessageType.queryTransitions

    public var month: CivilMonth
    public var filters: [DimensionFilter]

    public init(_ month: CivilMonth, filters: [DimensionFilter] = []) {
        self.month = month
        self.filters = filters
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.month = CivilMonth(index: try payload.readDate("month").monthIndex)
        self.filters = try payload.readFilters()
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeDate(self.month.firstDay)
        payload.writeFilters(self.filters)
    }
}

/// TRANSITIONS_RESULT (0x8A).
public struct TransitionsResult: ResponseMessage {
    public static let messageType = MessageType.transitionsResult

    public var rows: [TransitionRow]

    public init(_ rows: [TransitionRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 8)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> TransitionRow in
            TransitionRow(
                fromTier: try buffer.readTier("from_tier"),
                toTier: try buffer.readTier("to_tier"),
                users: try buffer.readCount("users")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeShortString(row.fromTier.name)
            payload.writeShortString(row.toTier.name)
            payload.writeCount(row.users)
        }
    }
}
