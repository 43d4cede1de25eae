import FoundationEssentials
import HTTPTypes
import Logging
import TetherGateway

/// Turns an ``HTTPError`` into the response the client gets; one for the whole application, in
/// ``WebApplication/Configuration/errorRenderer``.
///
/// It renders every error answer: router 404 and 405, a handler's or a middleware's ``HTTPError``, and the 500
/// that stands for any other error (whose text is logged, never rendered). A renderer includes the error's
/// header fields, such as `Allow` on a 405.
///
/// ```swift
/// configuration.errorRenderer = ErrorRenderer { error, request in
///     .html("<h1>\(error.status.code)</h1>", status: error.status)
/// }
/// ```
public struct ErrorRenderer: Sendable {
    private let body: @Sendable (HTTPError, Request) -> Response

    /// A renderer that answers with what `render` returns.
    public init(_ render: @escaping @Sendable (_ error: HTTPError, _ request: Request) -> Response) {
        self.body = render
    }

    /// The response for `error` on `request`.
    public func render(_ error: HTTPError, for request: Request) -> Response {
        self.body(error, request)
    }

    /// JSON when the request's `Accept` prefers `application/json` to text, plain text otherwise: the default.
    public static let standard = ErrorRenderer { error, request in
        let json = request.header(.accept).map(Self.prefersJSON) ?? false
        return (json ? Self.json : Self.text).render(error, for: request)
    }

    /// The message as `text/plain`, or no body when the error has none.
    public static let text = ErrorRenderer { error, _ in error.response }

    /// `{"error":{"status":404,"message":"Not Found"}}` as `application/json`; the status's reason phrase stands in
    /// for a missing message.
    public static let json = ErrorRenderer { error, _ in
        struct Body: Encodable {
            struct Detail: Encodable {
                var status: Int
                var message: String
            }
            var error: Detail
        }
        let body = Body(error: .init(status: error.status.code, message: error.message ?? error.status.reasonPhrase))
        guard var response = try? Response.json(body, status: error.status) else { return error.response }
        response.headers.append(contentsOf: error.headers)
        return response
    }

    /// Whether an `Accept` value ranks JSON above plain text (RFC 9110 §12.5.1: the most specific range decides).
    static func prefersJSON(_ accept: String) -> Bool {
        var json = (specificity: -1, quality: 0.0)
        var text = (specificity: -1, quality: 0.0)
        for element in accept.lowercased().split(separator: ",") {
            let fields = element.filter { $0 != " " && $0 != "\t" }.split(separator: ";")
            guard let range = fields.first else { continue }
            let quality = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let jsonSpecificity: Int? =
                switch range {
                case "application/json": 2
                case _ where range.hasSuffix("+json"): 2
                case "application/*": 1
                case "*/*": 0
                default: nil
                }
            let textSpecificity: Int? =
                switch range {
                case "text/*": 1
                case _ where range.hasPrefix("text/"): 2
                case "*/*": 0
                default: nil
                }
            Self.rank(&json, jsonSpecificity, quality)
            Self.rank(&text, textSpecificity, quality)
        }
        return json.quality > text.quality
    }

    private static func rank(
        _ best: inout (specificity: Int, quality: Double), _ specificity: Int?, _ quality: Double
    ) {
        guard let specificity else { return }
        if specificity > best.specificity {
            best = (specificity, quality)
        } else if specificity == best.specificity {
            best.quality = max(best.quality, quality)
        }
    }
}

/// Answers errors where they are thrown, so that each layer of the chain hands the next a response.
struct ErrorResponder: Sendable {
    let renderer: ErrorRenderer
    let logger: Logger

    /// `handler`, with what it throws answered, except the errors that end a request's work.
    func answering(_ handler: @escaping Handler) -> Handler {
        { request in
            do {
                return try await handler(request)
            } catch {
                return try self.response(for: error, to: request)
            }
        }
    }

    /// The rendered response for `error`: an ``HTTPError`` as it is, any other error as a 500 whose text is
    /// logged. Rethrows once the request's work is cancelled, and ``ClientDisconnected``: no one is left to answer.
    func response(for error: any Error, to request: Request) throws -> Response {
        if Task.isCancelled || error is ClientDisconnected {
            throw error
        }
        guard let error = error as? HTTPError else {
            self.logger.naming(requestID: request.id).error(
                "Handler failed: \(error)", metadata: ["method": "\(request.method)", "path": "\(request.path)"])
            return self.renderer.render(HTTPError(.internalServerError), for: request)
        }
        return self.renderer.render(error, for: request)
    }
}
