/// The per-event checks of SEMANTICS.md, shared by every layer that accepts events.
public enum EventValidation {
    /// Why `event` cannot be stored, or nil. `nowMs` is the server clock.
    public static func rejection(of event: Event, nowMs: Int64) -> RejectReason? {
        if let reason = self.checkLength(event.userID, Limits.userIDBytes, .invalidUserID) { return reason }
        if let reason = self.checkLength(event.eventID, Limits.eventIDBytes, .invalidEventID) { return reason }
        if let reason = self.checkLength(event.action, Limits.actionTypeBytes, .invalidAction) { return reason }
        if event.timestampMs < Limits.earliestTimestampMs || event.timestampMs > nowMs + Limits.futureToleranceMs {
            return .timestampOutOfRange
        }
        if let reason = self.checkLength(event.context, Limits.contextBytes, .invalidContext) { return reason }
        if !event.metadata.isEmpty {
            if event.metadata.utf8.count > Limits.metadataBytes || !JSONSyntax.isObject(event.metadata) {
                return .invalidMetadata
            }
        }
        return nil
    }

    /// Checks a length in UTF-8 bytes. Swift strings are valid Unicode; invalid UTF-8 is caught where bytes
    /// become strings (the protocol decoder).
    public static func checkLength(
        _ text: String,
        _ range: ClosedRange<Int>,
        _ reason: RejectReason
    ) -> RejectReason? {
        range.contains(text.utf8.count) ? nil : reason
    }

    /// Why `profile` cannot be stored, or nil.
    public static func rejection(of profile: UserProfile) -> RejectReason? {
        if let reason = self.checkLength(profile.userID, Limits.userIDBytes, .invalidUserID) { return reason }
        for value in profile.attributes.values {
            if let reason = self.checkLength(value, Limits.labelBytes, .invalidAttribute) { return reason }
        }
        if let date = profile.registrationDate, !Limits.storedDates.contains(date) { return .invalidDate }
        return nil
    }

    /// Why `action` cannot be stored, or nil.
    public static func rejection(of action: ActionDefinition) -> RejectReason? {
        if let reason = self.checkLength(action.actionType, Limits.actionTypeBytes, .invalidAction) { return reason }
        return self.checkLength(action.category, Limits.labelBytes, .invalidAttribute)
    }
}
