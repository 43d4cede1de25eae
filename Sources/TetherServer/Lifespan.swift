import Logging
import NIOConcurrencyHelpers
import TetherGateway

/// Drives an application's lifespan scope: `startup` before the first connection, `shutdown` after the drain.
///
/// Two mailboxes carry the exchange: events to the application, and its answers back. An application that
/// returns or throws answers with ``ServerError/lifespanUnsupported(_:)``.
final class Lifespan: Sendable {
    private let inbound = Mailbox<InboundEvent>()
    private let answers = Mailbox<Result<Void, ServerError>>()
    private let startupAnswered = NIOLockedValueBox(false)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        self.inbound.deliver(.startup)
    }

    /// Runs the application on the lifespan scope until it returns.
    func run(_ application: some Application) async {
        do {
            try await application(.lifespan(LifespanScope()), receive: self.receive, send: self.send)
            self.answers.deliver(.failure(.lifespanUnsupported("it returned before completing its start-up")))
        } catch {
            self.answers.deliver(.failure(.lifespanUnsupported("\(error)")))
        }
        self.answers.close()
    }

    /// Waits for the application's answer to `startup`; a cancelled wait gives up with ``ServerError/notListening``.
    func startup() async -> Result<Void, ServerError> {
        await self.answers.next() ?? .failure(.notListening)
    }

    /// Sends `shutdown` and waits for the application's answer, or for it to return, or for cancellation.
    func shutdown() async {
        self.inbound.deliver(.shutdown)
        _ = await self.answers.next()
    }

    @Sendable private func receive() async throws -> InboundEvent {
        guard let event = await self.inbound.next() else { throw CancellationError() }
        return event
    }

    @Sendable private func send(_ event: OutboundEvent) async throws {
        switch event {
        case .startupComplete, .startupFailed:
            let first = self.startupAnswered.withLockedValue { answered in
                defer { answered = true }
                return !answered
            }
            guard first else { throw ProtocolError("\(event) sent twice; the start-up has one answer") }
            if case .startupFailed(let message) = event {
                self.answers.deliver(.failure(.startupFailed(message)))
            } else {
                self.answers.deliver(.success(()))
            }
        case .shutdownComplete, .shutdownFailed:
            if case .shutdownFailed(let message) = event {
                self.logger.error("The application's shutdown failed: \(message)")
            }
            self.answers.deliver(.success(()))
        case .start, .body, .file, .trailers, .websocketAccept, .websocketSend, .websocketClose:
            throw ProtocolError("\(event) is an HTTP or WebSocket event; a lifespan scope cannot send it")
        }
    }
}
