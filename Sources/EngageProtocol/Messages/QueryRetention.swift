import EngageModel
import NIOCore

/// QUERY_RETENTION (0x0B): cohorts by registration period and how many were active k periods later (4.14).
public struct QueryRetention: RequestMessage {
    public typealias Response = RetentionResult
    public static let messageType = MessageType.queryRetention

    public var period: Period
    public var from: CivilDate
    public var to: CivilDate
    /// Offsets 0...periods.
    public var periods: Int
    public var selection: Selection

    public init(period: Period, from: CivilDate, to: CivilDate, periods: Int, _ selection: Selection = Selection()) {
        self.period = period
        self.from = from
        self.to = to
        self.periods = periods
        self.selection = selection
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.period = try payload.readPeriod()
        self.from = try payload.readDate("from")
        self.to = try payload.readDate("to")
        self.periods = Int(try payload.read(UInt16.self, "periods"))
        self.selection = try payload.readSelection()
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.period.wireValue)
        payload.writeDate(self.from)
        payload.writeDate(self.to)
        payload.writeInteger(UInt16(clamping: self.periods))
        payload.writeSelection(self.selection)
    }
}

/// RETENTION_RESULT (0x8B): `retained` is unknown (FF FF FF FF) for offsets that end after the last day.
public struct RetentionResult: ResponseMessage {
    public static let messageType = MessageType.retentionResult

    public var rows: [RetentionRow]

    public init(_ rows: [RetentionRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 18)
        self.rows = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> RetentionRow in
            RetentionRow(
                group: try buffer.readGroup(),
                cohort: try buffer.readDate("cohort"),
                cohortSize: try buffer.readCount("cohort_size"),
                periodOffset: try buffer.readCount("period_offset"),
                retained: try buffer.readOptionalCount("retained")
            )
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeGroup(row.group)
            payload.writeDate(row.cohort)
            payload.writeCount(row.cohortSize)
            payload.writeCount(row.periodOffset)
            payload.writeOptionalCount(row.retained)
        }
    }
}
