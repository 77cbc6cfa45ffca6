import EngageModel
import NIOCore

// Payload layouts: proto-spec/PROTOCOL.md. Every decoder reads exactly its fields and refuses trailing bytes.

extension Request {
    /// Decodes a request frame. Response types and unknown types are `unknown_message_type`.
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Request {
        guard let type = MessageType(rawValue: frame.type), type.rawValue < 0x80 else {
            throw ProtocolError(.unknownMessageType, "message type 0x\(String(frame.type, radix: 16)) is not a request")
        }
        var buffer = frame.payload
        let request: Request
        switch type {
        case .hello:
            guard let magic = buffer.readBytes(length: 4) else {
                throw ProtocolError(.truncatedPayload, "payload ends inside field 'magic'")
            }
            guard magic == Hello.magic else { throw ProtocolError(.badMagic, "HELLO must start with the bytes ENGA") }
            let minimum = try buffer.read(UInt16.self, "min_version")
            let maximum = try buffer.read(UInt16.self, "max_version")
            let token = try buffer.readShortString("token")
            let name = try buffer.readShortString("client_name")
            request = .hello(Hello(minimumVersion: minimum, maximumVersion: maximum, token: token, clientName: name))
        case .ping:
            request = .ping(nonce: try buffer.read(UInt64.self, "nonce"))
        case .defineActions:
            let count = Int(try buffer.read(UInt16.self, "count"))
            try buffer.checkCount(count, minimumSize: 9, "actions")
            var actions: [ActionDefinition] = []
            actions.reserveCapacity(count)
            for _ in 0..<count {
                let type = try buffer.readShortString("action_type")
                let category = try buffer.readShortString("action_category")
                let weight = try buffer.read(Int32.self, "engagement_weight")
                let isCore = try buffer.readFlag("is_core_action")
                actions.append(
                    ActionDefinition(
                        actionType: type,
                        category: category,
                        engagementWeight: weight,
                        isCoreAction: isCore
                    )
                )
            }
            request = .defineActions(actions)
        case .upsertUsers:
            let count = Int(try buffer.read(UInt32.self, "count"))
            try buffer.checkCount(count, minimumSize: 3, "users")
            var users: [UserProfile] = []
            users.reserveCapacity(count)
            for _ in 0..<count {
                let id = try buffer.readShortString("user_id")
                let fields = try buffer.read(UInt8.self, "fields")
                guard fields & ~UserFieldBit.all == 0 else {
                    throw ProtocolError(.invalidField, "fields 0x\(String(fields, radix: 16)) sets undefined bits")
                }
                var profile = UserProfile(userID: id)
                if fields & UserFieldBit.registrationDate != 0 {
                    profile.registrationDate = try buffer.readDate("registration_date")
                }
                for attribute in Attribute.allCases where fields & UserFieldBit.attribute(attribute) != 0 {
                    profile.attributes[attribute] = try buffer.readShortString("attribute")
                }
                users.append(profile)
            }
            request = .upsertUsers(users)
        case .ingestEvents:
            let stringCount = Int(try buffer.read(UInt32.self, "string_count"))
            try buffer.checkCount(stringCount, minimumSize: 2, "strings")
            var strings: [[UInt8]] = []
            strings.reserveCapacity(stringCount)
            for _ in 0..<stringCount { strings.append(try buffer.readLengthPrefixedBytes("string")) }
            let eventCount = Int(try buffer.read(UInt32.self, "event_count"))
            try buffer.checkCount(eventCount, minimumSize: 24, "events")
            var events: [IngestBatch.WireEvent] = []
            events.reserveCapacity(eventCount)
            for _ in 0..<eventCount {
                let user = try buffer.read(UInt32.self, "user_ref")
                let eventID = try buffer.readLengthPrefixedBytes("event_id")
                let ts = try buffer.read(Int64.self, "ts")
                let action = try buffer.read(UInt32.self, "action_ref")
                let context = try buffer.read(UInt32.self, "context_ref")
                let metadata = try buffer.readLengthPrefixedBytes("metadata")
                events.append(
                    IngestBatch.WireEvent(
                        userRef: user,
                        eventID: eventID,
                        timestampMs: ts,
                        actionRef: action,
                        contextRef: context,
                        metadata: metadata
                    )
                )
            }
            request = .ingestEvents(IngestBatch(strings: strings, events: events))
        case .queryActivity:
            let from = try buffer.readDate("from")
            let to = try buffer.readDate("to")
            let filters = try Self.readFilters(&buffer)
            let breakdown = try Self.readDimension(&buffer, "breakdown")
            request = .queryActivity(ActivityQuery(from: from, to: to, filters: filters, breakdown: breakdown))
        case .stats:
            request = .stats
        default:
            guard let query = try Self.decodeQuery(type, &buffer) else {
                throw ProtocolError(
                    .unknownMessageType,
                    "message type 0x\(String(frame.type, radix: 16)) is not a request"
                )
            }
            request = query
        }
        try buffer.expectEnd()
        return request
    }

    static func readFilters(_ buffer: inout ByteBuffer) throws(ProtocolError) -> [DimensionFilter] {
        let count = Int(try buffer.read(UInt8.self, "filter_count"))
        var pairs: [(Dimension, String)] = []
        for _ in 0..<count {
            guard let dimension = try Self.readDimension(&buffer, "dimension") else {
                throw ProtocolError(.invalidQuery, "a filter needs a dimension")
            }
            pairs.append((dimension, try buffer.readShortString("value")))
        }
        return DimensionFilter.grouping(pairs)
    }

    /// A dimension name; empty means none.
    static func readDimension(_ buffer: inout ByteBuffer, _ field: StaticString) throws(ProtocolError) -> Dimension? {
        let name = try buffer.readShortString(field)
        if name.isEmpty { return nil }
        guard let dimension = Dimension(name: name) else {
            throw ProtocolError(
                .invalidQuery,
                "unknown dimension '\(name)'; known: \(Dimension.allNames.joined(separator: ", "))"
            )
        }
        return dimension
    }

    public func encode(requestID: UInt32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        var buffer = allocator.buffer(capacity: 64)
        switch self {
        case .hello(let hello):
            buffer.writeBytes(Hello.magic)
            buffer.writeInteger(hello.minimumVersion)
            buffer.writeInteger(hello.maximumVersion)
            buffer.writeShortString(hello.token)
            buffer.writeShortString(hello.clientName)
        case .ping(let nonce):
            buffer.writeInteger(nonce)
        case .defineActions(let actions):
            buffer.writeInteger(UInt16(actions.count))
            for action in actions {
                buffer.writeShortString(action.actionType)
                buffer.writeShortString(action.category)
                buffer.writeInteger(action.engagementWeight)
                buffer.writeInteger(UInt8(action.isCoreAction ? 1 : 0))
            }
        case .upsertUsers(let users):
            buffer.writeInteger(UInt32(users.count))
            for user in users {
                buffer.writeShortString(user.userID)
                var fields: UInt8 = user.registrationDate == nil ? 0 : UserFieldBit.registrationDate
                for attribute in Attribute.allCases where user.attributes[attribute] != nil {
                    fields |= UserFieldBit.attribute(attribute)
                }
                buffer.writeInteger(fields)
                if let date = user.registrationDate { buffer.writeInteger(date.dayNumber) }
                for attribute in Attribute.allCases {
                    if let value = user.attributes[attribute] { buffer.writeShortString(value) }
                }
            }
        case .ingestEvents(let batch):
            buffer.reserveCapacity(16 + batch.strings.count * 16 + batch.events.count * 48)
            buffer.writeInteger(UInt32(batch.strings.count))
            for string in batch.strings { buffer.writeLengthPrefixed(string) }
            buffer.writeInteger(UInt32(batch.events.count))
            for event in batch.events {
                buffer.writeInteger(event.userRef)
                buffer.writeLengthPrefixed(event.eventID)
                buffer.writeInteger(event.timestampMs)
                buffer.writeInteger(event.actionRef)
                buffer.writeInteger(event.contextRef)
                buffer.writeLengthPrefixed(event.metadata)
            }
        case .queryActivity(let query):
            buffer.writeInteger(query.from.dayNumber)
            buffer.writeInteger(query.to.dayNumber)
            Self.writeFilters(query.filters, &buffer)
            buffer.writeShortString(query.breakdown?.name ?? "")
        case .stats:
            break
        default:
            _ = self.encodeQuery(into: &buffer)
        }
        return Frame(type: self.type.rawValue, requestID: requestID, payload: buffer)
    }

    static func writeFilters(_ filters: [DimensionFilter], _ buffer: inout ByteBuffer) {
        let pairs = filters.flatMap { filter in filter.values.map { (filter.dimension, $0) } }
        buffer.writeInteger(UInt8(min(pairs.count, 255)))
        for (dimension, value) in pairs.prefix(255) {
            buffer.writeShortString(dimension.name)
            buffer.writeShortString(value)
        }
    }
}

extension Response {
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Response {
        guard let type = MessageType(rawValue: frame.type), type.rawValue >= 0x80 else {
            throw ProtocolError(
                .unknownMessageType,
                "message type 0x\(String(frame.type, radix: 16)) is not a response"
            )
        }
        var buffer = frame.payload
        let response: Response
        switch type {
        case .helloOK:
            guard let magic = buffer.readBytes(length: 4) else {
                throw ProtocolError(.truncatedPayload, "payload ends inside field 'magic'")
            }
            guard magic == Hello.magic else {
                throw ProtocolError(.badMagic, "HELLO_OK must start with the bytes ENGA")
            }
            response = .helloOK(
                HelloOK(
                    version: try buffer.read(UInt16.self, "version"),
                    serverName: try buffer.readShortString("server_name"),
                    timeZone: try buffer.readShortString("time_zone"),
                    maximumFrameLength: try buffer.read(UInt32.self, "max_frame_length"),
                    maximumBatchItems: try buffer.read(UInt32.self, "max_batch_items"),
                    maximumInFlight: try buffer.read(UInt16.self, "max_in_flight")
                )
            )
        case .pong:
            response = .pong(nonce: try buffer.read(UInt64.self, "nonce"))
        case .defineActionsResult:
            response = .defineActionsResult(try Self.readBatchResult(&buffer))
        case .upsertUsersResult:
            response = .upsertUsersResult(try Self.readBatchResult(&buffer))
        case .ingestResult:
            response = .ingestResult(try Self.readBatchResult(&buffer))
        case .activityResult:
            let count = Int(try buffer.read(UInt32.self, "row_count"))
            try buffer.checkCount(count, minimumSize: 18, "rows")
            var rows: [ActivityRow] = []
            rows.reserveCapacity(count)
            for _ in 0..<count {
                let group = try buffer.readShortString("group")
                rows.append(
                    ActivityRow(
                        group: group.isEmpty ? nil : group,
                        date: try buffer.readDate("date"),
                        dau: try buffer.readOptionalCount("dau"),
                        wau: try buffer.readOptionalCount("wau"),
                        mau: try buffer.readOptionalCount("mau")
                    )
                )
            }
            response = .activityResult(rows)
        case .statsResult:
            let events = try buffer.readCount64("events")
            let duplicates = try buffer.readCount64("duplicates")
            let users = try buffer.readCount64("users")
            let actions = try buffer.read(UInt32.self, "actions")
            let days = try buffer.read(UInt32.self, "days")
            let bytes = try buffer.readCount64("bytes_on_disk")
            let zone = try buffer.readShortString("time_zone")
            let first = try buffer.readOptionalDate("first_day")
            let last = try buffer.readOptionalDate("last_day")
            response = .statsResult(
                StoreStats(
                    events: events,
                    duplicates: duplicates,
                    users: users,
                    actions: Int(actions),
                    days: Int(days),
                    bytesOnDisk: bytes,
                    timeZone: zone,
                    firstDay: first,
                    lastDay: last
                )
            )
        case .error:
            let code = ErrorCode(rawValue: try buffer.read(UInt16.self, "code"))
            response = .error(ProtocolError(code, try buffer.readShortString("message")))
        default:
            guard let query = try Self.decodeQuery(type, &buffer) else {
                throw ProtocolError(
                    .unknownMessageType,
                    "message type 0x\(String(frame.type, radix: 16)) is not a response"
                )
            }
            response = query
        }
        try buffer.expectEnd()
        return response
    }

    static func readBatchResult(_ buffer: inout ByteBuffer) throws(ProtocolError) -> BatchResult {
        let accepted = try buffer.read(UInt32.self, "accepted")
        let duplicates = try buffer.read(UInt32.self, "duplicates")
        let count = Int(try buffer.read(UInt32.self, "rejected_count"))
        try buffer.checkCount(count, minimumSize: 6, "rejected")
        var rejected: [Rejection] = []
        rejected.reserveCapacity(count)
        for _ in 0..<count {
            let index = try buffer.read(UInt32.self, "index")
            let reason = RejectReason(rawValue: try buffer.read(UInt16.self, "reason"))
            rejected.append(Rejection(index: Int(index), reason: reason))
        }
        return BatchResult(accepted: Int(accepted), duplicates: Int(duplicates), rejected: rejected)
    }

    public func encode(requestID: UInt32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        var buffer = allocator.buffer(capacity: 64)
        switch self {
        case .helloOK(let ok):
            buffer.writeBytes(Hello.magic)
            buffer.writeInteger(ok.version)
            buffer.writeShortString(ok.serverName)
            buffer.writeShortString(ok.timeZone)
            buffer.writeInteger(ok.maximumFrameLength)
            buffer.writeInteger(ok.maximumBatchItems)
            buffer.writeInteger(ok.maximumInFlight)
        case .pong(let nonce):
            buffer.writeInteger(nonce)
        case .defineActionsResult(let result), .upsertUsersResult(let result), .ingestResult(let result):
            buffer.writeInteger(UInt32(result.accepted))
            buffer.writeInteger(UInt32(result.duplicates))
            buffer.writeInteger(UInt32(result.rejected.count))
            for rejection in result.rejected {
                buffer.writeInteger(UInt32(rejection.index))
                buffer.writeInteger(rejection.reason.rawValue)
            }
        case .activityResult(let rows):
            buffer.reserveCapacity(4 + rows.count * 24)
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeShortString(row.group ?? "")
                buffer.writeInteger(row.date.dayNumber)
                buffer.writeOptionalCount(row.dau)
                buffer.writeOptionalCount(row.wau)
                buffer.writeOptionalCount(row.mau)
            }
        case .statsResult(let stats):
            buffer.writeInteger(UInt64(stats.events))
            buffer.writeInteger(UInt64(stats.duplicates))
            buffer.writeInteger(UInt64(stats.users))
            buffer.writeInteger(UInt32(clamping: stats.actions))
            buffer.writeInteger(UInt32(clamping: stats.days))
            buffer.writeInteger(UInt64(stats.bytesOnDisk))
            buffer.writeShortString(stats.timeZone)
            buffer.writeInteger(stats.firstDay?.dayNumber ?? noDay)
            buffer.writeInteger(stats.lastDay?.dayNumber ?? noDay)
        case .error(let error):
            buffer.writeInteger(error.code.rawValue)
            buffer.writeShortString(error.message)
        default:
            _ = self.encodeQuery(into: &buffer)
        }
        return Frame(type: self.type.rawValue, requestID: requestID, payload: buffer)
    }
}
