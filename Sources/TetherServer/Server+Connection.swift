import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import TetherGateway

extension Server {
    /// Serves a connection's requests one after another, until it closes or is no longer kept alive.
    ///
    /// Each request runs in a child task of its own, which the client leaving mid-request cancels: the
    /// application's work stops without it having to listen for `disconnect` (``CancelOnDisconnect``). The task's
    /// memory goes with it, so an idle keep-alive connection holds none.
    func serveConnection(_ channel: any Channel, _ inbox: ConnectionInbox) async {
        defer {
            self.connections.wrappingSubtract(1, ordering: .relaxed)
            self.metrics.connectionClosed()
        }
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                var keepAlive = true
                while keepAlive, let (head, fields, exchange) = await inbox.requests.next() {
                    group.addTask {
                        let again = await self.serveRequest(head, fields, exchange, on: channel)
                        inbox.events.deliver(.finished(keepAlive: again))
                    }
                    keepAlive = false
                    waiting: while let event = await inbox.events.next() {
                        switch event {
                        case .departed:
                            group.cancelAll()
                        case .finished(let again):
                            keepAlive = again
                            break waiting
                        }
                    }
                }
                inbox.requests.close()
                channel.close(promise: nil)
            }
        } onCancel: {
            // The grace period is over: in-flight requests see their client leave.
            channel.close(promise: nil)
        }
    }

    /// What the server offers every request, built once: each scope shares its storage.
    private static let scopeExtensions = {
        var extensions = ScopeExtensions()
        extensions[FileSend.self] = true
        extensions[CancelOnDisconnect.self] = true
        return extensions
    }()

    /// Runs the application on one request; returns whether the connection can serve another.
    private func serveRequest(
        _ head: HTTPRequestHead, _ fields: HTTPFields, _ exchange: Exchange, on channel: any Channel
    ) async -> Bool {
        let started = ContinuousClock.now
        var scope = HTTPScope(
            method: HTTPRequest.Method(head.method.rawValue) ?? .get,
            target: Self.originForm(head.uri),
            headers: fields,
            httpVersion: TetherGateway.HTTPVersion(major: head.version.major, minor: head.version.minor),
            client: channel.remoteAddress,
            server: channel.localAddress)
        scope.extensions = Self.scopeExtensions

        var failure: (any Error)?
        do {
            try await self.application(.http(scope), receive: exchange.receive, send: exchange.send)
        } catch {
            failure = error
        }

        let outcome = exchange.outcome
        if Task.isCancelled {
            // The grace period is over: the connection is closing, and there is nobody to answer.
            exchange.clientLeft()
        } else if !outcome.responseStarted, !outcome.clientGone {
            if let failure {
                self.logger.error("Application failed before responding: \(failure)", metadata: ["path": "\(scope.path)"])
            } else {
                self.logger.error("Application returned without responding", metadata: ["path": "\(scope.path)"])
            }
            try? await exchange.send(.start(status: .internalServerError, headers: [.contentLength: "0"]))
            try? await exchange.send(.body(ByteBuffer(), more: false))
        } else if let failure, !(failure is ClientDisconnected), !(failure is CancellationError) {
            self.logger.error("Application failed after responding: \(failure)", metadata: ["path": "\(scope.path)"])
        }

        let ended = exchange.outcome
        let clientLeft = ended.clientGone && !ended.responseComplete
        let duration = ContinuousClock.now - started
        self.metrics.requestEnded(duration: duration, clientLeft: clientLeft)
        if self.configuration.accessLog {
            let outcome = clientLeft ? "client left" : String(ended.status?.code ?? 0)
            self.logger.info(
                "\(scope.client.map { "\($0)" } ?? "-") \"\(head.method.rawValue) \(head.uri) HTTP/\(head.version.major).\(head.version.minor)\" \(outcome)",
                metadata: [
                    "method": "\(head.method.rawValue)", "path": "\(scope.path)", "status": "\(ended.status?.code ?? 0)",
                    "bytes": "\(ended.bytesSent)", "duration_ms": "\(duration / .milliseconds(1))", "client_left": "\(clientLeft)",
                ])
        }
        return ended.responseComplete && !ended.clientGone && exchange.keepAlive && ended.bodyComplete
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
