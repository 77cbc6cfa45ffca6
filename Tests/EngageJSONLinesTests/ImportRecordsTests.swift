import EngageJSONLines
import EngageModel
import Testing

@Suite("Import records: event lines")
struct ImportRecordsTests {
    /// The event `ImportRecords.event` makes of `line`, or its error.
    static func event(_ line: String) -> Result<Event, LineError> {
        var line = line
        return line.withUTF8 { ImportRecords.event(UnsafeRawBufferPointer($0)) }
    }

    /// What `withEventText` hands over, copied out as strings.
    static func text(_ line: String) -> (fields: [String], timestampMs: Int64)? {
        var line = line
        var copied: (fields: [String], timestampMs: Int64)?
        let refusal = line.withUTF8 { bytes in
            ImportRecords.withEventText(UnsafeRawBufferPointer(bytes)) { event in
                copied = (
                    [event.eventID, event.userID, event.action, event.context, event.metadata].map {
                        String(decoding: $0, as: UTF8.self)
                    },
                    event.timestampMs
                )
                return nil
            }
        }
        return refusal == nil ? copied : nil
    }

    @Test("plain values are handed over as the line's bytes; metadata as its exact text")
    func plain() throws {
        let line =
            #"{"event_id": "e1", "user_id": "u1", "ts": "2026-03-01T10:00:00.250Z", "action": "login", "context": "home", "metadata": {"a": [1, 2], "b": "x"}, "other": 5}"#
        let result = Self.text(line)
        #expect(result?.fields == ["e1", "u1", "login", "home", #"{"a": [1, 2], "b": "x"}"#])
        #expect(result?.timestampMs == 1_772_359_200_250)
        #expect(
            try Self.event(line).get()
                == Event(
                    userID: "u1",
                    eventID: "e1",
                    timestampMs: 1_772_359_200_250,
                    action: "login",
                    context: "home",
                    metadata: #"{"a": [1, 2], "b": "x"}"#
                )
        )
    }

    @Test("escaped strings are decoded (into the scratch buffer), several in one line")
    func escapes() {
        let line =
            #"{"event_id": "e\"1\\", "user_id": "caf\u00e9 \ud83d\ude00", "ts": 1700000000000, "action": "a\/b\n", "context": "\t"}"#
        let result = Self.text(line)
        #expect(result?.fields == ["e\"1\\", "café 😀", "a/b\n", "\t", ""])
        #expect(result?.timestampMs == 1_700_000_000_000)
    }

    @Test("non-ASCII UTF-8 passes as is; no context and an empty context are the same")
    func unicodeAndEmptyContext() {
        let withEmpty = Self.text(#"{"event_id": "é", "user_id": "设置", "ts": 1, "action": "x", "context": ""}"#)
        let without = Self.text(#"{"event_id": "é", "user_id": "设置", "ts": 1, "action": "x"}"#)
        #expect(withEmpty?.fields == ["é", "设置", "x", "", ""])
        #expect(without?.fields == withEmpty?.fields)
    }

    @Test(
        "bad lines are refused with their reason",
        arguments: [
            (#"{"user_id": "u", "ts": 1, "action": "a"}"#, "missing_field"),
            (#"{"event_id": "e", "ts": 1, "action": "a"}"#, "missing_field"),
            (#"{"event_id": "e", "user_id": "u", "action": "a"}"#, "missing_field"),
            (#"{"event_id": 5, "user_id": "u", "ts": 1, "action": "a"}"#, "invalid_field"),
            (#"{"event_id": "e", "user_id": "u", "ts": "yesterday", "action": "a"}"#, "invalid_timestamp"),
            (#"{"event_id": "e", "user_id": "u", "ts": 1.5, "action": "a"}"#, "invalid_timestamp"),
            (#"{"event_id": "e", "user_id": "u", "ts": 1, "action": "a", "metadata": [1]}"#, "invalid_metadata"),
            (#"{"event_id": "e", "user_id": "u", "ts": 1, "action": "a""#, "invalid_json"),
            (#"[{"event_id": "e"}]"#, "invalid_json"),
            (#"{"event_id": "\ud800", "user_id": "u", "ts": 1, "action": "a"}"#, "invalid_utf8"),
        ]
    )
    func refused(line: String, reason: String) {
        #expect(Self.text(line) == nil)
        guard case .failure(let error) = Self.event(line) else {
            Issue.record("accepted: \(line)")
            return
        }
        #expect(error.reason == reason)
    }

    @Test("invalid UTF-8 bytes in a string are refused")
    func invalidUTF8Bytes() {
        let line: [UInt8] =
            Array(#"{"event_id": ""#.utf8) + [0xC3, 0x28] + Array(#"", "user_id": "u", "ts": 1, "action": "a"}"#.utf8)
        let result = line.withUnsafeBytes { ImportRecords.event($0) }
        guard case .failure(let error) = result else {
            Issue.record("accepted")
            return
        }
        #expect(error.reason == "invalid_utf8")
    }

    @Test("metadata over 4 KiB is refused")
    func largeMetadata() {
        let big = String(repeating: "x", count: Limits.metadataBytes)
        guard
            case .failure(let error) = Self.event(
                #"{"event_id": "e", "user_id": "u", "ts": 1, "action": "a", "metadata": {"k": "\#(big)"}}"#
            )
        else {
            Issue.record("accepted")
            return
        }
        #expect(error.reason == "invalid_metadata")
    }
}
