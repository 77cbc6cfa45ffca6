import EngageModel
import LMDB

extension EngageStore {
    /// Streams the rows of `table` (columns: ``ExportTable/columns``), by date for the dated tables.
    ///
    /// Reads one day (or one slice of users) per read transaction, so an export of any size holds no long
    /// reader and keeps memory bounded. `from`/`to` default to the first and last day with events.
    /// `action_instance_key` numbers the events of one export (1, 2, ...); `session_key` is stable
    /// (``SessionRow/sessionKey``).
    public func export(
        _ table: ExportTable,
        from: CivilDate? = nil,
        to: CivilDate? = nil,
        _ body: ([ExportValue]) throws -> Void
    ) throws {
        switch table {
        case .users:
            try self.exportUsers(body)
        case .actions:
            let catalog = try self.read { txn, reader in try reader.catalog(txn) }
            for key in 1..<UInt16(clamping: catalog.actions.count) {
                guard let action = catalog.record(key) else { continue }
                try body([
                    .integer(Int64(key)), .text(String(decoding: action.actionType, as: UTF8.self)), .text(action.category),
                    .integer(Int64(action.weight)), .boolean(action.isCore),
                ])
            }
        case .dates, .events, .sessions, .dailyActivity:
            let stats = try self.stats()
            guard let first = from ?? stats.firstDay, let last = to ?? stats.lastDay else { return }
            try Self.checkRange(first, last)
            switch table {
            case .dates: try Self.exportDates(first, last, body)
            case .events: try self.exportEvents(first, last, body)
            case .sessions:
                try self.forEachSession(from: first, to: last) { row in
                    try body([
                        .integer(row.sessionKey), .integer(Int64(row.userKey)), .integer(row.date.dateKey),
                        .text("\(row.userKey)-\(row.startMs)"), .text(Timestamp.formatISO8601(row.startMs)),
                        .text(Timestamp.formatISO8601(row.endMs)), .integer(Int64(row.durationSeconds)),
                        .integer(Int64(row.actionsCount)), .integer(Int64(row.screensVisited)), .text(row.sessionType),
                        .text(row.userID), .text(row.date.description), .integer(row.startMs), .integer(row.endMs),
                    ])
                }
            default:
                try self.forEachDailyRecord(from: first, to: last) { row in
                    try body([
                        .integer(Int64(row.userKey)), .integer(row.date.dateKey), .integer(Int64(row.sessionsCount)),
                        .integer(Int64(row.totalSessionDuration)), .integer(Int64(row.totalActions)),
                        .integer(Int64(row.uniqueActionTypes)), .boolean(row.isActiveDay), .text(row.engagementTier.name),
                        .text(row.userID), .text(row.date.description),
                    ])
                }
            }
        }
    }

    private func exportUsers(_ body: ([ExportValue]) throws -> Void) throws {
        var start: UInt32 = 0
        let slice = 10_000
        while true {
            let rows: [[ExportValue]] = try self.read { txn, reader in
                var names: [[UInt8]: String] = [:]
                var rows: [[ExportValue]] = []
                try txn.forEach(reader.schema.users, from: Key.u32(start), whilePrefix: []) { entry in
                    let record = try UserRecord(decoding: entry.value)
                    var row: [ExportValue] = [
                        .integer(Int64(entry.key.readU32(at: 0))), .text(String(decoding: record.userID, as: UTF8.self)),
                        record.registrationDate.map { .text($0.description) } ?? .null,
                    ]
                    for attribute in Attribute.allCases {
                        let key = Key.attributeName(attribute, record.attributeValueIDs[attribute.index])
                        if names[key] == nil {
                            names[key] = try txn.get(reader.schema.attributeNames, key: key).map { UnsafeRawBufferPointer(rebasing: $0[4...]).string }
                                ?? Attribute.unknownValue
                        }
                        row.append(.text(names[key]!))
                    }
                    rows.append(row)
                    return rows.count < slice
                }
                return rows
            }
            for row in rows { try body(row) }
            guard rows.count == slice, case .integer(let last) = rows.last![0] else { return }
            start = UInt32(last) + 1
        }
    }

    private static func exportDates(_ first: CivilDate, _ last: CivilDate, _ body: ([ExportValue]) throws -> Void) throws {
        var date = first
        while date <= last {
            let (year, month, day) = date.components
            try body([
                .integer(date.dateKey), .text(date.description), .integer(Int64(year)), .integer(Int64((month - 1) / 3 + 1)),
                .integer(Int64(month)), .integer(Int64(day)), .integer(Int64(date.isoWeekday)), .integer(Int64(date.isoWeekOfYear)),
                .boolean(date.isoWeekday >= 6), .integer(Int64(date.dayNumber)),
            ])
            date = date.adding(days: 1)
        }
    }

    private func exportEvents(_ first: CivilDate, _ last: CivilDate, _ body: ([ExportValue]) throws -> Void) throws {
        var rowNumber: Int64 = 0
        try self.forEachDay(from: first, to: last) { day, txn, reader, names in
            let catalog = try reader.catalog(txn)
            let date = CivilDate(storeDay: StoreDay(day))
            var contexts: [UInt32: String] = [:]
            var rows: [[ExportValue]] = []
            var currentUser: UInt32?
            var sessions: [SessionRecord] = []
            try txn.forEach(reader.schema.events, prefix: Key.u16(StoreDay(day))) { entry in
                let user = entry.key.readU32(at: 2)
                if user != currentUser {
                    currentUser = user
                    sessions = try Self.sessionsOverlapping(day: day, user: user, txn, reader)
                }
                let head = try StoredEvent.decodeHead(entry.value, day: date)
                let session = sessions.last { $0.startMs <= head.timestampMs && head.timestampMs <= $0.endMs }
                var context: ExportValue = .null
                if head.contextID != 0 {
                    if contexts[head.contextID] == nil {
                        contexts[head.contextID] = try txn.get(reader.schema.contextNames, key: Key.u32(head.contextID))?.string ?? ""
                    }
                    context = .text(contexts[head.contextID]!)
                }
                let metadata = UnsafeRawBufferPointer(rebasing: entry.value[head.metadataOffset...])
                let actionType = catalog.record(head.actionKey).map { String(decoding: $0.actionType, as: UTF8.self) } ?? ""
                let sessionKey = session.map {
                    Int64(user) << 32 | Int64(($0.startMs - Limits.earliestTimestampMs) / 1000) & 0xFFFF_FFFF
                }
                rows.append([
                    .integer(0), .integer(Int64(user)), sessionKey.map(ExportValue.integer) ?? .null, .integer(Int64(head.actionKey)),
                    .integer(date.dateKey), .text(Timestamp.formatISO8601(head.timestampMs)), context,
                    metadata.isEmpty ? .null : .text(metadata.string), .text(try names.userID(user, txn)),
                    .text(UnsafeRawBufferPointer(rebasing: entry.key[6...]).string), .text(actionType), .text(date.description),
                    .integer(head.timestampMs),
                ])
                return true
            }
            return rows
        } emit: { row in
            rowNumber += 1
            var numbered = row
            numbered[0] = .integer(rowNumber)
            try body(numbered)
        }
    }

    /// The user's sessions that can hold events of `day`: those starting that day and the one carried in.
    static func sessionsOverlapping(day: Int, user: UInt32, _ txn: borrowing Transaction, _ reader: StoreReader) throws -> [SessionRecord] {
        var sessions: [SessionRecord] = []
        let date = CivilDate(storeDay: StoreDay(day))
        if let raw = try txn.get(reader.schema.daily, key: Key.dayUser(StoreDay(day), user)),
            let carry = try DailyRecord(decoding: raw, day: date).carryStartMs
        {
            let carryDay = reader.settings.zone.localDay(epochMs: carry).storeDay!
            if let value = try txn.get(reader.schema.sessions, key: Key.session(carryDay, user, startMs: carry)) {
                sessions.append(try SessionRecord(decoding: value, startMs: carry))
            }
        }
        try txn.forEach(reader.schema.sessions, prefix: Key.dayUser(StoreDay(day), user)) { entry in
            var keyReader = ByteReader(UnsafeRawBufferPointer(rebasing: entry.key[6...]))
            sessions.append(try SessionRecord(decoding: entry.value, startMs: try keyReader.i64Ordered()))
            return true
        }
        return sessions
    }
}
