import Logging
import ServiceLifecycle
import TetherGateway
import TetherServer

// ProcessInfo without the rest of Foundation, whose ICU data would add 50 MB to every application.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ServeOptions {
    /// Serves the application `makeApplication` builds, as the options say: in this process, or with
    /// `--workers N` in N worker processes under a supervisor (each worker builds its own application). SIGTERM
    /// and SIGINT drain gracefully; SIGHUP to a supervisor replaces its workers one by one.
    ///
    /// Sets up swift-log's standard-error handler at `--log-level` unless `bootstrapsLogging` is `false`; its lines
    /// carry the metadata of `metadataProvider`, by default the current request's ID (`request_id`).
    ///
    /// `services` run alongside the server (an OpenTelemetry exporter, say), started before it and stopped after
    /// it has drained, so that they see its last requests.
    public func run<App: Application>(
        bootstrapsLogging: Bool = true, metadataProvider: Logger.MetadataProvider = .tetherRequestID,
        services: [any Service] = [], _ makeApplication: @Sendable () async throws -> App
    ) async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = try await self.resolve(environment: environment)
        if bootstrapsLogging {
            let level = settings.logLevel
            LoggingSystem.bootstrap(
                { label, provider in
                    var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                    handler.logLevel = level
                    return handler
                }, metadataProvider: metadataProvider)
        }
        if settings.workers > 1 {
            let supervisor = Supervisor(
                settings: settings, arguments: CommandLine.arguments, environment: environment,
                logger: Logger(label: "tether.supervisor"))
            try await supervisor.run()
            return
        }
        try await Self.serve(
            try await makeApplication(), settings: settings, environment: environment, services: services)
    }

    /// Serves in this process until SIGTERM or SIGINT, or until its supervisor is gone.
    private static func serve(
        _ application: some Application, settings: ServeSettings, environment: [String: String],
        services extra: [any Service]
    ) async throws {
        let logger = Logger(label: "tether.server")
        let server = Server(application: application, configuration: settings.server, logger: logger)
        // A group stops its services in reverse order: the server drains before what it reports to stops.
        var services = extra.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        services.append(.init(service: server))
        let supervisor = environment[WorkerEnvironment.supervisorKey].flatMap { Int32($0) }
        if let supervisor {
            services.append(
                .init(
                    service: SupervisorWatch(supervisor: supervisor),
                    successTerminationBehavior: .gracefullyShutdownGroup))
        }
        var configuration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.gracefulShutdown
        let group = ServiceGroup(configuration: configuration)
        let ready = environment[WorkerEnvironment.readyKey].flatMap { Int32($0) }
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            if let ready {
                tasks.addTask {
                    defer { close(ready) }
                    guard (try? await server.localAddress) != nil else { return }
                    var byte: UInt8 = 1
                    _ = write(ready, &byte, 1)
                }
            }
        }
    }
}

/// Ends a worker whose supervisor is gone (its parent changed), so that no orphan keeps serving the socket.
private struct SupervisorWatch: Service {
    let supervisor: Int32

    func run() async {
        try? await cancelWhenGracefulShutdown {
            while getppid() == self.supervisor {
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
