import EngageModel
import NIOCore

// Payload layouts of the engagement queries, exports and admin requests: proto-spec/PROTOCOL.md, 4.10-4.19.

extension ByteBuffer {
    mutating func readDate(_ field: StaticString) throws(ProtocolError) -> CivilDate {
        try Self.checked(try self.read(Int32.self, field), field)
    }

    mutating func readOptionalDate(_ field: StaticString) throws(ProtocolError) -> CivilDate? {
        let day = try self.read(Int32.self, field)
        return day == noDay ? nil : try Self.checked(day, field)
    }

    /// Dates on the wire must lie in 1700-01-01 ... 2299-12-31: far outside anything a store holds, and
    /// inside what calendar arithmetic handles without overflow.
    static let acceptedDayNumbers: ClosedRange<Int32> = -98_615...120_529

    static func checked(_ day: Int32, _ field: StaticString) throws(ProtocolError) -> CivilDate {
        guard Self.acceptedDayNumbers.contains(day) else {
            throw ProtocolError(.invalidField, "'\(field)' is day \(day), outside 1700-01-01 ... 2299-12-31")
        }
        return CivilDate(dayNumber: day)
    }

    mutating func writeDate(_ date: CivilDate?) { self.writeInteger(date?.dayNumber ?? noDay) }

    /// A `u32` count, or `FF FF FF FF` for "unknown".
    mutating func readOptionalCount(_ field: StaticString) throws(ProtocolError) -> Int? {
        let value = try self.read(UInt32.self, field)
        return value == unknownCount ? nil : Int(value)
    }

    /// Counts past the largest u32 but one are clamped to it; unknown is `FF FF FF FF`.
    mutating func writeOptionalCount(_ value: Int?) {
        self.writeInteger(value.map { UInt32(clamping: min($0, Int(unknownCount) - 1)) } ?? unknownCount)
    }

    mutating func readPeriod() throws(ProtocolError) -> Period {
        let raw = try self.read(UInt8.self, "period")
        guard let period = Period(wireValue: raw) else {
            throw ProtocolError(.invalidField, "period must be 0 (day), 1 (week) or 2 (month), not \(raw)")
        }
        return period
    }

    mutating func readCount(_ field: StaticString, minimumSize: Int) throws(ProtocolError) -> Int {
        let count = Int(try self.read(UInt32.self, field))
        try self.checkCount(count, minimumSize: minimumSize, field)
        return count
    }

    mutating func readSelection() throws(ProtocolError) -> Selection {
        let filters = try Request.readFilters(&self)
        return Selection(filters: filters, breakdown: try Request.readDimension(&self, "breakdown"))
    }

    mutating func writeSelection(_ selection: Selection) {
        Request.writeFilters(selection.filters, &self)
        self.writeShortString(selection.breakdown?.name ?? "")
    }

    mutating func readExportValue() throws(ProtocolError) -> ExportValue {
        switch try self.read(UInt8.self, "value_tag") {
        case 0: return .null
        case 1: return .integer(try self.read(Int64.self, "integer"))
        case 2: return .text(try self.readShortString("text"))
        case 3: return .boolean(try self.readFlag("boolean"))
        case let tag:
            throw ProtocolError(.invalidField, "value tag \(tag) is not 0 (null), 1 (integer), 2 (text) or 3 (boolean)")
        }
    }

    mutating func writeExportValue(_ value: ExportValue) {
        switch value {
        case .null: self.writeInteger(UInt8(0))
        case .integer(let number):
            self.writeInteger(UInt8(1))
            self.writeInteger(number)
        case .text(let text):
            self.writeInteger(UInt8(2))
            self.writeShortString(text)
        case .boolean(let flag):
            self.writeInteger(UInt8(3))
            self.writeInteger(UInt8(flag ? 1 : 0))
        }
    }
}

extension Request {
    /// Decodes the payloads of message types 0x08 and up.
    static func decodeQuery(_ type: MessageType, _ buffer: inout ByteBuffer) throws(ProtocolError) -> Request? {
        switch type {
        case .queryActiveDays:
            return .queryActiveDays(
                from: try buffer.readDate("from"),
                to: try buffer.readDate("to"),
                try buffer.readSelection()
            )
        case .queryTiers:
            let kind = try buffer.read(UInt8.self, "window")
            let date = try buffer.readDate("date")
            let window: TierWindow
            switch kind {
            case 0: window = .month(CivilMonth(index: date.monthIndex))
            case 1: window = .asOf(date)
            default: throw ProtocolError(.invalidField, "window must be 0 (month) or 1 (as of a day), not \(kind)")
            }
            return .queryTiers(window, try buffer.readSelection())
        case .queryTransitions:
            let date = try buffer.readDate("month")
            return .queryTransitions(CivilMonth(index: date.monthIndex), filters: try Self.readFilters(&buffer))
        case .queryRetention:
            let period = try buffer.readPeriod()
            let from = try buffer.readDate("from")
            let to = try buffer.readDate("to")
            let periods = Int(try buffer.read(UInt16.self, "periods"))
            return .queryRetention(period: period, from: from, to: to, periods: periods, try buffer.readSelection())
        case .queryLifecycle:
            let period = try buffer.readPeriod()
            return .queryLifecycle(
                period: period,
                from: try buffer.readDate("from"),
                to: try buffer.readDate("to"),
                filters: try Self.readFilters(&buffer)
            )
        case .querySessions:
            return .querySessions(
                from: try buffer.readDate("from"),
                to: try buffer.readDate("to"),
                filters: try Self.readFilters(&buffer)
            )
        case .queryUser:
            return .queryUser(userID: try buffer.readShortString("user_id"))
        case .queryAtRisk:
            let asOf = try buffer.readDate("as_of")
            let limit = Int(try buffer.read(UInt32.self, "limit"))
            return .queryAtRisk(asOf: asOf, limit: limit, filters: try Self.readFilters(&buffer))
        case .queryActions:
            return .queryActions(
                from: try buffer.readDate("from"),
                to: try buffer.readDate("to"),
                filters: try Self.readFilters(&buffer)
            )
        case .export:
            let raw = try buffer.read(UInt8.self, "table")
            guard let table = ExportTable(wireValue: raw) else {
                throw ProtocolError(.invalidField, "table \(raw) is not one of 0...\(ExportTable.allCases.count - 1)")
            }
            let from = try buffer.readOptionalDate("from")
            let to = try buffer.readOptionalDate("to")
            let cursor = try buffer.readLengthPrefixedBytes("cursor")
            let limit = Int(try buffer.read(UInt32.self, "limit"))
            return .export(table, from: from, to: to, cursor: cursor, limit: limit)
        case .verify:
            return .verify(maximumReported: Int(try buffer.read(UInt32.self, "max_reported")))
        case .rebuild:
            return .rebuild
        case .backup:
            return .backup(path: try buffer.readShortString("path"))
        case .queryValues:
            guard let dimension = try Self.readDimension(&buffer, "dimension") else {
                throw ProtocolError(
                    .invalidQuery,
                    "QUERY_VALUES needs a dimension; known: \(Dimension.allNames.joined(separator: ", "))"
                )
            }
            return .queryValues(dimension)
        default:
            return nil
        }
    }

    /// Encodes the payloads of message types 0x08 and up; false for the other requests.
    func encodeQuery(into buffer: inout ByteBuffer) -> Bool {
        switch self {
        case .queryActiveDays(let from, let to, let selection):
            buffer.writeDate(from)
            buffer.writeDate(to)
            buffer.writeSelection(selection)
        case .queryTiers(let window, let selection):
            switch window {
            case .month(let month):
                buffer.writeInteger(UInt8(0))
                buffer.writeDate(month.firstDay)
            case .asOf(let day):
                buffer.writeInteger(UInt8(1))
                buffer.writeDate(day)
            }
            buffer.writeSelection(selection)
        case .queryTransitions(let month, let filters):
            buffer.writeDate(month.firstDay)
            Self.writeFilters(filters, &buffer)
        case .queryRetention(let period, let from, let to, let periods, let selection):
            buffer.writeInteger(period.wireValue)
            buffer.writeDate(from)
            buffer.writeDate(to)
            buffer.writeInteger(UInt16(clamping: periods))
            buffer.writeSelection(selection)
        case .queryLifecycle(let period, let from, let to, let filters):
            buffer.writeInteger(period.wireValue)
            buffer.writeDate(from)
            buffer.writeDate(to)
            Self.writeFilters(filters, &buffer)
        case .querySessions(let from, let to, let filters), .queryActions(let from, let to, let filters):
            buffer.writeDate(from)
            buffer.writeDate(to)
            Self.writeFilters(filters, &buffer)
        case .queryUser(let userID):
            buffer.writeShortString(userID)
        case .queryAtRisk(let asOf, let limit, let filters):
            buffer.writeDate(asOf)
            buffer.writeInteger(UInt32(clamping: limit))
            Self.writeFilters(filters, &buffer)
        case .export(let table, let from, let to, let cursor, let limit):
            buffer.writeInteger(table.wireValue)
            buffer.writeDate(from)
            buffer.writeDate(to)
            buffer.writeLengthPrefixed(cursor)
            buffer.writeInteger(UInt32(clamping: limit))
        case .verify(let maximumReported):
            buffer.writeInteger(UInt32(clamping: maximumReported))
        case .rebuild:
            break
        case .backup(let path):
            buffer.writeShortString(path)
        case .queryValues(let dimension):
            buffer.writeShortString(dimension.name)
        default:
            return false
        }
        return true
    }
}

extension Response {
    static func decodeQuery(_ type: MessageType, _ buffer: inout ByteBuffer) throws(ProtocolError) -> Response? {
        switch type {
        case .activeDaysResult:
            let count = try buffer.readCount("row_count", minimumSize: 10)
            var rows: [ActiveDaysRow] = []
            for _ in 0..<count {
                let group = try buffer.readShortString("group")
                rows.append(
                    ActiveDaysRow(
                        group: group.isEmpty ? nil : group,
                        activeDays: Int(try buffer.read(UInt32.self, "active_days")),
                        users: Int(try buffer.read(UInt32.self, "users"))
                    )
                )
            }
            return .activeDaysResult(rows)
        case .tiersResult:
            let count = try buffer.readCount("row_count", minimumSize: 32)
            var rows: [TierRow] = []
            for _ in 0..<count {
                let group = try buffer.readShortString("group")
                rows.append(
                    TierRow(
                        group: group.isEmpty ? nil : group,
                        tier: try buffer.readShortString("tier"),
                        users: Int(try buffer.read(UInt32.self, "users")),
                        records: try buffer.readCount64("records"),
                        sessions: try buffer.readCount64("sessions"),
                        actions: try buffer.readCount64("actions")
                    )
                )
            }
            return .tiersResult(rows)
        case .transitionsResult:
            let count = try buffer.readCount("row_count", minimumSize: 8)
            var rows: [TransitionRow] = []
            for _ in 0..<count {
                rows.append(
                    TransitionRow(
                        fromTier: try buffer.readShortString("from_tier"),
                        toTier: try buffer.readShortString("to_tier"),
                        users: Int(try buffer.read(UInt32.self, "users"))
                    )
                )
            }
            return .transitionsResult(rows)
        case .retentionResult:
            let count = try buffer.readCount("row_count", minimumSize: 18)
            var rows: [RetentionRow] = []
            for _ in 0..<count {
                let group = try buffer.readShortString("group")
                rows.append(
                    RetentionRow(
                        group: group.isEmpty ? nil : group,
                        cohort: try buffer.readDate("cohort"),
                        cohortSize: Int(try buffer.read(UInt32.self, "cohort_size")),
                        periodOffset: Int(try buffer.read(UInt32.self, "period_offset")),
                        retained: try buffer.readOptionalCount("retained")
                    )
                )
            }
            return .retentionResult(rows)
        case .lifecycleResult:
            let count = try buffer.readCount("row_count", minimumSize: 20)
            var rows: [LifecycleRow] = []
            for _ in 0..<count {
                rows.append(
                    LifecycleRow(
                        period: try buffer.readDate("period"),
                        new: try buffer.readOptionalCount("new"),
                        returning: try buffer.readOptionalCount("returning"),
                        resurrecting: try buffer.readOptionalCount("resurrecting"),
                        dormant: try buffer.readOptionalCount("dormant")
                    )
                )
            }
            return .lifecycleResult(rows)
        case .sessionsResult:
            return .sessionsResult(
                SessionSummary(
                    sessions: try buffer.readCount64("sessions"),
                    users: try buffer.readCount64("users"),
                    totalDurationSeconds: try buffer.readCount64("total_duration_seconds"),
                    totalActions: try buffer.readCount64("total_actions"),
                    bounces: try buffer.readCount64("bounces"),
                    p50DurationSeconds: Int(try buffer.read(UInt32.self, "p50_duration_seconds")),
                    p90DurationSeconds: Int(try buffer.read(UInt32.self, "p90_duration_seconds"))
                )
            )
        case .userResult:
            guard try buffer.readFlag("found") else { return .userResult(nil) }
            let userID = try buffer.readShortString("user_id")
            let registration = try buffer.readOptionalDate("registration_date")
            var attributes: [Attribute: String] = [:]
            for attribute in Attribute.allCases { attributes[attribute] = try buffer.readShortString("attribute") }
            let tier = try buffer.readShortString("current_tier")
            let asOf = try buffer.readDate("as_of")
            let dayCount = try buffer.readCount("day_count", minimumSize: 23)
            var days: [UserDetail.Day] = []
            for _ in 0..<dayCount {
                days.append(
                    UserDetail.Day(
                        date: try buffer.readDate("date"),
                        sessionsCount: Int(try buffer.read(UInt32.self, "sessions_count")),
                        totalSessionDuration: Int(try buffer.read(UInt32.self, "total_session_duration")),
                        totalActions: Int(try buffer.read(UInt32.self, "total_actions")),
                        uniqueActionTypes: Int(try buffer.read(UInt32.self, "unique_action_types")),
                        isActiveDay: try buffer.readFlag("is_active_day"),
                        engagementTier: try buffer.readShortString("engagement_tier")
                    )
                )
            }
            let sessionCount = try buffer.readCount("session_count", minimumSize: 26)
            var sessions: [UserDetail.Session] = []
            for _ in 0..<sessionCount {
                sessions.append(
                    UserDetail.Session(
                        startMs: try buffer.read(Int64.self, "start"),
                        endMs: try buffer.read(Int64.self, "end"),
                        actionsCount: Int(try buffer.read(UInt32.self, "actions_count")),
                        screensVisited: Int(try buffer.read(UInt32.self, "screens_visited")),
                        sessionType: try buffer.readShortString("session_type")
                    )
                )
            }
            return .userResult(
                UserDetail(
                    profile: UserProfile(userID: userID, registrationDate: registration, attributes: attributes),
                    currentTier: tier,
                    asOf: asOf,
                    days: days,
                    sessions: sessions
                )
            )
        case .atRiskResult:
            let count = try buffer.readCount("row_count", minimumSize: 20)
            var rows: [AtRiskRow] = []
            for _ in 0..<count {
                rows.append(
                    AtRiskRow(
                        userID: try buffer.readShortString("user_id"),
                        tierBefore: try buffer.readShortString("tier"),
                        activeDays: Int(try buffer.read(UInt32.self, "active_days")),
                        actions: try buffer.readCount64("actions"),
                        lastActiveDay: try buffer.readDate("last_active_day")
                    )
                )
            }
            return .atRiskResult(rows)
        case .actionsResult:
            let count = try buffer.readCount("row_count", minimumSize: 22)
            var rows: [ActionUsageRow] = []
            for _ in 0..<count {
                let kind = try buffer.read(UInt8.self, "kind")
                guard kind <= 1 else {
                    throw ProtocolError(.invalidField, "kind must be 0 (category) or 1 (action type)")
                }
                let category = try buffer.readShortString("action_category")
                let type = try buffer.readShortString("action_type")
                let isCore = try buffer.readFlag("is_core_action")
                rows.append(
                    ActionUsageRow(
                        category: category,
                        actionType: kind == 1 ? type : nil,
                        isCoreAction: kind == 1 ? isCore : nil,
                        events: try buffer.readCount64("events"),
                        users: try buffer.readCount64("users")
                    )
                )
            }
            return .actionsResult(rows)
        case .exportPage:
            let count = try buffer.readCount("row_count", minimumSize: 1)
            let columns = Int(try buffer.read(UInt16.self, "column_count"))
            try buffer.checkCount(count * columns, minimumSize: 1, "values")
            var rows: [[ExportValue]] = []
            rows.reserveCapacity(count)
            for _ in 0..<count {
                var row: [ExportValue] = []
                row.reserveCapacity(columns)
                for _ in 0..<columns { row.append(try buffer.readExportValue()) }
                rows.append(row)
            }
            return .exportPage(rows: rows, next: try buffer.readLengthPrefixedBytes("next_cursor"))
        case .verifyResult:
            let total = try buffer.readCount64("total_issues")
            let tables = Int(try buffer.read(UInt16.self, "table_count"))
            var checked: [String: Int] = [:]
            for _ in 0..<tables { checked[try buffer.readShortString("table")] = try buffer.readCount64("records") }
            let count = try buffer.readCount("issue_count", minimumSize: 6)
            var issues: [VerificationIssue] = []
            for _ in 0..<count {
                issues.append(
                    VerificationIssue(
                        table: try buffer.readShortString("table"),
                        key: try buffer.readShortString("key"),
                        detail: try buffer.readShortString("detail")
                    )
                )
            }
            return .verifyResult(VerificationReport(checked: checked, issues: issues, totalIssues: total))
        case .rebuildResult:
            return .rebuildResult
        case .backupResult:
            return .backupResult(bytes: try buffer.readCount64("bytes"))
        case .valuesResult:
            let count = try buffer.readCount("row_count", minimumSize: 10)
            var rows: [DimensionValueRow] = []
            for _ in 0..<count {
                rows.append(
                    DimensionValueRow(
                        value: try buffer.readShortString("value"),
                        users: try buffer.readCount64("users")
                    )
                )
            }
            return .valuesResult(rows)
        default:
            return nil
        }
    }

    func encodeQuery(into buffer: inout ByteBuffer) -> Bool {
        switch self {
        case .activeDaysResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.group ?? "")
                buffer.writeInteger(UInt32(clamping: row.activeDays))
                buffer.writeInteger(UInt32(clamping: row.users))
            }
        case .tiersResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.group ?? "")
                buffer.writeShortString(row.tier)
                buffer.writeInteger(UInt32(clamping: row.users))
                buffer.writeInteger(UInt64(row.records))
                buffer.writeInteger(UInt64(row.sessions))
                buffer.writeInteger(UInt64(row.actions))
            }
        case .transitionsResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.fromTier)
                buffer.writeShortString(row.toTier)
                buffer.writeInteger(UInt32(clamping: row.users))
            }
        case .retentionResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.group ?? "")
                buffer.writeDate(row.cohort)
                buffer.writeInteger(UInt32(clamping: row.cohortSize))
                buffer.writeInteger(UInt32(clamping: row.periodOffset))
                buffer.writeOptionalCount(row.retained)
            }
        case .lifecycleResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeDate(row.period)
                for value in [row.new, row.returning, row.resurrecting, row.dormant] {
                    buffer.writeOptionalCount(value)
                }
            }
        case .sessionsResult(let summary):
            for value in [
                summary.sessions, summary.users, summary.totalDurationSeconds, summary.totalActions, summary.bounces,
            ] {
                buffer.writeInteger(UInt64(value))
            }
            buffer.writeInteger(UInt32(clamping: summary.p50DurationSeconds))
            buffer.writeInteger(UInt32(clamping: summary.p90DurationSeconds))
        case .userResult(let detail):
            guard let detail else {
                buffer.writeInteger(UInt8(0))
                return true
            }
            buffer.writeInteger(UInt8(1))
            buffer.writeShortString(detail.profile.userID)
            buffer.writeDate(detail.profile.registrationDate)
            for attribute in Attribute.allCases {
                buffer.writeShortString(detail.profile.attributes[attribute] ?? Attribute.unknownValue)
            }
            buffer.writeShortString(detail.currentTier)
            buffer.writeDate(detail.asOf)
            buffer.writeInteger(UInt32(detail.days.count))
            for day in detail.days {
                buffer.writeDate(day.date)
                for value in [day.sessionsCount, day.totalSessionDuration, day.totalActions, day.uniqueActionTypes] {
                    buffer.writeInteger(UInt32(clamping: value))
                }
                buffer.writeInteger(UInt8(day.isActiveDay ? 1 : 0))
                buffer.writeShortString(day.engagementTier)
            }
            buffer.writeInteger(UInt32(detail.sessions.count))
            for session in detail.sessions {
                buffer.writeInteger(session.startMs)
                buffer.writeInteger(session.endMs)
                buffer.writeInteger(UInt32(clamping: session.actionsCount))
                buffer.writeInteger(UInt32(clamping: session.screensVisited))
                buffer.writeShortString(session.sessionType)
            }
        case .atRiskResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.userID)
                buffer.writeShortString(row.tierBefore)
                buffer.writeInteger(UInt32(clamping: row.activeDays))
                buffer.writeInteger(UInt64(row.actions))
                buffer.writeDate(row.lastActiveDay)
            }
        case .actionsResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeInteger(UInt8(row.actionType == nil ? 0 : 1))
                buffer.writeShortString(row.category)
                buffer.writeShortString(row.actionType ?? "")
                buffer.writeInteger(UInt8(row.isCoreAction == true ? 1 : 0))
                buffer.writeInteger(UInt64(row.events))
                buffer.writeInteger(UInt64(row.users))
            }
        case .exportPage(let rows, let next):
            buffer.writeInteger(UInt32(rows.count))
            buffer.writeInteger(UInt16(clamping: rows.first?.count ?? 0))
            for row in rows { for value in row { buffer.writeExportValue(value) } }
            buffer.writeLengthPrefixed(next)
        case .verifyResult(let report):
            buffer.writeInteger(UInt64(report.totalIssues))
            buffer.writeInteger(UInt16(clamping: report.checked.count))
            for table in report.checked.keys.sorted() {
                buffer.writeShortString(table)
                buffer.writeInteger(UInt64(report.checked[table]!))
            }
            buffer.writeInteger(UInt32(report.issues.count))
            for issue in report.issues {
                buffer.writeShortString(issue.table)
                buffer.writeShortString(issue.key)
                buffer.writeShortString(issue.detail)
            }
        case .rebuildResult:
            break
        case .backupResult(let bytes):
            buffer.writeInteger(UInt64(bytes))
        case .valuesResult(let rows):
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.value)
                buffer.writeInteger(UInt64(row.users))
            }
        default:
            return false
        }
        return true
    }
}
