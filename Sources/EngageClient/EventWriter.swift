import EngageModel

/// Streams events to the server in batches, with back-pressure: ``write(_:)`` waits once
/// `maximumInFlight` batches are unacknowledged. Use it from one task.
///
/// ```swift
/// let writer = connection.makeEventWriter(batchSize: 5000)
/// for event in events { try await writer.write(event) }
/// let summary = try await writer.finish()   // accepted, duplicates, rejected (with positions)
/// ```
public final class EventWriter {
    let connection: EngageConnection
    let batchSize: Int
    let maximumInFlight: Int
    private var buffer: [Event] = []
    /// Position (in the stream) of the first buffered event.
    private var bufferStart = 0
    private var inFlight: [(start: Int, task: Task<BatchResult, any Error>)] = []
    private var summary = BatchResult()
    /// Events written so far.
    public private(set) var written = 0

    init(connection: EngageConnection, batchSize: Int, maximumInFlight: Int) {
        self.connection = connection
        self.batchSize = batchSize
        self.maximumInFlight = maximumInFlight
        self.buffer.reserveCapacity(batchSize)
    }

    /// Acknowledged so far: accepted, duplicates and rejections (positions in the stream).
    public var acknowledged: BatchResult { self.summary }

    /// Adds `event` to the current batch; a full batch is sent, after waiting for the oldest one to be
    /// acknowledged when `maximumInFlight` batches are already out (back-pressure).
    public func write(_ event: Event) async throws {
        self.buffer.append(event)
        self.written += 1
        if self.buffer.count >= self.batchSize { try await self.sendBuffer() }
    }

    /// Sends what is buffered and waits until every batch is acknowledged.
    public func finish() async throws -> BatchResult {
        if !self.buffer.isEmpty { try await self.sendBuffer() }
        while !self.inFlight.isEmpty { try await self.collectOldest() }
        return self.summary
    }

    private func sendBuffer() async throws {
        while self.inFlight.count >= self.maximumInFlight { try await self.collectOldest() }
        let batch = self.buffer
        let connection = self.connection
        self.inFlight.append((self.bufferStart, Task { try await connection.ingestBatch(batch) }))
        self.bufferStart += batch.count
        self.buffer.removeAll(keepingCapacity: true)
    }

    private func collectOldest() async throws {
        let (start, task) = self.inFlight.removeFirst()
        let result = try await task.value
        self.summary.accepted += result.accepted
        self.summary.duplicates += result.duplicates
        self.summary.rejected += result.rejected.map { Rejection(index: $0.index + start, reason: $0.reason) }
    }
}
