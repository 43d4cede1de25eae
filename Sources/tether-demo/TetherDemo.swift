import ArgumentParser
import Logging
import ServiceLifecycle
import TetherServer

/// Serves the demo application.
@main
struct TetherDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether-demo",
        abstract: "Serve Tether's demo application: a request's work is tethered to its client.")

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind; 0 picks a free one.")
    var port = 8000

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Where request bodies past the spool threshold are written (default: $TMPDIR or /tmp).")
    var temporaryDirectory: String?

    @Option(help: "Seconds requests in flight get to finish after SIGTERM or SIGINT; then they are cancelled.")
    var gracePeriod = 30.0

    func run() async throws {
        let level = self.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tether.demo")
        let server = Server(
            application: DemoApp.make(temporaryDirectory: self.temporaryDirectory),
            configuration: .init(host: self.host, port: self.port),
            logger: Logger(label: "tether.server"))
        var configuration = ServiceGroupConfiguration(
            services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(self.gracePeriod * 1000))
        try await ServiceGroup(configuration: configuration).run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
