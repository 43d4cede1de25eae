import HTTPTypes
import TetherGateway

extension TestClient {
    /// Opens a WebSocket connection to `target` (a path and query), runs `body` with it, then closes it with 1000
    /// unless it is closed and waits for the application to return.
    ///
    /// ```swift
    /// try await client.webSocket("/ws/echo/", subprotocols: ["chat"]) { socket in
    ///     #expect(socket.subprotocol == "chat")
    ///     try await socket.send(.text("hi"))
    ///     #expect(try await socket.receive() == .text("hi"))
    /// }
    /// ```
    ///
    /// The handshake is a GET with scheme `ws`, `headers`, and `subprotocols` offered in `Sec-WebSocket-Protocol`
    /// (see ``ApplicationCommunicator/webSocketScope(_:subprotocols:headers:)``). Throws
    /// ``TestClientError/webSocketDenied(status:headers:body:)`` if the application denies it, with `403` for a
    /// `websocketClose` before the accept. Closing cancels the application's task if it had not closed, as a server
    /// does; the application's error, if it failed, is rethrown, and otherwise `body`'s.
    ///
    /// In process only, for now: a client of another transport throws ``TestClientError/needsInProcess``.
    @discardableResult
    public func webSocket<Value>(
        _ target: String,
        subprotocols: [String] = [],
        headers: HTTPFields = [:],
        _ body: (TestWebSocket) async throws -> Value
    ) async throws -> Value {
        guard let inProcess = self.transport as? InProcessTransport else { throw TestClientError.needsInProcess }
        let socket = try await TestWebSocket.open(
            inProcess.application, target: target, subprotocols: subprotocols, headers: headers,
            timeout: inProcess.timeout)
        let outcome: Result<Value, any Error>
        do {
            outcome = .success(try await body(socket))
        } catch {
            outcome = .failure(error)
        }
        try await socket.finish(timeout: inProcess.timeout)
        return try outcome.get()
    }
}
