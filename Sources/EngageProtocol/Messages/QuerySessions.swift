import EngageModel
import NIOCore

/// QUERY_SESSIONS (0x0D): sessions whose start is on a day in the range (4.16).
public struct QuerySessions: DateRangeRequest {
    public typealias Response = SessionsResult
    public static let messageType = MessageType.querySessions

    public var from: CivilDate
    public var to: CivilDate
    public var filters: [DimensionFilter]

    public init(from: CivilDate, to: CivilDate, filters: [DimensionFilter] = []) {
        self.from = from
        self.to = to
        self.filters = filters
    }
}

/// SESSIONS_RESULT (0x8D): exact sums; averages and rates are the client's divisions.
public struct SessionsResult: ResponseMessage {
    public static let messageType = MessageType.sessionsResult

    public var summary: SessionSummary

    public init(_ summary: SessionSummary) { self.summary = summary }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.summary = SessionSummary(
            sessions: try payload.readCount64("sessions"),
            users: try payload.readCount64("users"),
            totalDurationSeconds: try payload.readCount64("total_duration_seconds"),
            totalActions: try payload.readCount64("total_actions"),
            bounces: try payload.readCount64("bounces"),
            p50DurationSeconds: try payload.readCount("p50_duration_seconds"),
            p90DurationSeconds: try payload.readCount("p90_duration_seconds")
        )
    }

    public func encode(into payload: inout ByteBuffer) {
        let summary = self.summary
        for value in [
            summary.sessions, summary.users, summary.totalDurationSeconds, summary.totalActions, summary.bounces,
        ] {
            payload.writeCount64(value)
        }
        payload.writeCount(summary.p50DurationSeconds)
        payload.writeCount(summary.p90DurationSeconds)
    }
}

/// A request whose payload is `from date`, `to date`, `filters` (QUERY_SESSIONS, QUERY_ACTIONS): one codec for
/// both.
public protocol DateRangeRequest: RequestMessage {
    var from: CivilDate { get }
    var to: CivilDate { get }
    var filters: [DimensionFilter] { get }
    init(from: CivilDate, to: CivilDate, filters: [DimensionFilter])
}

extension DateRangeRequest {
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let from = try payload.readDate("from")
        let to = try payload.readDate("to")
        self.init(from: from, to: to, filters: try payload.readFilters())
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeDate(self.from)
        payload.writeDate(self.to)
        payload.writeFilters(self.filters)
    }
}
