import ArgumentParser
import EngageModel
import EngageWorkload
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The baseline a team would wire up instead of Engage: per event, `PFADD dau:<day> <user>` (a HyperLogLog
/// per day) and `SETBIT active:<day> <user index> 1` (a bitmap per day), pipelined batch by batch to a local
/// redis-server. Same population, same events, same batching and the same latency measurement as `ingest`.
struct RedisBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-baseline",
        abstract: "Send the same events as `ingest` to redis-server as pipelined PFADD/SETBIT, for comparison.",
        discussion: "Each batch is one pipeline; its latency runs from sending the batch to its last reply."
    )

    @Option(name: .long, help: "redis-server HOST:PORT.") var redis: String = "127.0.0.1:6379"
    @Option(name: .long, help: "Connections to open.") var connections: Int = 4
    @Option(name: .long, help: "json or table.") var format: ReportFormat = .table
    @Option(name: .long, help: "Users in the simulated population.") var users: Int = 100_000
    @Option(name: .long, help: "Events to send.") var events: Int = 2_000_000
    @Option(name: .long, help: "Events per pipeline.") var batch: Int = 5000
    @Option(name: .long, help: "Pipelines in flight per connection.") var window: Int = 4
    @Option(name: .long, help: "Seed of the population.") var seed: UInt64 = 1

    func run() async throws {
        guard let colon = self.redis.lastIndex(of: ":"), let port = Int(self.redis[self.redis.index(after: colon)...])
        else {
            throw ValidationError("--redis must be HOST:PORT")
        }
        let host = String(self.redis[..<colon])
        let prepareStarted = Clock.now()
        let stream = EventStream(
            WorkloadConfiguration(
                users: self.users,
                events: self.events,
                seed: self.seed,
                endMs: Int64(Date().timeIntervalSince1970 * 1000)
            )
        )
        var userIndex: [String: Int] = [:]
        for (index, user) in stream.population.users.enumerated() { userIndex[user.id] = index }
        var pipelines: [(payload: ByteBuffer, commands: Int, events: Int)] = []
        var buffer = ByteBuffer()
        var commands = 0
        var count = 0
        func command(_ parts: [String]) {
            buffer.writeString("*\(parts.count)\r\n")
            for part in parts {
                buffer.writeString("$\(part.utf8.count)\r\n")
                buffer.writeString(part)
                buffer.writeString("\r\n")
            }
            commands += 1
        }
        for event in stream {
            // UTC days, as the baseline would key its daily sets.
            let day = CivilDate(dayNumber: Int32(event.timestampMs / 86_400_000)).description
            command(["PFADD", "dau:\(day)", event.userID])
            command(["SETBIT", "active:\(day)", String(userIndex[event.userID] ?? 0), "1"])
            count += 1
            if count == self.batch {
                pipelines.append((buffer, commands, count))
                buffer = ByteBuffer()
                commands = 0
                count = 0
            }
        }
        if count > 0 { pipelines.append((buffer, commands, count)) }
        let prepareSeconds = Double(Clock.now() - prepareStarted) / 1e9

        var clients: [RedisPipeline] = []
        for _ in 0..<Swift.max(1, self.connections) {
            clients.append(try await RedisPipeline.connect(host: host, port: port))
        }
        let recorder = LatencyRecorder()
        let counters = NIOLockedValueBox(LoadCounters())
        let next = NIOLockedValueBox(0)
        let all = pipelines
        let started = Clock.now()
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                for _ in 0..<Swift.max(1, self.window) {
                    group.addTask {
                        while true {
                            let index = next.withLockedValue { value -> Int in
                                defer { value += 1 }
                                return value
                            }
                            guard index < all.count, counters.withLockedValue({ $0.errors == 0 }) else { return }
                            let pipeline = all[index]
                            counters.withLockedValue { $0.sent += pipeline.events }
                            let succeeded = await Ingest.measured(
                                since: Clock.now(),
                                count: pipeline.events,
                                recorder,
                                counters
                            ) {
                                try await client.send(pipeline.payload, replies: pipeline.commands)
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
        report.add("mode", "redis-baseline")
        report.add("events_sent", totals.sent)
        report.add("events_acked", totals.acknowledged)
        report.add("seconds", seconds)
        report.add("events_per_second", Double(totals.acknowledged) / Swift.max(seconds, 1e-9))
        report.add("latency_ms", LoadReport.latency(recorder.snapshot))
        report.add("users", self.users)
        report.add("batch", self.batch)
        report.add("connections", clients.count)
        report.add("prepare_seconds", prepareSeconds)
        try report.finish(totals, self.format)
    }
}

/// A minimal RESP connection: sends a pipeline of commands and waits for that many replies. Pipelines on
/// one connection are answered in order, so each waiter takes the next N replies.
final class RedisPipeline: Sendable {
    let channel: any Channel
    let counter: ReplyCounter

    init(channel: any Channel, counter: ReplyCounter) {
        self.channel = channel
        self.counter = counter
    }

    static func connect(host: String, port: Int) async throws -> RedisPipeline {
        let counter = ReplyCounter()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(counter: counter))
                }
            }
            .connect(host: host, port: port).get()
        return RedisPipeline(channel: channel, counter: counter)
    }

    func send(_ payload: ByteBuffer, replies: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // Registering and writing on the event loop keeps waiters in the order their commands were written.
            self.channel.eventLoop.execute {
                self.counter.wait(for: replies, continuation)
                self.channel.writeAndFlush(payload, promise: nil)
            }
        }
    }

    func close() async throws { try await self.channel.close() }
}

/// Counts replies (one per CRLF-terminated line: PFADD and SETBIT answer integers) and resumes waiters in order.
final class ReplyCounter: @unchecked Sendable {
    // Only touched on the channel's event loop.
    private var waiters: [(remaining: Int, continuation: CheckedContinuation<Void, any Error>)] = []

    func wait(for replies: Int, _ continuation: CheckedContinuation<Void, any Error>) {
        self.waiters.append((replies, continuation))
    }

    func received(_ replies: Int) {
        var count = replies
        while count > 0, !self.waiters.isEmpty {
            let taken = Swift.min(count, self.waiters[0].remaining)
            self.waiters[0].remaining -= taken
            count -= taken
            if self.waiters[0].remaining == 0 { self.waiters.removeFirst().continuation.resume() }
        }
    }

    func fail(_ error: any Error) {
        let waiting = self.waiters
        self.waiters = []
        for waiter in waiting { waiter.continuation.resume(throwing: error) }
    }
}

final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let counter: ReplyCounter

    init(counter: ReplyCounter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        var lines = 0
        for byte in buffer.readableBytesView where byte == UInt8(ascii: "\n") { lines += 1 }
        self.counter.received(lines)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.counter.fail(ChannelError.ioOnClosedChannel)
    }
}
