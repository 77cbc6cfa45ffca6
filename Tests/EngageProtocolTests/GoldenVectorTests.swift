import EngageModel
import EngageProtocol
import EngageTestSupport
import Foundation
import NIOCore
import Testing

/// proto-spec/vectors.json, written by an independent encoder (proto-spec/make_vectors.py).
struct GoldenVector: Sendable, CustomStringConvertible {
    let name: String
    let type: UInt8
    let requestID: UInt32
    let bytes: [UInt8]
    var description: String { self.name }

    static func all() throws -> [GoldenVector] {
        let url = RepositoryPaths.protocolVectors
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["vectors"] as! [[String: Any]]).map { vector in
            let hex = Array((vector["hex"] as! String).utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map {
                UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)!
            }
            return GoldenVector(
                name: vector["name"] as! String,
                type: UInt8(vector["type"] as! Int),
                requestID: UInt32(vector["request_id"] as! Int),
                bytes: bytes
            )
        }
    }
}

/// What each vector must decode to: written from the vector descriptions, not from the codec.
enum ExpectedMessage {
    /// The message the vector holds, as the type its type byte names.
    case message(any WireMessage)

    static func named(_ name: String) -> ExpectedMessage? {
        let january1 = CivilDate("2026-01-01")!
        switch name {
        case "hello":
            return .message(Hello(minimumVersion: 1, maximumVersion: 1, token: "", clientName: "engage-cli"))
        case "hello_with_token":
            return .message(Hello(minimumVersion: 1, maximumVersion: 2, token: "s3cret", clientName: "loadgen"))
        case "hello_ok":
            return .message(
                HelloOK(
                    version: 1,
                    serverName: "engaged 0.1.0",
                    timeZone: "America/New_York",
                    maximumFrameLength: 16_777_216,
                    maximumBatchItems: 100_000,
                    maximumInFlight: 64
                )
            )
        case "ping": return .message(Ping(nonce: 0x0102_0304_0506_0708))
        case "pong": return .message(Pong(nonce: 0x0102_0304_0506_0708))
        case "define_actions":
            return .message(
                DefineActions([
                    ActionDefinition(
                        actionType: "login",
                        category: "session",
                        engagementWeight: 0,
                        isCoreAction: false
                    ),
                    ActionDefinition(
                        actionType: "share",
                        category: "social_interaction",
                        engagementWeight: 2,
                        isCoreAction: true
                    ),
                ])
            )
        case "define_actions_result": return .message(DefineActionsResult(BatchResult(accepted: 2)))
        case "upsert_users":
            return .message(
                UpsertUsers([
                    UserProfile(
                        userID: "u7-000003",
                        registrationDate: CivilDate("2026-01-15"),
                        attributes: [
                            .acquisitionChannel: "paid_search", .userSegment: "pro", .deviceType: "ios", .region: "eu",
                        ]
                    ),
                    UserProfile(userID: "user-ü-1@example.com", attributes: [.region: "latam"]),
                ])
            )
        case "upsert_users_result":
            return .message(
                UpsertUsersResult(BatchResult(accepted: 1, rejected: [Rejection(index: 1, reason: .invalidUserID)]))
            )
        case "ingest_events":
            return .message(
                IngestEvents(
                    IngestBatch(
                        strings: ["u7-000001", "like", "home", "view_feed"].map { Array($0.utf8) },
                        events: [
                            .init(
                                userRef: 0,
                                eventID: Array("e7-1".utf8),
                                timestampMs: 1_771_111_209_608,
                                actionRef: 1,
                                contextRef: 2,
                                metadata: []
                            ),
                            .init(
                                userRef: 0,
                                eventID: Array("e7-2".utf8),
                                timestampMs: 1_771_111_500_000,
                                actionRef: 3,
                                contextRef: IngestBatch.noContext,
                                metadata: Array(#"{"k":8}"#.utf8)
                            ),
                        ]
                    )
                )
            )
        case "ingest_result":
            return .message(
                IngestResult(
                    BatchResult(
                        accepted: 1,
                        duplicates: 1,
                        rejected: [Rejection(index: 2, reason: .timestampOutOfRange)]
                    )
                )
            )
        case "query_activity":
            return .message(
                QueryActivity(
                    ActivityQuery(
                        from: january1,
                        to: CivilDate("2026-03-31")!,
                        filters: [
                            DimensionFilter(
                                dimension: .attribute(.acquisitionChannel),
                                values: ["paid_search", "organic"]
                            ),
                            DimensionFilter(dimension: .attribute(.region), values: ["eu"]),
                        ],
                        breakdown: .attribute(.deviceType)
                    )
                )
            )
        case "activity_result":
            return .message(
                ActivityResult([
                    ActivityRow(group: "ios", date: january1, dau: 4, wau: 4, mau: 4),
                    ActivityRow(group: "ios", date: january1.adding(days: 1), dau: 3, wau: 5, mau: 5),
                ])
            )
        case "stats": return .message(Stats())
        case "stats_result":
            return .message(
                StatsResult(
                    StoreStats(
                        events: 30979,
                        duplicates: 619,
                        users: 142,
                        actions: 9,
                        days: 91,
                        bytesOnDisk: 1_048_576,
                        timeZone: "UTC",
                        firstDay: january1,
                        lastDay: CivilDate("2026-04-01")
                    )
                )
            )
        case "stats_result_empty":
            return .message(
                StatsResult(
                    StoreStats(
                        events: 0,
                        duplicates: 0,
                        users: 0,
                        actions: 0,
                        days: 0,
                        bytesOnDisk: 32768,
                        timeZone: "UTC",
                        firstDay: nil,
                        lastDay: nil
                    )
                )
            )
        case "error":
            return .message(
                ErrorResponse(
                    ProtocolError(.frameTooLarge, "frame length 20000000 exceeds the maximum of 16777216 bytes")
                )
            )
        case "error_unauthenticated": return .message(ErrorResponse(ProtocolError(.unauthenticated, "unknown token")))
        case "activity_result_unfinished":
            let march31 = CivilDate("2026-03-31")!
            return .message(
                ActivityResult([
                    ActivityRow(date: march31, dau: 40, wau: 71, mau: 98),
                    ActivityRow(date: march31.adding(days: 1), dau: nil, wau: nil, mau: nil),
                ])
            )
        default: return self.engagement(name)
        }
    }

    static func engagement(_ name: String) -> ExpectedMessage? {
        let january1 = CivilDate("2026-01-01")!
        let march31 = CivilDate("2026-03-31")!
        func filter(_ dimension: EngageModel.Dimension, _ values: String...) -> DimensionFilter {
            DimensionFilter(dimension: dimension, values: values)
        }
        switch name {
        case "query_active_days":
            return .message(
                QueryActiveDays(
                    from: january1,
                    to: CivilDate("2026-01-31")!,
                    Selection(filters: [filter(.attribute(.region), "eu")], breakdown: .attribute(.deviceType))
                )
            )
        case "active_days_result":
            return .message(
                ActiveDaysResult([
                    ActiveDaysRow(group: "ios", activeDays: 1, users: 13),
                    ActiveDaysRow(group: "ios", activeDays: 2, users: 10),
                ])
            )
        case "query_tiers_month": return .message(QueryTiers(.month(CivilMonth("2026-02")!), Selection()))
        case "query_tiers_as_of":
            return .message(
                QueryTiers(
                    .asOf(march31),
                    Selection(filters: [filter(.cohort, "2026-01")], breakdown: .attribute(.region))
                )
            )
        case "tiers_result":
            return .message(
                TiersResult([
                    TierRow(group: nil, tier: .power, users: 2, records: 36, sessions: 159, actions: 2729),
                    TierRow(group: nil, tier: .core, users: 5, records: 55, sessions: 94, actions: 405),
                    TierRow(group: nil, tier: .regular, users: 18, records: 198, sessions: 350, actions: 1461),
                    TierRow(group: nil, tier: .casual, users: 0, records: 0, sessions: 0, actions: 0),
                ])
            )
        case "query_transitions":
            return .message(
                QueryTransitions(CivilMonth("2026-01")!, filters: [filter(.attribute(.userSegment), "pro")])
            )
        case "transitions_result":
            return .message(
                TransitionsResult([
                    TransitionRow(fromTier: .casual, toTier: .core, users: 3),
                    TransitionRow(fromTier: .inactive, toTier: .power, users: 1),
                ])
            )
        case "query_retention":
            return .message(QueryRetention(period: .week, from: january1, to: march31, periods: 8, Selection()))
        case "retention_result":
            let cohort = CivilDate("2025-12-29")!
            return .message(
                RetentionResult([
                    RetentionRow(group: nil, cohort: cohort, cohortSize: 24, periodOffset: 0, retained: 9),
                    RetentionRow(group: nil, cohort: cohort, cohortSize: 24, periodOffset: 1, retained: 13),
                ])
            )
        case "query_lifecycle":
            return .message(QueryLifecycle(period: .month, from: january1, to: march31, filters: []))
        case "retention_result_unfinished":
            let cohort = CivilDate("2026-03-01")!
            return .message(
                RetentionResult([
                    RetentionRow(group: nil, cohort: cohort, cohortSize: 22, periodOffset: 0, retained: 18),
                    RetentionRow(group: nil, cohort: cohort, cohortSize: 22, periodOffset: 1, retained: nil),
                ])
            )
        case "lifecycle_result_unfinished":
            return .message(
                LifecycleResult([
                    LifecycleRow(period: CivilDate("2026-03-23")!, new: 1, returning: 37, resurrecting: 6, dormant: 14),
                    .unfinished(CivilDate("2026-03-30")!),
                ])
            )
        case "lifecycle_result":
            return .message(
                LifecycleResult([
                    LifecycleRow(period: CivilDate("2026-01-05")!, new: 9, returning: 8, resurrecting: 5, dormant: 1)
                ])
            )
        case "query_sessions":
            return .message(
                QuerySessions(from: january1, to: march31, filters: [filter(.attribute(.deviceType), "ios")])
            )
        case "sessions_result":
            return .message(
                SessionsResult(
                    SessionSummary(
                        sessions: 3636,
                        users: 122,
                        totalDurationSeconds: 3_810_304,
                        totalActions: 30957,
                        bounces: 689,
                        p50DurationSeconds: 279,
                        p90DurationSeconds: 2999
                    )
                )
            )
        case "query_user": return .message(QueryUser(userID: "u7-000001"))
        case "user_result":
            return .message(
                UserResult(
                    UserDetail(
                        profile: UserProfile(
                            userID: "u7-000001",
                            registrationDate: CivilDate("2026-02-14"),
                            attributes: [
                                .acquisitionChannel: "social", .userSegment: "free", .deviceType: "web", .region: "eu",
                            ]
                        ),
                        currentTier: .casual,
                        asOf: CivilDate("2026-03-01")!,
                        days: [
                            .init(
                                date: CivilDate("2026-02-14")!,
                                sessionsCount: 1,
                                totalSessionDuration: 418,
                                totalActions: 6,
                                uniqueActionTypes: 3,
                                isActiveDay: true,
                                engagementTier: .casual
                            )
                        ],
                        sessions: [
                            .init(
                                startMs: 1_771_111_209_608,
                                endMs: 1_771_111_628_604,
                                actionsCount: 6,
                                screensVisited: 4,
                                sessionType: .engaged
                            )
                        ]
                    )
                )
            )
        case "user_result_unknown": return .message(UserResult(nil))
        case "query_at_risk": return .message(QueryAtRisk(asOf: march31, limit: 50, filters: []))
        case "at_risk_result":
            return .message(
                AtRiskResult([
                    AtRiskRow(
                        userID: "u7-000042",
                        tierBefore: .regular,
                        activeDays: 9,
                        actions: 61,
                        lastActiveDay: CivilDate("2026-03-20")!
                    )
                ])
            )
        case "query_actions": return .message(QueryActions(from: january1, to: CivilDate("2026-01-31")!, filters: []))
        case "actions_result":
            return .message(
                ActionsResult([
                    ActionUsageRow(
                        category: "content_creation",
                        actionType: nil,
                        isCoreAction: nil,
                        events: 120,
                        users: 40
                    ),
                    ActionUsageRow(
                        category: "content_creation",
                        actionType: "post_create",
                        isCoreAction: true,
                        events: 120,
                        users: 40
                    ),
                ])
            )
        case "export": return .message(Export(.dailyActivity, from: january1, to: march31, cursor: [], limit: 5000))
        case "export_next_page":
            return .message(Export(.users, from: nil, to: nil, cursor: [0, 0, 0, 0x2A], limit: 2))
        case "export_page":
            return .message(
                ExportPageResult(rows: [[.integer(7), .text("casual"), .boolean(true), .null]], next: [0, 1])
            )
        case "export_page_last": return .message(ExportPageResult(rows: [], next: []))
        case "verify": return .message(Verify(maximumReported: 100))
        case "verify_result":
            return .message(
                VerifyResult(
                    VerificationReport(
                        checked: ["daily": 1851, "sessions": 3641],
                        issues: [
                            VerificationIssue(
                                table: "daily",
                                key: "2026-01-03 user u7-000001",
                                detail: "total_actions stored 7, recomputed 6"
                            )
                        ],
                        totalIssues: 1
                    )
                )
            )
        case "rebuild": return .message(Rebuild())
        case "rebuild_result": return .message(RebuildResult())
        case "backup": return .message(Backup(path: "/var/backups/engage-2026-11-26"))
        case "backup_result": return .message(BackupResult(bytes: 135_266_304))
        case "error_invalid_cursor":
            return .message(
                ErrorResponse(
                    ProtocolError(
                        .invalidCursor,
                        "this is not an export cursor handed out by this server; start the export again with an empty cursor"
                    )
                )
            )
        case "error_backup_failed":
            return .message(
                ErrorResponse(
                    ProtocolError(
                        .backupFailed,
                        "/var/backups/engage-2026-11-26 already holds a data directory; back up into a new or empty directory"
                    )
                )
            )
        case "error_raw_events_dropped":
            return .message(
                ErrorResponse(
                    ProtocolError(
                        .rawEventsDropped,
                        "raw events before 2026-09-01 were dropped by raw-event retention; verify needs every raw event"
                    )
                )
            )
        case "query_values": return .message(QueryValues(.attribute(.region)))
        case "values_result":
            return .message(
                ValuesResult([DimensionValueRow(value: "eu", users: 48), DimensionValueRow(value: "na", users: 51)])
            )
        case "wait_applied": return .message(WaitApplied())
        case "wait_applied_result": return .message(WaitAppliedResult(appliedSequence: 1234))
        case "changes": return .message(Changes(since: 41, limit: 100))
        case "changes_result":
            let first = StoreChange(
                sequence: 42,
                catalogChanged: false,
                dailyDays: [CivilDate("2026-03-14")!, CivilDate("2026-03-15")!],
                sessionDays: [CivilDate("2026-03-14")!],
                eventDays: [CivilDate("2026-03-14")!],
                userKeys: [7, 9]
            )
            let second = StoreChange(
                sequence: 43,
                catalogChanged: true,
                dailyDays: [],
                sessionDays: [],
                eventDays: [],
                userKeys: []
            )
            return .message(ChangesResult(ChangeFeedPage(current: 43, oldest: 1, changes: [first, second])))
        case "export_users": return .message(ExportUsers(keys: [7, 9]))
        default: return nil
        }
    }
}

@Suite("Golden vectors of proto-spec/")
struct GoldenVectorTests {
    /// Whether two messages are of the same type and equal.
    static func same(_ left: any WireMessage, _ right: any WireMessage) -> Bool {
        func compare<Message: WireMessage>(_ left: Message) -> Bool { (right as? Message) == left }
        return compare(left)
    }

    @Test("there is a vector for every message type")
    func everyTypeHasAVector() throws {
        let types = Set(try GoldenVector.all().map(\.type))
        for type in MessageType.allCases { #expect(types.contains(type.rawValue), "no vector for \(type)") }
    }

    @Test(
        "each vector decodes to the expected message and re-encodes to the same bytes",
        arguments: try GoldenVector.all()
    )
    func roundTrip(vector: GoldenVector) throws {
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: vector.bytes)
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(buffer.readableBytes == 0)
        #expect(frame.type == vector.type)
        #expect(frame.requestID == vector.requestID)
        let expected = try #require(ExpectedMessage.named(vector.name), "no expectation for vector \(vector.name)")
        guard case .message(let message) = expected else { return }
        let decoded = try vector.type < 0x80 ? Request.decode(frame).message : Response.decode(frame).message
        #expect(Self.same(decoded, message), "decoded \(decoded), expected \(message)")
        var encoded = ByteBuffer()
        message.frame(requestID: vector.requestID).write(into: &encoded)
        #expect(Array(encoded.readableBytesView) == vector.bytes)
    }
}
