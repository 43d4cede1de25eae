import NIOCore

/// Turns the flushes an HTTP/2 connection makes in one turn of its event loop into one, at the end of that turn.
///
/// Each stream's response flushes as it ends; ten streams answered in the same turn are one write to the socket,
/// not ten. It sits between the socket (or TLS) and NIOHTTP2's handler; a close flushes what is pending first.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny

    private var flushPending = false

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.flushPending {
            self.flushPending = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard !self.flushPending else { return }
        self.flushPending = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = bound.value
            // A close in between has flushed already.
            guard coalescer.flushPending else { return }
            coalescer.flushPending = false
            context.flush()
        }
    }
}
