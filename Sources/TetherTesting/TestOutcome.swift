import TetherGateway

/// How the application's work on a ``TestClient`` request ended, as the server's side of the exchange saw it.
///
/// In process, the communicator plays the server: the work is cancelled when the client leaves before the response
/// is complete, for `CancellationReason.clientClosed`, and the outcome is known once the application has returned.
/// Live, the server cancels the request's task, and the outcome is whether the application returned from a
/// cancelled task, with the reason the server gave it.
public enum TestOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The whole response was sent.
    case completed
    /// The client left before the whole response was sent, and the application returned, having sent nothing more;
    /// the reason is what `CancellationReason.current` read in the application (`nil` when it was not told).
    case cancelled(CancellationReason?)

    /// Whether the application's work was cancelled.
    public var isCancelled: Bool {
        if case .cancelled = self { true } else { false }
    }

    /// `completed`, or `cancelled: client_closed` as the access log names it.
    public var description: String {
        switch self {
        case .completed: "completed"
        case .cancelled(let reason): "cancelled: \(reason.map { "\($0)" } ?? "unknown")"
        }
    }
}
