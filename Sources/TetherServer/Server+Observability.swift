import CoreMetrics
import HTTPTypes
import Tracing

extension Server.Configuration {
    /// How the server shows what it does: its swift-metrics instruments, a swift-distributed-tracing span per
    /// request, the request ID, and the access log's format.
    ///
    /// The instruments, exported under these names (Prometheus's conventions; durations in seconds):
    ///
    /// | Name | Kind | Dimensions |
    /// |---|---|---|
    /// | `tether_requests_total` | counter | `method`, `route`, `status` |
    /// | `tether_request_duration_seconds` | timer | `method`, `route`, `status` |
    /// | `tether_request_body_bytes_total`, `tether_response_body_bytes_total` | counter | `method`, `route`, `status` |
    /// | `tether_requests_cancelled_total` | counter | `route`, `reason` |
    /// | `tether_close_to_cancel_seconds` | timer | `reason` |
    /// | `tether_work_saved_seconds_total` | floating-point counter | `route`, `reason`, `basis` |
    /// | `tether_active_connections`, `tether_active_requests` | meter | |
    /// | `tether_spooled_bodies_total`, `tether_spooled_body_bytes_total` | counter | |
    /// | `tether_refusals_total` | counter | `status` (400, 408, 413, 414, 431, 501, 503, 505) |
    ///
    /// `route` is the pattern that matched (`/users/:id`), which the application reports through
    /// `RequestObservation`, or `unmatched`; never the raw path. `method` is one of the registered methods, or
    /// `_OTHER`. `reason` is a `CancellationReason`'s description. `status` is 0 when no response was sent.
    public struct Observability: Sendable {
        /// Makes the server's instruments; `nil` uses swift-metrics' global `MetricsSystem.factory` as it is when
        /// the server is created, so bootstrap it first. Default `nil`.
        public var metricsFactory: (any MetricsFactory)? = nil
        /// Starts a server span per request; `nil` uses swift-distributed-tracing's global
        /// `InstrumentationSystem.tracer`. With no tracer bootstrapped, no span is made. Default `nil`.
        ///
        /// The span continues the trace of the request's W3C `traceparent` (as the tracer extracts it), its context
        /// is the application's `ServiceContext.current`, and its attributes follow OpenTelemetry's HTTP semantic
        /// conventions. A cancelled request's span also carries `tether.cancellation.reason`,
        /// `tether.close_to_cancel_ms`, `tether.response.started`, and `tether.work_saved_ms` with
        /// `tether.work_saved.basis`.
        public var tracer: (any Tracer)? = nil
        /// The header a request's ID is read from and echoed in: a request that brings one (1 to 200 visible ASCII
        /// characters) keeps it, any other gets a new one. The ID is in the access log, the span
        /// (`http.request.header.x_request_id`, as the
        /// semantic conventions library writes header attributes) and `RequestObservation.requestID`. `nil` for no request IDs.
        /// Default `X-Request-Id`.
        public var requestIDHeader: HTTPField.Name? = HTTPField.Name("X-Request-Id")
        /// How each access-log line is written. Default ``AccessLogFormat/text``.
        public var accessLogFormat = AccessLogFormat.text

        /// The defaults.
        public init() {}
    }

    /// How the access log writes a request.
    public enum AccessLogFormat: String, Sendable, CaseIterable {
        /// A line as uvicorn's, `client "METHOD target HTTP/1.1" status`, with the details as swift-log metadata.
        case text
        /// One JSON object per request as the log message, for a log pipeline to parse without patterns.
        case json
    }
}
