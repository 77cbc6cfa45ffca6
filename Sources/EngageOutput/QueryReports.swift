import EngageModel
import Foundation

/// Each query's result as the rows `engage query NAME` prints and the HTTP API answers with: the column
/// names, their order and their value kinds are decided here once, for both doors.
public enum QueryReports {
    /// The `group` column when the query was broken down (`by`), none otherwise.
    static func groupColumn(_ grouped: Bool) -> [String] { grouped ? ["group"] : [] }
    static func group(_ grouped: Bool, _ name: String?) -> [Value] { grouped ? [.string(name ?? "")] : [] }

    public static func activity(_ rows: [ActivityRow], grouped: Bool) -> Report {
        var report = Report(
            name: "activity",
            columns: self.groupColumn(grouped) + ["date", "dau", "wau", "mau", "dau_mau", "dau_wau"]
        )
        for row in rows {
            report.rows.append(
                self.group(grouped, row.group)
                    + [
                        .string(row.date.description), .count(row.dau), .count(row.wau), .count(row.mau),
                        .ratio(row.dauOverMau), .ratio(row.dauOverWau),
                    ]
            )
        }
        return report
    }

    public static func activeDays(_ rows: [ActiveDaysRow], grouped: Bool) -> Report {
        var report = Report(name: "active_days", columns: self.groupColumn(grouped) + ["active_days", "users"])
        for row in rows {
            report.rows.append(self.group(grouped, row.group) + [.int(row.activeDays), .int(row.users)])
        }
        return report
    }

    public static func tiers(_ rows: [TierRow], grouped: Bool) -> Report {
        var report = Report(
            name: "tiers",
            columns: self.groupColumn(grouped) + ["tier", "users", "avg_daily_sessions", "avg_daily_actions"]
        )
        for row in rows {
            report.rows.append(
                self.group(grouped, row.group) + [
                    .string(row.tier.name), .int(row.users), .ratio(row.averageDailySessions),
                    .ratio(row.averageDailyActions),
                ]
            )
        }
        return report
    }

    public static func transitions(_ rows: [TransitionRow]) -> Report {
        var report = Report(name: "transitions", columns: ["from_tier", "to_tier", "users"])
        for row in rows {
            report.rows.append([.string(row.fromTier.name), .string(row.toTier.name), .int(row.users)])
        }
        return report
    }

    public static func retention(_ rows: [RetentionRow], grouped: Bool) -> Report {
        var report = Report(
            name: "retention",
            columns: self.groupColumn(grouped) + ["cohort", "cohort_size", "period_offset", "retained", "rate"]
        )
        for row in rows {
            report.rows.append(
                self.group(grouped, row.group)
                    + [
                        .string(row.cohort.description), .int(row.cohortSize), .int(row.periodOffset),
                        .count(row.retained), .ratio(row.rate),
                    ]
            )
        }
        return report
    }

    public static func lifecycle(_ rows: [LifecycleRow]) -> Report {
        var report = Report(name: "lifecycle", columns: ["period", "new", "returning", "resurrecting", "dormant"])
        for row in rows {
            report.rows.append([
                .string(row.period.description), .count(row.new), .count(row.returning), .count(row.resurrecting),
                .count(row.dormant),
            ])
        }
        return report
    }

    public static func sessions(_ summary: SessionSummary) -> Report {
        var report = Report(
            name: "sessions",
            columns: [
                "sessions", "users", "avg_duration_seconds", "p50_duration_seconds", "p90_duration_seconds",
                "avg_actions", "bounce_rate",
            ]
        )
        report.rows.append([
            .int(summary.sessions), .int(summary.users), .ratio(summary.averageDurationSeconds),
            .int(summary.p50DurationSeconds), .int(summary.p90DurationSeconds), .ratio(summary.averageActions),
            .ratio(summary.bounceRate),
        ])
        return report
    }

    public static func atRisk(_ rows: [AtRiskRow]) -> Report {
        var report = Report(
            name: "at_risk",
            columns: ["user_id", "tier_7_days_ago", "active_days", "actions", "last_active_day"]
        )
        for row in rows {
            report.rows.append([
                .string(row.userID), .string(row.tierBefore.name), .int(row.activeDays), .int(row.actions),
                .string(row.lastActiveDay.description),
            ])
        }
        return report
    }

    public static func actions(_ rows: [ActionUsageRow]) -> Report {
        var report = Report(
            name: "actions",
            columns: ["action_category", "action_type", "is_core_action", "events", "users"]
        )
        for row in rows {
            report.rows.append([
                .string(row.category), .text(row.actionType), row.isCoreAction.map(Value.bool) ?? .null,
                .int(row.events), .int(row.users),
            ])
        }
        return report
    }

    public static func values(_ rows: [DimensionValueRow]) -> Report {
        var report = Report(name: "values", columns: ["value", "users"])
        for row in rows { report.rows.append([.string(row.value), .int(row.users)]) }
        return report
    }

    public static func stats(_ stats: StoreStats) -> Report {
        var report = Report(
            name: "stats",
            columns: [
                "events", "duplicates", "users", "actions", "days", "bytes_on_disk", "time_zone", "first_day",
                "last_day",
            ]
        )
        report.rows.append([
            .int(stats.events), .int(stats.duplicates), .int(stats.users), .int(stats.actions), .int(stats.days),
            .int(stats.bytesOnDisk), .string(stats.timeZone), .text(stats.firstDay?.description),
            .text(stats.lastDay?.description),
        ])
        return report
    }

    /// One user's three sections: profile (`user`), `daily_activity` and `sessions` (local times of the
    /// reporting time zone `timeZone`).
    public static func user(_ detail: UserDetail, timeZone: String) -> UserReports {
        let local = LocalTimeFormatter(timeZone: timeZone)
        var profile = Report(
            name: "user",
            columns: ["user_id", "registration_date"] + Attribute.allCases.map(\.rawValue) + ["current_tier", "as_of"]
        )
        profile.rows.append(
            [.string(detail.profile.userID), .text(detail.profile.registrationDate?.description)]
                + Attribute.allCases.map { .string(detail.profile.attributes[$0] ?? Attribute.unknownValue) }
                + [.string(detail.currentTier.name), .string(detail.asOf.description)]
        )
        var days = Report(
            name: "daily_activity",
            columns: [
                "date", "sessions_count", "total_session_duration", "total_actions", "unique_action_types",
                "is_active_day", "engagement_tier",
            ]
        )
        for day in detail.days {
            days.rows.append([
                .string(day.date.description), .int(day.sessionsCount), .int(day.totalSessionDuration),
                .int(day.totalActions), .int(day.uniqueActionTypes), .bool(day.isActiveDay),
                .string(day.engagementTier.name),
            ])
        }
        var sessions = Report(
            name: "sessions",
            columns: [
                "start", "end", "start_ms", "end_ms", "session_duration_seconds", "actions_count", "screens_visited",
                "session_type",
            ]
        )
        for session in detail.sessions {
            sessions.rows.append([
                .string(local.format(session.startMs)), .string(local.format(session.endMs)),
                .int(Int(session.startMs)), .int(Int(session.endMs)), .int(session.durationSeconds),
                .int(session.actionsCount), .int(session.screensVisited), .string(session.sessionType.rawValue),
            ])
        }
        return UserReports(profile: profile, days: days, sessions: sessions)
    }
}

/// The three sections of `engage query user`.
public struct UserReports: Sendable {
    public var profile: Report
    public var days: Report
    public var sessions: Report

    /// `{"query": "user", "user": {...}, "daily_activity": [...], "sessions": [...]}`, without a final newline.
    public var json: String {
        "{\"query\": \"user\", \"user\": \(self.profile.object(self.profile.rows[0])),\n \"daily_activity\": ["
            + self.days.rows.map { "\n  " + self.days.object($0) }.joined(separator: ",")
            + "],\n \"sessions\": ["
            + self.sessions.rows.map { "\n  " + self.sessions.object($0) }.joined(separator: ",") + "]}"
    }
}

/// Instants as local times of the server's reporting time zone, with their UTC offset:
/// `2026-03-01T09:15:00.000-05:00`.
public struct LocalTimeFormatter: Sendable {
    let zone: TimeZone

    public init(timeZone identifier: String) {
        self.zone = TimeZone(identifier: identifier) ?? TimeZone(identifier: "UTC")!
    }

    public func format(_ epochMs: Int64) -> String {
        let offsetSeconds = self.zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(epochMs) / 1000))
        let utc = Timestamp.formatISO8601(epochMs + Int64(offsetSeconds) * 1000)
        let sign = offsetSeconds < 0 ? "-" : "+"
        let magnitude = abs(offsetSeconds)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return String(utc.dropLast()) + sign + two(magnitude / 3600) + ":" + two(magnitude % 3600 / 60)
    }
}
