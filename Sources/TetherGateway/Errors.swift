/// Thrown by `send` when the client has gone: nothing was written, and nothing more will be.
public struct ClientDisconnected: Error, Hashable, CustomStringConvertible {
    /// A new error.
    public init() {}

    public var description: String { "The client disconnected; the response cannot be sent." }
}

/// An application or a server broke the event contract.
public struct ProtocolError: Error, Hashable, CustomStringConvertible {
    /// What happened, and which rule it broke.
    public var message: String

    /// An error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
