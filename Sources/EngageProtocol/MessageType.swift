/// Message types: requests are 0x01...0x7F, each response is its request's type | 0x80, 0xFF is ERROR.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case ping = 0x02
    case defineActions = 0x03
    case upsertUsers = 0x04
    case ingestEvents = 0x05
    case queryActivity = 0x06
    case stats = 0x07
    case queryActiveDays = 0x08
    case queryTiers = 0x09
    case queryTransitions = 0x0A
    case queryRetention = 0x0B
    case queryLifecycle = 0x0C
    case querySessions = 0x0D
    case queryUser = 0x0E
    case queryAtRisk = 0x0F
    case queryActions = 0x10
    case export = 0x11
    case verify = 0x12
    case rebuild = 0x13
    case backup = 0x14
    case queryValues = 0x15
    case waitApplied = 0x16
    case changes = 0x17
    case exportUsers = 0x18

    case helloOK = 0x81
    case pong = 0x82
    case defineActionsResult = 0x83
    case upsertUsersResult = 0x84
    case ingestResult = 0x85
    case activityResult = 0x86
    case statsResult = 0x87
    case activeDaysResult = 0x88
    case tiersResult = 0x89
    case transitionsResult = 0x8A
    case retentionResult = 0x8B
    case lifecycleResult = 0x8C
    case sessionsResult = 0x8D
    case userResult = 0x8E
    case atRiskResult = 0x8F
    case actionsResult = 0x90
    case exportPage = 0x91
    case verifyResult = 0x92
    case rebuildResult = 0x93
    case backupResult = 0x94
    case valuesResult = 0x95
    case waitAppliedResult = 0x96
    case changesResult = 0x97
    case error = 0xFF

    public var isRequest: Bool { self.rawValue < 0x80 }

    /// The spec's name: `QUERY_ACTIVE_DAYS`, `HELLO_OK` (from the case name, so no second list to keep).
    public var specName: String {
        var name = ""
        var previousIsLowercase = false
        for character in String(describing: self) {
            if character.isUppercase && previousIsLowercase { name += "_" }
            previousIsLowercase = character.isLowercase
            name += character.uppercased()
        }
        return name
    }
}
