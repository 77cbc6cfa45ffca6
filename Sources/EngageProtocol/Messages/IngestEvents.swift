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
        // By bytes, not String equality (canonical equivalence would send one spelling for another).
        var index: [UTF8Key: UInt32] = [:]
        func reference(_ text: String) -> UInt32 {
            if let existing = index[UTF8Key(text)] { return existing }
            let position = UInt32(table.count)
            table.append(Array(text.utf8))
            index[UTF8Key(text)] = position
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

/// Builds an INGEST_EVENTS payload event by event from UTF-8 bytes, without an ``IngestBatch`` in between:
/// each distinct string goes into the table once, each event is written in its wire form as it comes. What
/// `engage import` and the batch encoders use (building `Event`s, then `WireEvent`s and a `[String: UInt32]`
/// index cost a quarter of the import's CPU).
///
/// The table's index is a small open-addressing hash table over the bytes (``FNV1a``), written here because a
/// `Dictionary` needs a key value per lookup (an allocation per string of every event) and hashes with SipHash.
/// Strings longer than a `u16` length are cut, as ``IngestEvents/encode(into:)`` cuts them, but before they are
/// looked up: two that share their first 65,535 bytes become one entry (the server refuses ids that long).
public struct IngestPayloadBuilder {
    /// The table's strings, one after the other, and where each starts (plus the end).
    private var stringBytes: [UInt8] = []
    private var stringStarts: [Int] = [0]
    /// Slots hold a table position + 1 (0: empty); a power of two, at most half full.
    private var slots: [UInt32]
    private var events: ByteBuffer
    public private(set) var eventCount = 0

    public init(expectedEvents: Int = 1024) {
        self.slots = [UInt32](repeating: 0, count: Self.slotCount(for: max(expectedEvents, 16)))
        self.events = ByteBuffer()
        self.events.reserveCapacity(expectedEvents * 48)
        self.stringBytes.reserveCapacity(expectedEvents * 16)
    }

    /// Strings in the table.
    public var stringCount: Int { self.stringStarts.count - 1 }

    /// The table position of `string`, added if new; `isNew` tells which.
    public mutating func reference(_ string: UnsafeRawBufferPointer) -> (reference: UInt32, isNew: Bool) {
        let string = UnsafeRawBufferPointer(rebasing: string.prefix(Int(UInt16.max)))
        let mask = self.slots.count - 1
        var slot = Self.hash(string) & mask
        while self.slots[slot] != 0 {
            let position = Int(self.slots[slot] - 1)
            let start = self.stringStarts[position]
            let end = self.stringStarts[position + 1]
            if end - start == string.count,
                self.stringBytes.withUnsafeBytes({
                    string.elementsEqual(UnsafeRawBufferPointer(rebasing: $0[start..<end]))
                })
            {
                return (UInt32(position), false)
            }
            slot = (slot + 1) & mask
        }
        let position = self.stringCount
        self.stringBytes.append(contentsOf: string)
        self.stringStarts.append(self.stringBytes.count)
        self.slots[slot] = UInt32(position + 1)
        if self.stringCount * 2 > self.slots.count { self.growSlots() }
        return (UInt32(position), true)
    }

    /// Appends an event whose strings are already in the table (``reference(_:)``); `contextReference` is
    /// ``IngestBatch/noContext`` for none, `metadata` a JSON object's text or empty.
    public mutating func append(
        userReference: UInt32,
        eventID: UnsafeRawBufferPointer,
        timestampMs: Int64,
        actionReference: UInt32,
        contextReference: UInt32,
        metadata: UnsafeRawBufferPointer
    ) {
        // The layout of IngestEvents.encode(into:), written in one go: a write call per field checked the
        // buffer's capacity and uniqueness each time (a tenth of an import's CPU).
        let eventID = UnsafeRawBufferPointer(rebasing: eventID.prefix(Int(UInt16.max)))
        let metadata = UnsafeRawBufferPointer(rebasing: metadata.prefix(Int(UInt16.max)))
        let size = 24 + eventID.count + metadata.count
        self.events.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { target in
            var offset = 0
            func store<Value: FixedWidthInteger>(_ value: Value) {
                target.storeBytes(of: value.bigEndian, toByteOffset: offset, as: Value.self)
                offset += MemoryLayout<Value>.size
            }
            func store(_ bytes: UnsafeRawBufferPointer) {
                store(UInt16(bytes.count))
                if let base = bytes.baseAddress {
                    (target.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
                }
                offset += bytes.count
            }
            store(userReference)
            store(eventID)
            store(timestampMs)
            store(actionReference)
            store(contextReference)
            store(metadata)
            return offset
        }
        self.eventCount += 1
    }

    /// Appends `event` (its strings added to the table as needed).
    public mutating func append(_ event: Event) {
        let user = Self.withUTF8(event.userID) { self.reference($0).reference }
        let action = Self.withUTF8(event.action) { self.reference($0).reference }
        let context =
            event.context.isEmpty
            ? IngestBatch.noContext : Self.withUTF8(event.context) { self.reference($0).reference }
        Self.withUTF8(event.eventID) { eventID in
            Self.withUTF8(event.metadata) { metadata in
                self.append(
                    userReference: user,
                    eventID: eventID,
                    timestampMs: event.timestampMs,
                    actionReference: action,
                    contextReference: context,
                    metadata: metadata
                )
            }
        }
    }

    /// The payload: the table, then the events. The builder is empty afterwards, ready for the next batch.
    public mutating func finish() -> ByteBuffer {
        var payload = ByteBuffer()
        payload.reserveCapacity(8 + self.stringBytes.count + 2 * self.stringCount + self.events.readableBytes)
        payload.writeCount(self.stringCount)
        self.stringBytes.withUnsafeBytes { table in
            for position in 0..<self.stringCount {
                let start = self.stringStarts[position]
                payload.writeLengthPrefixed(
                    UnsafeRawBufferPointer(rebasing: table[start..<self.stringStarts[position + 1]])
                )
            }
        }
        payload.writeCount(self.eventCount)
        payload.writeBuffer(&self.events)
        self.stringBytes.removeAll(keepingCapacity: true)
        self.stringStarts.removeAll(keepingCapacity: true)
        self.stringStarts.append(0)
        for index in self.slots.indices { self.slots[index] = 0 }
        self.events.clear()
        self.eventCount = 0
        return payload
    }

    private mutating func growSlots() {
        var slots = [UInt32](repeating: 0, count: self.slots.count * 2)
        let mask = slots.count - 1
        self.stringBytes.withUnsafeBytes { table in
            for position in 0..<self.stringCount {
                let string = UnsafeRawBufferPointer(
                    rebasing: table[self.stringStarts[position]..<self.stringStarts[position + 1]]
                )
                var slot = Self.hash(string) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = UInt32(position + 1)
            }
        }
        self.slots = slots
    }

    /// FNV-1a 64, folded (the slot is its low bits).
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        let hash = FNV1a.hash(bytes)
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }

    private static func slotCount(for strings: Int) -> Int {
        var count = 16
        while count < strings * 2 { count *= 2 }
        return count
    }

    private static func withUTF8<Result>(_ text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var text = text
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
