import NIOCore
import NIOHTTP2
import TetherGateway

/// Every decision an HTTP/2 connection makes above NIOHTTP2, as a value: the idle timeout, keepalive PINGs and
/// their timeout, a client's GOAWAY, graceful shutdown, and why the connection was lost.
///
/// NIOHTTP2 frames, validates and limits the protocol itself (streams, flow control, resets, CONTINUATION). Each
/// input carries the time it happened where time matters; ``nextDeadline`` says when to call
/// ``timerFired(now:)``. No socket and no clock.
struct HTTP2ConnectionStateMachine<C: Clock> where C.Duration == Duration {
    /// What the connection's handler does.
    enum Action: Equatable {
        /// Nothing.
        case none
        /// Send a PING, to learn whether the client is still there.
        case ping
        /// Send GOAWAY(NO_ERROR) naming the last stream the server will serve, and keep serving open streams.
        case goAway(lastStreamID: HTTP2StreamID)
        /// Close the connection, after a GOAWAY with this code if any; its open streams are abandoned for
        /// `cancelling`.
        case close(goAway: HTTP2ErrorCode?, lastStreamID: HTTP2StreamID, cancelling: CancellationReason)
    }

    /// The connection's timeouts.
    struct Configuration: Equatable {
        var idleTimeout: Duration?
        var pingInterval: Duration?
        var pingTimeout: Duration

        init(_ http2: Server.Configuration.HTTP2) {
            self.idleTimeout = http2.idleTimeout
            self.pingInterval = http2.pingInterval
            self.pingTimeout = http2.pingTimeout
        }
    }

    private let configuration: Configuration
    private var openStreams = 0
    /// The highest stream the client opened, for a GOAWAY's last stream.
    private(set) var lastStreamID = HTTP2StreamID.rootStream
    /// Whether the server is shutting down: a GOAWAY was sent, and the connection closes when its streams end.
    private var draining = false
    private var closed = false
    /// Why the connection was lost, once it is known: what its open streams are cancelled for.
    private(set) var lossReason: CancellationReason?

    /// When the connection closes unless a stream opens.
    private var idleDeadline: C.Instant?
    /// When to send a PING unless the client sends something first.
    private var pingDeadline: C.Instant?
    /// When the connection is given up unless the client sends something (the PING's acknowledgement, or more).
    private var ackDeadline: C.Instant?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The earliest deadline in force, if any.
    var nextDeadline: C.Instant? {
        var earliest = self.idleDeadline
        if let deadline = self.pingDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        if let deadline = self.ackDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        return earliest
    }

    // MARK: Inputs

    /// The connection speaks HTTP/2 from now on.
    mutating func opened(now: C.Instant) {
        self.idleDeadline = self.configuration.idleTimeout.map { now.advanced(by: $0) }
        self.pingDeadline = self.configuration.pingInterval.map { now.advanced(by: $0) }
    }

    /// The client sent something: it is still there.
    mutating func readFromClient(now: C.Instant) {
        guard !self.closed else { return }
        self.ackDeadline = nil
        self.pingDeadline = self.configuration.pingInterval.map { now.advanced(by: $0) }
    }

    /// The client opened a stream.
    mutating func streamOpened(_ id: HTTP2StreamID) {
        self.openStreams += 1
        if id > self.lastStreamID { self.lastStreamID = id }
        self.idleDeadline = nil
    }

    /// A stream ended, however it ended.
    mutating func streamClosed(now: C.Instant) -> Action {
        self.openStreams = max(0, self.openStreams - 1)
        guard self.openStreams == 0, !self.closed else { return .none }
        if self.draining { return self.close(goAway: nil, .serverShutdown) }
        self.idleDeadline = self.configuration.idleTimeout.map { now.advanced(by: $0) }
        return .none
    }

    /// The client sent GOAWAY: it is leaving, and its open streams' work is abandoned with it.
    mutating func goAwayReceived() -> Action {
        guard !self.closed else { return .none }
        return self.close(goAway: .noError, .clientClosed)
    }

    /// The client shut its sending side (FIN): it can no longer acknowledge a frame or open a window, so it has
    /// left, and its open streams' work with it.
    mutating func inputClosed() -> Action {
        guard !self.closed else { return .none }
        return self.close(goAway: nil, .clientClosed)
    }

    /// The server is shutting down gracefully: no new stream, and the connection closes when its streams end.
    mutating func quiesce() -> Action {
        guard !self.closed, !self.draining else { return .none }
        self.draining = true
        (self.idleDeadline, self.pingDeadline) = (nil, nil)
        if self.openStreams == 0 { return self.close(goAway: .noError, .serverShutdown) }
        return .goAway(lastStreamID: self.lastStreamID)
    }

    /// The server's grace period is over: the open streams are cancelled and the connection closed.
    mutating func shutdown() -> Action {
        guard !self.closed else { return .none }
        return self.close(goAway: .noError, .serverShutdown)
    }

    /// The pipeline reported `error`: a broken socket says why the connection is about to be lost; anything else
    /// is a connection error NIOHTTP2 found (it has sent GOAWAY, but leaves the close to its user).
    mutating func errorCaught(_ error: any Error) -> Action {
        guard !self.closed else { return .none }
        guard let error = error as? IOError else {
            self.closed = true
            (self.idleDeadline, self.pingDeadline, self.ackDeadline) = (nil, nil, nil)
            if self.lossReason == nil { self.lossReason = .protocolError }
            return .close(goAway: nil, lastStreamID: self.lastStreamID, cancelling: self.lossReason!)
        }
        // A plain close says nothing its streams would not assume.
        if self.lossReason == nil, error.departure != .clientClosed { self.lossReason = error.departure }
        return .none
    }

    /// The connection closed.
    mutating func connectionClosed() {
        self.closed = true
        (self.idleDeadline, self.pingDeadline, self.ackDeadline) = (nil, nil, nil)
    }

    /// The timer fired: acts on the deadline that passed.
    mutating func timerFired(now: C.Instant) -> Action {
        guard !self.closed else { return .none }
        if let deadline = self.ackDeadline, deadline <= now {
            return self.close(goAway: nil, .clientUnreachable)
        }
        if let deadline = self.idleDeadline, deadline <= now, self.openStreams == 0 {
            return self.close(goAway: .noError, .clientClosed)
        }
        if let deadline = self.pingDeadline, deadline <= now {
            self.pingDeadline = nil
            self.ackDeadline = now.advanced(by: self.configuration.pingTimeout)
            return .ping
        }
        return .none
    }

    private mutating func close(goAway code: HTTP2ErrorCode?, _ reason: CancellationReason) -> Action {
        self.closed = true
        (self.idleDeadline, self.pingDeadline, self.ackDeadline) = (nil, nil, nil)
        if self.lossReason == nil { self.lossReason = reason }
        return .close(goAway: code, lastStreamID: self.lastStreamID, cancelling: self.lossReason!)
    }
}
