import HTTPTypes
import NIOCore
import NIOFileSystem
import TetherGateway

/// Sends whole requests to an application in-process and collects whole responses, for tests that think in requests.
public struct TestClient: Sendable {
    private let application: any Application
    private let timeout: Duration
    private let fileSend: Bool

    /// A client for `application`. Each step of a request must happen within `timeout`; with `fileSend`
    /// the scope offers ``FileSend``, as Tether's server does, and the client reads the files itself.
    public init(_ application: some Application, timeout: Duration = .seconds(10), fileSend: Bool = true) {
        self.application = application
        self.timeout = timeout
        self.fileSend = fileSend
    }

    /// Sends a request and returns the complete response, once the application has returned.
    ///
    /// Rethrows the application's error if it failed.
    public func request(
        _ method: HTTPRequest.Method,
        _ target: String,
        headers: HTTPFields = [:],
        body: ByteBuffer = ByteBuffer()
    ) async throws -> TestResponse {
        let communicator = self.start(method, target, headers: headers, body: body)
        var response = TestResponse()
        var progress = ResponseStateMachine()
        while !progress.isComplete {
            let event = try await communicator.receiveOutput(timeout: self.timeout)
            try progress.accept(event)
            try await response.append(event)
        }
        try await communicator.wait(timeout: self.timeout)
        return response
    }

    /// Sends a request, disconnects after `delay`, and returns what the application sent before that.
    ///
    /// Returns once the application has returned; rethrows its error if it failed.
    public func request(
        _ method: HTTPRequest.Method,
        _ target: String,
        headers: HTTPFields = [:],
        body: ByteBuffer = ByteBuffer(),
        disconnectAfter delay: Duration
    ) async throws -> [OutboundEvent] {
        let communicator = self.start(method, target, headers: headers, body: body)
        try await Task.sleep(for: delay)
        communicator.send(.disconnect)
        try await communicator.wait(timeout: self.timeout)
        var events: [OutboundEvent] = []
        while let event = try? await communicator.receiveOutput(timeout: .zero) {
            events.append(event)
        }
        return events
    }

    /// Sends a GET request.
    public func get(_ target: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await self.request(.get, target, headers: headers)
    }

    /// Sends a HEAD request.
    public func head(_ target: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await self.request(.head, target, headers: headers)
    }

    /// Sends a POST request with `body`.
    public func post(_ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) async throws
        -> TestResponse
    {
        try await self.request(.post, target, headers: headers, body: body)
    }

    /// Sends a PUT request with `body`.
    public func put(_ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) async throws
        -> TestResponse
    {
        try await self.request(.put, target, headers: headers, body: body)
    }

    /// Sends a DELETE request.
    public func delete(_ target: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await self.request(.delete, target, headers: headers)
    }

    private func start(
        _ method: HTTPRequest.Method,
        _ target: String,
        headers: HTTPFields,
        body: ByteBuffer
    ) -> ApplicationCommunicator {
        var headers = headers
        if headers[.contentLength] == nil, headers[.transferEncoding] == nil,
            body.readableBytes > 0 || method == .post || method == .put
        {
            headers[.contentLength] = String(body.readableBytes)
        }
        var scope = HTTPScope(method: method, target: target, headers: headers)
        if self.fileSend { scope.extensions[FileSend.self] = true }
        let communicator = ApplicationCommunicator(self.application, scope: .http(scope))
        communicator.send(.body(body, more: false))
        return communicator
    }
}

/// A complete response collected by ``TestClient``.
public struct TestResponse: Sendable {
    /// The status.
    public var status: HTTPResponse.Status = .ok
    /// The header fields.
    public var headers: HTTPFields = [:]
    /// The whole body.
    public var body = ByteBuffer()
    /// The trailer fields, if any were sent.
    public var trailers: HTTPFields?

    /// The body as UTF-8 text.
    public var text: String { String(buffer: self.body) }

    mutating func append(_ event: OutboundEvent) async throws {
        switch event {
        case .start(let status, let headers, _):
            self.status = status
            self.headers = headers
        case .body(var chunk, _):
            self.body.writeBuffer(&chunk)
        case .file(let range):
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(range.path)) { file in
                var chunk = try await file.readChunk(
                    fromAbsoluteOffset: range.offset, length: .bytes(range.count))
                self.body.writeBuffer(&chunk)
            }
        case .trailers(let trailers):
            self.trailers = trailers
        case .startupComplete, .startupFailed, .shutdownComplete, .shutdownFailed:
            break
        }
    }
}
