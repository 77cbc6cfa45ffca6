import EngageModel
import EngageStore
import Foundation
import Testing

/// `query user`, `query at-risk` and `query actions` on hand-made data with known answers.
@Suite("User, at-risk and action-usage queries")
struct UserQueriesTests {
    static let day0 = CivilDate("2026-03-01")!

    /// One event of `user` at noon UTC on `day0 + day` (plus `minute` minutes).
    static func event(
        _ user: String,
        _ day: Int,
        _ action: String,
        minute: Int = 0,
        context: String = "home",
        id: String? = nil
    ) -> Event {
        let ms = Self.day0.adding(days: day).utcMidnightMsForTests + 12 * 3_600_000 + Int64(minute) * 60_000
        return Event(
            userID: user,
            eventID: id ?? "\(user)-\(day)-\(minute)-\(action)",
            timestampMs: ms,
            action: action,
            context: context
        )
    }

    static func catalog() -> [ActionDefinition] {
        [
            ActionDefinition(
                actionType: "view_feed",
                category: "content_consumption",
                engagementWeight: 1,
                isCoreAction: true
            ),
            ActionDefinition(
                actionType: "post_create",
                category: "content_creation",
                engagementWeight: 5,
                isCoreAction: true
            ),
            ActionDefinition(
                actionType: "like",
                category: "social_interaction",
                engagementWeight: 2,
                isCoreAction: true
            ),
            ActionDefinition(actionType: "login", category: "session", engagementWeight: 0, isCoreAction: false),
        ]
    }

    @Test("query user: profile, daily records, sessions and the rolling tier as of a day")
    func user() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions(Self.catalog())
        _ = try await store.upsertUsers([
            UserProfile(userID: "ana", registrationDate: Self.day0, attributes: [.region: "eu", .deviceType: "ios"])
        ])
        // Day 0: two sessions (gap 40 min); day 1: one login only (not active); days 2-7: one view each.
        var events = [
            Self.event("ana", 0, "login"), Self.event("ana", 0, "view_feed", minute: 5),
            Self.event("ana", 0, "like", minute: 45, context: "feed"),
        ]
        events.append(Self.event("ana", 1, "login"))
        for day in 2...7 { events.append(Self.event("ana", day, "view_feed")) }
        _ = try await temporary.ingest(events)
        let detail = try #require(try store.user("ana", today: Self.day0.adding(days: 10)))
        #expect(detail.profile.registrationDate == Self.day0)
        #expect(detail.profile.attributes[.region] == "eu")
        #expect(detail.profile.attributes[.userSegment] == "unknown")
        #expect(detail.days.count == 8)
        #expect(detail.days[0].sessionsCount == 2)
        #expect(detail.days[0].totalActions == 3)
        #expect(detail.days[0].uniqueActionTypes == 3)
        #expect(detail.days[1].isActiveDay == false)
        #expect(detail.sessions.count == 9)
        #expect(detail.sessions[0].actionsCount == 2)
        #expect(detail.sessions[0].durationSeconds == 300)
        #expect(detail.sessions[1].sessionType == .bounce)
        // Active days 0, 2..7 = 7 days in the window ending on day 10: regular; the day-7 record says so too.
        #expect(detail.currentTier == .regular)
        #expect(detail.days.last?.engagementTier == .regular)
        #expect(try store.user("nobody") == nil)
    }

    @Test("at-risk: regular or better a week ago, inactive for the last 7 days, most active first")
    func atRisk() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions(Self.catalog())
        var events: [Event] = []
        // as-of is day 40; the earlier window is [day 4, day 33]; the recent one [day 34, day 40].
        for day in 10..<22 { events.append(Self.event("heavy", day, "view_feed")) }  // 12 active days
        for day in 10..<17 {
            events += [Self.event("steady", day, "view_feed"), Self.event("steady", day, "like", minute: 1)]
        }  // 7 days
        for day in 10..<17 { events.append(Self.event("light", day, "view_feed")) }  // 7 days, fewer actions
        for day in 10..<22 { events.append(Self.event("back", day, "view_feed")) }
        events.append(Self.event("back", 38, "like"))  // active again in the last 7 days
        for day in 10..<13 { events.append(Self.event("casual", day, "view_feed")) }  // only casual
        for day in 10..<20 { events.append(Self.event("passive", day, "login")) }  // never active
        _ = try await temporary.ingest(events)
        let rows = try store.atRisk(asOf: Self.day0.adding(days: 40), limit: 10)
        #expect(rows.map(\.userID) == ["heavy", "steady", "light"])
        #expect(rows[0].activeDays == 12)
        #expect(rows[0].tierBefore == .regular)
        #expect(rows[1].actions == 14)
        #expect(rows[0].lastActiveDay == Self.day0.adding(days: 21))
        #expect(try store.atRisk(asOf: Self.day0.adding(days: 40), limit: 2).count == 2)
    }

    @Test("actions: events and distinct users per category and per action type")
    func actions() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions(Self.catalog())
        _ = try await temporary.ingest([
            Self.event("a", 0, "view_feed"), Self.event("a", 0, "view_feed", minute: 1),
            Self.event("a", 1, "post_create"),
            Self.event("b", 0, "view_feed"), Self.event("b", 0, "like", minute: 2), Self.event("b", 5, "share"),
            Self.event("c", 9, "post_create"),  // outside the range
        ])
        let rows = try store.actionUsage(from: Self.day0, to: Self.day0.adding(days: 5))
        let text = rows.map { "\($0.category)/\($0.actionType ?? "*") \($0.events) \($0.users)" }
        #expect(
            text == [
                "content_consumption/* 3 2", "content_creation/* 1 1", "social_interaction/* 1 1",
                "uncategorized/* 1 1",
                "content_consumption/view_feed 3 2", "content_creation/post_create 1 1", "social_interaction/like 1 1",
                "uncategorized/share 1 1",
            ]
        )
        #expect(rows.first { $0.actionType == "share" }?.isCoreAction == true)
    }
}

extension CivilDate {
    var utcMidnightMsForTests: Int64 { Int64(self.dayNumber) * 86_400_000 }
}
