/// Wraps the handling of a request: can act before and after the rest of the chain, or answer by itself.
///
/// Errors are answered where they are thrown: what `next` returns is already a response, a 404, a 401 or a 500 as
/// much as a 200, so middleware can add headers to every answer. `next` throws only when the request's work is
/// cancelled (its client left, or a deadline passed); let that error through.
///
/// ```swift
/// let securityHeaders = InlineMiddleware { request, next in
///     var response = try await next(request)
///     response.headers[.init("X-Content-Type-Options")!] = "nosniff"
///     return response
/// }
/// ```
public protocol Middleware: Sendable {
    /// Answers `request`, calling `next` to pass it (or a changed copy) down the chain, or not, to short-circuit.
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
