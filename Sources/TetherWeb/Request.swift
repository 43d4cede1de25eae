import FoundationEssentials
import HTTPTypes
import NIOCore
import TetherGateway

/// An HTTP request: its scope, decoded query, router parameters and spooled body.
public struct Request: Sendable {
    /// The scope the server gave for this request.
    public let scope: HTTPScope
    /// The decoded query parameters.
    public let query: QueryParameters
    /// The values the router captured from the path.
    public var parameters: Parameters
    /// The request body, already read from the client.
    public let body: SpooledBody
    /// Set once the client has gone; blocking handlers poll it to stop early.
    public let cancellation: CancellationFlag

    /// Builds a request; throws ``InvalidEncoding`` when the query is not UTF-8 once decoded.
    public init(scope: HTTPScope, body: SpooledBody, cancellation: CancellationFlag = CancellationFlag()) throws {
        self.scope = scope
        self.query = try QueryParameters(decoding: scope.queryString)
        self.parameters = Parameters()
        self.body = body
        self.cancellation = cancellation
    }

    /// The request method.
    public var method: HTTPRequest.Method { self.scope.method }
    /// The percent-decoded path.
    public var path: String { self.scope.path }
    /// The path as the client sent it.
    public var rawPath: String { self.scope.rawPath }
    /// The undecoded query bytes.
    public var queryString: [UInt8] { self.scope.queryString }
    /// The header fields, in order, duplicates kept; look-ups ignore case.
    public var headers: HTTPFields { self.scope.headers }
    /// `http` or `https`.
    public var scheme: String { self.scope.scheme }
    /// The prefix the application is mounted under.
    public var rootPath: String { self.scope.rootPath }
    /// The client's address, when known.
    public var client: SocketAddress? { self.scope.client }
    /// The server's address, when known.
    public var server: SocketAddress? { self.scope.server }
    /// Whether the client has gone; async handlers see `Task.isCancelled` too.
    public var isCancelled: Bool { self.cancellation.isCancelled }

    /// Every value of the header `name` joined with `,` (`; ` for `Cookie`), as Django's `META` holds them.
    public func header(_ name: HTTPField.Name) -> String? {
        let values = self.scope.headers[values: name]
        guard !values.isEmpty else { return nil }
        return values.joined(separator: name == .cookie ? "; " : ",")
    }

    /// The body decoded from JSON; ``HTTPError`` 400 when it does not decode.
    public func json<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) async throws -> T {
        let bytes = try await self.body.bytes()
        do {
            return try decoder.decode(T.self, from: Data(bytes.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "The request body is not valid JSON for \(T.self): \(error)")
        }
    }

    /// The body decoded as an `application/x-www-form-urlencoded` form; ``HTTPError`` 400 when it is not UTF-8.
    public func form() async throws -> QueryParameters {
        let bytes = try await self.body.bytes()
        do {
            return try QueryParameters(decoding: bytes.readableBytesView)
        } catch {
            throw HTTPError(.badRequest, message: "The form is not valid UTF-8 once decoded.")
        }
    }
}
