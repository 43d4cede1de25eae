import Metrics

/// The server's swift-metrics instruments.
struct ServerMetrics: Sendable {
    private let requests = Counter(label: "tether_requests_total")
    private let disconnects = Counter(label: "tether_disconnects_during_processing_total")
    private let activeConnections = Meter(label: "tether_active_connections")
    private let duration = Metrics.Timer(label: "tether_request_duration")

    func connectionOpened() { self.activeConnections.increment() }
    func connectionClosed() { self.activeConnections.decrement() }

    func requestEnded(duration: Duration, clientLeft: Bool) {
        self.requests.increment()
        if clientLeft { self.disconnects.increment() }
        self.duration.record(duration: duration)
    }
}
