import NIOCore

/// Closes a connection whose next request head does not arrive in time.
///
/// Sits before the HTTP decoder, where it sees raw bytes: an idle connection gets `keepAliveTimeout` to send
/// a first byte, and a head that has begun gets `headerTimeout` to finish. A slow client that trickles a head
/// cannot keep its connection by sending a byte now and then.
final class HeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
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
    private var deadline: Scheduled<Void>?
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
        self.cancel()
    }

    /// The response is complete: the connection idles until the next request.
    func responseEnded() {
        self.waitForHead(self.keepAliveTimeout)
    }

    private func waitForHead(_ timeout: TimeAmount) {
        self.phase = .idle
        self.schedule(timeout)
    }

    private func schedule(_ timeout: TimeAmount) {
        self.cancel()
        guard let context = self.context else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.deadline = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }

    private func cancel() {
        self.deadline?.cancel()
        self.deadline = nil
    }
}
