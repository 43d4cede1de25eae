import FoundationEssentials
import HTTPTypes
import Logging
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
    /// Typed values middleware attached for the handlers after it; pass a changed copy to `next`.
    public var storage: RequestStorage
    /// The request body, already read from the client.
    public let body: SpooledBody
    /// Set once the request's work is cancelled (its client left, or its route's deadline passed); blocking
    /// handlers poll it to stop early.
    public let cancellation: CancellationFlag
    /// What the server records of the request for its metrics, span and log (its ID, its route), as it was bound
    /// where the request was built; `nil` outside a server that observes requests.
    public let observation: RequestObservation?
    /// The logger ``logger`` adds the request's ID to. Default label `tether.request`; the web layer sets its
    /// configuration's.
    public var baseLogger = Logger(label: "tether.request")

    /// Builds a request; throws ``InvalidEncoding`` when the query is not UTF-8 once decoded.
    public init(scope: HTTPScope, body: SpooledBody, cancellation: CancellationFlag = CancellationFlag()) throws {
        self.scope = scope
        self.query = try QueryParameters(decoding: scope.queryString)
        self.parameters = Parameters()
        self.storage = RequestStorage()
        self.body = body
        self.cancellation = cancellation
        self.observation = RequestObservation.current
    }

    /// The request's ID (its `X-Request-Id`, or the one the server made), if the server gave it one.
    public var id: String? { self.observation?.requestID }

    /// A logger whose every line names the request's ID (`request_id`), from any thread, blocking handlers' too.
    public var logger: Logger { self.baseLogger.naming(requestID: self.id) }

    /// The request method.
    public var method: HTTPRequest.Method { self.scope.method }
    /// The percent-decoded path.
    public var path: String { self.scope.path }
    /// The percent-decoded path below ``rootPath``: what routes match.
    public var routePath: Substring { self.scope.routePath }
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
    /// Whether the request's work was cancelled; async handlers see `Task.isCancelled` too.
    public var isCancelled: Bool { self.cancellation.isCancelled }
    /// The trailer fields the request's body ended with (chunked HTTP/1.1, or HTTP/2), once ``body`` has been read
    /// to its end; `nil` if it had none. An async handler reads it: a blocking handler's thread cannot.
    public var trailers: HTTPFields? { RequestTrailers.current }

    /// Every value of the header `name` joined with `,` (`; ` for `Cookie`), as Django's `META` holds them.
    public func header(_ name: HTTPField.Name) -> String? {
        let values = self.scope.headers[values: name]
        guard !values.isEmpty else { return nil }
        return values.joined(separator: name == .cookie ? "; " : ",")
    }

    /// The body decoded from JSON, and validated when `T` is ``Validatable``.
    ///
    /// A body that does not decode is ``HTTPError`` 400, with a message that says what is wrong in the client's
    /// terms ("Field 'name' is missing."); one that decodes but does not validate is 422.
    ///
    /// ```swift
    /// let item = try await request.json(NewItem.self)
    /// ```
    public func json<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) async throws -> T {
        let bytes = try await self.body.bytes()
        let value: T
        do {
            value = try decoder.decode(T.self, from: Data(bytes.readableBytesView))
        } catch let error as HTTPError {
            throw error
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, message: Self.problem(with: error))
        } catch {
            throw HTTPError(.badRequest, message: "The request body is not valid.")
        }
        if let value = value as? any Validatable {
            do {
                try value.validate()
            } catch let error as HTTPError {
                throw error
            } catch {
                throw HTTPError.unprocessable("The request body is not valid.")
            }
        }
        return value
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

    /// What is wrong with a JSON body, in the client's terms: which field and how, never Swift's types.
    static func problem(with error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "Field '\(Self.fieldName(context.codingPath + [key]))' is missing."
        case .valueNotFound(_, let context) where !context.codingPath.isEmpty:
            return "Field '\(Self.fieldName(context.codingPath))' must not be null."
        case .typeMismatch(let type, let context):
            let field = Self.fieldName(context.codingPath)
            let subject = context.codingPath.isEmpty ? "The request body" : "Field '\(field)'"
            return Self.kind(of: type).map { "\(subject) must be \($0)." } ?? "\(subject) has the wrong type."
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "Field '\(Self.fieldName(context.codingPath))' is not valid."
        default:
            return "The request body is not valid JSON."
        }
    }

    /// A coding path as the client wrote it: `items[0].name`.
    private static func fieldName(_ path: [any CodingKey]) -> String {
        var name = ""
        for key in path {
            if let index = key.intValue, key.stringValue == "Index \(index)" {
                name += "[\(index)]"
            } else {
                name += (name.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return name
    }

    /// The JSON kind a decoded type expects, in words: "a string", "a number"; `nil` when there is no plain one.
    private static func kind(of type: Any.Type) -> String? {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is any Numeric.Type: "a number"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: nil
        }
    }
}

extension Logger {
    /// This logger with `request_id` in its metadata, if there is an ID.
    func naming(requestID id: String?) -> Logger {
        guard let id else { return self }
        var logger = self
        logger[metadataKey: "request_id"] = "\(id)"
        return logger
    }
}
