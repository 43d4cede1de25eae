import NIOCore
import NIOWebSocket
import TetherGateway

/// The event loop's half of an upgraded WebSocket connection: feeds the ``WebSocketConnectionStateMachine`` the
/// frames NIOWebSocket decodes and what the socket reports, and carries out the actions it returns.
///
/// It decides nothing itself; it encodes the application's messages (compressing them under permessage-deflate)
/// and holds reads back while the application is behind.
final class WebSocketConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketOutbound
    typealias OutboundOut = WebSocketFrame

    private var machine: WebSocketConnectionStateMachine<ContinuousClock>
    private let exchange: WebSocketExchange
    private let deflate: PerMessageDeflate?
    private var context: ChannelHandlerContext?
    /// The one timer, armed at or before the machine's next deadline.
    private var timer: (task: Scheduled<Void>, firesAt: ContinuousClock.Instant)?
    /// Whether the application is behind: reads wait until it catches up.
    private var paused = false
    /// Whether a read was held back, to be issued once reads resume.
    private var readHeld = false
    /// How the socket failed, when a read or a write said: the client's departure, for the application.
    private var failure: CancellationReason?

    init(exchange: WebSocketExchange, configuration: Server.Configuration.WebSocket, deflate: PerMessageDeflate?) {
        self.exchange = exchange
        self.deflate = deflate
        self.machine = WebSocketConnectionStateMachine(configuration: configuration, deflate: deflate, now: .now)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.task.cancel()
        self.timer = nil
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

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .message(let message):
            guard self.machine.messageToSend() else {
                promise?.fail(ClientDisconnected())
                return
            }
            // A write is often the first to learn that the peer reset the connection: its error says how it left.
            let written = promise ?? context.eventLoop.makePromise()
            context.write(self.wrapOutboundOut(self.frame(for: message)), promise: written)
            written.futureResult.assumeIsolated().whenFailure { error in
                if let error = error as? IOError { self.failure = self.failure ?? error.departure }
            }
        case .close(let code, let reason):
            self.perform(self.machine.applicationClosed(code: code, reason: reason, now: .now))
            promise?.succeed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.perform(self.machine.connectionClosed(self.failure ?? .clientClosed))
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
        } else if let error = error as? IOError {
            self.failure = error.departure
            self.perform(self.machine.connectionClosed(error.departure))
        } else {
            self.perform(self.machine.connectionClosed(.clientClosed))
        }
    }

    // MARK: Carrying out actions

    private func perform(_ action: WebSocketConnectionStateMachine<ContinuousClock>.Action) {
        guard let context = self.context else { return }
        switch action {
        case .none:
            break
        case .deliver(let message):
            if self.exchange.messageArrived(message) { self.paused = true }
        case .pong(let payload):
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)))
                .whenFailure { _ in }
        case .ping(let payload):
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: payload)))
                .whenFailure { _ in }
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
                (.text, self.context?.channel.allocator.buffer(string: text) ?? ByteBuffer(string: text))
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
        guard let deadline = self.machine.nextDeadline, let context = self.context else {
            if self.machine.nextDeadline == nil {
                self.timer?.task.cancel()
                self.timer = nil
            }
            return
        }
        if let timer = self.timer, timer.firesAt <= deadline { return }
        self.timer?.task.cancel()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let delay = ContinuousClock.now.duration(to: deadline)
        let task = context.eventLoop.scheduleTask(in: delay.timeAmount) { handler.value.timerFired() }
        self.timer = (task, deadline)
    }

    private func timerFired() {
        self.timer = nil
        self.perform(self.machine.timerFired(now: .now))
    }
}
