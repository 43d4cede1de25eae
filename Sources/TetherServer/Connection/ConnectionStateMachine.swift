import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTP2
import TetherGateway

/// Every decision an HTTP/1.1 connection makes, as a value: keep-alive, pipelining, half-close, the head,
/// keep-alive, body-idle and request deadlines, the limits, and the status of every refusal.
///
/// An HTTP/2 stream is one request on a `multiplexed` machine: the same limits, deadlines and cancellations, without
/// keep-alive, pipelining or framing of its own (NIOHTTP2 frames it, and ends the stream).
///
/// No socket and no clock: each input carries the time it happened (`C.Instant`) where time matters, and returns
/// the ``Action`` the connection's handler carries out. ``nextDeadline`` says when to call ``timerFired(now:)``.
struct ConnectionStateMachine<C: Clock> where C.Duration == Duration {
    /// What the handler does.
    enum Action: Equatable {
        /// Nothing.
        case none
        /// Serve this request: make its exchange and hand it to the connection's task.
        case startRequest(HTTPRequestHead, HTTPFields)
        /// Serve this WebSocket handshake: its application accepts (the connection leaves HTTP) or denies it with a
        /// response, after which the connection closes.
        case startWebSocket(HTTPRequestHead, HTTPFields)
        /// Give the request in flight this body chunk.
        case deliverBody(ByteBuffer)
        /// The request in flight's body is complete, with these trailer fields if it had any.
        case deliverEnd(trailers: HTTPHeaders?)
        /// Answer `status` with `message` and `Connection: close`, then close; first end the request in flight for
        /// `cancelling`, if any.
        case refuse(HTTPResponse.Status, message: String?, cancelling: CancellationReason?)
        /// Close the connection without answering; first end the request in flight for `cancelling`, if any.
        case close(cancelling: CancellationReason?)
        /// Requests arrived while another was served: call ``nextPendingAction()`` until it returns `nil`.
        case servePending
    }

    private enum Phase: Equatable {
        /// Waiting for the first byte of a head (a new or a kept-alive connection).
        case idle
        /// A head has begun.
        case readingHead
        /// A request is being served.
        case inRequest
        /// The connection is closing: every input is ignored.
        case closed
    }

    /// The request in flight.
    private struct Request {
        var keepAlive: Bool
        var chunked: Bool
        var bodyEnded = false
        var bodyBytes: Int64 = 0
        var responseStarted = false
        var responseEnded = false
    }

    private let configuration: Server.Configuration
    /// Whether this is an HTTP/2 stream: one request, framed by HTTP/2.
    let multiplexed: Bool
    private var phase = Phase.idle
    private var request: Request?
    /// Parts of requests the client sent while another was served, in order; they are served one at a time.
    private var pending = CircularBuffer<HTTPServerRequestPart>()
    private var pendingHeads = 0
    private var pendingBytes = 0
    /// Whether the client half-closed: what it sent is served, then the connection closes.
    private var inputShut = false
    /// Whether the server is shutting down: the request in flight is the last.
    private var quiescing = false
    /// The refusal of a pipelined request the decoder rejected, answered once the request in flight is.
    private var deferredRefusal: HTTPResponse.Status?
    /// Whether the socket reported a reset.
    private var resetSeen = false
    /// The `:protocol` of the stream's extended CONNECT (RFC 8441), if it is one.
    private var extendedConnectProtocol: String?
    /// Whether NIOHTTP2 reported the stream closed by the client: an RST_STREAM, unless its connection says
    /// otherwise (a GOAWAY closes its streams the same way, before the GOAWAY reaches the connection's handler).
    private var streamClosedByClient = false

    /// When the connection closes unless a head arrives or completes (head and keep-alive timeouts).
    private var headDeadline: C.Instant?
    /// When the request in flight is cut unless more of its body arrives.
    private var bodyIdleDeadline: C.Instant?
    /// When the request in flight is cut, finished or not.
    private var requestDeadline: C.Instant?

    /// Bytes of the current head's request line so far, and whether its line feed has come.
    private(set) var requestLineBytes = 0
    private var requestLineEnded = false
    /// The last bytes of the request line, where its version stands (` HTTP/x.y` and a CR fit in ten).
    private var requestLineTail: [UInt8] = []

    /// What the current read carried: its raw bytes, and what the decoder made of them (the head that started a
    /// request, its body bytes, whether its body ended, and the size of requests queued behind it).
    private var rawBytesThisRead = 0
    private var headBytesThisRead = 0
    private var bodyBytesThisRead = 0
    private var endThisRead = false
    private var queuedBytesThisRead = 0
    /// Chunked framing (chunk-size lines with extensions, trailers) read since the last body data.
    private var framingBytes = 0

    init(configuration: Server.Configuration, multiplexed: Bool = false) {
        self.configuration = configuration
        self.multiplexed = multiplexed
        self.requestLineTail.reserveCapacity(16)
    }

    /// The earliest deadline in force, if any.
    var nextDeadline: C.Instant? {
        // No array: this runs after every action.
        var earliest = self.headDeadline
        if let deadline = self.bodyIdleDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        if let deadline = self.requestDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        return earliest
    }

    /// Whether the socket may be read: not while pipelined requests wait beyond their limits.
    var readsAllowed: Bool {
        self.phase != .closed && self.pendingHeads < self.configuration.maxPipelinedRequests
            && self.pendingBytes < self.configuration.bodyBufferBytes
    }

    // MARK: Inputs

    /// The connection is open.
    mutating func connectionOpened(now: C.Instant) {
        self.headDeadline = now.advanced(by: self.configuration.headerTimeout)
    }

    /// The socket delivered `bytes`, before the decoder sees them.
    mutating func bytesRead(_ bytes: ByteBufferView, now: C.Instant) {
        self.rawBytesThisRead += bytes.count
        switch self.phase {
        case .idle:
            self.phase = .readingHead
            self.headDeadline = now.advanced(by: self.configuration.headerTimeout)
            self.follow(bytes)
        case .readingHead:
            if !self.requestLineEnded { self.follow(bytes) }
        case .inRequest:
            if let request = self.request, !request.bodyEnded {
                self.bodyIdleDeadline = self.configuration.bodyIdleTimeout.map { now.advanced(by: $0) }
            }
        case .closed:
            break
        }
    }

    /// The stream's request is an extended CONNECT for `protocol` (RFC 8441), as its HEADERS frame said.
    mutating func extendedConnect(protocol name: String) {
        self.extendedConnectProtocol = name
    }

    /// The decoder made a request head.
    mutating func headReceived(_ head: HTTPRequestHead, now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        if self.request != nil || !self.pending.isEmpty {
            self.pending.append(.head(head))
            self.pendingHeads += 1
            self.queuedBytesThisRead += HeadValidator.headBytes(head)
            return .none
        }
        self.headBytesThisRead = HeadValidator.headBytes(head)
        return self.start(head, now: now)
    }

    /// The decoder made a body chunk.
    mutating func bodyReceived(_ chunk: ByteBuffer, now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        if !self.pending.isEmpty || self.request == nil {
            self.pending.append(.body(chunk))
            self.pendingBytes += chunk.readableBytes
            self.queuedBytesThisRead += chunk.readableBytes
            return .none
        }
        self.bodyBytesThisRead += chunk.readableBytes
        if self.multiplexed {
            // No raw bytes reach a stream's machine: its body's own data is what shows the client is still there.
            self.bodyIdleDeadline = self.configuration.bodyIdleTimeout.map { now.advanced(by: $0) }
        }
        return self.deliver(chunk)
    }

    /// A body chunk of the request in flight: within the limit, it goes to the application.
    private mutating func deliver(_ chunk: ByteBuffer) -> Action {
        self.request!.bodyBytes += Int64(chunk.readableBytes)
        if let limit = self.configuration.maxBodySize, self.request!.bodyBytes > limit {
            let message = "The request body exceeds \(limit) bytes (limit: maxBodySize)."
            return self.end(.bodyTooLarge, status: .contentTooLarge, message: message)
        }
        return .deliverBody(chunk)
    }

    /// The decoder reached the end of a request, which ended with `trailers` if it had any.
    mutating func endReceived(trailers: HTTPHeaders? = nil, now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        if !self.pending.isEmpty || self.request == nil {
            self.pending.append(.end(trailers))
            return .none
        }
        return self.bodyComplete(trailers: trailers, now: now)
    }

    /// The request in flight's body is complete.
    private mutating func bodyComplete(trailers: HTTPHeaders?, now: C.Instant) -> Action {
        self.request!.bodyEnded = true
        self.bodyIdleDeadline = nil
        self.endThisRead = true
        if self.request!.responseEnded { return self.responseComplete(now: now) }
        return .deliverEnd(trailers: trailers)
    }

    /// The decoder has processed one read: checks the chunked framing that read carried.
    ///
    /// What the read carried beyond the head, the body data and the requests queued behind them is framing:
    /// counted exactly while the body goes on, and with room for a pipelined head's first part once it ends.
    mutating func readComplete() -> Action {
        defer {
            (self.rawBytesThisRead, self.headBytesThisRead, self.bodyBytesThisRead) = (0, 0, 0)
            (self.endThisRead, self.queuedBytesThisRead) = (false, 0)
        }
        guard self.phase == .inRequest, let request = self.request, request.chunked,
            !request.bodyEnded || self.endThisRead
        else { return .none }
        let framing = max(
            0, self.rawBytesThisRead - self.headBytesThisRead - self.bodyBytesThisRead - self.queuedBytesThisRead)
        self.framingBytes = self.bodyBytesThisRead > 0 ? framing : self.framingBytes + framing
        let limit = self.configuration.maxChunkFramingBytes
        // A read that ends the body may also hold the start of a head the decoder has not finished.
        let allowance = self.endThisRead ? self.configuration.maxHeadBytes : 0
        defer { if self.endThisRead { self.framingBytes = 0 } }
        guard self.framingBytes > limit + allowance else { return .none }
        let message = "A chunk-size line or the trailers exceed \(limit) bytes (limit: maxChunkFramingBytes)."
        return self.end(.malformedBody, status: .badRequest, message: message)
    }

    /// The response's head is being written: returns whether the connection stays open after it, for its
    /// `Connection` field.
    mutating func responseStarted() -> Bool {
        guard self.request != nil else { return false }
        self.request!.responseStarted = true
        // HTTP/2 has no Connection field: the stream ends with its response.
        let keepAlive = self.multiplexed || (self.request!.keepAlive && !self.quiescing && !self.inputShut)
        self.request!.keepAlive = keepAlive
        return keepAlive
    }

    /// The server is shutting down gracefully: a connection whose response says it closes closes after it; one that
    /// is idle, or whose response said it stays open, stays until its keep-alive deadline, and its next request is
    /// answered with `Connection: close`.
    ///
    /// Closing an idle connection at once would race a request already on its way: a keep-alive client's, or a
    /// proxy's on a pooled connection (proxies close theirs before their upstream's keep-alive timeout).
    mutating func quiesce() {
        self.quiescing = true
    }

    /// The response's end is being written: serve the next request, wait for one, or close.
    mutating func responseEnded(now: C.Instant) -> Action {
        guard self.phase == .inRequest, self.request != nil else { return .none }
        self.request!.responseEnded = true
        self.requestDeadline = nil
        guard self.request!.bodyEnded else {
            // The client is still sending a body nobody will read: its bytes cannot be told from a next request.
            self.phase = .closed
            return .close(cancelling: nil)
        }
        return self.responseComplete(now: now)
    }

    /// The client shut its sending side (FIN).
    mutating func inputClosed() -> Action {
        self.inputShut = true
        switch self.phase {
        case .closed:
            return .none
        case .idle, .readingHead:
            self.phase = .closed
            return .close(cancelling: nil)
        case .inRequest:
            guard let request = self.request, !request.responseEnded else { return .none }
            let servesHalfClosed = self.configuration.servesHalfClosedConnections
            // A FIN cannot be told from a close: unless half-closed connections are served, it is the client leaving.
            if !request.bodyEnded { return self.end(servesHalfClosed ? .halfClosed : .clientClosed) }
            return servesHalfClosed ? .none : self.end(.clientClosed)
        }
    }

    /// The connection (or the stream) closed: the request in flight, if any, is abandoned, for `reason` when the
    /// caller knows it (an HTTP/2 connection's loss), else for how the socket ended.
    mutating func connectionClosed(because reason: CancellationReason? = nil) -> Action {
        let wasOpen = self.phase != .closed
        self.phase = .closed
        (self.headDeadline, self.bodyIdleDeadline, self.requestDeadline) = (nil, nil, nil)
        guard wasOpen, let request = self.request, !request.responseEnded else { return .none }
        if let reason { return .close(cancelling: reason) }
        if self.streamClosedByClient { return .close(cancelling: .streamReset) }
        return .close(cancelling: self.resetSeen ? .clientReset : .clientClosed)
    }

    /// The server's grace period is over: the request in flight is cancelled and the connection closed.
    mutating func shutdown() -> Action {
        guard self.phase != .closed else { return .none }
        return self.end(.serverShutdown)
    }

    /// The pipeline reported `error`: a request the decoder refused, or a broken socket.
    mutating func errorCaught(_ error: any Error) -> Action {
        guard self.phase != .closed else { return .none }
        if let error = error as? IOError {
            let departure = error.departure
            if departure == .clientReset { self.resetSeen = true }
            return self.end(departure)
        }
        if error is NIOHTTP2Errors.StreamClosed {
            // The stream's channel closes next: the reason is settled then, with what its connection knows.
            self.streamClosedByClient = true
            return .none
        }
        guard let parserError = error as? HTTPParserError else { return self.end(.clientClosed) }
        if parserError == .invalidEOFState {
            // A message cut short by a FIN: NIO's decoder reports it before the FIN itself, so it is read as the FIN
            // would be, a half-close where those are served, else the client leaving, with nobody left to answer.
            return self.end(self.configuration.servesHalfClosedConnections ? .halfClosed : .clientClosed)
        }
        let status: HTTPResponse.Status
        if let major = self.requestLineMajorVersion, major != 1 {
            status = .httpVersionNotSupported
        } else if parserError == .headerOverflow {
            status =
                self.requestLineBytes > self.configuration.maxTargetBytes ? .uriTooLong : .requestHeaderFieldsTooLarge
        } else {
            status = .badRequest
        }
        if let request = self.request, request.bodyEnded {
            // The refused head is a pipelined one: the request in flight is answered first.
            self.deferredRefusal = status
            self.pending.removeAll()
            return .none
        }
        return self.end(self.request == nil ? nil : .malformedBody, status: status, message: nil)
    }

    /// The timer fired: acts on every deadline that has passed.
    mutating func timerFired(now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        if let deadline = self.requestDeadline, deadline <= now {
            return self.end(
                .requestDeadline, status: .gatewayTimeout,
                message: "The request took longer than allowed (limit: requestTimeout).")
        }
        if let deadline = self.bodyIdleDeadline, deadline <= now {
            return self.end(
                .bodyIdleTimeout, status: .requestTimeout, message: "The request body stalled (limit: bodyIdleTimeout)."
            )
        }
        if let deadline = self.headDeadline, deadline <= now {
            self.phase = .closed
            return .close(cancelling: nil)
        }
        return .none
    }

    /// The next thing to do for requests that arrived while another was served, or `nil` when there is none now.
    mutating func nextPendingAction(now: C.Instant) -> Action? {
        guard self.phase != .closed, let part = self.pending.first else { return nil }
        switch part {
        case .head(let head):
            guard self.request == nil else { return nil }
            self.pending.removeFirst()
            self.pendingHeads -= 1
            return self.start(head, now: now)
        case .body(let chunk):
            self.pending.removeFirst()
            self.pendingBytes -= chunk.readableBytes
            return self.deliver(chunk)
        case .end(let trailers):
            self.pending.removeFirst()
            return self.bodyComplete(trailers: trailers, now: now)
        }
    }

    // MARK: Decisions

    /// A head arrived with no request in flight: validate it, then serve it or refuse it.
    private mutating func start(_ head: HTTPRequestHead, now: C.Instant) -> Action {
        self.headDeadline = nil
        switch HeadValidator.validate(head, limits: self.configuration, multiplexed: self.multiplexed) {
        case .failure(let rejection):
            self.phase = .closed
            return .refuse(rejection.status, message: rejection.message, cancelling: nil)
        case .success(let fields):
            let handshake =
                self.multiplexed
                ? WebSocketHandshake.check(head, extendedConnect: self.extendedConnectProtocol)
                : WebSocketHandshake.check(head)
            if case .invalid(let status, let message) = handshake {
                self.phase = .closed
                return .refuse(status, message: message, cancelling: nil)
            }
            // After a handshake the decoder reads no further request: a denied one closes the connection.
            let keepAlive = head.isKeepAlive && !self.inputShut && handshake == .notWebSocket
            self.phase = .inRequest
            self.request = Request(keepAlive: keepAlive, chunked: head.headers.contains(name: "transfer-encoding"))
            self.requestDeadline = self.configuration.requestTimeout.map { now.advanced(by: $0) }
            self.bodyIdleDeadline = self.configuration.bodyIdleTimeout.map { now.advanced(by: $0) }
            self.resetRequestLine()
            return handshake == .valid ? .startWebSocket(head, fields) : .startRequest(head, fields)
        }
    }

    /// The response is written and the body read: the next request, or idle, or close.
    private mutating func responseComplete(now: C.Instant) -> Action {
        let keepAlive = self.request?.keepAlive ?? false
        self.request = nil
        self.bodyIdleDeadline = nil
        if self.multiplexed {
            // Both ends of the stream are closed: NIOHTTP2 retires it.
            self.phase = .closed
            return .none
        }
        if let status = self.deferredRefusal {
            self.phase = .closed
            return .refuse(status, message: nil, cancelling: nil)
        }
        // The response's head said whether the connection stays open; quiescing since then changes nothing.
        guard keepAlive, !self.inputShut || !self.pending.isEmpty else {
            self.phase = .closed
            return .close(cancelling: nil)
        }
        self.phase = .idle
        self.headDeadline = now.advanced(by: self.configuration.keepAliveTimeout)
        return self.pending.isEmpty ? .none : .servePending
    }

    /// Ends the request in flight for `reason` (if any) and closes; answers `status` if nothing was answered yet.
    private mutating func end(
        _ reason: CancellationReason?, status: HTTPResponse.Status? = nil, message: String? = nil
    ) -> Action {
        self.phase = .closed
        let reason = self.request.map { $0.responseEnded ? nil : reason } ?? nil
        if let status, self.request?.responseStarted != true {
            return .refuse(status, message: message, cancelling: reason)
        }
        return .close(cancelling: reason)
    }

    // MARK: The request line, for the status of a refused head

    /// The major version the request line names, such as 2 for `HTTP/2.0`, even if the decoder refused the line
    /// before its end.
    var requestLineMajorVersion: Int? {
        let tail = self.requestLineTail
        let marker = Array("HTTP/".utf8)
        guard tail.count > marker.count else { return nil }
        for start in stride(from: tail.count - marker.count - 1, through: 0, by: -1)
        where tail[start..<start + marker.count].elementsEqual(marker) {
            return Self.digit(tail[start + marker.count])
        }
        return nil
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private mutating func follow(_ bytes: ByteBufferView) {
        let line = bytes.firstIndex(of: UInt8(ascii: "\n")).map { bytes[..<$0] } ?? bytes[...]
        self.requestLineEnded = line.endIndex != bytes.endIndex
        self.requestLineBytes += line.count
        // The tail keeps its storage from head to head: no allocation per request.
        self.requestLineTail.append(contentsOf: line.suffix(10))
        if self.requestLineTail.count > 10 { self.requestLineTail.removeFirst(self.requestLineTail.count - 10) }
    }

    private mutating func resetRequestLine() {
        self.requestLineEnded = false
        self.requestLineBytes = 0
        self.requestLineTail.removeAll(keepingCapacity: true)
    }
}
