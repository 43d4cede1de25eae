import NIOCore
import NIOHTTP2
import NIOWebSocket
import TetherGateway

/// The event loop's half of an upgraded WebSocket connection: feeds the ``WebSocketConnectionStateMachine`` the
/// frames NIOWebSocket decodes and what the socket reports, and carries out the actions it returns.
///
/// It decides nothing itself; it encodes the application's messages (compressing them under permessage-deflate)
/// and holds reads back while the application is behind.
final class WebSocketConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var machine: WebSocketConnectionStateMachine<ContinuousClock>
    private let exchange: WebSocketExchange
    private let deflate: PerMessageDeflate?
    private var context: ChannelHandlerContext?
    /// The one timer, armed at or before the machine's next deadline.
    private var timer = DeadlineTimer()
    /// Whether the application is behind: reads wait until it catches up.
    private var paused = false
    /// Whether a read was held back, to be issued once reads resume.
    private var readHeld = false
    /// How the socket failed, when a read or a write said: the client's departure, for the application.
    private var failure: CancellationReason?

    /// The HTTP/2 connection this WebSocket's stream belongs to (RFC 8441), which knows why it was lost; `nil` on
    /// HTTP/1.1.
    private let connection: HTTP2ConnectionLoss?

    init(
        exchange: WebSocketExchange, configuration: Server.Configuration.WebSocket, deflate: PerMessageDeflate?,
        stream connection: HTTP2ConnectionLoss? = nil
    ) {
        self.exchange = exchange
        self.deflate = deflate
        self.connection = connection
        self.machine = WebSocketConnectionStateMachine(configuration: configuration, deflate: deflate, now: .now)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.exchange.attach(NIOLoopBound(self, eventLoop: context.eventLoop))
        self.armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The exchange holds this handler while it is in the pipeline, and no longer: each keeps the other alive.
        self.exchange.detach()
        self.timer.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.perform(self.machine.frameReceived(self.unwrapInboundIn(data), now: .now))
    }

    func read(context: ChannelHandlerContext) {
        if self.paused { self.paused = self.exchange.readsPaused }
        guard !self.paused else {
            self.readHeld = true
            return
        }
        self.readHeld = false
        context.read()
    }

    /// Sends what the application hands over: its exchange calls this on the event loop, rather than writing at
    /// the pipeline's tail, where an HTTP/2 stream keeps NIOHTTP2's HTTP/1 codec.
    func send(_ outbound: WebSocketOutbound, promise: EventLoopPromise<Void>?) {
        guard let context = self.context else {
            promise?.fail(ClientDisconnected())
            return
        }
        switch outbound {
        case .message(let message):
            guard self.machine.messageToSend() else {
                promise?.fail(ClientDisconnected())
                return
            }
            // A write is often the first to learn that the peer reset the connection: its error says how it left.
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(self.wrapOutboundOut(self.frame(for: message)), promise: written)
            written.futureResult.assumeIsolated().whenFailure { error in
                if let error = error as? IOError { self.failure = self.failure ?? error.departure }
            }
        case .close(let code, let reason):
            self.perform(self.machine.applicationClosed(code: code, reason: reason, now: .now))
            promise?.succeed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard let connection = self.connection else {
            self.perform(self.machine.connectionClosed(self.failure ?? .clientClosed))
            context.fireChannelInactive()
            return
        }
        // As for an HTTP/2 request: a GOAWAY closes the stream before the connection's handler records why.
        let handler = NIOLoopBound((self, connection), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, connection) = handler.value
            handler.perform(handler.machine.connectionClosed(handler.failure ?? connection.reason ?? .clientClosed))
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            self.perform(self.machine.connectionClosed(.clientClosed))
        } else if event is ChannelShouldQuiesceEvent || event is ConnectionHandler.GracePeriodExpired {
            self.perform(self.machine.shutdown())
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            self.perform(self.machine.decoderFailed(error))
        } else if error is NIOHTTP2Errors.StreamClosed {
            // The client reset the stream; it closes next.
            self.failure = .streamReset
        } else if let error = error as? IOError {
            self.failure = error.departure
            self.perform(self.machine.connectionClosed(error.departure))
        } else {
            self.perform(self.machine.connectionClosed(.clientClosed))
        }
    }

    // MARK: Carrying out actions

    private func perform(_ action: WebSocketConnectionStateMachine<ContinuousClock>.Action) {
        guard let context = self.context else {
            // The pipeline is gone (a stream settled a tick late): only the application is left to tell.
            if case .close(_, let departure?) = action {
                self.exchange.disconnected(
                    code: departure.code, reason: departure.reason, cancelling: departure.cancellation)
            }
            return
        }
        switch action {
        case .none:
            break
        case .deliver(let message):
            if self.exchange.messageArrived(message) { self.paused = true }
        case .pong(let payload):
            context.writeAndFlush(
                self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
        case .ping(let payload):
            context.writeAndFlush(
                self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: payload)), promise: nil)
        case .sendClose(let code, let reason):
            context.writeAndFlush(self.wrapOutboundOut(self.closeFrame(code, reason)), promise: nil)
        case .close(let reply, let departure):
            if let departure {
                self.exchange.disconnected(
                    code: departure.code, reason: departure.reason, cancelling: departure.cancellation)
            }
            guard let reply else {
                context.close(promise: nil)
                break
            }
            // The server closes the TCP connection first (RFC 6455 §7.1.1), once its close frame is written.
            context.writeAndFlush(self.wrapOutboundOut(self.closeFrame(reply.code, reply.reason)))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        self.armTimer()
    }

    /// The frame for an application's message: compressed under permessage-deflate when large enough.
    private func frame(for message: WebSocketMessage) -> WebSocketFrame {
        let (opcode, payload): (WebSocketOpcode, ByteBuffer) =
            switch message {
            case .text(let text):
                (.text, ByteBuffer(string: text))
            case .binary(let bytes): (.binary, bytes)
            }
        if let deflate = self.deflate, let compressed = try? deflate.deflate(payload) {
            return WebSocketFrame(fin: true, rsv1: true, opcode: opcode, data: compressed)
        }
        return WebSocketFrame(fin: true, opcode: opcode, data: payload)
    }

    private func closeFrame(_ code: UInt16, _ reason: String) -> WebSocketFrame {
        var payload = ByteBuffer()
        payload.reserveCapacity(2 + reason.utf8.count)
        payload.writeInteger(code)
        payload.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
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
