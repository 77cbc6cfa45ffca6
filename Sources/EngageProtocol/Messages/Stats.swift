import EngageModel
import NIOCore

/// STATS (0x07): what the store holds (empty payload).
public struct Stats: RequestMessage {
    public typealias Response = StatsResult
    public static let messageType = MessageType.stats

    public init() {}
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {}
    public func encode(into payload: inout ByteBuffer) {}
}

/// STATS_RESULT (0x87) (4.8).
public struct StatsResult: ResponseMessage {
    public static let messageType = MessageType.statsResult

    public var stats: StoreStats

    public init(_ stats: StoreStats) { self.stats = stats }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.stats = StoreStats(
            events: try payload.readCount64("events"),
            duplicates: try payload.readCount64("duplicates"),
            users: try payload.readCount64("users"),
            actions: try payload.readCount("actions"),
            days: try payload.readCount("days"),
            bytesOnDisk: try payload.readCount64("bytes_on_disk"),
            timeZone: try payload.readShortString("time_zone"),
            firstDay: try payload.readOptionalDate("first_day"),
            lastDay: try payload.readOptionalDate("last_day")
        )
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount64(self.stats.events)
        payload.writeCount64(self.stats.duplicates)
        payload.writeCount64(self.stats.users)
        payload.writeCount(self.stats.actions)
        payload.writeCount(self.stats.days)
        payload.writeCount64(self.stats.bytesOnDisk)
        payload.writeShortString(self.stats.timeZone)
        payload.writeDate(self.stats.firstDay)
        payload.writeDate(self.stats.lastDay)
    }
}
