import EngageModel
import NIOCore

/// CHANGES (0x17): the commits after `since` and what each rewrote, for a sync that re-exports only what
/// changed (4.28).
public struct Changes: RequestMessage {
    public typealias Response = ChangesResult
    public static let messageType = MessageType.changes

    public var since: UInt64
    /// Most changes in the answer; 0 for the server's maximum.
    public var limit: Int

    public init(since: UInt64, limit: Int = 0) {
        self.since = since
        self.limit = limit
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.since = try payload.read(UInt64.self, "since")
        self.limit = try payload.readCount("limit")
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.since)
        payload.writeCount(self.limit)
    }
}

/// CHANGES_RESULT (0x97): the feed's page, ascending by sequence.
public struct ChangesResult: ResponseMessage {
    public static let messageType = MessageType.changesResult

    public var page: ChangeFeedPage

    public init(_ page: ChangeFeedPage) { self.page = page }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let current = try payload.read(UInt64.self, "current")
        let oldest = try payload.read(UInt64.self, "oldest")
        // A change takes at least 8 + 1 + 4 x 4 bytes.
        let count = try payload.readItemCount(UInt32.self, "change_count", minimumSize: 25)
        let changes = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> StoreChange in
            let sequence = try buffer.read(UInt64.self, "sequence")
            let flags = try buffer.read(UInt8.self, "flags")
            guard flags & ~1 == 0 else { throw ProtocolError(.invalidField, "flags \(flags): bits 1...7 must be 0") }
            func dates(_ field: StaticString) throws(ProtocolError) -> [CivilDate] {
                let days = try buffer.readItemCount(UInt32.self, field, minimumSize: 4)
                return try buffer.readItems(days) { (inner: inout ByteBuffer) throws(ProtocolError) in
                    try inner.readDate(field)
                }
            }
            let daily = try dates("daily_days")
            let sessions = try dates("session_days")
            let events = try dates("event_days")
            let users = try buffer.readItemCount(UInt32.self, "user_keys", minimumSize: 4)
            let keys = try buffer.readItems(users) { (inner: inout ByteBuffer) throws(ProtocolError) in
                try inner.read(UInt32.self, "user_key")
            }
            return StoreChange(
                sequence: sequence,
                catalogChanged: flags & 1 != 0,
                dailyDays: daily,
                sessionDays: sessions,
                eventDays: events,
                userKeys: keys
            )
        }
        self.page = ChangeFeedPage(current: current, oldest: oldest, changes: changes)
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.page.current)
        payload.writeInteger(self.page.oldest)
        payload.writeCount(self.page.changes.count)
        for change in self.page.changes {
            payload.writeInteger(change.sequence)
            payload.writeInteger(UInt8(change.catalogChanged ? 1 : 0))
            for days in [change.dailyDays, change.sessionDays, change.eventDays] {
                payload.writeCount(days.count)
                for day in days { payload.writeDate(day) }
            }
            payload.writeCount(change.userKeys.count)
            for key in change.userKeys { payload.writeInteger(key) }
        }
    }
}

/// EXPORT_USERS (0x18): the `users` rows (EXPORT's columns) of the given user keys, the unit a change of
/// users is exported by; answered with one EXPORT_PAGE whose cursor is empty.
public struct ExportUsers: RequestMessage {
    public typealias Response = ExportPageResult
    public static let messageType = MessageType.exportUsers

    /// Most keys in one request.
    public static let maximumKeys = 10_000

    public var keys: [UInt32]

    public init(keys: [UInt32]) { self.keys = keys }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let count = try payload.readItemCount(UInt32.self, "key_count", minimumSize: 4)
        guard count <= Self.maximumKeys else {
            throw ProtocolError(.invalidQuery, "\(count) user keys in one EXPORT_USERS; at most \(Self.maximumKeys)")
        }
        self.keys = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) in
            try buffer.read(UInt32.self, "user_key")
        }
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.keys.count)
        for key in self.keys { payload.writeInteger(key) }
    }
}
