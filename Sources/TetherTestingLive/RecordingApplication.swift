import TetherGateway
import TetherTesting

/// The application under test, recording for each request whether its task was cancelled when it returned, and
/// why: the server cancels a request's task the moment its client leaves before the response is complete.
struct RecordingApplication: Application {
    let application: any Application
    let outcomes: LiveOutcomes

    func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(let http) = scope, let port = http.client?.port else {
            return try await self.application(scope, receive: receive, send: send)
        }
        defer {
            let outcome: TestOutcome = Task.isCancelled ? .cancelled(CancellationReason.current) : .completed
            self.outcomes.record(outcome, forClientPort: port)
        }
        try await self.application(scope, receive: receive, send: send)
    }
}
