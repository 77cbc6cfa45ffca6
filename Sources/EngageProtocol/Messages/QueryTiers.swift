import EngageModel
import NIOCore

/// QUERY_TIERS (0x09): the tier table of a calendar month or of the 30 days ending on a day (4.12).
public struct QueryTiers: RequestMessage {
    public typealias Response = TiersResult
    public static let messageType = MessageType.queryTiers

    public var window: TierWindow
    public var selection: Selection

    public init(_ window: TierWindow, _ selection: Selection = Selection()) {
        self.window = window
        self.selection = selection
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let kind = try payload.read(UInt8.self, "window")
        let date = try payload.readDate("date")
        switch kind {
        case 0: self.window = .month(CivilMonth(index: date.monthIndex))
        case 1: self.window = .asOf(date)
        default: throw ProtocolError(.invalidField, "window must be 0 (month) or 1 (as of a day), not \(kind)")
        }
        self.selection = try payload.readSelection()
    }

    public func encode(into payload: inout ByteBuffer) {
        switch self.window {
        case .month(let month):
            payload.writeInteger(UInt8(0))
            payload.writeDate(month.firstDay)
        case .asOf(let day):
            payload.writeInteger(UInt8(1))
            payload.writeDate(day)
        }
        payload.writeSelection(self.selection)
    }
}

/// TIERS_RESULT (0x89): per group, the four tiers in order with their users and the sums behind the averages.
public struct TiersResult: ResponseMessage {
    public static let messageType = MessageType.tiersResult

    public var rows: [TierRow]

    public init(_ rows: [TierRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 32)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> TierRow in
            TierRow(
                group: try buffer.readGroup(),
                tier: try buffer.readTier("tier"),
                users: try buffer.readCount("users"),
                records: try buffer.readCount64("records"),
                sessions: try buffer.readCount64("sessions"),
                actions: try buffer.readCount64("actions")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeGroup(row.group)
            payload.writeShortString(row.tier.name)
            payload.writeCount(row.users)
            payload.writeCount64(row.records)
            payload.writeCount64(row.sessions)
            payload.writeCount64(row.actions)
        }
    }
}
