/// Why an ``ApplicationCommunicator`` call ended without what it waited for.
public enum CommunicatorError: Error, Hashable, CustomStringConvertible {
    /// Nothing happened within the timeout.
    case timedOut(Duration)
    /// The application returned and has nothing more to send.
    case applicationFinished

    public var description: String {
        switch self {
        case .timedOut(let timeout): "The application sent nothing within \(timeout)."
        case .applicationFinished: "The application returned without sending anything more."
        }
    }
}
