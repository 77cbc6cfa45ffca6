import EngageModel
import EngageProtocol
import EngageStore
import Logging
import NIOPosix

/// Carries out requests against the store: writes through the writer, queries on a thread pool (they
/// block on LMDB reads and must stay off the event loops).
public struct RequestHandler: Sendable {
    let store: EngageStore
    let queryPool: NIOThreadPool
    let logger: Logger

    public init(store: EngageStore, queryPool: NIOThreadPool, logger: Logger) {
        self.store = store
        self.queryPool = queryPool
        self.logger = logger
    }

    /// Runs a read on the query pool (LMDB reads block; they stay off the event loops and the cooperative pool).
    private func query<Result: Sendable>(
        _ body: @escaping @Sendable (EngageStore) throws -> Result
    ) async throws -> Result {
        let store = self.store
        return try await self.queryPool.runIfActive { try body(store) }
    }

    /// Carries out `command` and gives the response to send; a failure becomes an ERROR response with the
    /// code the client can act on.
    public func handle(_ command: Command) async -> Response {
        do {
            return try await self.carryOut(command)
        } catch let error as StoreError {
            let code = Self.protocolCode(of: error.code)
            if code == .internalError { self.logger.error("request failed", metadata: ["error": "\(error)"]) }
            return .error(ProtocolError(code, error.message))
        } catch {
            self.logger.error("request failed", metadata: ["error": "\(error)"])
            return .error(ProtocolError(.internalError, "\(error)"))
        }
    }

    private func carryOut(_ command: Command) async throws -> Response {
        switch command {
        case .defineActions(let request):
            return .defineActionsResult(DefineActionsResult(try await self.store.defineActions(request.actions)))
        case .upsertUsers(let request):
            return .upsertUsersResult(UpsertUsersResult(try await self.store.upsertUsers(request.users)))
        case .ingestEvents(let request):
            let (events, positions, rejected) = request.batch.resolve()
            var result = events.isEmpty ? BatchResult() : try await self.store.ingest(events)
            result.rejected =
                (result.rejected.map { Rejection(index: positions[$0.index], reason: $0.reason) } + rejected)
                .sorted { $0.index < $1.index }
            return .ingestResult(IngestResult(result))
        case .queryActivity(let request):
            return .activityResult(ActivityResult(try await self.query { try $0.activity(request.query) }))
        case .stats:
            return .statsResult(StatsResult(try await self.query { try $0.stats() }))
        case .queryActiveDays(let request):
            return .activeDaysResult(
                ActiveDaysResult(
                    try await self.query { try $0.activeDays(from: request.from, to: request.to, request.selection) }
                )
            )
        case .queryTiers(let request):
            return .tiersResult(TiersResult(try await self.query { try $0.tiers(request.window, request.selection) }))
        case .queryTransitions(let request):
            return .transitionsResult(
                TransitionsResult(
                    try await self.query { try $0.transitions(request.month, Selection(filters: request.filters)) }
                )
            )
        case .queryRetention(let request):
            return .retentionResult(
                RetentionResult(
                    try await self.query {
                        try $0.retention(
                            period: request.period,
                            from: request.from,
                            to: request.to,
                            periods: request.periods,
                            request.selection
                        )
                    }
                )
            )
        case .queryLifecycle(let request):
            return .lifecycleResult(
                LifecycleResult(
                    try await self.query {
                        try $0.lifecycle(
                            period: request.period,
                            from: request.from,
                            to: request.to,
                            Selection(filters: request.filters)
                        )
                    }
                )
            )
        case .querySessions(let request):
            return .sessionsResult(
                SessionsResult(
                    try await self.query {
                        try $0.sessionSummary(from: request.from, to: request.to, Selection(filters: request.filters))
                    }
                )
            )
        case .queryUser(let request):
            return .userResult(UserResult(try await self.query { try $0.user(request.userID) }))
        case .queryAtRisk(let request):
            return .atRiskResult(
                AtRiskResult(
                    try await self.query {
                        try $0.atRisk(asOf: request.asOf, limit: request.limit, Selection(filters: request.filters))
                    }
                )
            )
        case .queryActions(let request):
            return .actionsResult(
                ActionsResult(
                    try await self.query {
                        try $0.actionUsage(from: request.from, to: request.to, Selection(filters: request.filters))
                    }
                )
            )
        case .export(let request):
            let page = try await self.query {
                try $0.exportPage(
                    request.table,
                    from: request.from,
                    to: request.to,
                    after: request.cursor.isEmpty ? nil : request.cursor,
                    limit: request.limit
                )
            }
            return .exportPage(ExportPageResult(rows: page.rows, next: page.next ?? []))
        case .verify(let request):
            return .verifyResult(
                VerifyResult(try await self.query { try $0.verify(maximumReported: request.maximumReported) })
            )
        case .rebuild:
            try await self.store.rebuildDerivedRecords()
            return .rebuildResult(RebuildResult())
        case .backup(let request):
            return .backupResult(BackupResult(bytes: try await self.store.backup(to: request.path)))
        case .queryValues(let request):
            return .valuesResult(ValuesResult(try await self.query { try $0.dimensionValues(request.dimension) }))
        case .waitApplied:
            return .waitAppliedResult(WaitAppliedResult(appliedSequence: try await self.store.waitApplied()))
        case .changes(let request):
            return .changesResult(
                ChangesResult(try await self.query { try $0.changes(since: request.since, limit: request.limit) })
            )
        case .exportUsers(let request):
            return .exportPage(
                ExportPageResult(rows: try await self.query { try $0.exportUsers(keys: request.keys) }, next: [])
            )
        }
    }

    /// The protocol's error code for a store failure: refusals the client can act on keep their own code;
    /// only real failures are `internal_error`.
    static func protocolCode(of code: StoreError.Code) -> ErrorCode {
        switch code {
        case .invalidQuery: return .invalidQuery
        case .invalidCursor: return .invalidCursor
        case .storageFull: return .storageFull
        case .closed: return .shuttingDown
        case .rawEventsDropped: return .rawEventsDropped
        case .backupFailed: return .backupFailed
        default: return .internalError
        }
    }
}
