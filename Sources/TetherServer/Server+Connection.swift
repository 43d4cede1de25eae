import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import TetherGateway
import Tracing

extension Server {
    /// Serves a connection once its protocol is known, until it closes.
    func serveConnection(
        _ channel: any Channel, _ negotiation: EventLoopFuture<NegotiatedConnection>, secure: Bool
    ) async {
        defer {
            self.connections.wrappingSubtract(1, ordering: .relaxed)
            self.metrics.connectionClosed()
        }
        let negotiated: NegotiatedConnection
        do {
            negotiated = try await negotiation.get()
        } catch {
            // A failed or abandoned handshake, or a client that left before its first byte: nothing was served.
            channel.close(promise: nil)
            return
        }
        switch negotiated {
        case .http1(let inbox): await self.serveHTTP1(channel, inbox, secure: secure)
        case .http2(let requests): await self.serveHTTP2(channel, requests, secure: secure)
        }
    }

    /// Serves an HTTP/1 connection's requests one after another, until it closes or is no longer kept alive.
    ///
    /// Each request runs in a child task of its own, which the client leaving mid-request cancels: the
    /// application's work stops without it having to listen for `disconnect` (``CancelOnDisconnect``). The task's
    /// memory goes with it, so an idle keep-alive connection holds none.
    private func serveHTTP1(_ channel: any Channel, _ inbox: ConnectionInbox, secure: Bool) async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                // The connection's handler hands over each request once the one before it is answered, and closes
                // the mailbox when the connection ends.
                while let (head, fields, exchange) = await inbox.requests.next() {
                    if let webSocket = exchange.webSocket {
                        // A WebSocket is the connection's last request and lives as long as it: the connection's own
                        // task serves it, which its leaving cancels, without a child task's frames held for hours.
                        let isAbandoned = { exchange.cancellationReason != nil || webSocket.cancellationReason != nil }
                        await inbox.task.run(isAbandoned: isAbandoned) {
                            await self.serveWebSocket(head, fields, exchange, webSocket, on: channel, secure: secure)
                        }
                        break
                    }
                    group.addTask {
                        await inbox.task.run(isAbandoned: { exchange.cancellationReason != nil }) {
                            await self.serveRequest(
                                head, fields, exchange, on: channel, secure: secure, multiplexed: false)
                        }
                        inbox.finished?.deliver(())
                    }
                    guard await inbox.finished?.next() != nil else { break }
                }
                channel.close(promise: nil)
            }
        } onCancel: {
            // The grace period is over: in-flight requests are cancelled, and the connection closes.
            channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.GracePeriodExpired())
        }
    }

    /// What the server offers every request on plain HTTP/1, built once: each scope shares its storage.
    private static let scopeExtensions = {
        var extensions = ScopeExtensions()
        extensions[FileSend.self] = true
        extensions[CancelOnDisconnect.self] = true
        return extensions
    }()

    /// What the server offers under TLS or on HTTP/2, where a file cannot go from disk to socket untouched: the
    /// application reads files itself.
    private static let encryptedOrFramedScopeExtensions = {
        var extensions = ScopeExtensions()
        extensions[CancelOnDisconnect.self] = true
        return extensions
    }()

    /// Runs the application on one WebSocket connection, from its handshake to its close, and logs it.
    ///
    /// An application that returns without answering the handshake has it denied with 403; one that accepted and
    /// returned without closing has the connection closed with 1000 (1011 if it threw). The task ends with the
    /// connection, once the close handshake is over.
    ///
    /// Each step is a function of its own: a WebSocket's task holds, for hours, only the frames of what it awaits.
    @inline(never)
    func serveWebSocket(
        _ head: HTTPRequestHead, _ fields: HTTPFields, _ exchange: Exchange, _ webSocket: WebSocketExchange,
        on channel: any Channel, secure: Bool
    ) async {
        let started = ContinuousClock.now
        self.metrics.requestStarted()
        let scope = Self.webSocketScope(head, fields, on: channel, secure: secure, configuration: self.configuration)
        let send: Send = { event in try await webSocket.send(event, denyingThrough: exchange) }
        let span = self.startSpan(head.method.rawValue, fields)
        webSocket.observation.handlerStarted(at: started)
        let failure = await self.observing(webSocket.observation, span) {
            await self.runWebSocketApplication(scope, webSocket, send: send)
        }
        await self.finishWebSocket(scope, webSocket, failure: failure, send: send, on: channel)
        self.recordWebSocket(head, scope, webSocket, exchange, started: started, span: span)
    }

    /// The scope of a WebSocket handshake.
    private static func webSocketScope(
        _ head: HTTPRequestHead, _ fields: HTTPFields, on channel: any Channel, secure: Bool,
        configuration: Configuration
    ) -> WebSocketScope {
        var request = HTTPScope(
            method: .get, target: Self.originForm(head.uri), headers: fields, scheme: secure ? "wss" : "ws",
            client: channel.remoteAddress, server: channel.localAddress,
            extensions: secure ? Self.encryptedOrFramedScopeExtensions : Self.webSocketScopeExtensions)
        configuration.place(&request, webSocket: true)
        return WebSocketScope(request: request)
    }

    /// Runs the application; returns its error, if it threw.
    @inline(never)
    private func runWebSocketApplication(
        _ scope: WebSocketScope, _ webSocket: WebSocketExchange, send: @escaping Send
    ) async -> (any Error)? {
        do {
            try await CancellationReason.$source.withValue(webSocket) {
                try await self.application(.websocket(scope), receive: webSocket.receive, send: send)
            }
            return nil
        } catch {
            return error
        }
    }

    /// Answers for an application that left its handshake or its connection open, then waits for the close
    /// handshake, which the event loop bounds with the close timeout.
    @inline(never)
    private func finishWebSocket(
        _ scope: WebSocketScope, _ webSocket: WebSocketExchange, failure: (any Error)?, send: Send,
        on channel: any Channel
    ) async {
        var metadata: Logger.Metadata { Self.errorMetadata(scope.path, webSocket.observation.requestID) }
        switch webSocket.machine.completion() {
        case .denyForbidden:
            if let failure {
                self.logger.error("WebSocket application failed before accepting: \(failure)", metadata: metadata)
            }
            try? await send(.websocketClose())
        case .close:
            if let failure { self.logger.error("WebSocket application failed: \(failure)", metadata: metadata) }
            let code = failure == nil ? WebSocketCloseCode.normalClosure : WebSocketCloseCode.internalError
            try? await send(.websocketClose(code: code))
        case .abortDenial:
            channel.close(promise: nil)
        case .completed, .cancelled:
            if let failure, !(failure is ClientDisconnected), !(failure is CancellationError) {
                self.logger.error("WebSocket application failed: \(failure)", metadata: metadata)
            }
        }
        try? await channel.closeFuture.get()
    }

    /// Counts the connection in the metrics, ends its span and writes its access-log line.
    private func recordWebSocket(
        _ head: HTTPRequestHead, _ scope: WebSocketScope, _ webSocket: WebSocketExchange, _ exchange: Exchange,
        started: ContinuousClock.Instant, span: (any Span)?
    ) {
        let connection = webSocket.machine
        var ended = Self.ended(
            exchange.machine, webSocket.observation, method: head.method.rawValue, started: started,
            cancellation: connection.cancellationReason)
        if connection.handshake == .accepted { ended.status = 101 }
        self.record(
            ended, scope.request, target: head.uri, version: Self.versionName(head.version), span: span,
            requestID: webSocket.observation.requestID,
            webSocket: (connection.messagesReceived, connection.messagesSent, connection.disconnect?.code ?? 0))
    }

    /// What the server offers a WebSocket on plain HTTP/1: cancellation when its peer leaves.
    private static let webSocketScopeExtensions = {
        var extensions = ScopeExtensions()
        extensions[CancelOnDisconnect.self] = true
        return extensions
    }()

    /// Runs the application on one request, answers 500 for it if it answered nothing, and logs it.
    @inline(never)
    func serveRequest(
        _ head: HTTPRequestHead, _ fields: HTTPFields, _ exchange: Exchange, on channel: any Channel, secure: Bool,
        multiplexed: Bool
    ) async {
        let started = ContinuousClock.now
        self.metrics.requestStarted()
        var scope = HTTPScope(
            method: HTTPRequest.Method(head.method.rawValue) ?? .get,
            target: Self.originForm(head.uri),
            headers: fields,
            httpVersion: TetherGateway.HTTPVersion(major: head.version.major, minor: head.version.minor),
            scheme: secure ? "https" : "http",
            client: channel.remoteAddress,
            server: channel.localAddress,
            extensions: secure || multiplexed ? Self.encryptedOrFramedScopeExtensions : Self.scopeExtensions)
        self.configuration.place(&scope, webSocket: false)
        let observation = exchange.observation
        let span = self.startSpan(head.method.rawValue, fields)
        observation.handlerStarted(at: started)

        var failure: (any Error)?
        do {
            // Only the server's shutdown cancels a request's task without recording why first: say so before the
            // task's work (and its connection's closing) reads a reason.
            try await withTaskCancellationHandler {
                try await self.observing(observation, span) {
                    try await CancellationReason.$source.withValue(exchange) {
                        // Only a chunked or an HTTP/2 body can end with trailers: the others pay nothing for them.
                        guard multiplexed || head.headers.contains(name: "transfer-encoding") else {
                            return try await self.application(
                                .http(scope), receive: exchange.receive, send: exchange.send)
                        }
                        try await RequestTrailers.$source.withValue(exchange) {
                            try await self.application(.http(scope), receive: exchange.receive, send: exchange.send)
                        }
                    }
                }
            } onCancel: {
                exchange.disconnected(.serverShutdown)
            }
        } catch {
            failure = error
        }

        let requestID = observation.requestID
        // The request's path and ID, for its error lines only: most requests have none to write.
        var metadata: Logger.Metadata { Self.errorMetadata(scope.path, requestID) }
        switch exchange.machine.completion() {
        case .respondWithServerError:
            if let failure {
                self.logger.error("Application failed before responding: \(failure)", metadata: metadata)
            } else {
                self.logger.error("Application returned without responding", metadata: metadata)
            }
            try? await exchange.send(.start(status: .internalServerError, headers: [.contentLength: "0"]))
            try? await exchange.send(.body(ByteBuffer(), more: false))
        case .abortResponse:
            self.logger.error(
                "Application ended its response early: \(failure.map { "\($0)" } ?? "it returned")",
                metadata: metadata)
            // On HTTP/2 this resets the stream alone.
            channel.close(promise: nil)
        case .completed, .cancelled:
            if let failure, !(failure is ClientDisconnected), !(failure is CancellationError) {
                self.logger.error("Application failed after responding: \(failure)", metadata: metadata)
            }
        }

        let machine = exchange.machine
        let ended = Self.ended(
            machine, observation, method: head.method.rawValue, started: started,
            cancellation: machine.cancellationReason)
        self.record(
            ended, scope, target: head.uri, version: Self.versionName(head.version), span: span, requestID: requestID)
    }

    /// An error line's metadata: the request's path and ID. Built only when a line is written.
    static func errorMetadata(_ path: String, _ requestID: String?) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["path": "\(path)"]
        if let requestID { metadata["request_id"] = "\(requestID)" }
        return metadata
    }

    /// An HTTP version as logs and spans name it: `1.1`, `2`.
    static func versionName(_ version: NIOHTTP1.HTTPVersion) -> String {
        version.major >= 2 ? String(version.major) : "\(version.major).\(version.minor)"
    }

    /// The origin form of a request target: an absolute-form target (`http://host/path`) loses its scheme and host.
    static func originForm(_ target: String) -> String {
        guard !target.hasPrefix("/"), target != "*" else { return target }
        // "http://host/path?query": skip the scheme's "//" and the authority up to the path or the query.
        let afterScheme = target.drop { $0 != "/" }.dropFirst(2)
        let rest = afterScheme.drop { $0 != "/" && $0 != "?" }
        return rest.hasPrefix("/") ? String(rest) : "/" + rest
    }
}

extension Server.Configuration {
    /// HTTP/1's `Host`, which swift-http-types keeps out of its field names for `:authority`.
    private static let host = HTTPField.Name("Host")!

    /// Places a request as the deployment has it: a Unix-socket peer has no address, trusted proxy headers give
    /// the client, scheme and `Host`, and the root path comes first in the path.
    func place(_ scope: inout HTTPScope, webSocket: Bool) {
        var peer = scope.client
        if case .unixDomainSocket? = scope.server {
            // ASGI's client of a Unix-socket connection is none; `unix` in the allow list trusts it.
            peer = scope.server
            scope.client = nil
        }
        if self.proxyHeaders,
            let origin = ProxyHeaders.resolve(scope.headers, peer: peer, trusted: self.forwardedAllowIPs)
        {
            switch origin.client {
            case .unchanged: break
            case .address(let address): scope.client = address
            case .unknown: scope.client = nil
            }
            if let scheme = origin.scheme {
                scope.scheme = webSocket ? (scheme == "https" ? "wss" : "ws") : scheme
            }
            if let host = origin.host { scope.headers[Self.host] = host }
        }
        guard !self.rootPath.isEmpty else { return }
        scope.rootPath = self.rootPath
        // A proxy that kept the prefix sent it already; one that stripped it did not.
        let path = scope.path
        if path != self.rootPath, !path.hasPrefix(self.rootPath + "/") {
            scope.path = self.rootPath + path
            scope.rawPath = self.rootPath + scope.rawPath
        }
    }
}
