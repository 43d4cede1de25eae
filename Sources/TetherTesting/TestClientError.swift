/// Why a ``TestClient`` call could not be made.
public enum TestClientError: Error, Hashable, CustomStringConvertible {
    /// The call reads the application's events, which only an in-process client sees.
    case needsInProcess
    /// The server closed the connection before the response's head arrived.
    case noResponse

    public var description: String {
        switch self {
        case .needsInProcess: "Only an in-process TestClient sees the application's events."
        case .noResponse: "The server closed the connection before sending a response."
        }
    }
}
