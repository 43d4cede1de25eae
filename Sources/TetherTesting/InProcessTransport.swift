import HTTPTypes
import NIOCore
import TetherGateway

/// Delivers requests through an ``ApplicationCommunicator``, which plays the server's part.
struct InProcessTransport: TestTransport {
    let application: any Application
    let timeout: Duration
    let fileSend: Bool

    func send(_ request: TestRequest, disconnectAfter delay: Duration?) async throws -> TestResponse {
        let communicator = self.start(request)
        var response = TestResponse()
        var progress = ResponseStateMachine()
        let deadline = delay.map { ContinuousClock.now.advanced(by: $0) }
        while !progress.isComplete {
            let timeout = deadline.map { ContinuousClock.now.duration(to: $0) } ?? self.timeout
            let event: OutboundEvent
            do {
                event = try await communicator.receiveOutput(timeout: max(timeout, .zero))
            } catch CommunicatorError.timedOut where deadline != nil {
                break
            }
            try progress.accept(event)
            try await response.append(event)
        }
        if !progress.isComplete {
            communicator.send(.disconnect)
            try await Self.wait(for: communicator, timeout: self.timeout)
            // What the application sent before it saw the client leave is part of the response so far.
            while let event = try? await communicator.receiveOutput(timeout: .zero) {
                try await response.append(event)
            }
        } else {
            try await communicator.wait(timeout: self.timeout)
        }
        response.outcome = communicator.cancellationReason.map { .cancelled($0) } ?? .completed
        return response
    }

    /// Starts the application on `request`, with its whole body queued.
    func start(_ request: TestRequest) -> ApplicationCommunicator {
        var scope = HTTPScope(method: request.method, target: request.target, headers: request.sentHeaders)
        if self.fileSend { scope.extensions[FileSend.self] = true }
        let communicator = ApplicationCommunicator(self.application, scope: .http(scope))
        communicator.send(.body(request.body, more: false))
        return communicator
    }

    /// Waits for an application whose client left; the departure's own errors are how it stops, not failures.
    private static func wait(for communicator: ApplicationCommunicator, timeout: Duration) async throws {
        do {
            try await communicator.wait(timeout: timeout)
        } catch let error where (error is ClientDisconnected || error is CancellationError) && !Task.isCancelled {
            return
        }
    }
}
