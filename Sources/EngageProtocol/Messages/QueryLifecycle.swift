import EngageModel
import NIOCore

/// QUERY_LIFECYCLE (0x0C): new, returning, resurrecting and dormant users per period (4.15).
public struct QueryLifecycle: RequestMessage {
    public typealias Response = LifecycleResult
    public static let messageType = MessageType.queryLifecycle

    public var period: Period
    public var from: CivilDate
    public var to: CivilDate
    public var filters: [DimensionFilter]

    public init(period: Period, from: CivilDate, to: CivilDate, filters: [DimensionFilter] = []) {
        self.period = period
        self.from = from
        self.to = to
        self.filters = filters
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.period = try payload.readPeriod()
        self.from = try payload.readDate("from")
        self.to = try payload.readDate("to")
        self.filters = try payload.readFilters()
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.period.wireValue)
        payload.writeDate(self.from)
        payload.writeDate(self.to)
        payload.writeFilters(self.filters)
    }
}

/// LIFECYCLE_RESULT (0x8C): all four counts unknown (FF FF FF FF) for periods that end after the last day.
public struct LifecycleResult: ResponseMessage {
    public static let messageType = MessageType.lifecycleResult

    public var rows: [LifecycleRow]

    public init(_ rows: [LifecycleRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 20)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> LifecycleRow in
            LifecycleRow(
                period: try buffer.readDate("period"),
                new: try buffer.readOptionalCount("new"),
                returning: try buffer.readOptionalCount("returning"),
                resurrecting: try buffer.readOptionalCount("resurrecting"),
                dormant: try buffer.readOptionalCount("dormant")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeDate(row.period)
            for value in [row.new, row.returning, row.resurrecting, row.dormant] { payload.writeOptionalCount(value) }
        }
    }
}
