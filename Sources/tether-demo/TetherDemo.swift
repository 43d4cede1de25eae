import ArgumentParser
import TetherObservability
import TetherServe

// ProcessInfo without the rest of Foundation.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Serves the demo application.
@main
struct TetherDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether-demo",
        abstract: "Serve Tether's demo application: a request's work is tethered to its client.",
        discussion: """
            Every server option is also read from the environment as TETHER_ and its name in capitals \
            (TETHER_PORT, TETHER_FORWARDED_ALLOW_IPS), then from --env-file. /metrics serves the metrics in \
            Prometheus's format; with OTEL_EXPORTER_OTLP_ENDPOINT set, every request's span is exported over \
            OTLP/HTTP.
            """)

    @OptionGroup(title: "Server")
    var serve: ServeOptions

    @Option(help: "Where request bodies past the spool threshold are written (default: $TMPDIR or /tmp).")
    var temporaryDirectory: String?

    @Flag(inversion: .prefixedNo, help: "Count requests in swift-metrics and serve them on /metrics (default: on).")
    var metrics = true

    func run() async throws {
        let temporaryDirectory = self.temporaryDirectory
        let observability = try Observability.bootstrap(
            serviceName: "tether-demo", metrics: self.metrics, environment: ProcessInfo.processInfo.environment)
        try await self.serve.run(metadataProvider: observability.metadataProvider, services: observability.services) {
            DemoApp.make(temporaryDirectory: temporaryDirectory, metrics: observability.metricsHandler)
        }
    }
}
