import ArgumentParser
import Logging

/// The server's command-line options, which any Tether application's `main` embeds with `@OptionGroup`: uvicorn's
/// names where uvicorn has the option.
///
/// Each option is also read from the environment as `TETHER_` and its name (`--timeout-keep-alive` is
/// `TETHER_TIMEOUT_KEEP_ALIVE`), then from the same variables in the file `--env-file` names; the command line
/// wins over the environment, the environment over the file. ``resolve(environment:)`` reads them.
///
/// ```swift
/// @main struct App: AsyncParsableCommand {
///     @OptionGroup var serve: ServeOptions
///     func run() async throws { try await self.serve.run { WebApplication(router: makeRouter()) } }
/// }
/// ```
public struct ServeOptions: ParsableArguments, Sendable {
    /// Options not given on the command line are `nil`, so that the environment and the file can supply them.
    public init() {}

    @Option(help: "The address to bind (default: 127.0.0.1).")
    public var host: String?

    @Option(help: "The port to bind; 0 picks a free one (default: 8000).")
    public var port: Int?

    @Option(help: "Listen on this Unix-domain socket instead of --host and --port.")
    public var uds: String?

    @Option(help: "Serve the listening socket inherited as this file descriptor (systemd socket activation).")
    public var fd: Int32?

    @Option(help: "Worker processes sharing the listening socket, under a supervisor (default: 1: no supervisor).")
    public var workers: Int?

    @Option(help: "Connections the kernel queues before they are accepted (default: 2048).")
    public var backlog: Int32?

    @Option(help: "Connections served at once by each worker; more are answered 503 (default: 10000).")
    public var limitConcurrency: Int?

    @Option(help: "Seconds an idle keep-alive connection stays open (default: 5).")
    public var timeoutKeepAlive: Double?

    @Option(
        name: [.customLong("timeout-graceful-shutdown"), .customLong("grace-period")],
        help: "Seconds requests in flight get after SIGTERM or SIGINT; then they are cancelled (default: 30).")
    public var timeoutGracefulShutdown: Double?

    @Flag(
        inversion: .prefixedNo,
        help: "Believe X-Forwarded-For, -Proto, -Host and Forwarded from --forwarded-allow-ips (default: on).")
    public var proxyHeaders: Bool?

    @Option(help: "Peers trusted with proxy headers: addresses, CIDR ranges, 'unix', '*' (default: 127.0.0.1).")
    public var forwardedAllowIps: String?

    @Option(help: "The path prefix the application is mounted under behind a proxy (ASGI's root_path).")
    public var rootPath: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default: info).")
    public var logLevel: String?

    @Flag(inversion: .prefixedNo, help: "Log a line per request (default: on).")
    public var accessLog: Bool?

    @Option(help: "How the access log writes a request: 'text' (a line) or 'json' (an object) (default: text).")
    public var accessLogFormat: String?

    @Option(
        name: [.customLong("tls-cert"), .customLong("ssl-certfile")],
        help: "A PEM certificate chain: serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN). Needs --tls-key.")
    public var tlsCert: String?

    @Option(name: [.customLong("tls-key"), .customLong("ssl-keyfile")], help: "The PEM private key of --tls-cert.")
    public var tlsKey: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Serve HTTP/2: by prior knowledge on a plain port, by ALPN under TLS (default: on).")
    public var http2: Bool?

    @Option(help: "Seconds of silence before TCP keepalive probes start, then between them (3 probes); off if unset.")
    public var tcpKeepalive: Double?

    @Option(help: "Seconds unacknowledged data or probes may wait before the kernel drops a connection (Linux).")
    public var tcpUserTimeout: Double?

    @Option(help: "Seconds without a frame from an HTTP/2 client before it is sent a PING; off if unset.")
    public var h2PingInterval: Double?

    @Option(help: "Seconds a PING may go unanswered before the connection's requests are cancelled (default: 20).")
    public var h2PingTimeout: Double?

    @Option(help: "A file of TETHER_ variables, one NAME=value a line, read after the environment (uvicorn's).")
    public var envFile: String?
}
