import EngageModel
import NIOCore

/// QUERY_VALUES (0x15): the values of a dimension that users hold, with how many hold each (4.24).
public struct QueryValues: RequestMessage {
    public typealias Response = ValuesResult
    public static let messageType = MessageType.queryValues

    public var dimension: EngageModel.Dimension

    public init(_ dimension: EngageModel.Dimension) { self.dimension = dimension }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        guard let dimension = try payload.readDimension("dimension") else {
            throw ProtocolError(
                .invalidQuery,
                "QUERY_VALUES needs a dimension; known: \(EngageModel.Dimension.allNames.joined(separator: ", "))"
            )
        }
        self.dimension = dimension
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeShortString(self.dimension.name) }
}

/// VALUES_RESULT (0x95): ordered by value.
public struct ValuesResult: ResponseMessage {
    public static let messageType = MessageType.valuesResult

    public var rows: [DimensionValueRow]

    public init(_ rows: [DimensionValueRow]) { self.rows = rows }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "row_count", minimumSize: 10)
        self.rows = try payload.readItems(count) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> DimensionValueRow in
            DimensionValueRow(value: try buffer.readShortString("value"), users: try buffer.readCount64("users"))
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.rows.count)
        for row in self.rows {
            payload.writeShortString(row.value)
            payload.writeCount64(row.users)
        }
    }
}
