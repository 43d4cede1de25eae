import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import SystemPackage
import TetherGateway

/// The web layer as an application: spooled body, request, disconnect race, middleware, router, response.
///
/// ```swift
/// var router = Router()
/// router.get("/hello/") { request in .text("Hello \(request.query["name"] ?? "World")!") }
/// let app = WebApplication(router: router)
/// ```
public struct WebApplication: Application {
    /// Limits and resources of the web layer; every property has a documented default.
    public struct Configuration: Sendable {
        /// Bodies up to this many bytes stay in memory; larger ones go to a temporary file. Default 2.5 MiB.
        public var spoolThreshold: Int64 = 2_621_440
        /// Bodies larger than this are answered 413 without being read; `nil` for no limit. Default 1 GiB.
        public var maxBodySize: Int64? = 1 << 30
        /// Where spooled bodies are written. Default `$TMPDIR`, else `/tmp`.
        public var temporaryDirectory: FilePath = WebApplication.Configuration.defaultTemporaryDirectory
        /// Spooled bytes are written to disk in batches of about this size. Default 256 KiB.
        public var writeBatchSize: Int = 256 * 1024
        /// File bodies are read in chunks of this size when the server cannot send files itself. Default 64 KiB.
        public var fileChunkSize: Int = 64 * 1024
        /// The threads blocking handlers run on. Default: a shared pool of 16 threads.
        public var threadPool: NIOThreadPool = WebApplication.Configuration.sharedThreadPool
        /// Where handler errors and protocol violations are logged. Default label `tether.web`.
        public var logger = Logger(label: "tether.web")

        /// The defaults.
        public init() {}

        /// The pool blocking handlers share unless configured otherwise: 16 threads, started on first use.
        public static let sharedThreadPool: NIOThreadPool = {
            let pool = NIOThreadPool(numberOfThreads: 16)
            pool.start()
            return pool
        }()

        static var defaultTemporaryDirectory: FilePath {
            if let directory = getenv("TMPDIR"), directory.pointee != 0 {
                return FilePath(String(cString: directory))
            }
            return "/tmp"
        }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The hooks run around every request.
    public var hooks: LifecycleHooks
    private let responder: Handler

    /// An application that routes with `router` through `middleware`, outermost first.
    public init(
        router: Router,
        middleware: [any Middleware] = [],
        hooks: LifecycleHooks = LifecycleHooks(),
        configuration: Configuration = Configuration()
    ) {
        self.configuration = configuration
        self.hooks = hooks
        let threadPool = configuration.threadPool
        let routed: Handler = { request in
            switch router.match(request.method, path: request.path) {
            case .found(let route, let parameters):
                var request = request
                request.parameters = parameters
                switch route {
                case .async(let handler):
                    return try await handler(request)
                case .blocking(let handler):
                    return try await Self.runBlocking(handler, request, on: threadPool)
                }
            case .methodNotAllowed(let allowed):
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
            case .notFound:
                throw HTTPError(.notFound, message: "Not Found")
            }
        }
        self.responder = middleware.reversed().reduce(routed) { next, middleware in
            { request in try await middleware.respond(to: request, next: next) }
        }
    }

    /// Adds a hook run when each request starts.
    public mutating func onRequestStarted(_ hook: @escaping LifecycleHooks.Hook) {
        self.hooks.requestStarted.append(hook)
    }

    /// Adds a hook run when each request ends, on every path.
    public mutating func onRequestFinished(_ hook: @escaping LifecycleHooks.Hook) {
        self.hooks.requestFinished.append(hook)
    }

    public func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(let scope) = scope else {
            throw UnsupportedScope(type: scope.type)
        }
        let sender = ResponseSender(send: send, scope: scope, fileChunkSize: self.configuration.fileChunkSize)
        let declaredLength = scope.headers[.contentLength].flatMap(Int64.init)
        if let limit = self.configuration.maxBodySize, let declared = declaredLength, declared > limit {
            try await sender.send(HTTPError(.contentTooLarge, message: BodyTooLarge(limit: limit).description).response)
            return
        }

        let body: SpooledBody
        do {
            body = try await SpooledBody.read(
                from: receive, declaredLength: declaredLength,
                limits: self.configuration, threadPool: self.configuration.threadPool)
        } catch is ClientDisconnected, is CancellationError {
            // The client left while sending its body (the server may also have cancelled this task).
            return
        } catch let error as BodyTooLarge {
            try await sender.send(HTTPError(.contentTooLarge, message: error.description).response)
            return
        }
        defer { body.close() }

        for hook in self.hooks.requestStarted { await hook(scope) }
        let closeHooks = CloseHooks()
        let outcome: Result<DisconnectRace.Outcome, any Error>
        do {
            let request = try Request(scope: scope, body: body)
            outcome = await Result(catching: {
                try await DisconnectRace.run(receive: receive, serverCancels: scope.extensions[CancelOnDisconnect.self] == true) {
                    try await self.process(request, sender: sender, closeHooks: closeHooks)
                }
            })
        } catch {
            // A request that cannot be built gets an empty 400 and no handler, as Django answers.
            outcome = await Result(catching: {
                try await sender.send(Response(status: .badRequest))
                return .completed
            })
        }

        await closeHooks.run()
        for hook in self.hooks.requestFinished { await hook(scope) }

        if case .success(.unexpected(let event)) = outcome {
            let error = ProtocolError("Invalid message after request body: \(event)")
            self.configuration.logger.error("\(error)", metadata: ["path": "\(scope.path)"])
            throw error
        }
        _ = try outcome.get()
    }

    /// Middleware, router, handler; an error becomes its response, and the response is sent.
    private func process(_ request: Request, sender: ResponseSender, closeHooks: CloseHooks) async throws {
        let response: Response
        do {
            response = try await self.responder(request)
        } catch let error as HTTPError {
            response = error.response
        } catch where Task.isCancelled || error is ClientDisconnected {
            throw error
        } catch {
            self.configuration.logger.error(
                "Handler failed: \(error)", metadata: ["method": "\(request.method)", "path": "\(request.path)"])
            response = Response(status: .internalServerError)
        }
        closeHooks.add(response.closeHooks)
        try await sender.send(response)
    }

    /// Runs a blocking handler on `pool`; when the task is cancelled the request's flag is set, the handler's
    /// thread is awaited, and its result discarded.
    private static func runBlocking(
        _ handler: @escaping BlockingHandler, _ request: Request, on pool: NIOThreadPool
    ) async throws -> Response {
        let response = try await withTaskCancellationHandler {
            try await pool.runIfActive { try handler(request) }
        } onCancel: {
            request.cancellation.cancel()
        }
        try Task.checkCancellation()
        return response
    }
}

/// A scope the web layer cannot serve.
public struct UnsupportedScope: Error, CustomStringConvertible {
    /// The scope's type.
    public var type: String

    public var description: String { "TetherWeb can only handle HTTP scopes, not \(self.type)." }
}
