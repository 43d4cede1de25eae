/// Wraps the handling of a request: can act before and after the rest of the chain, or answer by itself.
public protocol Middleware: Sendable {
    /// Answers `request`, calling `next` to pass it down the chain (or not, to short-circuit).
    func respond(to request: Request, next: Handler) async throws -> Response
}

/// A middleware written as a closure.
public struct InlineMiddleware: Middleware {
    private let body: @Sendable (Request, Handler) async throws -> Response

    /// Wraps `body` as a middleware.
    public init(_ body: @escaping @Sendable (_ request: Request, _ next: Handler) async throws -> Response) {
        self.body = body
    }

    public func respond(to request: Request, next: Handler) async throws -> Response {
        try await self.body(request, next)
    }
}
