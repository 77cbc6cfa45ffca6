import EngageModel
import EngageProtocol
import EngageTestSupport
import NIOCore
import NIOTestUtils
import Testing

@Suite("Frame decoder")
struct FrameDecoderTests {
    static func frames() throws -> [Frame] {
        try GoldenVector.all().map { vector in
            var decoder = FrameDecoder()
            var buffer = ByteBuffer(bytes: vector.bytes)
            return try decoder.decode(buffer: &buffer)!
        }
    }

    @Test("NIO's verifier: whole, byte by byte, and in pieces")
    func verifier() throws {
        let frames = try Self.frames()
        let pairs: [(ByteBuffer, [Frame])] = frames.map { frame in
            var buffer = ByteBuffer()
            frame.write(into: &buffer)
            return (buffer, [frame])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { FrameDecoder() }
    }

    @Test(
        "all vectors concatenated, split at random points, decode to the same frames",
        arguments: [UInt64(1), 2, 3, 4, 5]
    )
    func randomSplits(seed: UInt64) throws {
        let frames = try Self.frames()
        var stream: [UInt8] = []
        for frame in frames {
            var buffer = ByteBuffer()
            frame.write(into: &buffer)
            stream += buffer.readableBytesView
        }
        var random = SeededGenerator(seed: seed)
        var decoder = FrameDecoder()
        var pending = ByteBuffer()
        var decoded: [Frame] = []
        var offset = 0
        while offset < stream.count {
            let size = Int.random(in: 1...40, using: &random)
            pending.writeBytes(stream[offset..<min(offset + size, stream.count)])
            offset += size
            while let frame = try decoder.decode(buffer: &pending) { decoded.append(frame) }
        }
        #expect(decoded == frames)
        #expect(pending.readableBytes == 0)
    }

    @Test("a length over the maximum is refused before the payload arrives")
    func tooLarge() {
        var decoder = FrameDecoder(maximumLength: 1024)
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x04, 0x01])
        #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
        do {
            _ = try decoder.decode(buffer: &buffer)
        } catch let error as ProtocolError {
            #expect(error.code == .frameTooLarge)
            #expect(error.code.closesConnection)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a length below five is malformed")
    func malformed() {
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: [0, 0, 0, 4, 2, 0, 0, 0])
        do {
            _ = try decoder.decode(buffer: &buffer)
            Issue.record("decoded a frame of length 4")
        } catch let error as ProtocolError {
            #expect(error.code == .malformedFrame)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("Message decoding errors")
struct MessageErrorTests {
    static func code(of frame: Frame) -> ErrorCode? {
        do {
            _ = try Request.decode(frame)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("truncated, trailing, unknown type, bad magic, bad UTF-8, bad flag, bad dimension")
    func errors() {
        let ping = Ping(nonce: 9).frame(requestID: 1)
        var truncated = ping
        truncated.payload = ping.payload.getSlice(at: 0, length: 7)!
        #expect(Self.code(of: truncated) == .truncatedPayload)
        var trailing = ping
        trailing.payload.writeInteger(UInt8(0))
        #expect(Self.code(of: trailing) == .trailingBytes)
        #expect(Self.code(of: Frame(type: 0x42, requestID: 1, payload: ByteBuffer())) == .unknownMessageType)
        #expect(Self.code(of: Frame(type: 0x85, requestID: 1, payload: ByteBuffer())) == .unknownMessageType)
        #expect(
            Self.code(
                of: Frame(
                    type: 0x01,
                    requestID: 1,
                    payload: ByteBuffer(bytes: Array("EGGS".utf8) + [0, 1, 0, 1, 0, 0, 0, 0])
                )
            ) == .badMagic
        )
        var badUTF8 = ByteBuffer()
        badUTF8.writeInteger(UInt16(1))
        badUTF8.writeBytes([0, 2, 0xC3, 0x28, 0, 1, 0x61, 0, 0, 0, 0, 1])
        #expect(Self.code(of: Frame(type: 0x03, requestID: 1, payload: badUTF8)) == .invalidUTF8)
        var badFlag = ByteBuffer()
        badFlag.writeInteger(UInt16(1))
        badFlag.writeBytes([0, 1, 0x61, 0, 1, 0x62, 0, 0, 0, 0, 2])
        #expect(Self.code(of: Frame(type: 0x03, requestID: 1, payload: badFlag)) == .invalidField)
        var badDimension = ByteBuffer()
        badDimension.writeInteger(Int32(0))
        badDimension.writeInteger(Int32(1))
        badDimension.writeInteger(UInt8(0))
        badDimension.writeBytes([0, 5] + Array("shoes".utf8))
        #expect(Self.code(of: Frame(type: 0x06, requestID: 1, payload: badDimension)) == .invalidQuery)
        // A count that cannot fit in the payload is refused before anything is allocated for it.
        var hugeCount = ByteBuffer()
        hugeCount.writeInteger(UInt32.max)
        #expect(Self.code(of: Frame(type: 0x04, requestID: 1, payload: hugeCount)) == .truncatedPayload)
    }

    @Test("inputs the fuzzers found crash nothing: a day far out of range, a u64 total past Int.max")
    func fuzzFindings() throws {
        // QUERY_TIERS, window 0 (month), day 0xFFFAFF00 (year -900): once a force-unwrap in calendar arithmetic.
        var tiers = ByteBuffer()
        tiers.writeBytes([0x00, 0xFF, 0xFA, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00])
        #expect(Self.code(of: Frame(type: 0x09, requestID: 1, payload: tiers)) == .invalidField)
        // A SESSIONS_RESULT whose totals exceed Int.max: once a trap converting u64 to Int in the client.
        var sessions = ByteBuffer()
        sessions.writeInteger(UInt64.max)
        sessions.writeBytes([UInt8](repeating: 0, count: 4 * 8 + 2 * 4))
        #expect(throws: ProtocolError.self) { try Response.decode(Frame(type: 0x8D, requestID: 1, payload: sessions)) }
        var decoded = ByteBuffer()
        decoded.writeInteger(UInt64(Int.max))
        decoded.writeBytes([UInt8](repeating: 0, count: 4 * 8 + 2 * 4))
        #expect(throws: Never.self) { try Response.decode(Frame(type: 0x8D, requestID: 1, payload: decoded)) }
    }

    @Test("a bad string-table entry rejects only the events that use it")
    func ingestResolution() {
        let batch = IngestBatch(
            strings: [Array("alice".utf8), [0xFF, 0xFE], Array("like".utf8)],
            events: [
                .init(
                    userRef: 0,
                    eventID: Array("a".utf8),
                    timestampMs: 1,
                    actionRef: 2,
                    contextRef: IngestBatch.noContext,
                    metadata: []
                ),
                .init(
                    userRef: 1,
                    eventID: Array("b".utf8),
                    timestampMs: 1,
                    actionRef: 2,
                    contextRef: IngestBatch.noContext,
                    metadata: []
                ),
                .init(
                    userRef: 0,
                    eventID: Array("c".utf8),
                    timestampMs: 1,
                    actionRef: 9,
                    contextRef: IngestBatch.noContext,
                    metadata: []
                ),
                .init(
                    userRef: 0,
                    eventID: [0xC0],
                    timestampMs: 1,
                    actionRef: 2,
                    contextRef: IngestBatch.noContext,
                    metadata: []
                ),
                .init(userRef: 0, eventID: Array("d".utf8), timestampMs: 1, actionRef: 2, contextRef: 0, metadata: []),
            ]
        )
        let resolved = batch.resolve()
        #expect(resolved.events.map(\.eventID) == ["a", "d"])
        #expect(resolved.events[1].context == "alice")
        #expect(resolved.positions == [0, 4])
        #expect(
            resolved.rejected == [
                Rejection(index: 1, reason: .invalidUTF8), Rejection(index: 2, reason: .invalidReference),
                Rejection(index: 3, reason: .invalidUTF8),
            ]
        )
    }

    @Test("building a batch from events shares strings and round-trips")
    func batchRoundTrip() throws {
        let events = [
            Event(userID: "u1", eventID: "1", timestampMs: 1_771_111_209_608, action: "like", context: "home"),
            Event(
                userID: "u1",
                eventID: "2",
                timestampMs: 1_771_111_209_609,
                action: "like",
                context: "",
                metadata: #"{"a":1}"#
            ),
            Event(userID: "ü", eventID: "1", timestampMs: 1_771_111_209_610, action: "home", context: "home"),
        ]
        let batch = IngestBatch(events: events)
        #expect(batch.strings.count == 4)
        let frame = IngestEvents(batch).frame(requestID: 3)
        guard case .command(.ingestEvents(let decoded)) = try Request.decode(frame) else {
            Issue.record("not an ingest batch")
            return
        }
        #expect(decoded.batch.resolve().events == events)
    }
}
