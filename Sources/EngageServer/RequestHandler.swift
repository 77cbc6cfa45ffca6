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

    public func handle(_ request: Request) async -> Response {
        do {
            switch request {
            case .defineActions(let actions):
                return .defineActionsResult(try await self.store.defineActions(actions))
            case .upsertUsers(let users):
                return .upsertUsersResult(try await self.store.upsertUsers(users))
            case .ingestEvents(let batch):
                let (events, positions, rejected) = batch.resolve()
                var result = events.isEmpty ? BatchResult() : try await self.store.ingest(events)
                result.rejected =
                    (result.rejected.map { Rejection(index: positions[$0.index], reason: $0.reason) } + rejected)
                    .sorted { $0.index < $1.index }
                return .ingestResult(result)
            case .queryActivity(let query):
                return .activityResult(try await self.query { try $0.activity(query) })
            case .stats:
                return .statsResult(try await self.query { try $0.stats() })
            case .queryActiveDays(let from, let to, let selection):
                return .activeDaysResult(try await self.query { try $0.activeDays(from: from, to: to, selection) })
            case .queryTiers(let window, let selection):
                return .tiersResult(try await self.query { try $0.tiers(window, selection) })
            case .queryTransitions(let month, let filters):
                return .transitionsResult(
                    try await self.query { try $0.transitions(month, Selection(filters: filters)) }
                )
            case .queryRetention(let period, let from, let to, let periods, let selection):
                return .retentionResult(
                    try await self.query {
                        try $0.retention(period: period, from: from, to: to, periods: periods, selection)
                    }
                )
            case .queryLifecycle(let period, let from, let to, let filters):
                return .lifecycleResult(
                    try await self.query {
                        try $0.lifecycle(period: period, from: from, to: to, Selection(filters: filters))
                    }
                )
            case .querySessions(let from, let to, let filters):
                return .sessionsResult(
                    try await self.query { try $0.sessionSummary(from: from, to: to, Selection(filters: filters)) }
                )
            case .queryUser(let userID):
                return .userResult(try await self.query { try $0.user(userID) })
            case .queryAtRisk(let asOf, let limit, let filters):
                return .atRiskResult(
                    try await self.query { try $0.atRisk(asOf: asOf, limit: limit, Selection(filters: filters)) }
                )
            case .queryActions(let from, let to, let filters):
                return .actionsResult(
                    try await self.query { try $0.actionUsage(from: from, to: to, Selection(filters: filters)) }
                )
            case .export(let table, let from, let to, let cursor, let limit):
                let page = try await self.query {
                    try $0.exportPage(table, from: from, to: to, after: cursor.isEmpty ? nil : cursor, limit: limit)
                }
                return .exportPage(rows: page.rows, next: page.next ?? [])
            case .verify(let maximumReported):
                return .verifyResult(try await self.query { try $0.verify(maximumReported: maximumReported) })
            case .rebuild:
                try await self.store.rebuildDerivedRecords()
                return .rebuildResult
            case .backup(let path):
                return .backupResult(bytes: try await self.query { try $0.backup(to: path) })
            case .queryValues(let dimension):
                return .valuesResult(try await self.query { try $0.dimensionValues(dimension) })
            case .hello, .ping:
                return .error(ProtocolError(.internalError, "handled by the connection"))
            }
        } catch let error as StoreError {
            let code = Self.protocolCode(of: error.code)
            if code == .internalError { self.logger.error("request failed", metadata: ["error": "\(error)"]) }
            return .error(ProtocolError(code, error.message))
        } catch {
            self.logger.error("request failed", metadata: ["error": "\(error)"])
            return .error(ProtocolError(.internalError, "\(error)"))
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
