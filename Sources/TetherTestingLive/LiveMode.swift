import Logging
import NIOCore
import TetherGateway
import TetherServer
import TetherTesting

/// A real `Server` on 127.0.0.1, on a port of the system's choosing, for the scope of
/// `withTestClient`; the client sends each request on a connection of its own, as HummingbirdTesting's `.live` does.
///
/// ```swift
/// try await withTestClient(app, mode: .live) { client in
///     #expect(try await client.get("/hello/").text == "Hello World!")
/// }
/// ```
public struct LiveMode: TestMode {
    private let configure: @Sendable (inout Server.Configuration) -> Void

    /// A live mode whose server's configuration `configure` may change; the access log and lifespan are off unless
    /// it turns them on.
    public init(configure: @escaping @Sendable (inout Server.Configuration) -> Void = { _ in }) {
        self.configure = configure
    }

    public func withClient<Result: Sendable>(
        for application: some Application,
        timeout: Duration,
        _ body: (TestClient) async throws -> Result
    ) async throws -> Result {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.accessLog = false
        configuration.lifespan = .off
        self.configure(&configuration)
        var logger = Logger(label: "tether.testing.live")
        logger.logLevel = .critical
        let outcomes = LiveOutcomes()
        let server = Server(
            application: RecordingApplication(application: application, outcomes: outcomes),
            configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            guard let port = try await server.localAddress.port else { throw TestClientError.noResponse }
            return try await body(
                TestClient(transport: LiveTransport(port: port, outcomes: outcomes, timeout: timeout)))
        }
    }
}

extension TestMode where Self == LiveMode {
    /// A real server on 127.0.0.1 for the scope, its configuration the defaults (no access log, no lifespan).
    public static var live: LiveMode { LiveMode() }
}
