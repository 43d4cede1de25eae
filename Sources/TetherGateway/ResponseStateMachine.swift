/// The order rules of an HTTP response's outbound events, for servers and test tools to enforce.
///
/// `start`, then `body` until `more == false` (or one `file`), then `trailers` if `start` promised them.
public struct ResponseStateMachine: Sendable, Hashable {
    /// Where a response stands.
    public enum State: Sendable, Hashable {
        /// Nothing sent yet.
        case awaitingStart
        /// The head is sent; body events may follow.
        case sendingBody(trailers: Bool)
        /// The body is complete; the promised trailers are due.
        case awaitingTrailers
        /// The response is complete: nothing more may be sent.
        case complete
    }

    /// Where the response stands now.
    public private(set) var state: State = .awaitingStart

    /// A response that has sent nothing.
    public init() {}

    /// Whether the head has been sent.
    public var hasStarted: Bool { self.state != .awaitingStart }

    /// Whether the whole response has been sent.
    public var isComplete: Bool { self.state == .complete }

    /// Records `event`, or throws the rule it breaks and leaves the state as it was.
    public mutating func accept(_ event: OutboundEvent) throws(ProtocolError) {
        switch (self.state, event) {
        case (.awaitingStart, .start(_, _, let trailers)):
            self.state = .sendingBody(trailers: trailers)
        case (.sendingBody(let trailers), .body(_, let more)):
            if !more { self.state = trailers ? .awaitingTrailers : .complete }
        case (.sendingBody(let trailers), .file):
            self.state = trailers ? .awaitingTrailers : .complete
        case (.awaitingTrailers, .trailers):
            self.state = .complete
        case (_, .startupComplete), (_, .startupFailed), (_, .shutdownComplete), (_, .shutdownFailed):
            throw ProtocolError("\(event) is a lifespan event; an HTTP scope cannot send it")
        case (_, .websocketAccept), (_, .websocketSend), (_, .websocketClose):
            throw ProtocolError("\(event) is a WebSocket event; an HTTP response cannot send it")
        case (.awaitingStart, _):
            throw ProtocolError("\(event) sent before http.response.start; send the response head first")
        case (.sendingBody, .start):
            throw ProtocolError("http.response.start sent twice; a response has one head")
        case (.sendingBody, .trailers):
            throw ProtocolError(
                "http.response.trailers sent before the body ended, or without start(trailers: true)")
        case (.awaitingTrailers, _):
            throw ProtocolError("\(event) sent after the body; only http.response.trailers may follow")
        case (.complete, _):
            throw ProtocolError("\(event) sent after the response was complete")
        }
    }
}
