import EngageModel

/// A user the sequencer gave a key to; the applier creates it.
struct NewUser: Equatable {
    var key: UInt32
    var id: String
}

/// A context the sequencer gave an id to.
struct NewContext: Equatable {
    var id: UInt32
    var text: String
}

/// An action type first seen in an event (registered with the store's defaults), or a definition.
struct ActionAssignment: Equatable {
    var key: UInt16
    var record: ActionRecord
}

/// An accepted event with every key resolved: what the applier stores.
struct ResolvedEvent: Equatable {
    var user: UInt32
    var day: StoreDay
    var actionKey: UInt16
    var contextID: UInt32
    var timestampMs: Int64
    var eventID: String
    var metadata: String
}

/// What the sequencer decided for one write request, with every key it assigned, so that applying it (now, or
/// again from the journal after a crash) needs no decision of its own: the acknowledgement's counts were
/// exact when it was sent and stay so.
enum JournalRecord: Equatable {
    /// An INGEST_EVENTS batch: the accepted events and how many were duplicates.
    case events(EventsRecord)
    /// An UPSERT_USERS batch: the accepted profiles.
    case users(UsersRecord)
    /// A DEFINE_ACTIONS batch: the accepted definitions.
    case actions(ActionsRecord)

    struct EventsRecord: Equatable {
        var newUsers: [NewUser] = []
        var newActions: [ActionAssignment] = []
        var newContexts: [NewContext] = []
        var duplicates = 0
        var events: [ResolvedEvent] = []
    }

    struct UsersRecord: Equatable {
        var newUsers: [NewUser] = []
        var profiles: [(key: UInt32, profile: UserProfile)] = []

        static func == (lhs: UsersRecord, rhs: UsersRecord) -> Bool {
            lhs.newUsers == rhs.newUsers
                && lhs.profiles.map(\.key) == rhs.profiles.map(\.key)
                && lhs.profiles.map(\.profile) == rhs.profiles.map(\.profile)
        }
    }

    struct ActionsRecord: Equatable {
        var definitions: [ActionAssignment] = []
    }

    /// Items the record stores (events, profiles or definitions).
    var itemCount: Int {
        switch self {
        case .events(let record): return record.events.count
        case .users(let record): return record.profiles.count
        case .actions(let record): return record.definitions.count
        }
    }

    // MARK: - Encoding

    private enum Kind: UInt8 {
        case events = 1
        case users = 2
        case actions = 3
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .events(let record):
            writer.u8(Kind.events.rawValue)
            Self.encode(record.newUsers, into: &writer)
            Self.encode(record.newActions, into: &writer)
            writer.varint(record.newContexts.count)
            for context in record.newContexts {
                writer.varint(Int(context.id))
                writer.lengthPrefixed(context.text.utf8)
            }
            writer.varint(record.duplicates)
            writer.varint(record.events.count)
            for event in record.events {
                writer.varint(Int(event.user))
                writer.u16(event.day)
                writer.varint(Int(event.actionKey))
                writer.varint(Int(event.contextID))
                writer.zigzag(event.timestampMs)
                writer.lengthPrefixed(event.eventID.utf8)
                writer.lengthPrefixed(event.metadata.utf8)
            }
        case .users(let record):
            writer.u8(Kind.users.rawValue)
            Self.encode(record.newUsers, into: &writer)
            writer.varint(record.profiles.count)
            for (key, profile) in record.profiles {
                writer.varint(Int(key))
                writer.lengthPrefixed(profile.userID.utf8)
                if let date = profile.registrationDate {
                    writer.u8(1)
                    writer.zigzag(Int64(date.dayNumber))
                } else {
                    writer.u8(0)
                }
                writer.varint(profile.attributes.count)
                for attribute in Attribute.allCases {
                    guard let value = profile.attributes[attribute] else { continue }
                    writer.u8(UInt8(attribute.index))
                    writer.lengthPrefixed(value.utf8)
                }
            }
        case .actions(let record):
            writer.u8(Kind.actions.rawValue)
            Self.encode(record.definitions, into: &writer)
        }
    }

    private static func encode(_ users: [NewUser], into writer: inout ByteWriter) {
        writer.varint(users.count)
        for user in users {
            writer.varint(Int(user.key))
            writer.lengthPrefixed(user.id.utf8)
        }
    }

    private static func encode(_ actions: [ActionAssignment], into writer: inout ByteWriter) {
        writer.varint(actions.count)
        for action in actions {
            writer.varint(Int(action.key))
            var record = ByteWriter(capacity: 64)
            action.record.encode(into: &record)
            writer.lengthPrefixed(record.bytes)
        }
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(CorruptRecord) {
        var reader = ByteReader(bytes)
        func string(_ reader: inout ByteReader) throws(CorruptRecord) -> String {
            String(decoding: try reader.lengthPrefixed(), as: UTF8.self)
        }
        func newUsers(_ reader: inout ByteReader) throws(CorruptRecord) -> [NewUser] {
            var users: [NewUser] = []
            for _ in 0..<(try Self.count(&reader)) {
                users.append(NewUser(key: UInt32(truncatingIfNeeded: try reader.varint()), id: try string(&reader)))
            }
            return users
        }
        func actions(_ reader: inout ByteReader) throws(CorruptRecord) -> [ActionAssignment] {
            var actions: [ActionAssignment] = []
            for _ in 0..<(try Self.count(&reader)) {
                let key = UInt16(truncatingIfNeeded: try reader.varint())
                actions.append(
                    ActionAssignment(key: key, record: try ActionRecord(decoding: try reader.lengthPrefixed()))
                )
            }
            return actions
        }
        switch Kind(rawValue: try reader.u8()) {
        case .events:
            var record = EventsRecord()
            record.newUsers = try newUsers(&reader)
            record.newActions = try actions(&reader)
            for _ in 0..<(try Self.count(&reader)) {
                let id = UInt32(truncatingIfNeeded: try reader.varint())
                record.newContexts.append(NewContext(id: id, text: try string(&reader)))
            }
            record.duplicates = try reader.int()
            let count = try Self.count(&reader)
            record.events.reserveCapacity(count)
            for _ in 0..<count {
                let user = UInt32(truncatingIfNeeded: try reader.varint())
                let day = try reader.u16()
                let actionKey = UInt16(truncatingIfNeeded: try reader.varint())
                let contextID = UInt32(truncatingIfNeeded: try reader.varint())
                let timestampMs = try reader.zigzag()
                let eventID = try string(&reader)
                let metadata = try string(&reader)
                record.events.append(
                    ResolvedEvent(
                        user: user,
                        day: day,
                        actionKey: actionKey,
                        contextID: contextID,
                        timestampMs: timestampMs,
                        eventID: eventID,
                        metadata: metadata
                    )
                )
            }
            self = .events(record)
        case .users:
            var record = UsersRecord()
            record.newUsers = try newUsers(&reader)
            for _ in 0..<(try Self.count(&reader)) {
                let key = UInt32(truncatingIfNeeded: try reader.varint())
                var profile = UserProfile(userID: try string(&reader))
                if try reader.u8() == 1 {
                    profile.registrationDate = CivilDate(dayNumber: Int32(truncatingIfNeeded: try reader.zigzag()))
                }
                for _ in 0..<(try Self.count(&reader)) {
                    guard let attribute = Attribute(index: Int(try reader.u8())) else {
                        throw CorruptRecord(what: "journal: attribute index")
                    }
                    profile.attributes[attribute] = try string(&reader)
                }
                record.profiles.append((key, profile))
            }
            self = .users(record)
        case .actions:
            self = .actions(ActionsRecord(definitions: try actions(&reader)))
        case nil:
            throw CorruptRecord(what: "journal: unknown record kind")
        }
        guard reader.remaining == 0 else { throw CorruptRecord(what: "journal: bytes after the record") }
    }

    /// A count no larger than the bytes left could hold (a damaged count cannot make a huge allocation).
    private static func count(_ reader: inout ByteReader) throws(CorruptRecord) -> Int {
        let count = try reader.int()
        guard count >= 0, count <= reader.remaining else { throw CorruptRecord(what: "journal: count") }
        return count
    }
}
