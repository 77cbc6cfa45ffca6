import EngageModel

/// Why one line (or array element) of an import could not become a record.
public struct LineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable reason name: `invalid_json`, `missing_field`, `invalid_field`, `invalid_timestamp`,
    /// `invalid_date`, `invalid_metadata`, `invalid_utf8`, `line_too_long`, or a server ``RejectReason`` name.
    public var reason: String
    public var detail: String

    public init(reason: String, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(self.reason): \(self.detail)" }
}

/// The import format of SEMANTICS.md ("JSON lines input"): one JSON object per record.
///
/// - actions: `{"action_type", "action_category", "engagement_weight", "is_core_action"}`
/// - users: `{"user_id", "registration_date", "acquisition_channel", "user_segment", "device_type", "region"}`
/// - events: `{"event_id", "user_id", "ts", "action", "context"?, "metadata"?}`; `ts` is ISO 8601 with `Z` or an
///   offset, or integer epoch milliseconds; `metadata` is any JSON object, kept as the exact text sent
///   (at most 4 KiB).
///
/// Members not listed are ignored. Only the shape is checked here; the server checks lengths and ranges.
public enum ImportRecords {
    /// An event line's values in place: slices of the line (or of a scratch buffer where a string had
    /// escapes), valid only inside ``withEventText(_:_:)``'s closure. Strings are valid UTF-8.
    public struct EventText {
        public var eventID: UnsafeRawBufferPointer
        public var userID: UnsafeRawBufferPointer
        public var timestampMs: Int64
        public var action: UnsafeRawBufferPointer
        /// Empty when the line has none (an empty context and none are the same).
        public var context: UnsafeRawBufferPointer
        /// The JSON object's exact text, or empty.
        public var metadata: UnsafeRawBufferPointer
    }

    /// Reads an event line without making a `String` of any of its values (what `engage import` sends), and
    /// calls `body` with them. Returns why the line is refused: its own error, or the one `body` returns.
    /// (Not generic: a generic result type cost a run-time metadata lookup per line, 15% of an import.)
    public static func withEventText(
        _ line: UnsafeRawBufferPointer,
        _ body: (EventText) -> LineError?
    ) -> LineError? {
        withUnsafeTemporaryAllocation(byteCount: max(line.count, 1), alignment: 1) { scratch -> LineError? in
            // On the stack: an array of fields was an allocation per line.
            withUnsafeTemporaryAllocation(of: JSONMember?.self, capacity: EventField.allCases.count) { fields in
                fields.initialize(repeating: nil)
                defer { fields.deinitialize() }
                return self.readEvent(line, fields, scratch, body)
            }
        }
    }

    private static func readEvent(
        _ line: UnsafeRawBufferPointer,
        _ fields: UnsafeMutableBufferPointer<JSONMember?>,
        _ scratch: UnsafeMutableRawBufferPointer,
        _ body: (EventText) -> LineError?
    ) -> LineError? {
        if let error = self.read(line, into: fields, names: EventField.names, textScratch: scratch) {
            return error
        }
        func text(_ field: EventField, required: Bool = true) -> Result<UnsafeRawBufferPointer, LineError> {
            switch fields[field.rawValue] {
            case nil, .null?:
                return required
                    ? .failure(LineError(reason: "missing_field", detail: "field '\(field.name)' is missing"))
                    : .success(UnsafeRawBufferPointer(start: nil, count: 0))
            case .text(let bytes)?:
                return .success(bytes)
            default:
                return .failure(
                    LineError(reason: "invalid_field", detail: "field '\(field.name)' must be a string")
                )
            }
        }
        let timestamp: Int64
        switch fields[EventField.ts.rawValue] {
        case nil, .null?:
            return LineError(reason: "missing_field", detail: "field 'ts' is missing")
        case .text(let bytes)?:
            guard let parsed = Timestamp.parseISO8601(utf8: bytes) else {
                return LineError(
                    reason: "invalid_timestamp",
                    detail:
                        "ts '\(String(decoding: bytes, as: UTF8.self).prefix(64))' is not an ISO 8601 time with Z or an offset"
                )
            }
            timestamp = parsed
        case .integer(let value)?:
            timestamp = value
        default:
            return LineError(
                reason: "invalid_timestamp",
                detail: "ts must be an ISO 8601 string or integer epoch milliseconds"
            )
        }
        var metadata = UnsafeRawBufferPointer(start: nil, count: 0)
        switch fields[EventField.metadata.rawValue] {
        case nil, .null?:
            break
        case .object(let text)?:
            guard text.count <= Limits.metadataBytes else {
                return LineError(
                    reason: RejectReason.invalidMetadata.name,
                    detail: "metadata is \(text.count) bytes; at most \(Limits.metadataBytes)"
                )
            }
            // Already checked as JSON by the reader, and UTF-8 because every string in it was.
            metadata = text
        default:
            return LineError(reason: RejectReason.invalidMetadata.name, detail: "metadata must be a JSON object")
        }
        do throws(LineError) {
            // user_id first: a line missing both is reported as missing user_id, as before.
            let userID = try text(.userID).get()
            return body(
                EventText(
                    eventID: try text(.eventID).get(),
                    userID: userID,
                    timestampMs: timestamp,
                    action: try text(.action).get(),
                    context: try text(.context, required: false).get(),
                    metadata: metadata
                )
            )
        } catch {
            return error
        }
    }

    public static func event(_ line: UnsafeRawBufferPointer) -> Result<Event, LineError> {
        var made: Event?
        let refusal = self.withEventText(line) { event in
            made = Event(
                userID: String(decoding: event.userID, as: UTF8.self),
                eventID: String(decoding: event.eventID, as: UTF8.self),
                timestampMs: event.timestampMs,
                action: String(decoding: event.action, as: UTF8.self),
                context: String(decoding: event.context, as: UTF8.self),
                metadata: String(decoding: event.metadata, as: UTF8.self)
            )
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(made!)
    }

    public static func user(_ line: UnsafeRawBufferPointer) -> Result<UserProfile, LineError> {
        var fields = [JSONMember?](repeating: nil, count: UserField.allCases.count)
        if let error = fields.withUnsafeMutableBufferPointer({ self.read(line, into: $0, names: UserField.names) }) {
            return .failure(error)
        }
        do {
            var profile = UserProfile(
                userID: try self.string(fields[UserField.userID.rawValue], "user_id", required: true).get()!
            )
            if let text = try self.string(
                fields[UserField.registrationDate.rawValue],
                "registration_date",
                required: false
            ).get() {
                guard let date = CivilDate(text) else {
                    return .failure(
                        LineError(
                            reason: "invalid_date",
                            detail: "registration_date '\(text.prefix(32))' is not YYYY-MM-DD"
                        )
                    )
                }
                profile.registrationDate = date
            }
            for attribute in Attribute.allCases {
                let field = UserField.attribute(attribute)
                if let value = try self.string(fields[field.rawValue], attribute.rawValue, required: false).get() {
                    profile.attributes[attribute] = value
                }
            }
            return .success(profile)
        } catch {
            return .failure(error)
        }
    }

    public static func action(_ line: UnsafeRawBufferPointer) -> Result<ActionDefinition, LineError> {
        var fields = [JSONMember?](repeating: nil, count: ActionField.allCases.count)
        if let error = fields.withUnsafeMutableBufferPointer({ self.read(line, into: $0, names: ActionField.names) }) {
            return .failure(error)
        }
        let weight: Int32
        switch fields[ActionField.weight.rawValue] {
        case nil, .null?: weight = 1
        case .integer(let value)?:
            guard let exact = Int32(exactly: value) else {
                return .failure(LineError(reason: "invalid_field", detail: "engagement_weight is out of range"))
            }
            weight = exact
        default: return .failure(LineError(reason: "invalid_field", detail: "engagement_weight must be an integer"))
        }
        let isCore: Bool
        switch fields[ActionField.isCore.rawValue] {
        case nil, .null?: isCore = true
        case .bool(let flag)?: isCore = flag
        default: return .failure(LineError(reason: "invalid_field", detail: "is_core_action must be true or false"))
        }
        do {
            return .success(
                ActionDefinition(
                    actionType: try self.string(fields[ActionField.type.rawValue], "action_type", required: true)
                        .get()!,
                    category: try self.string(fields[ActionField.category.rawValue], "action_category", required: false)
                        .get()
                        ?? ActionDefinition.autoRegisteredCategory,
                    engagementWeight: weight,
                    isCoreAction: isCore
                )
            )
        } catch {
            return .failure(error)
        }
    }

    /// Why `line` is not one JSON object (syntax only), or nil when it is.
    public static func objectSyntaxError(_ line: UnsafeRawBufferPointer) -> LineError? {
        var reader = JSONObjectReader(line)
        do {
            try reader.forEachMember(wants: { _ in nil }, { _, _ in })
            return nil
        } catch let error as JSONSyntaxError {
            return LineError(reason: "invalid_json", detail: error.detail)
        } catch {
            return nil
        }
    }

    /// The same records from text (tests, fixtures).
    public static func event(_ line: String) -> Result<Event, LineError> { self.withBytes(line, self.event) }
    public static func user(_ line: String) -> Result<UserProfile, LineError> { self.withBytes(line, self.user) }
    public static func action(_ line: String) -> Result<ActionDefinition, LineError> {
        self.withBytes(line, self.action)
    }

    private static func withBytes<Record>(
        _ line: String,
        _ body: (UnsafeRawBufferPointer) -> Result<Record, LineError>
    ) -> Result<Record, LineError> {
        var copy = line
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// Reads the members named in `names` (by position) into `fields`; nil on success.
    private static func read(
        _ line: UnsafeRawBufferPointer,
        into fields: UnsafeMutableBufferPointer<JSONMember?>,
        names: [[UInt8]],
        textScratch: UnsafeMutableRawBufferPointer? = nil
    ) -> LineError? {
        var reader = JSONObjectReader(line, textScratch: textScratch)
        do {
            try reader.forEachMember(
                wants: { name in names.firstIndex { $0.elementsEqual(name) } },
                { slot, value in fields[slot] = value }
            )
            return nil
        } catch let error as JSONSyntaxError {
            return LineError(reason: "invalid_json", detail: error.detail)
        } catch {
            return LineError(reason: RejectReason.invalidUTF8.name, detail: "a string is not valid UTF-8")
        }
    }

    private static func string(_ member: JSONMember?, _ name: String, required: Bool) -> Result<String?, LineError> {
        switch member {
        case nil, .null?:
            return required
                ? .failure(LineError(reason: "missing_field", detail: "field '\(name)' is missing")) : .success(nil)
        case .string(let text)?:
            return .success(text)
        default:
            return .failure(LineError(reason: "invalid_field", detail: "field '\(name)' must be a string"))
        }
    }

    private enum EventField: Int, CaseIterable {
        case eventID, userID, ts, action, context, metadata
        var name: String { ["event_id", "user_id", "ts", "action", "context", "metadata"][self.rawValue] }
        static let names = EventField.allCases.map { Array($0.name.utf8) }
    }

    private enum UserField: Hashable, CaseIterable {
        case userID
        case registrationDate
        case attribute(Attribute)
        static let allCases: [UserField] = [.userID, .registrationDate] + Attribute.allCases.map(UserField.attribute)
        var rawValue: Int { UserField.allCases.firstIndex(of: self)! }
        var name: String {
            switch self {
            case .userID: return "user_id"
            case .registrationDate: return "registration_date"
            case .attribute(let attribute): return attribute.rawValue
            }
        }
        static let names = UserField.allCases.map { Array($0.name.utf8) }
    }

    private enum ActionField: Int, CaseIterable {
        case type, category, weight, isCore
        var name: String { ["action_type", "action_category", "engagement_weight", "is_core_action"][self.rawValue] }
        static let names = ActionField.allCases.map { Array($0.name.utf8) }
    }
}
