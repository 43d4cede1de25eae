import Logging
import NIOConcurrencyHelpers
import TetherGateway

/// Drives an application's lifespan scope: `startup` before the first connection, `shutdown` after the drain.
final class Lifespan: Sendable {
    private struct State {
        var startup: Result<Void, ServerError>?
        var startupWaiter: CheckedContinuation<Result<Void, ServerError>, Never>?
        var shutdownDone = false
        var shutdownWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())
    private let inbound = Mailbox<InboundEvent>()
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        self.inbound.deliver(.startup)
    }

    /// Runs the application on the lifespan scope until it returns.
    func run(_ application: some Application) async {
        var failure: (any Error)?
        do {
            try await application(.lifespan(LifespanScope()), receive: self.receive, send: self.send)
        } catch {
            failure = error
        }
        let reason = failure.map { "\($0)" } ?? "it returned before completing its start-up"
        let (startupWaiter, shutdownWaiter) = self.state.withLockedValue { state in
            if state.startup == nil { state.startup = .failure(.lifespanUnsupported(reason)) }
            state.shutdownDone = true
            defer { (state.startupWaiter, state.shutdownWaiter) = (nil, nil) }
            return (state.startupWaiter, state.shutdownWaiter)
        }
        startupWaiter?.resume(returning: self.state.withLockedValue { $0.startup! })
        shutdownWaiter?.resume()
    }

    /// Waits for the application's answer to `startup`; a cancelled wait gives up with ``ServerError/notListening``.
    func startup() async -> Result<Void, ServerError> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = self.state.withLockedValue { state -> Result<Void, ServerError>? in
                    if let startup = state.startup { return startup }
                    if Task.isCancelled { return .failure(.notListening) }
                    state.startupWaiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            self.state.withLockedValue { state in
                defer { state.startupWaiter = nil }
                return state.startupWaiter
            }?.resume(returning: .failure(.notListening))
        }
    }

    /// Sends `shutdown` and waits for the application's answer, or for it to return, or for cancellation.
    func shutdown() async {
        self.inbound.deliver(.shutdown)
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = self.state.withLockedValue { state -> Bool in
                    if state.shutdownDone || Task.isCancelled { return true }
                    state.shutdownWaiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            self.state.withLockedValue { state in
                defer { state.shutdownWaiter = nil }
                return state.shutdownWaiter
            }?.resume()
        }
    }

    @Sendable private func receive() async throws -> InboundEvent {
        guard let event = await self.inbound.next() else { throw CancellationError() }
        return event
    }

    @Sendable private func send(_ event: OutboundEvent) async throws {
        switch event {
        case .startupComplete, .startupFailed:
            let result: Result<Void, ServerError> =
                if case .startupFailed(let message) = event { .failure(.startupFailed(message)) } else { .success(()) }
            let waiter = try self.state.withLockedValue { state -> CheckedContinuation<Result<Void, ServerError>, Never>? in
                guard state.startup == nil else { throw ProtocolError("\(event) sent twice, or after the start-up ended") }
                state.startup = result
                defer { state.startupWaiter = nil }
                return state.startupWaiter
            }
            waiter?.resume(returning: result)
        case .shutdownComplete, .shutdownFailed:
            if case .shutdownFailed(let message) = event {
                self.logger.error("The application's shutdown failed: \(message)")
            }
            let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                state.shutdownDone = true
                defer { state.shutdownWaiter = nil }
                return state.shutdownWaiter
            }
            waiter?.resume()
        case .start, .body, .file, .trailers:
            throw ProtocolError("\(event) is an HTTP event; a lifespan scope cannot send it")
        }
    }
}
