import EngageModel
import NIOCore

/// INGEST_EVENTS (0x05): a batch of events (4.5).
public struct IngestEvents: RequestMessage {
    public typealias Response = IngestResult
    public static let messageType = MessageType.ingestEvents

    public var batch: IngestBatch

    public init(_ batch: IngestBatch) { self.batch = batch }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let stringCount = try payload.readItemCount(UInt32.self, "string_count", minimumSize: 2)
        let strings = try payload.readItems(stringCount) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> [UInt8] in
            try buffer.readLengthPrefixedBytes("string")
        }
        let eventCount = try payload.readItemCount(UInt32.self, "event_count", minimumSize: 24)
        let events = try payload.readItems(eventCount) {
            (buffer: inout ByteBuffer) throws(ProtocolError) -> IngestBatch.WireEvent in
            IngestBatch.WireEvent(
                userRef: try buffer.read(UInt32.self, "user_ref"),
                eventID: try buffer.readLengthPrefixedBytes("event_id"),
                timestampMs: try buffer.read(Int64.self, "ts"),
                actionRef: try buffer.read(UInt32.self, "action_ref"),
                contextRef: try buffer.read(UInt32.self, "context_ref"),
                metadata: try buffer.readLengthPrefixedBytes("metadata")
            )
        }
        self.batch = IngestBatch(strings: strings, events: events)
    }

    public func encode(into payload: inout ByteBuffer) {
        let batch = self.batch
        payload.reserveCapacity(payload.writerIndex + 16 + batch.strings.count * 16 + batch.events.count * 48)
        payload.writeCount(batch.strings.count)
        for string in batch.strings { payload.writeLengthPrefixed(string) }
        payload.writeCount(batch.events.count)
        for event in batch.events {
            payload.writeInteger(event.userRef)
            payload.writeLengthPrefixed(event.eventID)
            payload.writeInteger(event.timestampMs)
            payload.writeInteger(event.actionRef)
            payload.writeInteger(event.contextRef)
            payload.writeLengthPrefixed(event.metadata)
        }
    }
}

/// INGEST_EVENTS as it travels: a string table (user ids, action types, contexts) and events that refer
/// to it by index. Strings stay bytes here; ``resolve()`` validates them event by event, so one bad string
/// rejects only the events using it.
public struct IngestBatch: Equatable, Sendable {
    public struct WireEvent: Equatable, Sendable {
        public var userRef: UInt32
        public var eventID: [UInt8]
        public var timestampMs: Int64
        public var actionRef: UInt32
        /// ``IngestBatch/noContext`` for none.
        public var contextRef: UInt32
        /// A JSON object, or empty.
        public var metadata: [UInt8]

        public init(
            userRef: UInt32,
            eventID: [UInt8],
            timestampMs: Int64,
            actionRef: UInt32,
            contextRef: UInt32,
            metadata: [UInt8]
        ) {
            self.userRef = userRef
            self.eventID = eventID
            self.timestampMs = timestampMs
            self.actionRef = actionRef
            self.contextRef = contextRef
            self.metadata = metadata
        }
    }

    public static let noContext = UInt32.max

    public var strings: [[UInt8]]
    public var events: [WireEvent]

    public init(strings: [[UInt8]], events: [WireEvent]) {
        self.strings = strings
        self.events = events
    }

    /// Builds the table: each distinct user id, action type and context once.
    public init(events: [Event]) {
        var table: [[UInt8]] = []
        var index: [String: UInt32] = [:]
        func reference(_ text: String) -> UInt32 {
            if let existing = index[text] { return existing }
            let position = UInt32(table.count)
            table.append(Array(text.utf8))
            index[text] = position
            return position
        }
        self.events = events.map { event in
            WireEvent(
                userRef: reference(event.userID),
                eventID: Array(event.eventID.utf8),
                timestampMs: event.timestampMs,
                actionRef: reference(event.action),
                contextRef: event.context.isEmpty ? IngestBatch.noContext : reference(event.context),
                metadata: Array(event.metadata.utf8)
            )
        }
        self.strings = table
    }

    /// The events as domain values, with the batch position of each, and the events that cannot become one:
    /// a reference outside the table, or a string that is not UTF-8.
    public func resolve() -> (events: [Event], positions: [Int], rejected: [Rejection]) {
        let decoded: [String?] = self.strings.map { String(validating: $0, as: UTF8.self) }
        var events: [Event] = []
        var positions: [Int] = []
        var rejected: [Rejection] = []
        events.reserveCapacity(self.events.count)
        positions.reserveCapacity(self.events.count)
        func lookup(_ ref: UInt32) -> Lookup {
            guard Int(ref) < decoded.count else { return .failure(.invalidReference) }
            guard let text = decoded[Int(ref)] else { return .failure(.invalidUTF8) }
            return .success(text)
        }
        for (position, wire) in self.events.enumerated() {
            let context: Lookup = wire.contextRef == IngestBatch.noContext ? .success("") : lookup(wire.contextRef)
            guard let eventID = String(validating: wire.eventID, as: UTF8.self),
                let metadata = String(validating: wire.metadata, as: UTF8.self)
            else {
                rejected.append(Rejection(index: position, reason: .invalidUTF8))
                continue
            }
            switch (lookup(wire.userRef), lookup(wire.actionRef), context) {
            case (.success(let user), .success(let action), .success(let context)):
                events.append(
                    Event(
                        userID: user,
                        eventID: eventID,
                        timestampMs: wire.timestampMs,
                        action: action,
                        context: context,
                        metadata: metadata
                    )
                )
                positions.append(position)
            case (.failure(let reason), _, _), (_, .failure(let reason), _), (_, _, .failure(let reason)):
                rejected.append(Rejection(index: position, reason: reason))
            }
        }
        return (events, positions, rejected)
    }

    private enum Lookup {
        case success(String)
        case failure(RejectReason)
    }
}
