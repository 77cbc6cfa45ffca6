import EngageModel
import LMDB

/// A page of exported rows and where the next page starts (nil: this was the last page).
public struct ExportPage: Sendable {
    public var rows: [[ExportValue]]
    /// Opaque: pass it back to get the following page.
    public var next: [UInt8]?
}

extension EngageStore {
    /// Most rows in one export page.
    public static let maximumExportPage = 10_000
    /// A page also ends once its values reach about this many bytes (rows with large metadata), so that it
    /// fits comfortably in one protocol frame.
    public static let maximumExportPageBytes = 4 << 20

    /// `session_key`: the user key in the high 32 bits, the start second since 2000-01-01 in the low 32.
    /// Unique because a user's sessions start more than one gap apart; stable across exports.
    static func sessionKey(user: UInt32, startMs: Int64) -> Int64 {
        Int64(user) << 32 | Int64((startMs - Limits.earliestTimestampMs) / 1000) & 0xFFFF_FFFF
    }

    /// Approximate encoded size of a row.
    static func encodedSize(_ row: [ExportValue]) -> Int {
        row.reduce(0) { total, value in
            if case .text(let text) = value { return total + 3 + text.utf8.count }
            return total + 9
        }
    }

    /// Streams every row of `table` (see ``exportPage(_:from:to:after:limit:)``).
    public func export(
        _ table: ExportTable,
        from: CivilDate? = nil,
        to: CivilDate? = nil,
        _ body: ([ExportValue]) throws -> Void
    ) throws {
        var cursor: [UInt8]?
        repeat {
            let page = try self.exportPage(table, from: from, to: to, after: cursor, limit: Self.maximumExportPage)
            for row in page.rows { try body(row) }
            cursor = page.next
        } while cursor != nil
    }

    /// One page of the rows of `table` (columns: ``ExportTable/columns``), ordered by date, user, then the
    /// record's own key; dimensions of users and actions by key. Each page is read in its own short
    /// transaction, so an export of any size holds no long reader and uses bounded memory on both sides.
    ///
    /// Dated tables cover [from, to], by default the first and last day with events.
    /// `action_instance_key` numbers the events of one export (1, 2, ...); `session_key` is stable
    /// (``sessionKey(user:startMs:)``).
    public func exportPage(
        _ table: ExportTable,
        from: CivilDate? = nil,
        to: CivilDate? = nil,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        let limit = max(1, min(limit, Self.maximumExportPage))
        let resumed = try cursor.map {
            try ExportCursor(decoding: $0, store: self.settings.storeID, table: table, from: from, to: to)
        }
        let position = resumed?.position
        let page: ExportPage
        var range: ClosedRange<CivilDate>?
        switch table {
        case .users:
            page = try self.exportUsers(after: position, limit: limit)
        case .actions:
            page = try self.exportActions(after: position, limit: limit)
        case .dates, .events, .sessions, .dailyActivity:
            // The range is resolved once, at the first page, and carried by the cursor: an export without
            // --from/--to does not grow while events arrive.
            if let resumed {
                range = resumed.range
            } else {
                let stats = try self.stats()
                guard let first = from ?? stats.firstDay, let last = to ?? stats.lastDay else {
                    return ExportPage(rows: [], next: nil)
                }
                try Self.checkRange(first, last)
                range = first...last
            }
            let (first, last) = (range!.lowerBound, range!.upperBound)
            switch table {
            case .dates: page = try Self.exportDates(first, last, after: position, limit: limit)
            case .events: page = try self.exportEvents(first, last, after: position, limit: limit)
            case .sessions: page = try self.exportSessions(first, last, after: position, limit: limit)
            default: page = try self.exportDaily(first, last, after: position, limit: limit)
            }
        }
        let next = page.next.map {
            ExportCursor(store: self.settings.storeID, table: table, from: from, to: to, range: range, position: $0)
                .encoded()
        }
        return ExportPage(rows: page.rows, next: next)
    }

    /// Walks `database` from the first key of day `first` (or just after `cursor`) while keys stay on or
    /// before day `last`, `limit` entries at most.
    private func scanDays(
        _ database: Database,
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int,
        _ txn: borrowing Transaction,
        _ body: (Entry) throws -> Int
    ) throws -> [UInt8]? {
        let start = cursor.map { $0 + [0] } ?? Key.u16(first.storeDay!)
        // A cursor outside the range cannot come from this export.
        if let cursor,
            cursor.count < 2 || cursor.readU16(at: 0) < first.storeDay! || cursor.readU16(at: 0) > last.storeDay!
        {
            throw StoreError(.invalidCursor, "the export cursor points outside \(first) ... \(last)")
        }
        let lastDay = last.storeDay!
        var count = 0
        var bytes = 0
        var lastKey: [UInt8]?
        var full = false
        try txn.forEach(database, from: start, whilePrefix: []) { entry in
            guard entry.key.readU16(at: 0) <= lastDay else { return false }
            bytes += try body(entry)
            count += 1
            lastKey = Array(entry.key)
            full = count >= limit || bytes >= Self.maximumExportPageBytes
            return !full
        }
        return full ? lastKey : nil
    }

    private func exportUsers(after cursor: [UInt8]?, limit: Int) throws -> ExportPage {
        try self.read { txn, reader in
            var names: [[UInt8]: String] = [:]
            var rows: [[ExportValue]] = []
            var lastKey: [UInt8]?
            let start = cursor.map { $0 + [0] } ?? []
            try txn.forEach(reader.schema.users, from: start, whilePrefix: []) { entry in
                let record = try UserRecord(decoding: entry.value)
                var row: [ExportValue] = [
                    .integer(Int64(entry.key.readU32(at: 0))), .text(String(decoding: record.userID, as: UTF8.self)),
                    record.registrationDate.map { .text($0.description) } ?? .null,
                ]
                for attribute in Attribute.allCases {
                    let key = Key.attributeName(attribute, record.attributeValueIDs[attribute.index])
                    if names[key] == nil {
                        names[key] =
                            try txn.get(reader.schema.attributeNames, key: key).map {
                                UnsafeRawBufferPointer(rebasing: $0[4...]).string
                            }
                            ?? Attribute.unknownValue
                    }
                    row.append(.text(names[key]!))
                }
                rows.append(row)
                lastKey = Array(entry.key)
                return rows.count < limit
            }
            return ExportPage(rows: rows, next: rows.count == limit ? lastKey : nil)
        }
    }

    private func exportActions(after cursor: [UInt8]?, limit: Int) throws -> ExportPage {
        try self.read { txn, reader in
            var rows: [[ExportValue]] = []
            var lastKey: [UInt8]?
            try txn.forEach(reader.schema.actions, from: cursor.map { $0 + [0] } ?? [], whilePrefix: []) { entry in
                let action = try ActionRecord(decoding: entry.value)
                rows.append([
                    .integer(Int64(entry.key.readU16(at: 0))),
                    .text(String(decoding: action.actionType, as: UTF8.self)),
                    .text(action.category), .integer(Int64(action.weight)), .boolean(action.isCore),
                ])
                lastKey = Array(entry.key)
                return rows.count < limit
            }
            return ExportPage(rows: rows, next: rows.count == limit ? lastKey : nil)
        }
    }

    private static func exportDates(
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        let resumeAfter = cursor.map { CivilDate(dayNumber: Int32(bitPattern: $0.readU32(at: 0))) }
        if let resumeAfter, !(first...last).contains(resumeAfter) {
            throw StoreError(.invalidCursor, "the export cursor points outside \(first) ... \(last)")
        }
        var date = resumeAfter?.adding(days: 1) ?? first
        var rows: [[ExportValue]] = []
        while date <= last && rows.count < limit {
            let (year, month, day) = date.components
            rows.append([
                .integer(date.dateKey), .text(date.description), .integer(Int64(year)),
                .integer(Int64((month - 1) / 3 + 1)),
                .integer(Int64(month)), .integer(Int64(day)), .integer(Int64(date.isoWeekday)),
                .integer(Int64(date.isoWeekOfYear)),
                .boolean(date.isoWeekday >= 6), .integer(Int64(date.dayNumber)),
            ])
            date = date.adding(days: 1)
        }
        let next = date <= last ? Key.u32(UInt32(bitPattern: date.adding(days: -1).dayNumber)) : nil
        return ExportPage(rows: rows, next: next)
    }

    private func exportDaily(
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        try self.read { txn, reader in
            let catalog = try reader.catalog(txn)
            var names = UserNames(users: reader.schema.users)
            var rows: [[ExportValue]] = []
            let next = try self.scanDays(reader.schema.daily, first, last, after: cursor, limit: limit, txn) { entry in
                let date = CivilDate(storeDay: entry.key.readU16(at: 0))
                let user = entry.key.readU32(at: 2)
                let record = try DailyRecord(decoding: entry.value, day: date)
                rows.append([
                    .integer(Int64(user)), .integer(date.dateKey), .integer(Int64(record.sessionsCount)),
                    .integer(Int64(record.sessionSeconds)), .integer(Int64(record.totalActions)),
                    .integer(Int64(record.uniqueActionTypes)), .boolean(record.isActive(catalog)),
                    .text(record.tier.name),
                    .text(try names.userID(user, txn)), .text(date.description),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(rows: rows, next: next)
        }
    }

    private func exportSessions(
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        try self.read { txn, reader in
            var names = UserNames(users: reader.schema.users)
            var rows: [[ExportValue]] = []
            let next = try self.scanDays(reader.schema.sessions, first, last, after: cursor, limit: limit, txn) {
                entry in
                let date = CivilDate(storeDay: entry.key.readU16(at: 0))
                let user = entry.key.readU32(at: 2)
                var keyReader = ByteReader(UnsafeRawBufferPointer(rebasing: entry.key[6...]))
                let record = try SessionRecord(decoding: entry.value, startMs: try keyReader.i64Ordered())
                rows.append([
                    .integer(Self.sessionKey(user: user, startMs: record.startMs)), .integer(Int64(user)),
                    .integer(date.dateKey), .text("\(user)-\(record.startMs)"),
                    .text(Timestamp.formatISO8601(record.startMs)), .text(Timestamp.formatISO8601(record.endMs)),
                    .integer(record.durationSeconds), .integer(Int64(record.actionsCount)),
                    .integer(Int64(record.screensVisited)), .text(record.sessionType.rawValue),
                    .text(try names.userID(user, txn)), .text(date.description), .integer(record.startMs),
                    .integer(record.endMs),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(rows: rows, next: next)
        }
    }

    /// Event cursors carry the number of events already exported, which numbers `action_instance_key`.
    private func exportEvents(
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        var rowNumber: Int64 = 0
        var keyCursor: [UInt8]?
        if let cursor, cursor.count > 8 {
            rowNumber = Int64(cursor.readU32(at: 0)) << 32 | Int64(cursor.readU32(at: 4))
            keyCursor = Array(cursor[8...])
        }
        return try self.read { txn, reader in
            let catalog = try reader.catalog(txn)
            var names = UserNames(users: reader.schema.users)
            var contexts: [UInt32: String] = [:]
            var rows: [[ExportValue]] = []
            var currentDayUser: [UInt8] = []
            var sessions: [SessionRecord] = []
            let next = try self.scanDays(reader.schema.events, first, last, after: keyCursor, limit: limit, txn) {
                entry in
                let day = entry.key.readU16(at: 0)
                let date = CivilDate(storeDay: day)
                let user = entry.key.readU32(at: 2)
                if !entry.key.starts(with: currentDayUser) || currentDayUser.isEmpty {
                    currentDayUser = Key.dayUser(day, user)
                    sessions = try Self.sessionsOverlapping(day: Int(day), user: user, txn, reader)
                }
                let head = try StoredEvent.decodeHead(entry.value, day: date)
                let session = sessions.last { $0.startMs <= head.timestampMs && head.timestampMs <= $0.endMs }
                var context: ExportValue = .null
                if head.contextID != 0 {
                    if contexts[head.contextID] == nil {
                        contexts[head.contextID] =
                            try txn.get(reader.schema.contextNames, key: Key.u32(head.contextID))?.string ?? ""
                    }
                    context = .text(contexts[head.contextID]!)
                }
                let metadata = UnsafeRawBufferPointer(rebasing: entry.value[head.metadataOffset...])
                let actionType =
                    catalog.record(head.actionKey).map { String(decoding: $0.actionType, as: UTF8.self) } ?? ""
                let sessionKey = session.map { Self.sessionKey(user: user, startMs: $0.startMs) }
                rowNumber += 1
                rows.append([
                    .integer(rowNumber), .integer(Int64(user)), sessionKey.map(ExportValue.integer) ?? .null,
                    .integer(Int64(head.actionKey)),
                    .integer(date.dateKey), .text(Timestamp.formatISO8601(head.timestampMs)), context,
                    metadata.isEmpty ? .null : .text(metadata.string), .text(try names.userID(user, txn)),
                    .text(UnsafeRawBufferPointer(rebasing: entry.key[6...]).string), .text(actionType),
                    .text(date.description),
                    .integer(head.timestampMs),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(
                rows: rows,
                next: next.map { Key.u32(UInt32(rowNumber >> 32)) + Key.u32(UInt32(rowNumber & 0xFFFF_FFFF)) + $0 }
            )
        }
    }

    /// The user's sessions that can hold events of `day`: those starting that day and the one carried in.
    static func sessionsOverlapping(
        day: Int,
        user: UInt32,
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [SessionRecord] {
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

/// What an export page hands back as `next`: which store and export it belongs to and where it stopped.
/// Opaque to clients; anything that does not decode as an intact cursor of this store, the same table and
/// the same requested range is refused (``StoreError/Code-swift.struct/invalidCursor``), never taken for "the
/// end" or "the start".
///
/// Layout: `EC 01` (magic, version), the store id (u64), table (u8), requested from and to (i32 day numbers,
/// i32.min for none), the range resolved at the first page (two i32; i32.min for the undated tables), the
/// position (the last key returned; events: the row number as u64, then the key), and an FNV-1a checksum
/// (u32) of everything before it, so that a damaged cursor is told from a short one.
struct ExportCursor {
    let store: UInt64
    let table: ExportTable
    let from: CivilDate?
    let to: CivilDate?
    let range: ClosedRange<CivilDate>?
    let position: [UInt8]

    static let magic: [UInt8] = [0xEC, 0x01]
    static let headerSize = 27
    static let checksumSize = 4

    init(
        store: UInt64,
        table: ExportTable,
        from: CivilDate?,
        to: CivilDate?,
        range: ClosedRange<CivilDate>?,
        position: [UInt8]
    ) {
        self.store = store
        self.table = table
        self.from = from
        self.to = to
        self.range = range
        self.position = position
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.headerSize + self.position.count + Self.checksumSize)
        writer.raw(Self.magic)
        writer.u64(self.store)
        writer.u8(self.table.wireValue)
        for day in [
            self.from?.dayNumber, self.to?.dayNumber, self.range?.lowerBound.dayNumber,
            self.range?.upperBound.dayNumber,
        ] {
            writer.u32(UInt32(bitPattern: day ?? Int32.min))
        }
        writer.raw(self.position)
        writer.u32(Self.checksum(writer.bytes[...]))
        return writer.bytes
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in bytes { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        return hash
    }

    /// Decodes `bytes`, refusing a cursor of another store, table or requested range, or a damaged one.
    init(
        decoding bytes: [UInt8],
        store: UInt64,
        table: ExportTable,
        from: CivilDate?,
        to: CivilDate?
    ) throws(StoreError) {
        func refuse(_ why: String) -> StoreError {
            StoreError(.invalidCursor, "\(why); start the export again with an empty cursor")
        }
        guard bytes.count > Self.headerSize + Self.checksumSize, Array(bytes[0..<2]) == Self.magic else {
            throw refuse("this is not an export cursor handed out by this server")
        }
        let body = bytes[0..<(bytes.count - Self.checksumSize)]
        guard Self.checksum(body) == bytes.readU32(at: bytes.count - Self.checksumSize) else {
            throw refuse("the export cursor is damaged")
        }
        guard bytes.readU64(at: 2) == store else {
            throw refuse("this cursor belongs to an export from another data directory")
        }
        guard bytes[10] == table.wireValue else {
            throw refuse("this cursor belongs to an export of another table")
        }
        func day(_ offset: Int) -> CivilDate? {
            let value = Int32(bitPattern: bytes.readU32(at: offset))
            return value == Int32.min ? nil : CivilDate(dayNumber: value)
        }
        guard day(11) == from, day(15) == to else {
            throw refuse("this cursor belongs to an export of another date range")
        }
        var range: ClosedRange<CivilDate>?
        if let first = day(19), let last = day(23) {
            guard table.isDated, first <= last, Limits.storedDates.contains(first), Limits.storedDates.contains(last)
            else {
                throw refuse("the export cursor is damaged")
            }
            range = first...last
        } else if table.isDated {
            throw refuse("the export cursor is damaged")
        }
        let position = Array(bytes[Self.headerSize..<(bytes.count - Self.checksumSize)])
        let expectedSize: ClosedRange<Int>
        switch table {
        case .users: expectedSize = 4...4
        case .actions: expectedSize = 2...2
        case .dates: expectedSize = 4...4
        case .dailyActivity: expectedSize = 6...6
        case .sessions: expectedSize = 14...14
        case .events: expectedSize = (8 + 6 + Limits.eventIDBytes.lowerBound)...(8 + 6 + Limits.eventIDBytes.upperBound)
        }
        guard expectedSize.contains(position.count) else { throw refuse("the export cursor is damaged") }
        self.init(store: store, table: table, from: from, to: to, range: range, position: position)
    }
}

/// user_key -> user_id, cached (bounded) across the days of one scan.
struct UserNames {
    let users: Database
    private var names: [UInt32: String] = [:]

    init(users: Database) { self.users = users }

    static let limit = 200_000

    mutating func userID(_ user: UInt32, _ txn: borrowing Transaction) throws -> String {
        if let name = self.names[user] { return name }
        guard let raw = try txn.get(self.users, key: Key.u32(user)) else {
            throw CorruptRecord(what: "user \(user) has records but no profile")
        }
        let name = String(decoding: try UserRecord(decoding: raw).userID, as: UTF8.self)
        if self.names.count >= UserNames.limit { self.names.removeAll(keepingCapacity: true) }
        self.names[user] = name
        return name
    }
}
