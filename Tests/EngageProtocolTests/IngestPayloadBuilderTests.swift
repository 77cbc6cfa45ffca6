import EngageModel
import EngageProtocol
import EngageTestSupport
import NIOCore
import Testing

@Suite("INGEST_EVENTS payload builder")
struct IngestPayloadBuilderTests {
    /// Events with users, actions and contexts drawn from small pools (so strings repeat), some without a
    /// context, some with metadata, some non-ASCII.
    static func events(count: Int, users: Int, seed: UInt64) -> [Event] {
        var random = SeededGenerator(seed: seed)
        let actions = ["login", "search", "view_item", "purchase", "réglages", "设置"]
        let contexts = ["", "home", "feed", "checkout"]
        return (0..<count).map { index in
            let user = Int.random(in: 0..<users, using: &random)
            return Event(
                userID: user % 7 == 0 ? "usér-\(user)" : "user-\(user)",
                eventID: "e-\(seed)-\(index)",
                timestampMs: Int64.random(in: 1_700_000_000_000..<1_800_000_000_000, using: &random),
                action: actions.randomElement(using: &random)!,
                context: contexts.randomElement(using: &random)!,
                metadata: index % 5 == 0 ? #"{"campaign": "c\#(index)", "score": \#(index % 100)}"# : ""
            )
        }
    }

    static func encodedThroughBatch(_ events: [Event]) -> ByteBuffer {
        var buffer = ByteBuffer()
        IngestEvents(IngestBatch(events: events)).encode(into: &buffer)
        return buffer
    }

    @Test(
        "the bytes equal IngestBatch(events:)'s encoding and decode back to the same events",
        arguments: [(UInt64(1), 1, 1), (2, 500, 50), (3, 5000, 4000), (4, 20000, 20000)]
    )
    func sameBytesAsTheBatch(seed: UInt64, count: Int, users: Int) throws {
        let events = Self.events(count: count, users: users, seed: seed)
        var builder = IngestPayloadBuilder(expectedEvents: 16)
        for event in events { builder.append(event) }
        #expect(builder.eventCount == count)
        var payload = builder.finish()
        #expect(payload == Self.encodedThroughBatch(events))
        let decoded = try IngestEvents(decoding: &payload)
        let resolved = decoded.batch.resolve()
        #expect(resolved.rejected.isEmpty)
        #expect(resolved.events == events)
        // Each distinct string once.
        let distinct = Set(events.flatMap { [$0.userID, $0.action] + ($0.context.isEmpty ? [] : [$0.context]) })
        #expect(decoded.batch.strings.count == distinct.count)
    }

    @Test("finish() empties the builder: the next batch is built as by a fresh one")
    func reuse() {
        var builder = IngestPayloadBuilder()
        let first = Self.events(count: 300, users: 40, seed: 7)
        let second = Self.events(count: 200, users: 30, seed: 8)
        for event in first { builder.append(event) }
        _ = builder.finish()
        #expect(builder.eventCount == 0 && builder.stringCount == 0)
        for event in second { builder.append(event) }
        #expect(builder.finish() == Self.encodedThroughBatch(second))
    }

    @Test("reference() returns the same position for the same bytes and says when a string is new")
    func references() {
        var builder = IngestPayloadBuilder()
        func reference(_ text: String) -> (UInt32, Bool) {
            let result = Array(text.utf8).withUnsafeBytes { builder.reference($0) }
            return (result.reference, result.isNew)
        }
        #expect(reference("a") == (0, true))
        #expect(reference("") == (1, true))
        #expect(reference("ab") == (2, true))
        #expect(reference("a") == (0, false))
        #expect(reference("") == (1, false))
        for index in 0..<1000 { #expect(reference("s\(index)") == (UInt32(3 + index), true)) }
        #expect(reference("s500") == (503, false))
        #expect(builder.stringCount == 1003)
    }

    @Test("a string longer than a u16 length is cut, as the batch encoder cuts it")
    func longStrings() throws {
        let long = String(repeating: "x", count: Int(UInt16.max) + 10)
        let events = [Event(userID: long, eventID: long, timestampMs: 1, action: "a", context: "", metadata: "")]
        var builder = IngestPayloadBuilder()
        builder.append(events[0])
        var payload = builder.finish()
        #expect(payload == Self.encodedThroughBatch(events))
        let decoded = try IngestEvents(decoding: &payload)
        #expect(decoded.batch.strings[0].count == Int(UInt16.max))
    }
}

@Suite("INGEST_EVENTS string tables are byte-exact")
struct IngestStringTableTests {
    @Test("two spellings of é (equal as Swift Strings) are two table entries, in the builder and in IngestBatch")
    func canonicallyEquivalentStrings() throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        let events = [composed, decomposed].enumerated().map { index, name in
            Event(userID: name, eventID: "e\(index)", timestampMs: 1, action: name, context: name, metadata: "")
        }
        var builder = IngestPayloadBuilder()
        for event in events { builder.append(event) }
        var payload = builder.finish()
        #expect(payload == IngestPayloadBuilderTests.encodedThroughBatch(events))
        let batch = try IngestEvents(decoding: &payload).batch
        #expect(batch.strings == [Array(composed.utf8), Array(decomposed.utf8)])
        let resolved = batch.resolve().events
        #expect(resolved.map { Array($0.userID.utf8) } == [Array(composed.utf8), Array(decomposed.utf8)])
    }
}
