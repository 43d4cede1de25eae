import NIOCore

/// Follows each request head through its raw bytes: closes a connection whose head does not arrive in time, and
/// remembers the request line's length and version, so that a refused head gets the right status (414, 505).
///
/// Sits before the HTTP decoder, where it sees raw bytes: an idle connection gets `keepAliveTimeout` to send
/// a first byte, and a head that has begun gets `headerTimeout` to finish. A slow client that trickles a head
/// cannot keep its connection by sending a byte now and then.
final class HeadProgressHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum Phase {
        case idle
        case readingHead
        case inRequest
    }

    private let headerTimeout: TimeAmount
    private let keepAliveTimeout: TimeAmount
    private var phase = Phase.idle
    /// Bytes of the current head's request line so far.
    private(set) var requestLineBytes = 0
    /// Whether the current head's request line has ended (a line feed has arrived since the head began).
    private var requestLineEnded = false
    /// The last bytes of the request line, where its version stands.
    private var requestLineTail: [UInt8] = []
    /// When the connection closes unless its head progresses; `nil` while a request is served.
    private var deadline: NIODeadline?
    /// The one timer, armed at or before `deadline`: moving the deadline later, as every request does, leaves
    /// it alone, and when it fires early it re-arms for what is left.
    private var timer: (task: Scheduled<Void>, firesAt: NIODeadline)?
    private var context: ChannelHandlerContext?

    init(headerTimeout: TimeAmount, keepAliveTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.waitForHead(self.headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.waitForHead(self.headerTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.phase == .idle {
            self.phase = .readingHead
            self.schedule(self.headerTimeout)
        }
        if self.phase == .readingHead, !self.requestLineEnded {
            self.follow(self.unwrapInboundIn(data).readableBytesView)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancel()
        self.context = nil
    }

    /// A complete head arrived: no deadline while the request is served.
    func headReceived() {
        self.phase = .inRequest
        self.deadline = nil
    }

    /// The response is complete: the connection idles until the next request.
    func responseEnded() {
        self.waitForHead(self.keepAliveTimeout)
    }

    /// The major and minor version the request line ends with, such as `HTTP/2.0`, if it ended with one.
    var requestLineVersion: (major: Int, minor: Int)? {
        guard self.requestLineEnded else { return nil }
        var tail = self.requestLineTail[...]
        if tail.last == UInt8(ascii: "\r") { tail = tail.dropLast() }
        guard tail.count >= 8 else { return nil }
        let version = Array(tail.suffix(8))
        guard version.starts(with: "HTTP/".utf8), version[6] == UInt8(ascii: "."),
            let major = Self.digit(version[5]), let minor = Self.digit(version[7])
        else { return nil }
        return (major, minor)
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private func follow(_ bytes: ByteBufferView) {
        let line = bytes.firstIndex(of: UInt8(ascii: "\n")).map { bytes[..<$0] } ?? bytes[...]
        self.requestLineEnded = line.endIndex != bytes.endIndex
        self.requestLineBytes += line.count
        // The tail keeps its storage from head to head: no allocation per request.
        self.requestLineTail.append(contentsOf: line.suffix(9))
        if self.requestLineTail.count > 9 { self.requestLineTail.removeFirst(self.requestLineTail.count - 9) }
    }

    private func waitForHead(_ timeout: TimeAmount) {
        self.phase = .idle
        self.requestLineEnded = false
        self.requestLineBytes = 0
        self.requestLineTail.removeAll(keepingCapacity: true)
        self.schedule(timeout)
    }

    private func schedule(_ timeout: TimeAmount) {
        let deadline = NIODeadline.now() + timeout
        self.deadline = deadline
        if let timer = self.timer, timer.firesAt <= deadline { return }
        self.arm(at: deadline)
    }

    private func arm(at deadline: NIODeadline) {
        self.timer?.task.cancel()
        self.timer = nil
        guard let context = self.context else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: deadline) { handler.value.timerFired() }
        self.timer = (task, deadline)
    }

    private func timerFired() {
        self.timer = nil
        guard let deadline = self.deadline else { return }
        if deadline <= .now() {
            self.context?.close(promise: nil)
        } else {
            self.arm(at: deadline)
        }
    }

    private func cancel() {
        self.deadline = nil
        self.timer?.task.cancel()
        self.timer = nil
    }
}
