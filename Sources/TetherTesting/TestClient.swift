import HTTPTypes
import NIOCore
import TetherGateway

/// Sends whole requests to an application and collects their responses, for tests that think in requests.
///
/// In process (``init(_:timeout:fileSend:)``) it plays the server through an ``ApplicationCommunicator``; with
/// ``withTestClient(_:mode:timeout:_:)`` the same test can run against a real server too.
///
/// ```swift
/// let response = try await TestClient(app).post("/items/", json: Item(name: "pen"))
/// #expect(response.status == .created)
/// ```
public struct TestClient: Sendable {
    let transport: any TestTransport

    /// A client for `application`, in process. Each step of a request must happen within `timeout`; with `fileSend`
    /// the scope offers `FileSend`, as Tether's server does, and the client reads the files itself.
    public init(_ application: some Application, timeout: Duration = .seconds(10), fileSend: Bool = true) {
        self.transport = InProcessTransport(application: application, timeout: timeout, fileSend: fileSend)
    }

    /// A client that sends its requests through `transport`.
    public init(transport: some TestTransport) {
        self.transport = transport
    }

    /// Sends `request` and returns its response, once the application has returned.
    ///
    /// With `delay`, the client leaves after that long unless the response is complete by then; the response holds
    /// its status, header fields and the body so far, and ``TestResponse/outcome`` says whether the application's
    /// work was cancelled. Rethrows the application's error if it failed.
    public func send(_ request: TestRequest, disconnectAfter delay: Duration? = nil) async throws -> TestResponse {
        try await self.transport.send(request, disconnectAfter: delay)
    }

    /// Sends a request and returns its response; see ``send(_:disconnectAfter:)``.
    public func request(
        _ method: HTTPRequest.Method,
        _ target: String,
        headers: HTTPFields = [:],
        body: ByteBuffer = ByteBuffer()
    ) async throws -> TestResponse {
        try await self.send(TestRequest(method, target, headers: headers, body: body))
    }

    /// Sends a request in process, disconnects after `delay`, and returns the outbound events the application sent
    /// before that, for tests of the events themselves; ``send(_:disconnectAfter:)`` gives them as a response.
    ///
    /// Returns once the application has returned; rethrows its error if it failed. Throws
    /// ``TestClientError/needsInProcess`` from a client of another transport.
    public func request(
        _ method: HTTPRequest.Method,
        _ target: String,
        headers: HTTPFields = [:],
        body: ByteBuffer = ByteBuffer(),
        disconnectAfter delay: Duration
    ) async throws -> [OutboundEvent] {
        guard let inProcess = self.transport as? InProcessTransport else { throw TestClientError.needsInProcess }
        let communicator = inProcess.start(TestRequest(method, target, headers: headers, body: body))
        try await Task.sleep(for: delay)
        communicator.send(.disconnect)
        try await communicator.wait(timeout: inProcess.timeout)
        var events: [OutboundEvent] = []
        while let event = try? await communicator.receiveOutput(timeout: .zero) {
            events.append(event)
        }
        return events
    }
}
