import EngageModel
import LMDB

/// One daily user activity record, as exported (`fact_daily_user_activity` plus natural keys).
public struct DailyActivityRow: Hashable, Sendable {
    public var userKey: UInt32
    public var userID: String
    public var date: CivilDate
    public var sessionsCount: Int
    public var totalSessionDuration: Int
    public var totalActions: Int
    public var uniqueActionTypes: Int
    public var isActiveDay: Bool
    public var engagementTier: Tier
}

/// One session, as exported (`fact_user_sessions` plus natural keys).
public struct SessionRow: Hashable, Sendable {
    public var userKey: UInt32
    public var userID: String
    /// The local day the session starts on.
    public var date: CivilDate
    public var startMs: Int64
    public var endMs: Int64
    public var durationSeconds: Int
    public var actionsCount: Int
    public var screensVisited: Int
    public var sessionType: String

    /// `session_key`: the user key in the high 32 bits, the start second since 2000-01-01 in the low 32.
    /// Unique because a user's sessions start more than one gap apart.
    public var sessionKey: Int64 {
        Int64(self.userKey) << 32 | Int64((self.startMs - Limits.earliestTimestampMs) / 1000) & 0xFFFF_FFFF
    }
}

extension EngageStore {
    /// Calls `body` for every daily record with a date in [from, to], by date then user key. Each day is read
    /// in its own short transaction, so an export of any size holds no long reader.
    public func forEachDailyRecord(
        from: CivilDate,
        to: CivilDate,
        _ body: (DailyActivityRow) throws -> Void
    ) throws {
        try self.forEachDay(from: from, to: to) { day, txn, reader, names in
            let catalog = try reader.catalog(txn)
            let date = CivilDate(storeDay: StoreDay(day))
            var rows: [DailyActivityRow] = []
            try txn.forEach(reader.schema.daily, prefix: Key.u16(StoreDay(day))) { entry in
                let user = entry.key.readU32(at: 2)
                let record = try DailyRecord(decoding: entry.value, day: date)
                rows.append(
                    DailyActivityRow(
                        userKey: user,
                        userID: try names.userID(user, txn),
                        date: date,
                        sessionsCount: Int(record.sessionsCount),
                        totalSessionDuration: Int(record.sessionSeconds),
                        totalActions: record.totalActions,
                        uniqueActionTypes: record.uniqueActionTypes,
                        isActiveDay: record.isActive(catalog),
                        engagementTier: record.tier
                    )
                )
                return true
            }
            return rows
        } emit: {
            try body($0)
        }
    }

    /// Calls `body` for every session starting on a day in [from, to], by day, user key, start.
    public func forEachSession(from: CivilDate, to: CivilDate, _ body: (SessionRow) throws -> Void) throws {
        try self.forEachDay(from: from, to: to) { day, txn, reader, names in
            var rows: [SessionRow] = []
            try txn.forEach(reader.schema.sessions, prefix: Key.u16(StoreDay(day))) { entry in
                let user = entry.key.readU32(at: 2)
                var keyReader = ByteReader(UnsafeRawBufferPointer(rebasing: entry.key[6...]))
                let start = try keyReader.i64Ordered()
                let record = try SessionRecord(decoding: entry.value, startMs: start)
                rows.append(
                    SessionRow(
                        userKey: user,
                        userID: try names.userID(user, txn),
                        date: CivilDate(storeDay: StoreDay(day)),
                        startMs: start,
                        endMs: record.endMs,
                        durationSeconds: Int(record.durationSeconds),
                        actionsCount: Int(record.actionsCount),
                        screensVisited: record.screensVisited,
                        sessionType: record.sessionType
                    )
                )
                return true
            }
            return rows
        } emit: {
            try body($0)
        }
    }

    /// Reads each day of [from, to] in its own transaction, then hands its rows to `emit` outside it.
    func forEachDay<Row>(
        from: CivilDate,
        to: CivilDate,
        _ readDay: (Int, borrowing Transaction, StoreReader, inout UserNames) throws -> [Row],
        emit: (Row) throws -> Void
    ) throws {
        guard let first = from.storeDay, let last = to.storeDay, first <= last else {
            throw StoreError(.invalidQuery, "from \(from) must not be after to \(to)")
        }
        var names = UserNames(users: self.schema.users)
        for day in Int(first)...Int(last) {
            let rows = try self.read { txn, reader in try readDay(day, txn, reader, &names) }
            for row in rows { try emit(row) }
        }
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
