/// Waits for the next event from the client: a body chunk, or `disconnect`.
public typealias Receive = @Sendable () async throws -> InboundEvent

/// Hands one response event to the server.
public typealias Send = @Sendable (OutboundEvent) async throws -> Void

/// An application: an async function of a scope and two event channels.
///
/// Returning ends the request. Throwing before `start` makes the server answer 500; throwing after
/// `start` closes the connection. See <doc:EventContract>.
public protocol Application: Sendable {
    /// Serves one scope: reads with `receive`, answers with `send`.
    func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws
}

/// An application written as a closure, for small apps and tests.
public struct InlineApplication: Application {
    private let body: @Sendable (Scope, Receive, Send) async throws -> Void

    /// Wraps `body` as an application.
    public init(_ body: @escaping @Sendable (_ scope: Scope, _ receive: Receive, _ send: Send) async throws -> Void) {
        self.body = body
    }

    public func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        try await self.body(scope, receive, send)
    }
}
