import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The smallest correct SwiftNIO WebSocket echo server: `NIOWebSocketServerUpgrader` on `/ws/echo/`, fragments
/// aggregated by `NIOWebSocketFrameAggregator`, every text or binary message sent back as one frame of the same type,
/// pings answered, a close frame answered and the connection closed. Any other request gets the hello answer, so that
/// the benchmark driver can tell when it is ready.
///
/// Usage: `baseline-ws [port]` (default 8004), on 127.0.0.1.
@main
enum BaselineWebSocketServer {
    static func main() throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8004
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 20,
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(head.uri.hasPrefix("/ws/echo/") ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 10,
                                        maxAccumulatedFrameSize: 1 << 20))
                                try channel.pipeline.syncOperations.addHandler(EchoHandler())
                            }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                context.pipeline.removeHandler(name: "hello", promise: nil)
                            }
                        ))
                    try channel.pipeline.syncOperations.addHandler(HelloHandler(), name: "hello")
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        print("baseline listening on \(channel.localAddress!)")
        try channel.closeFuture.wait()
    }
}

/// Sends every message back; the frames' writes of one read are flushed together.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard !self.closeSent else { return }
            context.write(
                self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)),
                promise: nil)
        case .ping:
            guard !self.closeSent else { return }
            context.write(
                self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            if self.closeSent {  // the answer to ours
                context.close(promise: nil)
                return
            }
            // Echo the status code, if any, and close once it is written.
            self.closeSent = true
            var data = frame.unmaskedData
            let code = data.readSlice(length: min(2, data.readableBytes)) ?? ByteBuffer()
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// `Hello World!` for every plain HTTP request, keep-alive honoured (the `baseline` product's handler).
final class HelloHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body = ByteBuffer(string: "Hello World!")
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: "12")
            if !self.keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(Self.body))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
