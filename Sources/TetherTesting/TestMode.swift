import TetherGateway

/// How ``withTestClient(_:mode:timeout:_:)`` reaches the application: ``InProcessMode`` (`.inProcess`) through an
/// ``ApplicationCommunicator``, or a mode that starts a real server for the scope, so that the same test runs both ways.
public protocol TestMode: Sendable {
    /// Runs `body` with a client of `application`, keeping what the client needs (a server) alive around it.
    func withClient<Result: Sendable>(
        for application: some Application,
        timeout: Duration,
        _ body: (TestClient) async throws -> Result
    ) async throws -> Result
}

/// The application called in process, the communicator playing the server: no socket, no port.
public struct InProcessMode: TestMode {
    /// The in-process mode.
    public init() {}

    public func withClient<Result: Sendable>(
        for application: some Application,
        timeout: Duration,
        _ body: (TestClient) async throws -> Result
    ) async throws -> Result {
        try await body(TestClient(application, timeout: timeout))
    }
}

extension TestMode where Self == InProcessMode {
    /// The application called in process, the communicator playing the server.
    public static var inProcess: InProcessMode { InProcessMode() }
}

/// Runs `body` with a client of `application` reached as `mode` says, everything `mode` started stopped when it
/// returns or throws.
///
/// ```swift
/// try await withTestClient(app, mode: .inProcess) { client in
///     #expect(try await client.get("/hello/").text == "Hello World!")
/// }
/// ```
public func withTestClient<Result: Sendable>(
    _ application: some Application,
    mode: some TestMode = .inProcess,
    timeout: Duration = .seconds(10),
    _ body: (TestClient) async throws -> Result
) async throws -> Result {
    try await mode.withClient(for: application, timeout: timeout, body)
}
