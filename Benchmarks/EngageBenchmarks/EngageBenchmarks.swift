import Benchmark
import EngageModel
import EngageProtocol
import EngageStore
import EngageWorkload
import Foundation
import NIOCore

/// Stores built once and kept between runs under .build-bench/fixtures (building one takes minutes).
enum FixtureStores {
    static let root = FileManager.default.currentDirectoryPath + "/.build-bench/fixtures"

    /// A store with `users` simulated users and `events` events (seed 1), durable commits disabled while
    /// building (it is a fixture, not a measurement).
    static func open(users: Int, events: Int, days: Int = 365) throws -> EngageStore {
        let path = "\(root)/u\(users)-e\(events)-d\(days)"
        let ready = path + "/ready"
        if !FileManager.default.fileExists(atPath: ready) {
            try? FileManager.default.removeItem(atPath: path)
            let store = try runningStore(StoreConfiguration(path: path, unsafeNoSync: true))
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                _ = try await store.defineActions(SimulatedCatalog.actions)
                let configuration = WorkloadConfiguration(users: users, events: events, endMs: Self.endMs, days: days)
                let stream = EventStream(configuration)
                _ = try await store.upsertUsers(stream.population.users.map(\.profile))
                var batch: [Event] = []
                var iterator = stream.makeIterator()
                while let event = iterator.next() {
                    batch.append(event)
                    if batch.count == 20_000 {
                        _ = try await store.ingest(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                _ = try await store.ingest(batch)
                semaphore.signal()
            }
            semaphore.wait()
            store.close()
            _ = FileManager.default.createFile(atPath: ready, contents: nil)
        }
        return try runningStore(StoreConfiguration(path: path, eventFilterBytes: 8 << 20))
    }

    /// The simulated timeline ends on a fixed day so that fixtures are reproducible.
    static let endMs = Timestamp.parseISO8601("2026-10-01T00:00:00Z")!
}

func lastFullMonth(_ store: EngageStore) throws -> CivilMonth {
    let last = try store.stats().lastDay!
    return CivilMonth(index: last.monthIndex - 1)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5)
    )

    // MARK: Protocol

    let sample = Array(EventStream(WorkloadConfiguration(users: 500, events: 1000, endMs: FixtureStores.endMs)))
    Benchmark(
        "frame encode: INGEST_EVENTS of 1000 events",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal])
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestEvents(IngestBatch(events: sample)).frame(requestID: 1))
        }
    }
    var encoded = ByteBuffer()
    IngestEvents(IngestBatch(events: sample)).frame(requestID: 1).write(into: &encoded)
    let wire = encoded
    Benchmark(
        "frame decode: INGEST_EVENTS of 1000 events, resolved to events",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal])
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = FrameDecoder()
            var buffer = wire
            let frame = try decoder.decode(buffer: &buffer)!
            guard case .command(.ingestEvents(let message)) = try Request.decode(frame) else { fatalError() }
            let batch = message.batch
            blackHole(batch.resolve())
        }
    }

    // MARK: Store ingest

    Benchmark(
        "store ingest: 200k events, 20k users, durable commits (per event)",
        configuration: .init(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(60), maxIterations: 3)
    ) { benchmark in
        let events = Array(
            EventStream(WorkloadConfiguration(users: 20_000, events: 200_000, endMs: FixtureStores.endMs))
        )
        for _ in benchmark.scaledIterations {
            let path = NSTemporaryDirectory() + "engage-bench-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: path) }
            let store = try runningStore(StoreConfiguration(path: path, eventFilterBytes: 8 << 20))
            benchmark.startMeasurement()
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<4 {
                        group.addTask {
                            var start = lane * 5000
                            while start < events.count {
                                _ = try await store.ingest(Array(events[start..<min(start + 5000, events.count)]))
                                start += 20_000
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                semaphore.signal()
            }
            semaphore.wait()
            benchmark.stopMeasurement()
            store.close()
        }
    }

    // MARK: Queries over 100k users and 5M events (the engagement issue's targets: each under 50 ms)
    //
    // Two shapes: 5M events over a year (most users casual, ~14k active a month), and over 60 days (most
    // users active every month: the monthly queries touch every user).

    for (days, shape) in [(365, "over a year"), (60, "over 60 days")] {
        let configuration = Benchmark.Configuration(
            metrics: [.wallClock],
            maxDuration: .seconds(10),
            setup: {
                _ = try? FixtureStores.open(users: 100_000, events: 5_000_000, days: days).close()
            }
        )
        func store() throws -> EngageStore { try FixtureStores.open(users: 100_000, events: 5_000_000, days: days) }
        Benchmark("query tiers, one month, 100k users / 5M events \(shape)", configuration: configuration) {
            benchmark in
            let store = try store()
            defer { store.close() }
            let month = try lastFullMonth(store)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try store.tiers(.month(month))) }
        }
        Benchmark("query transitions, one month, 100k users / 5M events \(shape)", configuration: configuration) {
            benchmark in
            let store = try store()
            defer { store.close() }
            let month = CivilMonth(index: try lastFullMonth(store).index - 1)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try store.transitions(month)) }
        }
        Benchmark("query active-days, one month, 100k users / 5M events \(shape)", configuration: configuration) {
            benchmark in
            let store = try store()
            defer { store.close() }
            let month = try lastFullMonth(store)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try store.activeDays(from: month.firstDay, to: month.lastDay))
            }
        }
        Benchmark("query retention, monthly, 12 periods, 100k users / 5M events \(shape)", configuration: configuration)
        { benchmark in
            let store = try store()
            defer { store.close() }
            let last = try lastFullMonth(store)
            let first = CivilMonth(index: last.index - 11)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try store.retention(period: .month, from: first.firstDay, to: last.lastDay, periods: 12))
            }
        }
        Benchmark("query activity, 90-day series, 100k users / 5M events \(shape)", configuration: configuration) {
            benchmark in
            let store = try store()
            defer { store.close() }
            let last = try store.stats().lastDay!
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try store.activity(ActivityQuery(from: last.adding(days: -89), to: last)))
            }
        }
        Benchmark("query activity by region, 90 days, 100k users / 5M events \(shape)", configuration: configuration) {
            benchmark in
            let store = try store()
            defer { store.close() }
            let last = try store.stats().lastDay!
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(
                    try store.activity(
                        ActivityQuery(from: last.adding(days: -89), to: last, breakdown: .attribute(.region))
                    )
                )
            }
        }
    }

    // MARK: Activity over 1M users

    let millionConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident],
        maxDuration: .seconds(10),
        setup: {
            _ = try? FixtureStores.open(users: 1_000_000, events: 5_000_000, days: 365).close()
        }
    )
    Benchmark("query activity, 365-day series, 1M users", configuration: millionConfiguration) { benchmark in
        let store = try FixtureStores.open(users: 1_000_000, events: 5_000_000, days: 365)
        defer { store.close() }
        let last = try store.stats().lastDay!
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try store.activity(ActivityQuery(from: last.adding(days: -364), to: last)))
        }
    }
    Benchmark("query activity where region=eu, 365 days, 1M users", configuration: millionConfiguration) { benchmark in
        let store = try FixtureStores.open(users: 1_000_000, events: 5_000_000, days: 365)
        defer { store.close() }
        let last = try store.stats().lastDay!
        let filter = [DimensionFilter(dimension: .attribute(.region), values: ["eu"])]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try store.activity(ActivityQuery(from: last.adding(days: -364), to: last, filters: filter)))
        }
    }
}

/// Opens a store and runs its writer in a task of its own (as the server's service group does).
func runningStore(_ configuration: StoreConfiguration) throws -> EngageStore {
    let store = try EngageStore(configuration: configuration)
    Task { try await store.run() }
    return store
}
