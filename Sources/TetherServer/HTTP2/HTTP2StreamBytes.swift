import NIOCore
import NIOHTTP2

/// An HTTP/2 stream as a byte stream, for a WebSocket over HTTP/2 (RFC 8441): DATA frames in and out, the client's
/// END_STREAM as its half-close, and END_STREAM sent before the stream closes.
final class HTTP2StreamBytes: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// Whether END_STREAM went out: the stream is then closed once the client's side is.
    private var ended = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .data(let data):
            if case .byteBuffer(let bytes) = data.data, bytes.readableBytes > 0 {
                context.fireChannelRead(self.wrapInboundOut(bytes))
            }
            if data.endStream { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        case .headers(let headers) where headers.endStream:
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        default:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let data = HTTP2Frame.FramePayload.Data(data: .byteBuffer(self.unwrapOutboundIn(data)))
        context.write(self.wrapOutboundOut(.data(data)), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // The WebSocket's own close ends the stream as a FIN ends a connection (RFC 8441 §4).
        if !self.ended, mode == .all, context.channel.isActive {
            self.ended = true
            let end = HTTP2Frame.FramePayload.Data(data: .byteBuffer(ByteBuffer()), endStream: true)
            context.writeAndFlush(self.wrapOutboundOut(.data(end)), promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }
}
