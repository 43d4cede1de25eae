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
        /// Renders every error answer: 404, 405, an ``HTTPError``, and the 500 for any other error. Default
        /// ``ErrorRenderer/standard``: plain text, or JSON when the request's `Accept` prefers it.
        public var errorRenderer = ErrorRenderer.standard

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
    /// The routes, looked up only to name the route of a request whose body failed before routing.
    private let routes: RouteTree<Router.Route>
    /// What WebSocket handshakes go to: the middleware, then the route's, ending in an accept or a denial.
    private let webSocketResponder: Handler

    /// An application that routes with `router` through `middleware`, outermost first.
    ///
    /// An error thrown inside a layer is answered (rendered by the configuration's ``ErrorRenderer``) before the
    /// layer around it sees it: each middleware gets a response from `next`, a 404 or a 500 as much as a 200.
    public init(
        router: Router,
        middleware: [any Middleware] = [],
        hooks: LifecycleHooks = LifecycleHooks(),
        configuration: Configuration = Configuration()
    ) {
        self.configuration = configuration
        self.hooks = hooks
        let errors = ErrorResponder(renderer: configuration.errorRenderer, logger: configuration.logger)
        let threadPool = configuration.threadPool
        // Each route's handler, deadline and group middleware are put together once, not per request.
        let routes = router.routes.map { route in
            (route: route, handler: Self.responder(for: route, threadPool: threadPool, errors: errors))
        }
        let routed: Handler = { request in
            switch routes.lookup(request.method, path: request.routePath) {
            case .found(let found, let parameters):
                request.observation?.routeMatched(found.route.pattern, deadline: found.route.deadline)
                var request = request
                request.parameters = parameters
                return try await found.handler(request)
            case .methodNotAllowed(let allowed):
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
            case .notFound:
                throw HTTPError(.notFound, message: "Not Found")
            }
        }
        self.responder = errors.answering(Self.chain(middleware, around: routed, errors: errors))
        self.routes = router.routes
        let webSocketRoutes = router.webSocketRoutes.map { route in
            (pattern: route.pattern, handler: Self.webSocketResponder(for: route, errors: errors))
        }
        let webSocketRouted: Handler = { request in
            guard case .found(let found, let parameters) = webSocketRoutes.lookup(.get, path: request.routePath)
            else {
                throw HTTPError(.notFound, message: "Not Found")
            }
            request.observation?.routeMatched(found.pattern)
            let handler = found.handler
            var request = request
            request.parameters = parameters
            return try await handler(request)
        }
        self.webSocketResponder = errors.answering(Self.chain(middleware, around: webSocketRouted, errors: errors))
    }

    /// Adds a hook run when each request starts.
    public mutating func onRequestStarted(_ hook: @escaping LifecycleHooks.StartedHook) {
        self.hooks.requestStarted.append(hook)
    }

    /// Adds a hook run when each request ends, on every path, with its status, outcome and duration.
    public mutating func onRequestFinished(_ hook: @escaping LifecycleHooks.FinishedHook) {
        self.hooks.requestFinished.append(hook)
    }

    public func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        // Each kind of scope in a function of its own: a long-lived WebSocket's task holds only its own frames.
        switch scope {
        case .http(let scope): try await self.serveHTTP(scope, receive: receive, send: send)
        case .websocket(let scope): try await self.serveWebSocket(scope, receive: receive, send: send)
        case .lifespan: throw UnsupportedScope(type: scope.type)
        }
    }

    /// Serves an HTTP request: the body spooled, the hooks, the disconnect race, the response.
    @inline(never)
    private func serveHTTP(_ scope: HTTPScope, receive: @escaping Receive, send: @escaping Send) async throws {
        let began = ContinuousClock.now
        let sender = ResponseSender(send: send, scope: scope, fileChunkSize: self.configuration.fileChunkSize)
        let declaredLength = scope.headers[.contentLength].flatMap(Int64.init)
        if let limit = self.configuration.maxBodySize, let declared = declaredLength, declared > limit {
            let error = HTTPError(.contentTooLarge, message: BodyTooLarge(limit: limit).description)
            self.reportRoute(of: scope)
            try await sender.send(self.answer(error, to: scope))
            return
        }

        let body: SpooledBody
        do {
            body = try await SpooledBody.read(
                from: receive, declaredLength: declaredLength,
                limits: self.configuration, threadPool: self.configuration.threadPool)
        } catch is ClientDisconnected, is CancellationError {
            // The client left while sending its body (the server may also have cancelled this task).
            self.reportRoute(of: scope)
            return
        } catch let error as BodyTooLarge {
            self.reportRoute(of: scope)
            try await sender.send(self.answer(HTTPError(.contentTooLarge, message: error.description), to: scope))
            return
        }
        defer { body.close() }
        if body.temporaryFile != nil { RequestObservation.current?.bodySpooled(bytes: body.count) }

        for hook in self.hooks.requestStarted { await hook(scope) }
        let record = ResponseRecord()
        // The request's own source: a route's deadline records its reason here, for `current` and the summary.
        let cancellation = NestedCancellationSource()
        let raced: Result<DisconnectRace.Outcome, any Error>
        do {
            var built = try Request(scope: scope, body: body)
            built.baseLogger = self.configuration.logger
            let request = built
            raced = await Result(catching: {
                try await CancellationReason.$source.withValue(cancellation) {
                    let serverCancels = scope.extensions[CancelOnDisconnect.self] == true
                    return try await DisconnectRace.run(receive: receive, serverCancels: serverCancels) {
                        try await self.process(request, sender: sender, record: record)
                    }
                }
            })
        } catch {
            // A request that cannot be built gets an empty 400 and no handler, as Django answers.
            record.record(.badRequest)
            raced = await Result(catching: {
                try await sender.send(Response(status: .badRequest))
                return .completed
            })
        }

        await record.runCloseHooks()
        let (outcome, failure) = self.ending(of: raced, cancellation: cancellation, scope: scope)
        let summary = RequestSummary(
            scope: scope, status: record.status, outcome: outcome, duration: began.duration(to: .now))
        for hook in self.hooks.requestFinished { await hook(summary) }
        if let failure { throw failure }
    }

    /// Middleware, router, handler (each error answered where it is thrown), and the response sent.
    private func process(
        _ request: Request, sender: ResponseSender, record: ResponseRecord
    ) async throws {
        let response = try await self.responder(request)
        record.record(response)
        try await sender.send(response)
    }

    /// How the request ended, for its summary, and the error the application throws, if any.
    private func ending(
        of raced: Result<DisconnectRace.Outcome, any Error>, cancellation: NestedCancellationSource, scope: HTTPScope
    ) -> (RequestSummary.Outcome, (any Error)?) {
        var outcome: RequestSummary.Outcome
        var failure: (any Error)?
        switch raced {
        case .success(.completed):
            outcome = .completed
        case .success(.disconnected):
            outcome = .cancelled(cancellation.cancellationReason)
        case .success(.unexpected(let event)):
            let error = ProtocolError("Invalid message after request body: \(event)")
            self.logger.error("\(error)", metadata: ["path": "\(scope.path)"])
            (outcome, failure) = (.failed(error), error)
        case .failure(let error):
            (outcome, failure) = (.failed(error), error)
        }
        // A route's deadline cut the work short, whether its 504 was sent or its started response ended.
        if let reason = cancellation.ownReason { outcome = .cancelled(reason) }
        return (outcome, failure)
    }

    /// Tells the server which route a request was for whose body failed before the router saw it.
    private func reportRoute(of scope: HTTPScope) {
        guard let observation = RequestObservation.current,
            case .found(let route, _) = self.routes.lookup(scope.method, path: scope.routePath)
        else { return }
        observation.routeMatched(route.pattern, deadline: route.deadline)
    }

    /// The configuration's logger, naming the current request's ID.
    private var logger: Logger {
        self.configuration.logger.naming(requestID: RequestObservation.current?.requestID)
    }

    /// The rendered answer to `error` for a request whose body is not read.
    private func answer(_ error: HTTPError, to scope: HTTPScope) -> Response {
        guard let request = try? Request(scope: scope, body: SpooledBody(ByteBuffer())) else { return error.response }
        return self.configuration.errorRenderer.render(error, for: request)
    }

    /// `handler` inside `middleware` (outermost first), each layer handed a response for what is thrown inside it.
    private static func chain(_ middleware: [any Middleware], around handler: @escaping Handler, errors: ErrorResponder)
        -> Handler
    {
        middleware.reversed().reduce(handler) { next, middleware in
            let next = errors.answering(next)
            return { request in try await middleware.respond(to: request, next: next) }
        }
    }

    /// What a route's requests go to: its handler (on the pool if blocking), within its deadline, inside the
    /// middleware of its groups.
    private static func responder(for route: Router.Route, threadPool: NIOThreadPool, errors: ErrorResponder)
        -> Handler
    {
        var handler: Handler
        switch route.handling {
        case .async(let async):
            handler = async
        case .blocking(let blocking):
            handler = { request in try await Self.runBlocking(blocking, request, on: threadPool) }
        }
        if let deadline = route.deadline {
            let inner = handler
            handler = { request in try await RouteDeadline.respond(to: request, within: deadline, handler: inner) }
        }
        return Self.chain(route.middleware, around: handler, errors: errors)
    }

    /// A WebSocket route's chain: its groups' middleware around the handshake's acceptance.
    private static func webSocketResponder(for route: Router.WebSocketRoute, errors: ErrorResponder) -> Handler {
        let accept: Handler = { request in
            let offered = WebSocketScope(request: request.scope).subprotocols
            var response = Response(status: .switchingProtocols)
            response.webSocketUpgrade = WebSocketUpgrade(
                request: request, handler: route.handler,
                subprotocol: offered.first { route.subprotocols.contains($0) })
            return response
        }
        return Self.chain(route.middleware, around: accept, errors: errors)
    }

    /// Serves a WebSocket: the handshake through the middleware, then the route's handler on the connection, closed
    /// with 1000 when it returns and 1011 when it throws; a handshake the chain answers otherwise is denied with
    /// that answer.
    ///
    /// Each step is a function of its own: a WebSocket's task holds, for hours, only the frames of what it awaits.
    @inline(never)
    private func serveWebSocket(_ scope: WebSocketScope, receive: @escaping Receive, send: @escaping Send)
        async throws
    {
        let began = ContinuousClock.now
        // Anything else first means the peer is already gone.
        guard case .websocketConnect = try await receive() else { return }
        for hook in self.hooks.requestStarted { await hook(scope.request) }
        let record = ResponseRecord()
        let outcome = await self.runWebSocket(scope, record: record, receive: receive, send: send)
        await record.runCloseHooks()
        let summary = RequestSummary(
            scope: scope.request, status: record.status, outcome: outcome, duration: began.duration(to: .now))
        for hook in self.hooks.requestFinished { await hook(summary) }
    }

    /// Answers the handshake, then runs the route's handler on the accepted connection; returns how it ended.
    @inline(never)
    private func runWebSocket(
        _ scope: WebSocketScope, record: ResponseRecord, receive: @escaping Receive, send: @escaping Send
    ) async -> RequestSummary.Outcome {
        do {
            guard let (upgrade, socket) = try await self.answerHandshake(scope, record, receive, send) else {
                return .completed
            }
            try await upgrade.handler(upgrade.request, socket)
            // A handler that returns without closing is done with the connection; one that closed is not reopened.
            try? await socket.close()
            // Its messages ended because the peer left before it closed: its work was cut short all the same.
            return CancellationReason.current.map { .cancelled($0) } ?? .completed
        } catch let error as InvalidEncoding {
            record.record(.badRequest)
            try? await send(.start(status: .badRequest, headers: [.contentLength: "0"]))
            try? await send(.body(ByteBuffer(), more: false))
            return .failed(error)
        } catch {
            if let reason = CancellationReason.current { return .cancelled(reason) }
            if error is CancellationError || error is ClientDisconnected { return .cancelled(nil) }
            self.logger.error("WebSocket handler failed: \(error)", metadata: ["path": "\(scope.path)"])
            try? await send(.websocketClose(code: WebSocketCloseCode.internalError))
            return .failed(error)
        }
    }

    /// The handshake through the middleware: accepted, with the route's handler and the socket it gets, or denied
    /// with the chain's answer (`nil`).
    @inline(never)
    private func answerHandshake(
        _ scope: WebSocketScope, _ record: ResponseRecord, _ receive: @escaping Receive, _ send: @escaping Send
    ) async throws -> (WebSocketUpgrade, WebSocket)? {
        var request = try Request(scope: scope.request, body: SpooledBody(ByteBuffer()))
        request.baseLogger = self.configuration.logger
        let response = try await self.webSocketResponder(request)
        record.record(response)
        guard let upgrade = response.webSocketUpgrade, response.status == .switchingProtocols else {
            let sender = ResponseSender(
                send: send, scope: scope.request, fileChunkSize: self.configuration.fileChunkSize)
            try await sender.send(response)
            return nil
        }
        try await send(.websocketAccept(subprotocol: upgrade.subprotocol, headers: response.headers))
        return (upgrade, WebSocket(subprotocol: upgrade.subprotocol, receive: receive, send: send))
    }

    /// Runs a blocking handler on `pool`; when the task is cancelled the request's flag is set, the handler's
    /// thread is awaited, and its result discarded.
    private static func runBlocking(
        _ handler: @escaping BlockingHandler, _ request: Request, on pool: NIOThreadPool
    ) async throws -> Response {
        // Read in the canceller's thread, where the task's task-locals are out of reach.
        let source = CancellationReason.source
        let response = try await withTaskCancellationHandler {
            try await pool.runIfActive { try handler(request) }
        } onCancel: {
            request.cancellation.cancel(reason: source?.cancellationReason)
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
