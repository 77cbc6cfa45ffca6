import Foundation

/// Why one line of a JSON-lines import could not become a record.
public struct LineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable reason name (`invalid_json`, `missing_field`, ... or a server ``RejectReason`` name).
    public var reason: String
    public var detail: String

    public init(reason: String, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(self.reason): \(self.detail)" }
}

/// Parses the JSON-lines records of SEMANTICS.md ("JSON lines input").
public enum JSONLineRecords {
    public static func event(_ line: some StringProtocol) -> Result<Event, LineError> {
        Result {
            let object = try self.object(line)
            let timestamp: Int64
            switch object["ts"] {
            case nil, is NSNull:
                throw LineError(reason: "missing_field", detail: "field 'ts' is missing")
            case let text as String:
                guard let parsed = Timestamp.parseISO8601(text) else {
                    throw LineError(reason: "invalid_timestamp", detail: "ts '\(text.prefix(64))' is not an ISO 8601 time with Z or an offset")
                }
                timestamp = parsed
            case let number as NSNumber where JSONLineRecords.isInteger(number):
                timestamp = number.int64Value
            default:
                throw LineError(reason: "invalid_timestamp", detail: "ts must be an ISO 8601 string or integer epoch milliseconds")
            }
            var metadata = ""
            if let value = object["metadata"], !(value is NSNull) {
                guard value is [String: Any] else {
                    throw LineError(reason: RejectReason.invalidMetadata.name, detail: "metadata must be a JSON object")
                }
                let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
                guard data.count <= Limits.metadataBytes else {
                    throw LineError(reason: RejectReason.invalidMetadata.name, detail: "metadata is \(data.count) bytes serialized; at most \(Limits.metadataBytes)")
                }
                metadata = String(decoding: data, as: UTF8.self)
            }
            return Event(
                userID: try self.string(object, "user_id"),
                eventID: try self.string(object, "event_id"),
                timestampMs: timestamp,
                action: try self.string(object, "action"),
                context: try self.string(object, "context", required: false) ?? "",
                metadata: metadata
            )
        }.mapError { $0 as? LineError ?? LineError(reason: "invalid_json", detail: "\($0)") }
    }

    public static func user(_ line: some StringProtocol) -> Result<UserProfile, LineError> {
        Result {
            let object = try self.object(line)
            var profile = UserProfile(userID: try self.string(object, "user_id"))
            if let text = try self.string(object, "registration_date", required: false) {
                guard let date = CivilDate(text) else {
                    throw LineError(reason: "invalid_date", detail: "registration_date '\(text.prefix(32))' is not YYYY-MM-DD")
                }
                profile.registrationDate = date
            }
            for attribute in Attribute.allCases {
                if let value = try self.string(object, attribute.rawValue, required: false) {
                    profile.attributes[attribute] = value
                }
            }
            return profile
        }.mapError { $0 as? LineError ?? LineError(reason: "invalid_json", detail: "\($0)") }
    }

    public static func action(_ line: some StringProtocol) -> Result<ActionDefinition, LineError> {
        Result {
            let object = try self.object(line)
            let weight: Int32
            switch object["engagement_weight"] {
            case nil, is NSNull: weight = 1
            case let number as NSNumber where JSONLineRecords.isInteger(number):
                guard let exact = Int32(exactly: number.int64Value) else {
                    throw LineError(reason: "invalid_field", detail: "engagement_weight is out of range")
                }
                weight = exact
            default:
                throw LineError(reason: "invalid_field", detail: "engagement_weight must be an integer")
            }
            let isCore: Bool
            switch object["is_core_action"] {
            case nil, is NSNull: isCore = true
            case let flag as NSNumber where JSONLineRecords.isBoolean(flag): isCore = flag.boolValue
            default: throw LineError(reason: "invalid_field", detail: "is_core_action must be true or false")
            }
            return ActionDefinition(
                actionType: try self.string(object, "action_type"),
                category: try self.string(object, "action_category", required: false) ?? ActionDefinition.autoRegisteredCategory,
                engagementWeight: weight,
                isCoreAction: isCore
            )
        }.mapError { $0 as? LineError ?? LineError(reason: "invalid_json", detail: "\($0)") }
    }

    /// JSONSerialization gives NSNumber for integers, floats and booleans alike; tell them apart by type code.
    /// (Booleans are type "c"; Linux Foundation also lets `0 is Bool` succeed, so the code is what counts.)
    static func isInteger(_ number: NSNumber) -> Bool {
        ["i", "s", "l", "q", "I", "S", "L", "Q"].contains(String(cString: number.objCType))
    }

    static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    private static func object(_ line: some StringProtocol) throws -> [String: Any] {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) else {
            throw LineError(reason: "invalid_json", detail: "the line is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw LineError(reason: "invalid_json", detail: "the line is not a JSON object")
        }
        return object
    }

    private static func string(_ object: [String: Any], _ field: String) throws -> String {
        guard let value = try self.string(object, field, required: true) else {
            throw LineError(reason: "missing_field", detail: "field '\(field)' is missing")
        }
        return value
    }

    private static func string(_ object: [String: Any], _ field: String, required: Bool) throws -> String? {
        switch object[field] {
        case nil, is NSNull:
            if required { throw LineError(reason: "missing_field", detail: "field '\(field)' is missing") }
            return nil
        case let text as String:
            return text
        default:
            throw LineError(reason: "invalid_field", detail: "field '\(field)' must be a string")
        }
    }
}
