/// How a ``TestClient`` delivers a request and collects its response: in process, or over a socket to a server.
public protocol TestTransport: Sendable {
    /// Sends `request` and returns its response, once the application has returned.
    ///
    /// With `delay`, the client leaves after that long unless the response is complete by then, and the response
    /// holds what arrived before it left. Rethrows the application's error if it failed.
    func send(_ request: TestRequest, disconnectAfter delay: Duration?) async throws -> TestResponse
}
