import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOWebSocket
import TetherGateway

/// The event loop's half of a connection: feeds the ``ConnectionStateMachine`` what the socket and the decoder
/// report, and carries out the actions it returns (start a request, feed its ``Exchange``, refuse, close).
///
/// It decides nothing itself. Its ``RawBytes`` half sits before the HTTP decoder, so that the machine sees each
/// read's raw bytes (head progress, chunked framing) as well as the decoded parts.
///
/// On an HTTP/2 stream it serves the stream's one request behind NIOHTTP2's HTTP/1 codec, with no ``RawBytes``:
/// the stream's channel closing is its request abandoned, for the reason its connection recorded, if any.
final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Shows the connection's state machine every read before the decoder parses it, and tells it when the
    /// decoder is done with the read.
    final class RawBytes: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer

        private let connection: ConnectionHandler

        init(_ connection: ConnectionHandler) {
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.connection.bytesRead(self.unwrapInboundIn(data).readableBytesView)
            context.fireChannelRead(data)
            self.connection.readComplete()
        }
    }

    /// On an HTTP/2 stream, before NIOHTTP2's HTTP/1 codec (which drops pseudo-header fields): tells the state
    /// machine the `:protocol` of an extended CONNECT (RFC 8441), then steps aside.
    final class ExtendedConnect: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias InboundOut = HTTP2Frame.FramePayload

        private let connection: ConnectionHandler

        init(_ connection: ConnectionHandler) {
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .headers(let headers) = self.unwrapInboundIn(data) else {
                context.fireChannelRead(data)
                return
            }
            if let name = headers.headers.first(name: ":protocol") {
                self.connection.machine.extendedConnect(protocol: name)
            }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// Sent down the pipeline when the server's grace period is over: the request in flight is cancelled.
    struct GracePeriodExpired {}

    fileprivate var machine: ConnectionStateMachine<ContinuousClock>
    private let inbox: ConnectionInbox
    private let configuration: Server.Configuration
    /// Where refusals are counted.
    private let metrics: ServerMetrics
    /// The HTTP/2 connection this stream belongs to, which knows why it was lost; `nil` on HTTP/1.
    private let connection: HTTP2ConnectionLoss?
    private var current: Exchange?
    private var context: ChannelHandlerContext?
    /// The version of the last request head, for the version of a refusal.
    private var version = NIOHTTP1.HTTPVersion.http1_1
    /// The one timer, armed at or before the machine's next deadline: a later deadline leaves it alone, and when
    /// it fires early it re-arms for what is left.
    private var timer = DeadlineTimer()
    /// Whether a read was held back, to be issued once reads are allowed again.
    private var readHeld = false
    /// Whether the request in flight paused reads: only then does a read ask its exchange whether they resumed.
    private var exchangePaused = false

    init(
        inbox: ConnectionInbox, configuration: Server.Configuration, metrics: ServerMetrics,
        stream connection: HTTP2ConnectionLoss? = nil
    ) {
        self.inbox = inbox
        self.configuration = configuration
        self.metrics = metrics
        self.connection = connection
        self.machine = ConnectionStateMachine(configuration: configuration, multiplexed: connection != nil)
    }

    // MARK: Raw bytes, before the decoder

    fileprivate func bytesRead(_ bytes: ByteBufferView) {
        self.machine.bytesRead(bytes, now: .now)
    }

    fileprivate func readComplete() {
        self.perform(self.machine.readComplete())
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.opened() }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.opened()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = ContinuousClock.now
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.version = head.version
            self.perform(self.machine.headReceived(head, now: now))
        case .body(let chunk):
            self.perform(self.machine.bodyReceived(chunk, now: now))
        case .end(let trailers):
            self.perform(self.machine.endReceived(trailers: trailers, now: now))
        }
    }

    func read(context: ChannelHandlerContext) {
        // Back-pressure: the socket is read only as fast as the application receives, and while pipelined
        // requests stay within their limits.
        if self.exchangePaused { self.exchangePaused = self.current?.readsPaused == true }
        guard self.machine.readsAllowed, !self.exchangePaused else {
            self.readHeld = true
            return
        }
        self.readHeld = false
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            let keepAlive = self.machine.responseStarted()
            if !keepAlive {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
            } else if head.version == .http1_0 {
                head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
            }
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
            return
        case .end:
            self.current = nil
            let action = self.machine.responseEnded(now: .now)
            if case .close = action {
                // Close once the end is on the wire, not before it is flushed.
                let written = promise ?? context.eventLoop.makePromise()
                context.write(data, promise: written)
                self.closeRequests()
                written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
            context.write(data, promise: promise)
            self.perform(action)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.connection != nil {
            // NIOHTTP2 closes the streams a GOAWAY ends before it hands the GOAWAY on: their reason is read a
            // tick later, once the connection's handler has recorded it. The handlers may be gone by then.
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let handler = handler.value
                let lost = handler.connection?.reason
                if case .close(let reason?) = handler.machine.connectionClosed(because: lost) {
                    handler.current?.disconnected(reason)
                }
                handler.current = nil
            }
            context.fireChannelInactive()
            return
        }
        self.perform(self.machine.connectionClosed())
        self.current = nil
        self.closeRequests()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            self.perform(self.machine.inputClosed())
        } else if event is ChannelShouldQuiesceEvent {
            self.machine.quiesce()
        } else if event is GracePeriodExpired {
            self.perform(self.machine.shutdown())
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.perform(self.machine.errorCaught(error))
    }

    // MARK: Carrying out actions

    private func opened() {
        self.machine.connectionOpened(now: .now)
        self.armTimer()
    }

    private func perform(_ action: ConnectionStateMachine<ContinuousClock>.Action) {
        guard let context = self.context else { return }
        switch action {
        case .none:
            break
        case .startRequest(let head, let fields):
            let exchange = Exchange(
                channel: context.channel, head: head, configuration: self.configuration, task: self.inbox.task)
            self.current = exchange
            self.inbox.requests.deliver((head, fields, exchange))
        case .startWebSocket(let head, let fields):
            let eventLoop = context.eventLoop
            let handler = NIOLoopBound(self, eventLoop: eventLoop)
            let webSocket = WebSocketExchange(
                channel: context.channel, configuration: self.configuration, task: self.inbox.task,
                requestID: RequestID.of(head, header: self.configuration.observability.requestIDHeader)
            ) { headers in
                eventLoop.flatSubmit { handler.value.upgrade(head, headers, on: eventLoop) }
            }
            let exchange = Exchange(
                channel: context.channel, head: head, configuration: self.configuration, task: self.inbox.task,
                webSocket: webSocket)
            self.current = exchange
            self.inbox.requests.deliver((head, fields, exchange))
        case .deliverBody(let chunk):
            // A paused exchange holds the next read back in `read(context:)`.
            if self.current?.bodyArrived(chunk) == true { self.exchangePaused = true }
        case .deliverEnd(let trailers):
            self.current?.bodyEnded(trailers: trailers)
        case .refuse(let status, let message, let reason):
            self.current?.observation.serverAnswered(status: status.code)
            if let reason { self.current?.disconnected(reason) }
            self.current = nil
            self.closeRequests()
            // The one 426 is a WebSocket handshake's unknown version: it names the version this server speaks.
            let extra: HTTPHeaders = status == .upgradeRequired ? ["Sec-WebSocket-Version": "13"] : [:]
            self.metrics.refused(status.code)
            context.refuse(
                HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase), message: message,
                version: self.version, headers: extra)
        case .close(let reason):
            if let reason { self.current?.disconnected(reason) }
            self.current = nil
            self.closeRequests()
            context.close(promise: nil)
        case .servePending:
            while let next = self.machine.nextPendingAction(now: .now) { self.perform(next) }
            if self.readHeld { context.channel.read() }
        }
        self.armTimer()
    }

    /// Switches the connection to WebSocket once its application accepted: `101 Switching Protocols` with
    /// `headers`, then NIOWebSocket's frame codec and the connection's WebSocket handler in place of HTTP's.
    private func upgrade(_ head: HTTPRequestHead, _ headers: HTTPHeaders, on eventLoop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        guard let context = self.context, context.channel.isActive, let webSocket = self.current?.webSocket else {
            return eventLoop.makeFailedFuture(ClientDisconnected())
        }
        let configuration = self.configuration.webSocket
        var headers = headers
        var deflate: PerMessageDeflate?
        if configuration.perMessageDeflate,
            let (response, codec) = PerMessageDeflate.negotiate(
                offers: head.headers["sec-websocket-extensions"],
                configuration: .init(compressionThreshold: configuration.compressionThreshold))
        {
            headers.replaceOrAdd(name: "Sec-WebSocket-Extensions", value: response)
            deflate = codec
        }
        let handler = WebSocketConnectionHandler(
            exchange: webSocket, configuration: configuration, deflate: deflate, stream: self.connection)
        let extra = headers
        // NIOWebSocket checks the key and the version and computes Sec-WebSocket-Accept.
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: configuration.maxFrameSize, automaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(extra) },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() })
        if self.connection != nil {
            return self.upgradeStream(context, headers: headers, handler: handler)
        }
        return upgrader.buildUpgradeResponse(
            channel: context.channel, upgradeRequest: head, initialResponseHeaders: [:]
        )
        .assumeIsolated().flatMapThrowing { headers in
            var headers = headers
            if let name = self.configuration.serverName { headers.add(name: "Server", value: name) }
            let response = HTTPResponseHead(version: head.version, status: .switchingProtocols, headers: headers)
            // The encoder turns the 101 into bytes as it is written: HTTP's handlers can go right after it.
            context.writeAndFlush(self.wrapOutboundOut(.head(response)), promise: nil)
            self.current = nil
            self.closeRequests()
            // The frame codec goes in right after HTTP's decoder, which hands it any bytes it holds past the
            // handshake (frames the client sent with it) as it leaves.
            let pipeline = context.pipeline.syncOperations
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandlers(
                [
                    WebSocketFrameEncoder(),
                    ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: configuration.maxFrameSize)),
                    handler,
                ], position: .after(decoder.handler))
            try pipeline.removeHandler(context: pipeline.context(handlerType: RawBytes.self), promise: nil)
            try pipeline.removeHandler(context: pipeline.context(handlerType: HTTPResponseEncoder.self), promise: nil)
            pipeline.removeHandler(context: decoder, promise: nil)
            pipeline.removeHandler(context: context, promise: nil)
            // A read held back for HTTP's sake is the WebSocket handler's to issue now.
            context.channel.read()
        }.nonisolated()
    }

    /// WebSocket over HTTP/2 (RFC 8441): `200` with `headers`, then the stream's DATA frames carry the frames.
    private func upgradeStream(
        _ context: ChannelHandlerContext, headers: HTTPHeaders, handler: WebSocketConnectionHandler
    ) -> EventLoopFuture<Void> {
        context.eventLoop.makeCompletedFuture {
            var headers = headers
            if let name = self.configuration.serverName { headers.add(name: "Server", value: name) }
            // The codec makes a HEADERS frame of it, without END_STREAM: the stream stays open both ways.
            context.writeAndFlush(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: .http2, status: .ok, headers: headers))),
                promise: nil)
            self.current = nil
            let pipeline = context.pipeline.syncOperations
            // NIOHTTP2's codec cannot be removed: the WebSocket's handlers go before it, and it sees no frame again.
            let codec = try pipeline.context(handlerType: HTTP2FramePayloadToHTTP1ServerCodec.self)
            try pipeline.addHandlers(
                [
                    HTTP2StreamBytes(), WebSocketFrameEncoder(),
                    ByteToMessageHandler(
                        WebSocketFrameDecoder(maxFrameSize: self.configuration.webSocket.maxFrameSize)),
                    handler,
                ], position: .before(codec.handler))
            pipeline.removeHandler(context: context, promise: nil)
            context.channel.read()
        }
    }

    private func closeRequests() {
        // A stream's mailbox is its connection's, which closes it.
        if self.connection == nil { self.inbox.requests.close() }
    }

    private func armTimer() {
        guard let context = self.context else { return }
        self.timer.arm(for: self.machine.nextDeadline, on: context.eventLoop, calling: self) { $0.timerFired() }
    }

    private func timerFired() {
        self.timer.fired()
        self.perform(self.machine.timerFired(now: .now))
    }
}
