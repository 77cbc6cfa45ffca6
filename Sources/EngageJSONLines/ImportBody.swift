/// A request body of import records (the HTTP API's `POST /v1/events`, `/v1/users`, `/v1/actions`): either
/// one JSON array of objects, or JSON lines (one object per line, blank lines skipped). Each item is then
/// read by ``ImportRecords`` exactly as `engage import` reads a line.
public enum ImportBody {
    /// One record of the body: its bytes, and for JSON lines its 1-based line number.
    public struct Item: Sendable, Hashable {
        public var range: Range<Int>
        public var line: Int?
    }

    /// The items of `body`, in order. A JSON array whose syntax is broken has no item boundaries to trust,
    /// so it fails as a whole; in JSON lines a bad line is an item like any other (its record then fails).
    public static func items(_ body: UnsafeRawBufferPointer) -> Result<[Item], LineError> {
        guard let first = body.firstIndex(where: { !Self.isWhitespace($0) }) else { return .success([]) }
        if body[first] == UInt8(ascii: "[") {
            var reader = JSONObjectReader(body)
            do {
                return .success(try reader.arrayElements().map { Item(range: $0, line: nil) })
            } catch let error as JSONSyntaxError {
                return .failure(LineError(reason: "invalid_json", detail: error.detail))
            } catch {
                return .failure(LineError(reason: "invalid_json", detail: "\(error)"))
            }
        }
        var items: [Item] = []
        var start = 0
        var line = 1
        while start <= body.count {
            var end = start
            while end < body.count && body[end] != UInt8(ascii: "\n") { end += 1 }
            var trimmed = end
            if trimmed > start && body[trimmed - 1] == UInt8(ascii: "\r") { trimmed -= 1 }
            if body[start..<trimmed].contains(where: { !Self.isWhitespace($0) }) {
                items.append(Item(range: start..<trimmed, line: line))
            }
            start = end + 1
            line += 1
        }
        return .success(items)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
