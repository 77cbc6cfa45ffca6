import CoreMetrics
import EngageModel
import EngageProtocol

/// The server's swift-metrics instruments (Prometheus names). Only `engaged`'s main chooses the backend.
struct ServerMetrics: Sendable {
    let connections = Meter(label: "engage_connections")
    let connectionsOpened = Counter(label: "engage_connections_opened_total")
    let eventsIngested = Counter(label: "engage_events_ingested_total")
    let eventsDuplicate = Counter(label: "engage_events_duplicate_total")
    let batches = Counter(label: "engage_ingest_batches_total")
    /// Request bytes being carried out (the global back-pressure budget in use).
    let bufferedBytes = Gauge(label: "engage_buffered_request_bytes")

    func error(_ code: ErrorCode) {
        Counter(label: "engage_request_errors_total", dimensions: [("code", code.name)]).increment()
    }

    /// Counts what the connection state machine decided: requests carried out or answered directly, and the
    /// errors it sent.
    func count(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .execute(let command, _): self.request(command.type)
        case .sendPong: self.request(.ping)
        case .sendHelloOK: self.request(.hello)
        case .sendError(let error, _, _): self.error(error.code)
        case .none, .halfClose, .checkAgain: break
        }
    }

    private func request(_ type: MessageType) {
        Counter(label: "engage_requests_total", dimensions: [("type", "\(type)")]).increment()
    }

    func rejected(_ reason: RejectReason, count: Int) {
        Counter(label: "engage_events_rejected_total", dimensions: [("reason", reason.name)]).increment(by: count)
    }

    /// Counts what an operation did: events and rejections of ingest batches, durations of queries, errors.
    func record(_ command: Command, _ response: Response, nanoseconds: Int64) {
        switch response {
        case .ingestResult(let message):
            self.batches.increment()
            self.eventsIngested.increment(by: message.result.accepted)
            self.eventsDuplicate.increment(by: message.result.duplicates)
            for (reason, rejections) in Dictionary(grouping: message.result.rejected, by: \.reason) {
                self.rejected(reason, count: rejections.count)
            }
        case .error(let message):
            self.error(message.error.code)
        default:
            if command.isQuery {
                Timer(label: "engage_query_duration_seconds", dimensions: [("query", "\(command.type)")])
                    .recordNanoseconds(nanoseconds)
            }
        }
    }
}

extension Command {
    /// Reads that answer with numbers or rows (timed by `engage_query_duration_seconds`).
    var isQuery: Bool {
        switch self {
        case .queryActivity, .stats, .queryActiveDays, .queryTiers, .queryTransitions, .queryRetention, .queryLifecycle,
            .querySessions, .queryUser, .queryAtRisk, .queryActions, .export, .queryValues, .changes, .exportUsers:
            return true
        case .defineActions, .upsertUsers, .ingestEvents, .verify, .rebuild, .backup, .waitApplied:
            return false
        }
    }
}
