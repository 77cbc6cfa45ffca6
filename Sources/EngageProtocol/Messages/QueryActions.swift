import EngageModel
import NIOCore

/// QUERY_ACTIONS (0x10): events and distinct users per action category and action type (4.19).
public struct QueryActions: DateRangeRequest {
    public typealias Response = ActionsResult
    public static let messageType = MessageType.queryActions

    public var from: CivilDate
    public var to: CivilDate
    public var filters: [DimensionFilter]

    public init(from: CivilDate, to: CivilDate, filters: [DimensionFilter] = []) {
        self.from = from
        self.to = to
        self.filters = filters
    }
}

/// ACTIONS_RESULT (0x90): category rows (kind 0) first, then action types (kind 1).
public struct ActionsResult: ResponseMessage {
    public static let messageType = MessageType.actionsResult

    public var rows: [ActionUsageRow]

    public init(_ rows: [ActionUsageRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 22)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> ActionUsageRow in
            let kind = try buffer.read(UInt8.self, "kind")
            guard kind <= 1 else {
                throw ProtocolError(.invalidField, "kind must be 0 (category) or 1 (action type), not \(kind)")
            }
            let category = try buffer.readShortString("action_category")
            let type = try buffer.readShortString("action_type")
            let isCore = try buffer.readFlag("is_core_action")
            return ActionUsageRow(
                category: category,
                actionType: kind == 1 ? type : nil,
                isCoreAction: kind == 1 ? isCore : nil,
                events: try buffer.readCount64("events"),
                users: try buffer.readCount64("users")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeInteger(UInt8(row.actionType == nil ? 0 : 1))
            payload.writeShortString(row.category)
            payload.writeShortString(row.actionType ?? "")
            payload.writeFlag(row.isCoreAction == true)
            payload.writeCount64(row.events)
            payload.writeCount64(row.users)
        }
    }
}
