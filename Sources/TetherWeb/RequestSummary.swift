import HTTPTypes
import TetherGateway

/// How a request went, for the finished hooks: an access log line or a metric in one value.
public struct RequestSummary: Sendable {
    /// How the request ended.
    public enum Outcome: Sendable {
        /// The whole response was sent, whatever its status.
        case completed
        /// The request's work was stopped before its response was complete, for this reason (`nil` when the server
        /// did not say): the client left, or a deadline passed.
        case cancelled(CancellationReason?)
        /// The application failed: a protocol violation, or an error once the response had started.
        case failed(any Error)
    }

    /// The request's scope.
    public var scope: HTTPScope
    /// The status the request was answered with, or `nil` when its work ended before an answer; ``outcome`` says
    /// whether the whole response reached the client.
    public var status: HTTPResponse.Status?
    /// How it ended.
    public var outcome: Outcome
    /// From the request reaching the application to the end of its cleanup, body reading included.
    public var duration: Duration

    /// A summary with every field given.
    public init(scope: HTTPScope, status: HTTPResponse.Status?, outcome: Outcome, duration: Duration) {
        self.scope = scope
        self.status = status
        self.outcome = outcome
        self.duration = duration
    }
}

extension RequestSummary.Outcome: CustomStringConvertible {
    /// The outcome as an access log shows it: `completed`, `cancelled: client_closed`, `failed: <the error>`.
    public var description: String {
        switch self {
        case .completed: "completed"
        case .cancelled(let reason): "cancelled: \(reason.map { "\($0)" } ?? "unknown")"
        case .failed(let error): "failed: \(error)"
        }
    }
}
