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
                result.rejected = (result.rejected.map { Rejection(index: positions[$0.index], reason: $0.reason) } + rejected)
                    .sorted { $0.index < $1.index }
                return .ingestResult(result)
            case .queryActivity(let query):
                let store = self.store
                return .activityResult(try await self.queryPool.runIfActive { try store.activity(query) })
            case .stats:
                let store = self.store
                return .statsResult(try await self.queryPool.runIfActive { try store.stats() })
            case .hello, .ping:
                return .error(ProtocolError(.internalError, "handled by the connection"))
            }
        } catch let error as QueryError {
            return .error(ProtocolError(.invalidQuery, error.description))
        } catch let error as StoreWriteError {
            switch error.kind {
            case .storageFull: return .error(ProtocolError(.storageFull, error.description))
            case .closed: return .error(ProtocolError(.shuttingDown, error.description))
            case .failed:
                self.logger.error("request failed", metadata: ["error": "\(error)"])
                return .error(ProtocolError(.internalError, error.description))
            }
        } catch {
            self.logger.error("request failed", metadata: ["error": "\(error)"])
            return .error(ProtocolError(.internalError, "\(error)"))
        }
    }
}
