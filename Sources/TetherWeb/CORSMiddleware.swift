import HTTPTypes

/// Lets pages of other origins call the application (CORS, as the Fetch standard defines it): answers preflight
/// requests itself, and adds `Access-Control-*` fields to the responses of allowed origins.
///
/// A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered 204 without calling `next`:
/// with the allowed methods and headers, credentials and max-age when the origin is allowed, with no CORS fields when
/// it is not (the browser then refuses the request). Other requests go to `next`; the response gets
/// `Access-Control-Allow-Origin`, credentials and exposed headers when the origin is allowed, and no CORS fields when
/// it is not. Whenever the allowed origin is echoed rather than `*`, every response carries `Vary: Origin`, so that a
/// cache keeps one per origin.
///
/// ```swift
/// let cors = CORSMiddleware(allowedOrigins: .list(["https://app.example.com"]), allowsCredentials: true)
/// let app = WebApplication(router: router, middleware: [cors])
/// ```
public struct CORSMiddleware: Middleware {
    /// The origins whose pages may read responses.
    public enum AllowedOrigins: Sendable {
        /// Every origin: `*`, or the request's origin echoed when credentials are allowed (browsers refuse `*` then).
        case any
        /// These origins exactly, such as `https://app.example.com` (scheme, host, and port unless the default).
        case list([String])
    }

    /// The request header fields that pages may send.
    public enum AllowedHeaders: Sendable {
        /// Whatever the preflight asks for, echoed.
        case any
        /// These fields.
        case list([HTTPField.Name])
    }

    private let allowedOrigins: AllowedOrigins
    private let allowedMethods: String
    private let allowedHeaders: AllowedHeaders
    private let allowsCredentials: Bool
    private let exposedHeaders: String?
    private let maxAge: String?

    /// A CORS policy.
    ///
    /// - Parameters:
    ///   - allowedOrigins: the origins whose pages may read responses; there is no default, as there is no safe one.
    ///   - allowedMethods: the methods pages may use; GET, HEAD and POST need no preflight, but are listed anyway.
    ///   - allowedHeaders: the request fields pages may send beyond the CORS-safelisted ones.
    ///   - allowsCredentials: whether requests with cookies or HTTP authentication may read responses.
    ///   - exposedHeaders: the response fields pages may read beyond the CORS-safelisted ones.
    ///   - maxAge: how long a browser may reuse a preflight's answer; its own default (5 s in Chromium) when `nil`.
    public init(
        allowedOrigins: AllowedOrigins,
        allowedMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete],
        allowedHeaders: AllowedHeaders = .list([
            .accept, .acceptLanguage, .contentLanguage, .contentType, .authorization,
        ]),
        allowsCredentials: Bool = false,
        exposedHeaders: [HTTPField.Name] = [],
        maxAge: Duration? = .seconds(600)
    ) {
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods.map(\.rawValue).joined(separator: ", ")
        self.allowedHeaders = allowedHeaders
        self.allowsCredentials = allowsCredentials
        self.exposedHeaders = exposedHeaders.isEmpty ? nil : exposedHeaders.map(\.rawName).joined(separator: ", ")
        self.maxAge = maxAge.map { String($0.components.seconds) }
    }

    public func respond(to request: Request, next: Handler) async throws -> Response {
        let allowedOrigin = request.headers[.origin].flatMap(self.allowedOrigin(for:))
        var response: Response
        if request.method == .options, request.headers[.origin] != nil,
            request.headers[.accessControlRequestMethod] != nil
        {
            response = Response(status: .noContent)
            if let allowedOrigin { self.addPreflightFields(to: &response, origin: allowedOrigin, request: request) }
        } else {
            response = try await next(request)
            if let allowedOrigin { self.addFields(to: &response, origin: allowedOrigin) }
        }
        if self.echoesOrigin { Self.vary(&response, on: "Origin") }
        return response
    }

    /// Whether the allowed origin is the request's own, so that the answer depends on it.
    private var echoesOrigin: Bool {
        if case .any = self.allowedOrigins, !self.allowsCredentials { false } else { true }
    }

    /// What `Access-Control-Allow-Origin` says to `origin`; `nil` when it is not allowed.
    private func allowedOrigin(for origin: String) -> String? {
        switch self.allowedOrigins {
        case .any: self.allowsCredentials ? origin : "*"
        case .list(let origins): origins.contains(origin) ? origin : nil
        }
    }

    private func addFields(to response: inout Response, origin: String) {
        response.headers[.accessControlAllowOrigin] = origin
        if self.allowsCredentials { response.headers[.accessControlAllowCredentials] = "true" }
        response.headers[.accessControlExposeHeaders] = self.exposedHeaders
    }

    private func addPreflightFields(to response: inout Response, origin: String, request: Request) {
        response.headers[.accessControlAllowOrigin] = origin
        if self.allowsCredentials { response.headers[.accessControlAllowCredentials] = "true" }
        response.headers[.accessControlAllowMethods] = self.allowedMethods
        switch self.allowedHeaders {
        case .any:
            response.headers[.accessControlAllowHeaders] = request.header(.accessControlRequestHeaders)
            Self.vary(&response, on: "Access-Control-Request-Headers")
        case .list(let names):
            response.headers[.accessControlAllowHeaders] =
                names.isEmpty ? nil : names.map(\.rawName).joined(separator: ", ")
        }
        response.headers[.accessControlMaxAge] = self.maxAge
    }

    /// Adds `name` to the response's `Vary`, unless it is already there or `Vary` is `*`.
    private static func vary(_ response: inout Response, on name: String) {
        let listed = response.headers[values: .vary].flatMap { $0.split(separator: ",").map(\.trimmingOWS) }
        guard !listed.contains(where: { $0 == "*" || $0.lowercased() == name.lowercased() }) else { return }
        response.headers[.vary] = (listed.map(String.init) + [name]).joined(separator: ", ")
    }
}
