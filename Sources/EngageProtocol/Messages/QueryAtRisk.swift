import EngageModel
import NIOCore

/// QUERY_AT_RISK (0x0F): users regular or better a week ago with no active day since (4.18).
public struct QueryAtRisk: RequestMessage {
    public typealias Response = AtRiskResult
    public static let messageType = MessageType.queryAtRisk

    public var asOf: CivilDate
    public var limit: Int
    public var filters: [DimensionFilter]

    public init(asOf: CivilDate, limit: Int, filters: [DimensionFilter] = []) {
        self.asOf = asOf
        self.limit = limit
        self.filters = filters
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.asOf = try payload.readDate("as_of")
        self.limit = try payload.readCount("limit")
        self.filters = try payload.readFilters()
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeDate(self.asOf)
        payload.writeCount(self.limit)
        payload.writeFilters(self.filters)
    }
}

/// AT_RISK_RESULT (0x8F): most active first.
public struct AtRiskResult: ResponseMessage {
    public static let messageType = MessageType.atRiskResult

    public var rows: [AtRiskRow]

    public init(_ rows: [AtRiskRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 20)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> AtRiskRow in
            AtRiskRow(
                userID: try buffer.readShortString("user_id"),
                tierBefore: try buffer.readTier("tier"),
                activeDays: try buffer.readCount("active_days"),
                actions: try buffer.readCount64("actions"),
                lastActiveDay: try buffer.readDate("last_active_day")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeShortString(row.userID)
            payload.writeShortString(row.tierBefore.name)
            payload.writeCount(row.activeDays)
            payload.writeCount64(row.actions)
            payload.writeDate(row.lastActiveDay)
        }
    }
}
