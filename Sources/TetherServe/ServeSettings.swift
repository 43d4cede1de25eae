import ArgumentParser
import Configuration
import Logging
import Synchronization
import SystemPackage
import TetherServer

/// What ``ServeOptions`` come to once the command line, the environment and the file are read.
public struct ServeSettings: Sendable {
    /// The server's configuration, for one worker.
    public var server: Server.Configuration
    /// Worker processes; 1 serves in this process, with no supervisor.
    public var workers: Int
    /// Time requests in flight get once a graceful shutdown begins.
    public var gracefulShutdown: Duration
    /// The least severe level logged.
    public var logLevel: Logger.Level

    /// Where the server listens, for its log.
    var listening: String {
        if let descriptor = self.server.socketDescriptor { return "fd \(descriptor)" }
        if let path = self.server.unixSocketPath { return "unix:\(path)" }
        return "\(self.server.host):\(self.server.port)"
    }
}

extension ServeOptions {
    /// Reads the options given on the command line, then those in `environment` (as `TETHER_PORT`), then those
    /// in the `--env-file` (or `TETHER_ENV_FILE`), and checks them.
    ///
    /// Throws a `ValidationError` naming every value that is malformed wherever it came from.
    public func resolve(environment: [String: String]) async throws -> ServeSettings {
        let problems = ConversionProblems()
        let variables = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: environment), accessReporter: problems
        ).scoped(to: "tether")
        var readers = [variables]
        if let path = self.envFile ?? variables.string(forKey: "envFile") {
            // Variables in a file rather than JSON: swift-configuration's JSON needs all of Foundation and its ICU.
            let file = try await EnvironmentVariablesProvider(environmentFilePath: FilePath(path))
            readers.append(ConfigReader(provider: file, accessReporter: problems).scoped(to: "tether"))
        }
        let source = Source(readers: readers)
        var settings = try self.settings(from: source)
        if let message = problems.message { throw ValidationError(message) }
        // A worker serves the socket its supervisor handed it, whatever the options say about binding.
        if let descriptor = environment[WorkerEnvironment.socketKey].flatMap(Int32.init) {
            settings.server.socketDescriptor = descriptor
            settings.server.socketDescriptorIsShared = environment[WorkerEnvironment.sharedKey] == "1"
            settings.server.unixSocketPath = nil
            settings.workers = 1
        }
        return settings
    }

    private func settings(from source: Source) throws -> ServeSettings {
        var server = Server.Configuration()
        server.host = self.host ?? source.string("host") ?? server.host
        server.port = self.port ?? source.int("port") ?? server.port
        server.unixSocketPath = self.uds ?? source.string("uds")
        server.socketDescriptor = try self.fd ?? source.int("fd").map { try Self.int32($0, "--fd") }
        server.backlog =
            try self.backlog ?? source.int("backlog").map { try Self.int32($0, "--backlog") } ?? server.backlog
        server.maxConnections = self.limitConcurrency ?? source.int("limitConcurrency") ?? server.maxConnections
        if let seconds = self.timeoutKeepAlive ?? source.double("timeoutKeepAlive") {
            server.keepAliveTimeout = try Self.duration(seconds, "--timeout-keep-alive")
        }
        server.proxyHeaders = self.proxyHeaders ?? source.bool("proxyHeaders") ?? server.proxyHeaders
        if let list = self.forwardedAllowIps ?? source.string("forwardedAllowIps") {
            do {
                server.forwardedAllowIPs = try ForwardedAllowList(parsing: list)
            } catch {
                throw ValidationError("--forwarded-allow-ips: \(error)")
            }
        }
        if let root = self.rootPath ?? source.string("rootPath") {
            guard root.isEmpty || (root.hasPrefix("/") && !root.hasSuffix("/")) else {
                throw ValidationError("--root-path must begin with '/' and not end with one, as '/app'.")
            }
            server.rootPath = root
        }
        server.accessLog = self.accessLog ?? source.bool("accessLog") ?? server.accessLog
        if let format = self.accessLogFormat ?? source.string("accessLogFormat") {
            guard let format = Server.Configuration.AccessLogFormat(rawValue: format) else {
                throw ValidationError("--access-log-format must be text or json.")
            }
            server.observability.accessLogFormat = format
        }
        let certificate = self.tlsCert ?? source.string("tlsCert")
        let key = self.tlsKey ?? source.string("tlsKey")
        switch (certificate, key) {
        case (let certificate?, let key?):
            server.tls = .init(certificateChainPath: certificate, privateKeyPath: key)
        case (nil, nil):
            break
        default:
            throw ValidationError("--tls-cert and --tls-key go together.")
        }
        server.http2.isEnabled = self.http2 ?? source.bool("http2") ?? server.http2.isEnabled
        if let seconds = self.tcpKeepalive ?? source.double("tcpKeepalive") {
            let interval = try Self.duration(seconds, "--tcp-keepalive")
            server.tcpKeepAlive = .init(idle: interval, interval: interval, count: 3)
        }
        server.tcpUserTimeout = try (self.tcpUserTimeout ?? source.double("tcpUserTimeout")).map {
            try Self.duration($0, "--tcp-user-timeout")
        }
        server.http2.pingInterval = try (self.h2PingInterval ?? source.double("h2.pingInterval")).map {
            try Self.duration($0, "--h2-ping-interval")
        }
        if let seconds = self.h2PingTimeout ?? source.double("h2.pingTimeout") {
            server.http2.pingTimeout = try Self.duration(seconds, "--h2-ping-timeout")
        }
        guard (0...65_535).contains(server.port) else { throw ValidationError("--port must be 0 to 65535.") }
        guard server.backlog > 0, server.maxConnections > 0 else {
            throw ValidationError("--backlog and --limit-concurrency must be positive.")
        }
        guard (server.socketDescriptor ?? 0) >= 0 else {
            throw ValidationError("--fd must be a descriptor, 0 or more.")
        }
        guard server.unixSocketPath == nil || server.socketDescriptor == nil else {
            throw ValidationError("--uds and --fd are two ways to listen: give one.")
        }
        let workers = self.workers ?? source.int("workers") ?? 1
        guard (1...1024).contains(workers) else { throw ValidationError("--workers must be from 1 to 1024.") }
        let grace = try Self.duration(
            self.timeoutGracefulShutdown ?? source.double("timeoutGracefulShutdown") ?? 30,
            "--timeout-graceful-shutdown")
        let levelName = self.logLevel ?? source.string("logLevel") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical.")
        }
        return ServeSettings(server: server, workers: workers, gracefulShutdown: grace, logLevel: level)
    }

    private static func duration(_ seconds: Double, _ option: String) throws -> Duration {
        // A year bounds every timeout anyone means, and keeps the milliseconds within Int64.
        guard seconds.isFinite, (0...31_536_000).contains(seconds) else {
            throw ValidationError("\(option) must be seconds, from 0 to 31536000.")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    private static func int32(_ value: Int, _ option: String) throws -> Int32 {
        guard let value = Int32(exactly: value) else { throw ValidationError("\(option) is out of range: \(value).") }
        return value
    }
}

/// The environment, then the file: the first that has a key gives its value.
private struct Source {
    let readers: [ConfigReader]

    func string(_ key: String) -> String? { self.first { $0.string(forKey: ConfigKey(key)) } }
    func int(_ key: String) -> Int? { self.first { $0.int(forKey: ConfigKey(key)) } }
    func double(_ key: String) -> Double? { self.first { $0.double(forKey: ConfigKey(key)) } }
    func bool(_ key: String) -> Bool? { self.first { $0.bool(forKey: ConfigKey(key)) } }

    private func first<Value>(_ read: (ConfigReader) -> Value?) -> Value? {
        for reader in self.readers {
            if let value = read(reader) { return value }
        }
        return nil
    }
}

/// Values present but malformed: the reader's optional lookups return `nil` for them, and this keeps them from
/// passing silently.
private final class ConversionProblems: AccessReporter, Sendable {
    private let problems = Mutex<[String]>([])

    func report(_ event: AccessEvent) {
        let failure: (any Error)? =
            if let error = event.conversionError {
                error
            } else if case .failure(let error) = event.result {
                error
            } else {
                nil
            }
        // A provider's own failure (a value it cannot read as the type asked) is in its result, not the event's.
        let providerFailure = event.providerResults.lazy.compactMap { result -> (any Error)? in
            if case .failure(let error) = result.result { return error }
            return nil
        }.first
        guard let failure = failure ?? providerFailure else { return }
        self.problems.withLock { $0.append("\(event.metadata.key): \(failure)") }
    }

    var message: String? {
        let problems = self.problems.withLock { $0 }
        return problems.isEmpty ? nil : "Malformed configuration: " + problems.joined(separator: "; ")
    }
}
