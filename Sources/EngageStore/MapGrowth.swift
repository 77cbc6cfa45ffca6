import CoreMetrics
import LMDB
import Logging

/// When and how far the LMDB map grows. LMDB fails a write with `MDB_MAP_FULL` once the data file reaches
/// the map size; growing ahead of that (at three quarters) keeps most commits from failing, and the writer
/// grows on demand and retries when one does.
struct MapGrowth {
    let environment: Environment
    let logger: Logger

    private let mapSize = Gauge(label: "engage_lmdb_map_size_bytes")
    private let mapUsed = Gauge(label: "engage_lmdb_used_bytes")

    init(environment: Environment, logger: Logger) {
        self.environment = environment
        self.logger = logger
    }

    /// Doubles the map when it is three quarters used, or at once when `force` (after `MDB_MAP_FULL`).
    func growIfNeeded(force: Bool) throws {
        let info = self.environment.info
        guard force || info.usedBytes * 4 >= info.mapSize * 3 else { return }
        let newSize = max(info.mapSize * 2, info.usedBytes * 2)
        self.logger.info("growing the LMDB map", metadata: ["from": "\(info.mapSize)", "to": "\(newSize)"])
        try self.environment.setMapSize(newSize)
    }

    /// Publishes the map's size and use (after each commit).
    func recordMetrics() {
        let info = self.environment.info
        self.mapSize.record(info.mapSize)
        self.mapUsed.record(info.usedBytes)
    }
}
