import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageModel
import EngageWorkload
import Foundation
import Histogram
import NIOConcurrencyHelpers

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Stream a simulated population's events to engaged and report throughput and acknowledgement latency.",
        discussion: """
            Without --rate: closed loop, as fast as acknowledgements come (each connection keeps --window batches \
            in flight). With --rate: open loop at that many events per second; each batch has an intended send time \
            and its latency is measured from it, so a stalled server shows up in the percentiles instead of slowing \
            the load (no coordinated omission). Users and the action catalog are sent first and not measured; \
            batches are generated and encoded before the clock starts, so the generator's CPU does not compete with \
            the server during the measurement. If the server goes away mid-run, the report covers what was \
            acknowledged before, and the exit status is 2.
            """
    )

    @OptionGroup var options: ServerOptions
    @Option(name: .long, help: "Users in the simulated population.") var users: Int = 100_000
    @Option(name: .long, help: "Events to send (duplicates included).") var events: Int = 2_000_000
    @Option(name: .long, help: "Events per batch.") var batch: Int = 5000
    @Option(name: .long, help: "Open loop at this many events per second.") var rate: Double?
    @Option(name: .long, help: "Batches in flight per connection (closed loop).") var window: Int = 4
    @Option(name: .long, help: "Seed of the population (same seed, same event ids).") var seed: UInt64 = 1
    @Option(name: .long, help: "Simulated days; without it, as many as the population needs for --events.") var days:
        Int?
    @Option(name: .long, help: "Share of events re-sent as duplicates.") var duplicateShare: Double = 0.01
    @Option(name: .long, help: "Share of events delivered late.") var lateShare: Double = 0.02
    @Option(
        name: .long,
        help:
            "Also report the rate of each successive slice of this many acknowledged events (how ingest changes as the store grows)."
    )
    var sliceEvents: Int?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Every this many milliseconds, measure the visibility lag on a connection of its own (0: off).",
            discussion:
                "A probe sends WAIT_APPLIED, answered once every batch acknowledged before it is visible to queries: its time is the lag of the newest acknowledgement."
        )
    )
    var probeInterval: Int = 100

    func validate() throws {
        guard self.users >= 1, self.events >= 1 else { throw ValidationError("--users and --events must be positive") }
        guard self.batch >= 1 else { throw ValidationError("--batch must be positive") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
    }

    func run() async throws {
        // One list of connections per node of --server A,B,...; each user's events go to its node.
        let nodes = try await self.options.connectNodes("engage-load")
        let clients = nodes.flatMap { $0 }
        let maximumBatch = clients[0].maximumBatchItems
        let batchSize = Swift.min(self.batch, maximumBatch)

        // Preparation (not measured): catalog, users, batches.
        let prepareStarted = Clock.now()
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let configuration = WorkloadConfiguration(
            users: self.users,
            events: self.events,
            seed: self.seed,
            lateShare: self.lateShare,
            duplicateShare: self.duplicateShare,
            endMs: nowMs,
            days: self.days
        )
        let stream = EventStream(configuration)
        let cluster = EngageCluster(nodes: nodes.map { $0[0] })
        _ = try await cluster.defineActions(SimulatedCatalog.actions)
        let profiles = stream.population.users.map(\.profile)
        var start = 0
        while start < profiles.count {
            _ = try await cluster.upsertUsers(Array(profiles[start..<Swift.min(start + 20_000, profiles.count)]))
            start += 20_000
        }
        var batches: [RoutedBatch] = []
        var pending = [[Event]](repeating: [], count: nodes.count)
        for event in stream {
            let node = nodes.count == 1 ? 0 : cluster.nodeIndex(of: event.userID)
            pending[node].append(event)
            if pending[node].count == batchSize {
                batches.append(RoutedBatch(node: node, batch: PreparedIngestBatch(events: pending[node])))
                pending[node].removeAll(keepingCapacity: true)
            }
        }
        for (node, events) in pending.enumerated() where !events.isEmpty {
            batches.append(RoutedBatch(node: node, batch: PreparedIngestBatch(events: events)))
        }
        let prepareSeconds = Double(Clock.now() - prepareStarted) / 1e9

        // Measurement.
        let recorder = LatencyRecorder()
        let counters = NIOLockedValueBox(LoadCounters())
        let started = Clock.now()
        let slices = NIOLockedValueBox<[Double]>([])
        let sliceSize = self.sliceEvents
        let sliceWatch = Task {
            guard let sliceSize, sliceSize > 0 else { return }
            var mark = (events: 0, time: started)
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                let acknowledged = counters.withLockedValue { $0.acknowledged }
                if acknowledged - mark.events >= sliceSize {
                    let now = Clock.now()
                    let rate = Double(acknowledged - mark.events) / (Double(now - mark.time) / 1e9)
                    slices.withLockedValue { $0.append(rate) }
                    mark = (acknowledged, now)
                }
            }
        }
        // Visibility lag: how long until what was just acknowledged is visible to queries.
        let lags = LatencyRecorder()
        let probeClient =
            self.probeInterval > 0
            ? try? await Self.probeOptions(self.options.client).connect(clientName: "engage-load-probe") : nil
        let probeInterval = self.probeInterval
        let probe = Task {
            guard let probeClient else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(probeInterval))
                let asked = Clock.now()
                // A server without WAIT_APPLIED (older than protocol 4.27) ends the probe.
                guard (try? await probeClient.waitApplied()) != nil else { return }
                lags.record(microseconds: (Clock.now() - asked) / 1000)
            }
        }
        let progress = Task {
            guard ProgressLine.enabled else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let seconds = Double(Clock.now() - started) / 1e9
                let snapshot = counters.withLockedValue { $0 }
                let p99 = Double(recorder.snapshot.valueAtPercentile(99)) / 1000
                ProgressLine.show(
                    String(
                        format: "%5.0fs  sent %d  acknowledged %d  %@ events/s  p99 %.1f ms",
                        seconds,
                        snapshot.sent,
                        snapshot.acknowledged,
                        (Double(snapshot.acknowledged) / seconds).formattedRate(),
                        p99
                    )
                )
            }
        }
        if let rate = self.rate {
            await Self.openLoop(batches: batches, nodes: nodes, rate: rate, recorder: recorder, counters: counters)
        } else {
            await Self.closedLoop(
                batches: batches,
                nodes: nodes,
                window: self.window,
                recorder: recorder,
                counters: counters
            )
        }
        let seconds = Double(Clock.now() - started) / 1e9
        progress.cancel()
        sliceWatch.cancel()
        probe.cancel()
        await probe.value
        ProgressLine.end()
        // Acknowledged is durable; applied is visible to queries. How long until all of it was?
        var appliedSeconds: Double?
        if probeClient != nil, (try? await cluster.waitApplied()) != nil {
            appliedSeconds = Double(Clock.now() - started) / 1e9
        }
        try? await probeClient?.close()
        for client in clients { try? await client.close() }

        let totals = counters.withLockedValue { $0 }
        var report = LoadReport()
        report.add("mode", self.rate == nil ? "closed" : "open")
        report.add("events_sent", totals.sent)
        report.add("events_acked", totals.acknowledged)
        report.add("accepted", totals.accepted)
        report.add("duplicates", totals.duplicates)
        report.add("rejected", totals.rejected)
        report.add("seconds", seconds)
        report.add("events_per_second", Double(totals.acknowledged) / Swift.max(seconds, 1e-9))
        report.add("latency_ms", LoadReport.latency(recorder.snapshot))
        if let appliedSeconds {
            report.add("applied_seconds", appliedSeconds)
            report.add("applied_events_per_second", Double(totals.acknowledged) / Swift.max(appliedSeconds, 1e-9))
            report.add("visibility_lag_ms", LoadReport.latency(lags.snapshot))
            report.add("visibility_probes", Int(lags.snapshot.totalCount))
        }
        report.add("target_rate", self.rate ?? 0)
        report.add("users", self.users)
        report.add("batch", batchSize)
        report.add("connections", clients.count)
        report.add("nodes", nodes.count)
        report.add("seed", Int(self.seed))
        report.add("simulated_days", stream.days)
        report.add("prepare_seconds", prepareSeconds)
        if let sliceSize = self.sliceEvents {
            report.add("slice_events", sliceSize)
            report.add("events_per_second_by_slice", slices.withLockedValue { $0 }.map { $0.rounded() })
        }
        try report.finish(totals, self.options.format)
    }

    static func account(
        _ result: BatchResult,
        events: Int,
        latency: UInt64,
        _ recorder: LatencyRecorder,
        _ counters: NIOLockedValueBox<LoadCounters>
    ) {
        recorder.record(microseconds: latency / 1000)
        counters.withLockedValue {
            $0.acknowledged += events
            $0.accepted += result.accepted
            $0.duplicates += result.duplicates
            $0.rejected += result.rejected.count
        }
    }

    static func failed(_ error: any Error, _ counters: NIOLockedValueBox<LoadCounters>) {
        counters.withLockedValue {
            $0.errors += 1
            if $0.firstError == nil { $0.firstError = "\(error)" }
        }
    }

    /// Runs one request; on success records its latency since `since` and `count` acknowledged items, on failure
    /// counts the error. Returns whether it succeeded.
    static func measured(
        since: UInt64,
        count: Int,
        _ recorder: LatencyRecorder,
        _ counters: NIOLockedValueBox<LoadCounters>,
        _ request: () async throws -> Void
    ) async -> Bool {
        do {
            try await request()
            recorder.record(microseconds: (Clock.now() - since) / 1000)
            counters.withLockedValue { $0.acknowledged += count }
            return true
        } catch {
            Self.failed(error, counters)
            return false
        }
    }

    /// An ingest batch and the node of its users.
    struct RoutedBatch: Sendable {
        let node: Int
        let batch: PreparedIngestBatch
    }

    /// The probe watches the first node.
    static func probeOptions(_ options: ClientConnectionOptions) -> ClientConnectionOptions {
        var options = options
        options.serverOption = options.servers[0]
        return options
    }

    /// Each connection keeps `window` batches in flight; the next batch of its node goes as soon as one is
    /// acknowledged.
    static func closedLoop(
        batches: [RoutedBatch],
        nodes: [[EngageConnection]],
        window: Int,
        recorder: LatencyRecorder,
        counters: NIOLockedValueBox<LoadCounters>
    ) async {
        let queues = (0..<nodes.count).map { node in batches.filter { $0.node == node }.map(\.batch) }
        let next = NIOLockedValueBox([Int](repeating: 0, count: nodes.count))
        await withTaskGroup(of: Void.self) { group in
            for (node, clients) in nodes.enumerated() {
                let batches = queues[node]
                for client in clients {
                    for _ in 0..<Swift.max(1, window) {
                        group.addTask {
                            while true {
                                let index = next.withLockedValue { value -> Int in
                                    defer { value[node] += 1 }
                                    return value[node]
                                }
                                guard index < batches.count, counters.withLockedValue({ $0.errors == 0 }) else {
                                    return
                                }
                                let batch = batches[index]
                                counters.withLockedValue { $0.sent += batch.eventCount }
                                let sent = Clock.now()
                                do {
                                    let result = try await client.ingest(batch)
                                    Self.account(
                                        result,
                                        events: batch.eventCount,
                                        latency: Clock.now() - sent,
                                        recorder,
                                        counters
                                    )
                                } catch {
                                    Self.failed(error, counters)
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Batch i is due at start + i * batch / rate, whatever happened to the others; latency counts from then.
    static func openLoop(
        batches: [RoutedBatch],
        nodes: [[EngageConnection]],
        rate: Double,
        recorder: LatencyRecorder,
        counters: NIOLockedValueBox<LoadCounters>
    ) async {
        let start = Clock.now()
        await withTaskGroup(of: Void.self) { group in
            var due = 0.0
            for (index, routed) in batches.enumerated() {
                let batch = routed.batch
                let intended = start + UInt64(due * 1e9)
                due += Double(batch.eventCount) / rate
                let now = Clock.now()
                if intended > now { try? await Task.sleep(nanoseconds: intended - now) }
                if counters.withLockedValue({ $0.errors > 0 }) { break }
                let clients = nodes[routed.node]
                let client = clients[index % clients.count]
                counters.withLockedValue { $0.sent += batch.eventCount }
                group.addTask {
                    do {
                        let result = try await client.ingest(batch)
                        Self.account(
                            result,
                            events: batch.eventCount,
                            latency: Clock.now() - intended,
                            recorder,
                            counters
                        )
                    } catch {
                        Self.failed(error, counters)
                    }
                }
            }
        }
    }
}
