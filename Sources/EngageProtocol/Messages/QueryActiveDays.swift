import EngageModel
import NIOCore

/// QUERY_ACTIVE_DAYS (0x08): for each k >= 1, the users with exactly k active days in a range (4.11).
public struct QueryActiveDays: RequestMessage {
    public typealias Response = ActiveDaysResult
    public static let messageType = MessageType.queryActiveDays

    public var from: CivilDate
    public var to: CivilDate
    public var selection: Selection

    public init(from: CivilDate, to: CivilDate, _ selection: Selection = Selection()) {
        self.from = from
        self.to = to
        self.selection = selection
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.from = try payload.readDate("from")
        self.to = try payload.readDate("to")
        self.selection = try payload.readSelection()
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeDate(self.from)
        payload.writeDate(self.to)
        payload.writeSelection(self.selection)
    }
}

/// ACTIVE_DAYS_RESULT (0x88): rows of group, active days, users.
public struct ActiveDaysResult: ResponseMessage {
    public static let messageType = MessageType.activeDaysResult

    public var rows: [ActiveDaysRow]

    public init(_ rows: [ActiveDaysRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 10)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> ActiveDaysRow in
            ActiveDaysRow(
                group: try buffer.readGroup(),
                activeDays: try buffer.readCount("active_days"),
                users: try buffer.readCount("users")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeGroup(row.group)
            payload.writeCount(row.activeDays)
            payload.writeCount(row.users)
        }
    }
}
