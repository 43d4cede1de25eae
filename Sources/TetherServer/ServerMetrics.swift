import Metrics
import TetherGateway

/// The server's swift-metrics instruments.
struct ServerMetrics: Sendable {
    private let requests = Counter(label: "tether_requests_total")
    /// Cancelled requests, one counter per reason, made once.
    private let cancellations: [CancellationReason: Counter] = Dictionary(
        uniqueKeysWithValues: CancellationReason.allCases.map {
            ($0, Counter(label: "tether_requests_cancelled_total", dimensions: [("reason", "\($0)")]))
        })
    private let activeConnections = Meter(label: "tether_active_connections")
    private let duration = Metrics.Timer(label: "tether_request_duration")

    func connectionOpened() { self.activeConnections.increment() }
    func connectionClosed() { self.activeConnections.decrement() }

    func requestEnded(duration: Duration, cancelled reason: CancellationReason?) {
        self.requests.increment()
        if let reason { self.cancellations[reason]?.increment() }
        self.duration.record(duration: duration)
    }
}
