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

    @Option(help: "A PEM certificate chain: serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN). Needs --tls-key.")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Flag(inversion: .prefixedNo, help: "Serve HTTP/2: by prior knowledge on a plain port, by ALPN under TLS.")
    var http2 = true

    @Option(help: "Seconds of silence before TCP keepalive probes start, then between them (3 probes); off if unset.")
    var tcpKeepalive: Double?

    @Option(help: "Seconds unacknowledged data or probes may wait before the kernel drops a connection (Linux).")
    var tcpUserTimeout: Double?

    @Option(help: "Seconds without a frame from an HTTP/2 client before it is sent a PING; off if unset.")
    var h2PingInterval: Double?

    @Option(help: "Seconds a PING may go unanswered before the connection's requests are cancelled.")
    var h2PingTimeout = 20.0

    func validate() throws {
        guard (self.tlsCert == nil) == (self.tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together.")
        }
    }

    /// The server's configuration from the options.
    var serverConfiguration: Server.Configuration {
        var configuration = Server.Configuration(host: self.host, port: self.port)
        if let certificate = self.tlsCert, let key = self.tlsKey {
            configuration.tls = .init(certificateChainPath: certificate, privateKeyPath: key)
        }
        configuration.http2.isEnabled = self.http2
        if let seconds = self.tcpKeepalive {
            configuration.tcpKeepAlive = .init(idle: .seconds(seconds), interval: .seconds(seconds), count: 3)
        }
        configuration.tcpUserTimeout = self.tcpUserTimeout.map { .seconds($0) }
        configuration.http2.pingInterval = self.h2PingInterval.map { .seconds($0) }
        configuration.http2.pingTimeout = .seconds(self.h2PingTimeout)
        return configuration
    }

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
            configuration: self.serverConfiguration,
            logger: Logger(label: "tether.server"))
        var configuration = ServiceGroupConfiguration(
            services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(self.gracePeriod * 1000))
        try await ServiceGroup(configuration: configuration).run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
