import NIOCore
import NIOHTTP2
import TetherGateway

/// Why an HTTP/2 connection was lost, shared by the connection's handler (which learns it) and its streams' handlers
/// (which cancel their requests for it). Confined to the connection's event loop.
final class HTTP2ConnectionLoss {
    /// The reason, once known; streams closed without one were closed by the client leaving.
    var reason: CancellationReason?
}

/// The event loop's half of an HTTP/2 connection, after NIOHTTP2's handler: feeds the
/// ``HTTP2ConnectionStateMachine`` the connection's frames and events, and carries out its actions.
final class HTTP2ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private var machine: HTTP2ConnectionStateMachine<ContinuousClock>
    let loss = HTTP2ConnectionLoss()
    private var context: ChannelHandlerContext?
    private var timer = DeadlineTimer()
    private let pingData = HTTP2PingData(withInteger: .random(in: .min ... .max))
    /// Where the streams' requests go; closed with the connection, which ends the task that serves it.
    private let requests: Mailbox<PendingRequest>

    init(configuration: Server.Configuration.HTTP2, requests: Mailbox<PendingRequest>) {
        self.machine = HTTP2ConnectionStateMachine(configuration: .init(configuration))
        self.requests = requests
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.machine.opened(now: .now)
        self.armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer.cancel()
        self.context = nil
        self.requests.close()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = self.unwrapInboundIn(data).payload {
            self.perform(self.machine.goAwayReceived())
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Every read of the socket ends here, whichever streams its frames went to: the client is still there.
        self.machine.readFromClient(now: .now)
        self.armTimer()
        context.fireChannelReadComplete()
    }

    /// NIOHTTP2's inline multiplexer reports streams opening and closing to a delegate, not down the pipeline.
    struct StreamDelegate: NIOHTTP2StreamDelegate, Sendable {
        let handler: NIOLoopBound<HTTP2ConnectionHandler>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            self.handler.value.machine.streamOpened(id)
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            // NIOHTTP2 reports a stream closed as it takes in the stream's last frame, before that frame is
            // buffered, let alone flushed: a close decided now would lose it. Decide a tick later.
            let handler = self.handler
            handler.value.context?.eventLoop.execute {
                handler.value.perform(handler.value.machine.streamClosed(now: .now))
            }
        }
    }

    /// The delegate that counts this connection's streams.
    func streamDelegate(on eventLoop: any EventLoop) -> StreamDelegate {
        StreamDelegate(handler: NIOLoopBound(self, eventLoop: eventLoop))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            self.perform(self.machine.inputClosed())
            return
        case is ChannelShouldQuiesceEvent:
            self.perform(self.machine.quiesce())
        case is ConnectionHandler.GracePeriodExpired:
            self.perform(self.machine.shutdown())
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let action = self.machine.errorCaught(error)
        self.loss.reason = self.machine.lossReason
        context.fireErrorCaught(error)
        guard action != .none else { return }
        // NIOHTTP2 reports a connection error from inside its read loop; closing there leaves the streams it is
        // still tracking for that read referenced by it, and leaks them. Close once the loop is done.
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { handler.value.perform(action) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.machine.connectionClosed()
        self.timer.cancel()
        self.requests.close()
        context.fireChannelInactive()
    }

    private func perform(_ action: HTTP2ConnectionStateMachine<ContinuousClock>.Action) {
        guard let context = self.context else { return }
        switch action {
        case .none:
            break
        case .ping:
            let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(self.pingData, ack: false))
            context.writeAndFlush(self.wrapOutboundOut(ping), promise: nil)
        case .goAway(let lastStreamID):
            let goAway = HTTP2Frame(
                streamID: .rootStream,
                payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(self.wrapOutboundOut(goAway), promise: nil)
        case .close(let code, let lastStreamID, let reason):
            // Recorded before the close: the streams read it as they go inactive, ahead of this handler.
            self.loss.reason = reason
            guard let code else {
                // Whatever the streams wrote goes out before the close.
                context.flush()
                context.close(promise: nil)
                break
            }
            let goAway = HTTP2Frame(
                streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: code, opaqueData: nil))
            context.writeAndFlush(self.wrapOutboundOut(goAway)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
        self.armTimer()
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
