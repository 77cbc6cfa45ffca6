import EngageClickHouse
import EngageClient
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// `engaged --clickhouse-url`: the sync of `engage clickhouse sync` run inside the server, as a client of its
/// own port (loopback), so that its lag is in this server's /metrics
/// (`engage_clickhouse_sync_lag_seconds`, `engage_clickhouse_sync_lag_sequences`,
/// `engage_clickhouse_synced_sequence`, `engage_clickhouse_sync_rows_total`). A failure (ClickHouse down) is
/// logged and retried every `retryInterval`; it never stops the server.
struct ClickHouseSyncService: Service {
    let configuration: ClickHouseSyncConfiguration
    /// The port the server listens on, once it does.
    let port: NIOLockedValueBox<Int?>
    let token: String?
    let logger: Logger
    var retryInterval: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.syncUntilFailure()
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    self.logger.error("ClickHouse sync failed (retrying in \(self.retryInterval)): \(error)")
                }
                try? await Task.sleep(for: self.retryInterval)
            }
        }
    }

    private func syncUntilFailure() async throws {
        guard let port = self.port.withLockedValue({ $0 }) else { return }
        let target = try await ClickHouseTarget.connect(self.configuration.clickhouse, logger: self.logger)
        defer { target.shutdown() }
        let connection = try await EngageConnection.connect(
            EngageClientConfiguration(
                server: "127.0.0.1:\(port)",
                token: self.token,
                clientName: "engaged-clickhouse-sync",
                requestTimeout: .seconds(600)
            )
        )
        defer { Task { try? await connection.close() } }
        let sync = ClickHouseSync(
            source: connection,
            target: target,
            configuration: self.configuration,
            logger: self.logger
        )
        self.logger.info(
            "ClickHouse sync of node \(self.configuration.nodeID) into \(target.database) on \(target.shards.map(\.url))"
        )
        try await sync.run()
    }
}
