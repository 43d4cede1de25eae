import CoreMetrics
import HTTPTypes
import Metrics
import NIOConcurrencyHelpers
import TetherGateway

/// The server's swift-metrics instruments, made with one factory: what every request, cancellation and refusal
/// counts, and how long each took.
///
/// Instruments with dimensions are made once per combination (a method, a route pattern and a status) and kept,
/// so that a request costs one dictionary look-up rather than a factory call per instrument.
final class ServerMetrics: Sendable {
    /// The names the instruments are exported under, as ``Server/Configuration/Observability`` documents them.
    enum Label {
        static let requests = "tether_requests_total"
        static let duration = "tether_request_duration_seconds"
        static let bytesIn = "tether_request_body_bytes_total"
        static let bytesOut = "tether_response_body_bytes_total"
        static let cancellations = "tether_requests_cancelled_total"
        static let closeToCancel = "tether_close_to_cancel_seconds"
        static let workSaved = "tether_work_saved_seconds_total"
        static let activeConnections = "tether_active_connections"
        static let activeRequests = "tether_active_requests"
        static let spooledBodies = "tether_spooled_bodies_total"
        static let spooledBytes = "tether_spooled_body_bytes_total"
        static let refusals = "tether_refusals_total"
    }

    /// The route label of a request no route matched, or whose application names no routes.
    static let unmatchedRoute = "unmatched"
    /// The statuses refused before any application sees the request, each with its own series from the start.
    static let refusedStatuses: [Int] = [400, 408, 413, 414, 431, 501, 503, 505]

    private struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    /// A finished request's instruments.
    private struct Outcome {
        let requests: Counter
        let duration: CoreMetrics.Timer
        let bytesIn: Counter
        let bytesOut: Counter
    }

    private struct CancellationKey: Hashable {
        var route: String
        var reason: CancellationReason
    }

    /// A cancelled request's instruments.
    private struct Cancellation {
        let count: Counter
        let closeToCancel: CoreMetrics.Timer
        let savedExpected: FloatingPointCounter
        let savedElapsed: FloatingPointCounter
    }

    private let factory: any MetricsFactory
    private let outcomes = NIOLockedValueBox([Key: Outcome]())
    private let cancellations = NIOLockedValueBox([CancellationKey: Cancellation]())
    private let activeConnections: Meter
    private let activeRequests: Meter
    private let spooledBodies: Counter
    private let spooledBytes: Counter
    private let refusals: [Int: Counter]

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.activeConnections = Meter(label: Label.activeConnections, factory: factory)
        self.activeRequests = Meter(label: Label.activeRequests, factory: factory)
        self.spooledBodies = Counter(label: Label.spooledBodies, factory: factory)
        self.spooledBytes = Counter(label: Label.spooledBytes, factory: factory)
        self.refusals = Dictionary(
            uniqueKeysWithValues: Self.refusedStatuses.map {
                ($0, Counter(label: Label.refusals, dimensions: [("status", String($0))], factory: factory))
            })
    }

    func connectionOpened() { self.activeConnections.increment() }
    func connectionClosed() { self.activeConnections.decrement() }

    func requestStarted() { self.activeRequests.increment() }

    /// A request refused with `status` before the application saw it.
    func refused(_ status: Int) {
        self.refusals[status]?.increment()
    }

    /// Counts a request that ended: its outcome, its bytes, and, if it was cancelled, why and what it saved.
    func requestEnded(_ ended: EndedRequest) {
        self.activeRequests.decrement()
        let key = Key(
            method: Self.methodLabel(ended.method), route: ended.route ?? Self.unmatchedRoute, status: ended.status)
        let outcome = self.outcomes.withLockedValue { outcomes in
            if let outcome = outcomes[key] { return outcome }
            let dimensions = [("method", key.method), ("route", key.route), ("status", String(key.status))]
            let outcome = Outcome(
                requests: Counter(label: Label.requests, dimensions: dimensions, factory: self.factory),
                duration: CoreMetrics.Timer(label: Label.duration, dimensions: dimensions, factory: self.factory),
                bytesIn: Counter(label: Label.bytesIn, dimensions: dimensions, factory: self.factory),
                bytesOut: Counter(label: Label.bytesOut, dimensions: dimensions, factory: self.factory))
            outcomes[key] = outcome
            return outcome
        }
        outcome.requests.increment()
        outcome.duration.record(duration: ended.duration)
        if ended.bytesIn > 0 { outcome.bytesIn.increment(by: ended.bytesIn) }
        if ended.bytesOut > 0 { outcome.bytesOut.increment(by: ended.bytesOut) }
        if let spooled = ended.spooledBytes {
            self.spooledBodies.increment()
            self.spooledBytes.increment(by: spooled)
        }
        guard let reason = ended.cancellation else { return }
        let cancellation = self.cancellations.withLockedValue { cancellations in
            let key = CancellationKey(route: key.route, reason: reason)
            if let cancellation = cancellations[key] { return cancellation }
            let dimensions = [("route", key.route), ("reason", reason.description)]
            let cancellation = Cancellation(
                count: Counter(label: Label.cancellations, dimensions: dimensions, factory: self.factory),
                closeToCancel: CoreMetrics.Timer(
                    label: Label.closeToCancel, dimensions: [("reason", reason.description)], factory: self.factory),
                savedExpected: FloatingPointCounter(
                    label: Label.workSaved, dimensions: dimensions + [("basis", WorkSaved.Basis.expected.rawValue)],
                    factory: self.factory),
                savedElapsed: FloatingPointCounter(
                    label: Label.workSaved, dimensions: dimensions + [("basis", WorkSaved.Basis.elapsed.rawValue)],
                    factory: self.factory))
            cancellations[key] = cancellation
            return cancellation
        }
        cancellation.count.increment()
        if let latency = ended.closeToCancel { cancellation.closeToCancel.record(duration: latency) }
        if let saved = ended.workSaved {
            let seconds =
                Double(saved.duration.components.seconds)
                + Double(saved.duration.components.attoseconds) / 1e18
            switch saved.basis {
            case .expected: cancellation.savedExpected.increment(by: seconds)
            case .elapsed: cancellation.savedElapsed.increment(by: seconds)
            }
        }
    }

    /// A method as a label: the registered ones as they are, any other as `_OTHER`, as OpenTelemetry's semantic
    /// conventions have it, so that a client cannot make a series per made-up method.
    static func methodLabel(_ method: String) -> String {
        switch method {
        case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH": method
        default: "_OTHER"
        }
    }
}

/// What the metrics, the span and the access log need of a request that ended.
struct EndedRequest {
    var method: String
    var route: String?
    /// The status sent, 0 if none was; 101 for an accepted WebSocket.
    var status: Int
    var duration: Duration
    var bytesIn: Int64
    var bytesOut: Int64
    var spooledBytes: Int64?
    var cancellation: CancellationReason?
    /// From the server seeing the client leave (or ending the request) to the application's work ending.
    var closeToCancel: Duration?
    var workSaved: WorkSaved?
    /// Whether any of the response (its head) had been sent.
    var responseStarted: Bool
}
