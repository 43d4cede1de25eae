import CoreMetrics
import Logging
import OTel
import Prometheus
import ServiceLifecycle
import TetherServer
import TetherWeb
import Tracing

/// Tether's metrics in Prometheus and its spans in OpenTelemetry, set up once per process.
///
/// ```swift
/// let observability = try Observability.bootstrap(serviceName: "shop")
/// if let metrics = observability.metricsHandler { router.get("/metrics", metrics) }
/// try await serve.run(
///     metadataProvider: observability.metadataProvider, services: observability.services
/// ) { WebApplication(router: router) }
/// ```
///
/// Metrics go to a Prometheus registry that ``metricsHandler`` serves in the text format. Spans are exported with
/// swift-otel over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
/// as OpenTelemetry's SDKs read it; every other `OTEL_*` variable (`OTEL_EXPORTER_OTLP_PROTOCOL`,
/// `OTEL_TRACES_SAMPLER`, …) applies too. Without it no tracer is bootstrapped and requests make no spans.
public struct Observability: Sendable {
    /// The registry the server's instruments are in, if metrics were bootstrapped.
    public let registry: PrometheusCollectorRegistry?
    /// Whether spans are exported.
    public let isTracing: Bool
    /// What must run beside the server for spans to be exported (and flushed at shutdown): pass them to
    /// `ServeOptions.run(services:)` or a `ServiceGroup`.
    public let services: [any Service]
    /// Log metadata: the request's ID, and its trace and span IDs when spans are exported.
    public let metadataProvider: Logger.MetadataProvider

    /// The buckets of `tether_close_to_cancel_seconds`: from 50 µs, where a departure on loopback is noticed, to
    /// 1 s, where a blocking handler that polls rarely stops.
    public static let closeToCancelBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    /// Bootstraps swift-metrics with a Prometheus registry and, when the environment names an OTLP endpoint,
    /// swift-distributed-tracing with swift-otel; both are process-wide, so call this once, before creating the
    /// server.
    ///
    /// - Parameters:
    ///   - serviceName: The spans' `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
    ///   - metrics: Whether to bootstrap the metrics; without them the server's instruments cost nothing.
    ///   - environment: Where `OTEL_EXPORTER_OTLP_ENDPOINT` is looked for.
    public static func bootstrap(
        serviceName: String, metrics: Bool = true, environment: [String: String]
    ) throws -> Observability {
        let registry = metrics ? PrometheusCollectorRegistry() : nil
        if let registry { MetricsSystem.bootstrap(Self.metricsFactory(registry)) }
        guard Self.tracesEndpoint(in: environment) != nil else {
            return Observability(registry: registry, isTracing: false, services: [], metadataProvider: .tetherRequestID)
        }
        let tracing = try Self.makeTracingBackend(serviceName: serviceName)
        InstrumentationSystem.bootstrap(tracing.tracer)
        let provider =
            Logger.MetadataProvider.multiplex([.tetherRequestID, OTel.makeLoggingMetadataProvider()])
            ?? .tetherRequestID
        return Observability(
            registry: registry, isTracing: true, services: [tracing.service], metadataProvider: provider)
    }

    /// A Prometheus factory for `registry`, with the close → cancel histogram's finer buckets.
    public static func metricsFactory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["tether_close_to_cancel_seconds"] = Self.closeToCancelBuckets
        return factory
    }

    /// A swift-otel tracer exporting over OTLP/HTTP (protobuf unless `OTEL_EXPORTER_OTLP_PROTOCOL` says
    /// `http/json`), with its service, without bootstrapping anything: for a server given its tracer directly.
    public static func makeTracingBackend(serviceName: String) throws -> (tracer: any Tracer, service: any Service) {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
    }

    /// The endpoint spans go to, if the environment names one.
    static func tracesEndpoint(in environment: [String: String]) -> String? {
        for key in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            if let value = environment[key], !value.isEmpty { return value }
        }
        return nil
    }

    /// Serves the registry in Prometheus's text format (version 0.0.4), for `GET /metrics`; `nil` without metrics.
    public var metricsHandler: Handler? {
        guard let registry = self.registry else { return nil }
        return { _ in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            return Response(
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(ByteBuffer(bytes: bytes)))
        }
    }
}
