import EngageModel
import EngageStore
import Foundation

/// A brute-force implementation of SEMANTICS.md over an in-memory event list: no incremental state,
/// everything recomputed from sorted events. The store must agree with it whatever the arrival order.
struct ReferenceModel {
    struct Session: Hashable {
        var userID: String
        var startMs: Int64
        var endMs: Int64
        var actions: Int
        var screens: Int
        var type: String
    }

    let zone: ReportingTimeZone
    let gapMs: Int64
    let powerThreshold: Int
    let isCore: (String) -> Bool
    /// Unique events per user, sorted by (ts, event_id).
    let eventsByUser: [String: [Event]]

    init(
        events: [Event],
        zone: ReportingTimeZone,
        gapMs: Int64 = 1_800_000,
        powerThreshold: Int = 20,
        isCore: @escaping (String) -> Bool
    ) {
        var seen = Set<[String]>()
        var byUser: [String: [Event]] = [:]
        for event in events where seen.insert([event.userID, event.eventID]).inserted {
            byUser[event.userID, default: []].append(event)
        }
        for key in byUser.keys {
            byUser[key]!.sort { ($0.timestampMs, $0.eventID) < ($1.timestampMs, $1.eventID) }
        }
        self.eventsByUser = byUser
        self.zone = zone
        self.gapMs = gapMs
        self.powerThreshold = powerThreshold
        self.isCore = isCore
    }

    func day(_ ms: Int64) -> CivilDate { self.zone.localDay(epochMs: ms) }

    var sessions: [Session] {
        var result: [Session] = []
        for (user, events) in self.eventsByUser {
            var current: [Event] = []
            func close() {
                guard let first = current.first, let last = current.last else { return }
                let screens = Set(current.map(\.context).filter { !$0.isEmpty }).count
                let type =
                    current.count == 1
                    ? "bounce" : (current.contains { self.isCore($0.action) } ? "engaged" : "passive")
                result.append(
                    Session(
                        userID: user,
                        startMs: first.timestampMs,
                        endMs: last.timestampMs,
                        actions: current.count,
                        screens: screens,
                        type: type
                    )
                )
                current = []
            }
            for event in events {
                if let last = current.last, event.timestampMs - last.timestampMs > self.gapMs { close() }
                current.append(event)
            }
            close()
        }
        return result
    }

    struct Daily: Hashable {
        var userID: String
        var date: CivilDate
        var sessionsCount: Int
        var sessionSeconds: Int
        var totalActions: Int
        var uniqueActionTypes: Int
        var isActive: Bool
        var tier: String
    }

    var dailyRecords: [Daily] {
        let sessions = self.sessions
        var result: [Daily] = []
        for (user, events) in self.eventsByUser {
            var byDay: [CivilDate: [Event]] = [:]
            for event in events { byDay[self.day(event.timestampMs), default: []].append(event) }
            let activeDays = Set(byDay.filter { $0.value.contains { self.isCore($0.action) } }.keys)
            for (date, dayEvents) in byDay {
                let starting = sessions.filter { $0.userID == user && self.day($0.startMs) == date }
                let window = (0..<30).map { date.adding(days: -$0) }.filter { activeDays.contains($0) }
                let actions = window.reduce(0) { $0 + byDay[$1]!.count }
                result.append(
                    Daily(
                        userID: user,
                        date: date,
                        sessionsCount: starting.count,
                        sessionSeconds: starting.reduce(0) { $0 + Int(($1.endMs - $1.startMs) / 1000) },
                        totalActions: dayEvents.count,
                        uniqueActionTypes: Set(dayEvents.map(\.action)).count,
                        isActive: activeDays.contains(date),
                        tier: Tier.of(activeDays: window.count, actions: actions, powerThreshold: self.powerThreshold)
                            .name
                    )
                )
            }
        }
        return result
    }

    /// Active days per user.
    var activeDays: [String: Set<CivilDate>] {
        self.eventsByUser.mapValues { events in
            Set(events.filter { self.isCore($0.action) }.map { self.day($0.timestampMs) })
        }
    }

    /// The latest local day of any event: days after it are unfinished (SEMANTICS.md), their counts unknown.
    var lastDay: CivilDate? {
        self.eventsByUser.values.flatMap { $0.map { self.day($0.timestampMs) } }.max()
    }

    func activity(from: CivilDate, to: CivilDate, users: Set<String>? = nil) -> [ActivityRow] {
        let active = self.activeDays.filter { users?.contains($0.key) ?? true }
        let lastDay = self.lastDay
        var rows: [ActivityRow] = []
        var date = from
        while date <= to {
            func count(_ window: Int) -> Int? {
                guard let lastDay, date <= lastDay else { return nil }
                return active.values.filter { days in (0..<window).contains { days.contains(date.adding(days: -$0)) } }
                    .count
            }
            rows.append(ActivityRow(date: date, dau: count(1), wau: count(7), mau: count(30)))
            date = date.adding(days: 1)
        }
        return rows
    }
}
