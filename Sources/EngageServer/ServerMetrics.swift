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

    func request(_ type: MessageType) {
        Counter(label: "engage_requests_total", dimensions: [("type", "\(type)")]).increment()
    }

    func error(_ code: ErrorCode) {
        Counter(label: "engage_request_errors_total", dimensions: [("code", code.name)]).increment()
    }

    /// Counts the error a reply of the connection state machine carries, if it is an ERROR frame.
    func errorIfAny(in reply: Frame) {
        guard reply.type == MessageType.error.rawValue, case .error(let error) = try? Response.decode(reply) else {
            return
        }
        self.error(error.code)
    }

    func rejected(_ reason: RejectReason, count: Int) {
        Counter(label: "engage_events_rejected_total", dimensions: [("reason", reason.name)]).increment(by: count)
    }

    /// Counts what a request did: events and rejections of ingest batches, durations of queries, errors.
    func record(_ request: Request, _ response: Response, nanoseconds: Int64) {
        switch response {
        case .ingestResult(let result):
            self.batches.increment()
            self.eventsIngested.increment(by: result.accepted)
            self.eventsDuplicate.increment(by: result.duplicates)
            for (reason, rejections) in Dictionary(grouping: result.rejected, by: \.reason) {
                self.rejected(reason, count: rejections.count)
            }
        case .error(let error):
            self.error(error.code)
        default:
            if request.requiredRole == .query {
                Timer(label: "engage_query_duration_seconds", dimensions: [("query", "\(request.type)")])
                    .recordNanoseconds(nanoseconds)
            }
        }
    }
}
