import EngageModel
import NIOCore

/// QUERY_USER (0x0E): one user's profile, daily records, sessions and current tier (4.17).
public struct QueryUser: RequestMessage {
    public typealias Response = UserResult
    public static let messageType = MessageType.queryUser

    public var userID: String

    public init(userID: String) { self.userID = userID }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.userID = try payload.readShortString("user_id")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeShortString(self.userID) }
}

/// USER_RESULT (0x8E): nil for an unknown user.
public struct UserResult: ResponseMessage {
    public static let messageType = MessageType.userResult

    public var detail: UserDetail?

    public init(_ detail: UserDetail?) { self.detail = detail }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        guard try payload.readFlag("found") else {
            self.detail = nil
            return
        }
        let userID = try payload.readShortString("user_id")
        let registration = try payload.readOptionalDate("registration_date")
        var attributes: [Attribute: String] = [:]
        for attribute in Attribute.allCases { attributes[attribute] = try payload.readShortString("attribute") }
        let tier = try payload.readTier("current_tier")
        let asOf = try payload.readDate("as_of")
        let dayCount = try payload.readItemCount(UInt32.self, "day_count", minimumSize: 23)
        let days = try payload.readItems(dayCount) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> UserDetail.Day in
            UserDetail.Day(
                date: try buffer.readDate("date"),
                sessionsCount: try buffer.readCount("sessions_count"),
                totalSessionDuration: try buffer.readCount("total_session_duration"),
                totalActions: try buffer.readCount("total_actions"),
                uniqueActionTypes: try buffer.readCount("unique_action_types"),
                isActiveDay: try buffer.readFlag("is_active_day"),
                engagementTier: try buffer.readTier("engagement_tier")
            )
        }
        let sessionCount = try payload.readItemCount(UInt32.self, "session_count", minimumSize: 26)
        let sessions = try payload.readItems(sessionCount) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> UserDetail.Session in
            UserDetail.Session(
                startMs: try buffer.read(Int64.self, "start"),
                endMs: try buffer.read(Int64.self, "end"),
                actionsCount: try buffer.readCount("actions_count"),
                screensVisited: try buffer.readCount("screens_visited"),
                sessionType: try buffer.readSessionType("session_type")
            )
        }
        self.detail = UserDetail(
            profile: UserProfile(userID: userID, registrationDate: registration, attributes: attributes),
            currentTier: tier,
            asOf: asOf,
            days: days,
            sessions: sessions
        )
    }

    public func encode(into payload: inout ByteBuffer) {
        guard let detail = self.detail else {
            payload.writeFlag(false)
            return
        }
        payload.writeFlag(true)
        payload.writeShortString(detail.profile.userID)
        payload.writeDate(detail.profile.registrationDate)
        for attribute in Attribute.allCases {
            payload.writeShortString(detail.profile.attributes[attribute] ?? Attribute.unknownValue)
        }
        payload.writeShortString(detail.currentTier.name)
        payload.writeDate(detail.asOf)
        payload.writeCount(detail.days.count)
        for day in detail.days {
            payload.writeDate(day.date)
            for value in [day.sessionsCount, day.totalSessionDuration, day.totalActions, day.uniqueActionTypes] {
                payload.writeCount(value)
            }
            payload.writeFlag(day.isActiveDay)
            payload.writeShortString(day.engagementTier.name)
        }
        payload.writeCount(detail.sessions.count)
        for session in detail.sessions {
            payload.writeInteger(session.startMs)
            payload.writeInteger(session.endMs)
            payload.writeCount(session.actionsCount)
            payload.writeCount(session.screensVisited)
            payload.writeShortString(session.sessionType.rawValue)
        }
    }
}
