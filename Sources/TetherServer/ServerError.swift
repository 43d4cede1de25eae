/// Why a server stopped or could not start.
public enum ServerError: Error, CustomStringConvertible, Equatable {
    /// The application answered its lifespan start-up with a failure.
    case startupFailed(String)
    /// The application has no lifespan support, and ``Server/LifespanMode/on`` requires it.
    case lifespanUnsupported(String)
    /// The server stopped before it was listening.
    case notListening

    public var description: String {
        switch self {
        case .startupFailed(let message): "The application failed to start: \(message)"
        case .lifespanUnsupported(let message): "The application does not support the lifespan scope: \(message)"
        case .notListening: "The server stopped before it was listening."
        }
    }
}
