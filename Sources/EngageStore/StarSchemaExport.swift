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

    /// One page of at most `limit` rows (0: ``maximumExportPage``) of `table` (columns: ``ExportTable/columns``),
    /// ordered by date, user, then the
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
        // 0 (or less) asks for no particular size: the server's maximum.
        let limit = limit <= 0 ? Self.maximumExportPage : min(limit, Self.maximumExportPage)
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

    /// Walks `table` from the first key of day `first` (or just after `cursor`) while keys stay on or before
    /// day `last`, `limit` entries (or ``maximumExportPageBytes``) at most; the last key when the page is
    /// full. `body` returns the encoded size of the row it made.
    private func scanDays<Keys: KeyCodec, Values: ValueCodec>(
        _ table: Table<Keys, Values>,
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int,
        _ txn: borrowing Transaction,
        _ body: (Keys.Key, Values.Value) throws -> Int
    ) throws -> Keys.Key? where Keys.Key: DayFirstKey {
        let (firstDay, lastDay) = (first.storeDay!, last.storeDay!)
        var start = DayKey.prefix(firstDay)
        if let cursor {
            // A cursor outside the range cannot come from this export.
            let resumed = try cursor.withUnsafeBytes { bytes throws(CorruptRecord) in try Keys.decode(bytes) }
            guard (firstDay...lastDay).contains(resumed.day) else {
                throw StoreError(.invalidCursor, "the export cursor points outside \(first) ... \(last)")
            }
            start = cursor + [0]
        }
        var count = 0
        var bytes = 0
        var lastKey: Keys.Key?
        var full = false
        try table.forEach(startingAt: start, txn) { key, value in
            guard key.day <= lastDay else { return false }
            bytes += try body(key, value)
            count += 1
            lastKey = key
            full = count >= limit || bytes >= Self.maximumExportPageBytes
            return !full
        }
        return full ? lastKey : nil
    }

    /// The position `cursor` holds, as a key of `Keys` (an undecodable one is refused).
    private static func resumeKey<Keys: KeyCodec>(_ cursor: [UInt8]?, _: Keys.Type) throws -> Keys.Key? {
        guard let cursor else { return nil }
        do {
            return try cursor.withUnsafeBytes { bytes throws(CorruptRecord) in try Keys.decode(bytes) }
        } catch {
            throw StoreError(.invalidCursor, "the export cursor is damaged")
        }
    }

    private func exportUsers(after cursor: [UInt8]?, limit: Int) throws -> ExportPage {
        _ = try Self.resumeKey(cursor, U32Key.self)
        return try self.read { txn, reader in
            var names: [AttributeValueID: String] = [:]
            var rows: [[ExportValue]] = []
            var lastKey: UInt32?
            let start = cursor.map { $0 + [0] } ?? []
            try reader.schema.users.forEach(startingAt: start, txn) { user, record in
                rows.append(try Self.userRow(user, record, &names, txn, reader))
                lastKey = user
                return rows.count < limit
            }
            return ExportPage(rows: rows, next: rows.count == limit ? lastKey.map(U32Key.bytes) : nil)
        }
    }

    /// The `users` rows of the given user keys (those that exist), in the order given: the unit by which a
    /// change of users is exported (EXPORT_USERS).
    public func exportUsers(keys: [UInt32]) throws -> [[ExportValue]] {
        try self.read { txn, reader in
            var names: [AttributeValueID: String] = [:]
            var rows: [[ExportValue]] = []
            for key in keys {
                guard let record = try reader.schema.users.get(key, txn) else { continue }
                rows.append(try Self.userRow(key, record, &names, txn, reader))
            }
            return rows
        }
    }

    /// One `users` row; `names` caches attribute value texts across rows.
    private static func userRow(
        _ user: UInt32,
        _ record: UserRecord,
        _ names: inout [AttributeValueID: String],
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [ExportValue] {
        var row: [ExportValue] = [
            .integer(Int64(user)), .text(String(decoding: record.userID, as: UTF8.self)),
            record.registrationDate.map { .text($0.description) } ?? .null,
        ]
        for attribute in Attribute.allCases {
            let value = AttributeValueID(attribute: attribute, id: record.attributeValueIDs[attribute.index])
            if names[value] == nil {
                names[value] = try reader.schema.attributeNames.get(value, txn)?.text ?? Attribute.unknownValue
            }
            row.append(.text(names[value]!))
        }
        return row
    }

    private func exportActions(after cursor: [UInt8]?, limit: Int) throws -> ExportPage {
        _ = try Self.resumeKey(cursor, ActionKey.self)
        return try self.read { txn, reader in
            var rows: [[ExportValue]] = []
            var lastKey: UInt16?
            try reader.schema.actions.forEach(startingAt: cursor.map { $0 + [0] } ?? [], txn) { key, action in
                rows.append([
                    .integer(Int64(key)), .text(String(decoding: action.actionType, as: UTF8.self)),
                    .text(action.category), .integer(Int64(action.weight)), .boolean(action.isCore),
                ])
                lastKey = key
                return rows.count < limit
            }
            return ExportPage(rows: rows, next: rows.count == limit ? lastKey.map(ActionKey.bytes) : nil)
        }
    }

    private static func exportDates(
        _ first: CivilDate,
        _ last: CivilDate,
        after cursor: [UInt8]?,
        limit: Int
    ) throws -> ExportPage {
        let resumeAfter = try Self.resumeKey(cursor, DayNumberKey.self).map { CivilDate(dayNumber: $0) }
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
        let next = date <= last ? DayNumberKey.bytes(date.adding(days: -1).dayNumber) : nil
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
            let next = try self.scanDays(reader.schema.daily, first, last, after: cursor, limit: limit, txn) {
                key,
                record in
                let date = CivilDate(storeDay: key.day)
                rows.append([
                    .integer(Int64(key.user)), .integer(date.dateKey), .integer(Int64(record.sessionsCount)),
                    .integer(Int64(record.sessionSeconds)), .integer(Int64(record.totalActions)),
                    .integer(Int64(record.uniqueActionTypes)), .boolean(record.isActive(catalog)),
                    .text(record.tier.name),
                    .text(try names.userID(key.user, txn)), .text(date.description),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(rows: rows, next: next.map(DayUserKey.bytes))
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
                key,
                record in
                let date = CivilDate(storeDay: key.day)
                rows.append([
                    .integer(Self.sessionKey(user: key.user, startMs: record.startMs)), .integer(Int64(key.user)),
                    .integer(date.dateKey), .text("\(key.user)-\(record.startMs)"),
                    .text(Timestamp.formatISO8601(record.startMs)), .text(Timestamp.formatISO8601(record.endMs)),
                    .integer(record.durationSeconds), .integer(Int64(record.actionsCount)),
                    .integer(Int64(record.screensVisited)), .text(record.sessionType.rawValue),
                    .text(try names.userID(key.user, txn)), .text(date.description), .integer(record.startMs),
                    .integer(record.endMs),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(rows: rows, next: next.map(SessionKeyCodec.bytes))
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
        if let cursor {
            rowNumber = Int64(bitPattern: cursor.readU64(at: 0))
            keyCursor = Array(cursor[8...])
        }
        return try self.read { txn, reader in
            let catalog = try reader.catalog(txn)
            var names = UserNames(users: reader.schema.users)
            var contexts: [UInt32: String] = [:]
            var rows: [[ExportValue]] = []
            var current: DayUser?
            var sessions: [SessionRecord] = []
            let next = try self.scanDays(reader.schema.events, first, last, after: keyCursor, limit: limit, txn) {
                key,
                event in
                let date = CivilDate(storeDay: key.day)
                let dayUser = DayUser(day: key.day, user: key.user)
                if current != dayUser {
                    current = dayUser
                    sessions = try Self.sessionsOverlapping(dayUser, txn, reader)
                }
                let session = sessions.last { $0.startMs <= event.timestampMs && event.timestampMs <= $0.endMs }
                var context: ExportValue = .null
                if event.contextID != 0 {
                    if contexts[event.contextID] == nil {
                        contexts[event.contextID] =
                            try reader.schema.contextNames.get(event.contextID, txn).map {
                                String(decoding: $0, as: UTF8.self)
                            } ?? ""
                    }
                    context = .text(contexts[event.contextID]!)
                }
                let actionType =
                    catalog.record(event.actionKey).map { String(decoding: $0.actionType, as: UTF8.self) } ?? ""
                let sessionKey = session.map { Self.sessionKey(user: key.user, startMs: $0.startMs) }
                rowNumber += 1
                rows.append([
                    .integer(rowNumber), .integer(Int64(key.user)), sessionKey.map(ExportValue.integer) ?? .null,
                    .integer(Int64(event.actionKey)),
                    .integer(date.dateKey), .text(Timestamp.formatISO8601(event.timestampMs)), context,
                    event.metadata.isEmpty ? .null : .text(event.metadata), .text(try names.userID(key.user, txn)),
                    .text(String(decoding: key.eventID, as: UTF8.self)), .text(actionType),
                    .text(date.description),
                    .integer(event.timestampMs),
                ])
                return Self.encodedSize(rows[rows.count - 1])
            }
            return ExportPage(
                rows: rows,
                next: next.map { U64Key.bytes(UInt64(bitPattern: rowNumber)) + EventKeyCodec.bytes($0) }
            )
        }
    }

    /// The user's sessions that can hold events of one day: those starting that day and the one carried in.
    static func sessionsOverlapping(
        _ dayUser: DayUser,
        _ txn: borrowing Transaction,
        _ reader: StoreReader
    ) throws -> [SessionRecord] {
        var sessions: [SessionRecord] = []
        if let carry = try reader.schema.daily.get(dayUser, txn)?.carryStartMs {
            let carryDay = reader.settings.zone.localDay(epochMs: carry).storeDay!
            if let session = try reader.schema.sessions.get(
                SessionKey(day: carryDay, user: dayUser.user, startMs: carry),
                txn
            ) {
                sessions.append(session)
            }
        }
        try reader.schema.sessions.forEach(prefix: SessionKeyCodec.prefix(day: dayUser.day, user: dayUser.user), txn) {
            _,
            session in
            sessions.append(session)
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
        writer.u8(self.table.cursorTag)
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
        guard bytes[10] == table.cursorTag else {
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
    let users: Table<U32Key, UserRecordValue>
    private var names: [UInt32: String] = [:]

    init(users: Table<U32Key, UserRecordValue>) { self.users = users }

    static let limit = 200_000

    mutating func userID(_ user: UInt32, _ txn: borrowing Transaction) throws -> String {
        if let name = self.names[user] { return name }
        guard let record = try self.users.get(user, txn) else {
            throw CorruptRecord(what: "user \(user) has records but no profile")
        }
        let name = String(decoding: record.userID, as: UTF8.self)
        if self.names.count >= UserNames.limit { self.names.removeAll(keepingCapacity: true) }
        self.names[user] = name
        return name
    }
}

extension ExportTable {
    /// The table's byte in an export cursor (the store's own numbering: cursors never leave this server).
    var cursorTag: UInt8 { UInt8(ExportTable.allCases.firstIndex(of: self)!) }
}
