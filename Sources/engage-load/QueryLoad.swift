import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageModel
import Foundation
import NIOConcurrencyHelpers

struct QueryLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run one kind of query against engaged for a while and report queries/s and latency.",
        discussion: """
            Ranges come from the server's data: activity is the 90 days ending on the last day with events; \
            active-days and tiers the last full month; retention monthly cohorts of the last 12 months over 12 \
            periods; lifecycle weekly over the last 90 days. Without --rate each connection runs queries back to \
            back; with --rate, open loop with latency from each query's intended start.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case activity
        case activeDays = "active-days"
        case tiers, retention, lifecycle
    }

    @OptionGroup var options: ServerOptions
    @Option(name: .long, help: "activity, active-days, tiers, retention or lifecycle.") var query: Kind = .activity
    @Option(name: .long, help: "How long to run: 10s, 2m. (default: 10s)", transform: DurationArgument.parse)
    var duration = DurationArgument(milliseconds: 10_000)
    @Option(name: .long, help: "Open loop at this many queries per second.") var rate: Double?

    func run() async throws {
        let clients = try await self.options.connect("engage-load-query")
        let stats = try await clients[0].stats()
        guard let last = stats.lastDay else { throw ValidationError("the server holds no events to query") }
        let lastMonth = CivilMonth(index: last.monthIndex - 1)
        let kind = self.query
        let run: @Sendable (EngageConnection) async throws -> Void = { client in
            switch kind {
            case .activity: _ = try await client.activity(ActivityQuery(from: last.adding(days: -89), to: last))
            case .activeDays: _ = try await client.activeDays(from: lastMonth.firstDay, to: lastMonth.lastDay)
            case .tiers: _ = try await client.tiers(.month(lastMonth))
            case .retention:
                _ = try await client.retention(
                    period: .month,
                    from: CivilMonth(index: lastMonth.index - 11).firstDay,
                    to: lastMonth.lastDay,
                    periods: 12
                )
            case .lifecycle: _ = try await client.lifecycle(period: .week, from: last.adding(days: -89), to: last)
            }
        }
        let recorder = LatencyRecorder()
        let counters = NIOLockedValueBox(LoadCounters())
        let started = Clock.now()
        let end = started + UInt64(self.duration.milliseconds) * 1_000_000
        if let rate = self.rate {
            await withTaskGroup(of: Void.self) { group in
                var index = 0
                while true {
                    let intended = started + UInt64(Double(index) / rate * 1e9)
                    guard intended < end else { break }
                    let now = Clock.now()
                    if intended > now { try? await Task.sleep(nanoseconds: intended - now) }
                    let client = clients[index % clients.count]
                    index += 1
                    group.addTask {
                        _ = await Ingest.measured(since: intended, count: 1, recorder, counters) {
                            try await run(client)
                        }
                    }
                }
            }
        } else {
            await withTaskGroup(of: Void.self) { group in
                for client in clients {
                    group.addTask {
                        while Clock.now() < end && counters.withLockedValue({ $0.errors == 0 }) {
                            let succeeded = await Ingest.measured(since: Clock.now(), count: 1, recorder, counters) {
                                try await run(client)
                            }
                            if !succeeded { return }
                        }
                    }
                }
            }
        }
        let seconds = Double(Clock.now() - started) / 1e9
        for client in clients { try? await client.close() }
        let totals = counters.withLockedValue { $0 }
        var report = LoadReport()
        report.add("query", kind.rawValue)
        report.add("mode", self.rate == nil ? "closed" : "open")
        report.add("queries", totals.acknowledged)
        report.add("seconds", seconds)
        report.add("queries_per_second", Double(totals.acknowledged) / Swift.max(seconds, 1e-9))
        report.add("latency_ms", LoadReport.latency(recorder.snapshot))
        report.add("connections", clients.count)
        try report.finish(totals, self.options.format)
    }
}
