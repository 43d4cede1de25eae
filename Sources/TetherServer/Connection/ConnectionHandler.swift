import HTTPTypes
import NIOCore
import NIOHTTP1
import TetherGateway

/// The event loop's half of a connection: feeds each request's ``Exchange``, holds reads while the application
/// is behind, and tells the exchange the moment the client leaves.
final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let inbox: ConnectionInbox
    private let configuration: Server.Configuration
    private let headProgress: HeadProgressHandler
    private var current: Exchange?
    private var bodyBytes: Int64 = 0
    private var halfClosed = false

    init(inbox: ConnectionInbox, configuration: Server.Configuration, headProgress: HeadProgressHandler) {
        self.inbox = inbox
        self.configuration = configuration
        self.headProgress = headProgress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.headProgress.headReceived()
            switch HeadValidator.validate(head, limits: self.configuration) {
            case .failure(let rejection):
                self.reject(rejection, version: head.version, context: context)
            case .success(let fields):
                let exchange = Exchange(
                    channel: context.channel, head: head, keepAlive: head.isKeepAlive && !self.halfClosed,
                    configuration: self.configuration, events: self.inbox.events)
                self.current = exchange
                self.bodyBytes = 0
                self.inbox.requests.deliver((head, fields, exchange))
            }
        case .body(let chunk):
            guard let exchange = self.current else { return }
            self.bodyBytes += Int64(chunk.readableBytes)
            if let limit = self.configuration.maxBodySize, self.bodyBytes > limit {
                // The application sees the client leave; the client gets 413 if no response has begun.
                let responseStarted = exchange.outcome.responseStarted
                exchange.clientLeft()
                self.current = nil
                if !responseStarted {
                    self.reject(
                        HeadValidator.Rejection(status: .contentTooLarge, message: "The request body exceeds \(limit) bytes (limit: maxBodySize)."),
                        version: exchange.requestHead.version, context: context)
                } else {
                    context.close(promise: nil)
                }
                return
            }
            exchange.bodyArrived(chunk)
        case .end:
            self.current?.bodyEnded()
        }
    }

    func read(context: ChannelHandlerContext) {
        // Back-pressure: the socket is read only as fast as the application receives.
        if self.current?.readsPaused == true { return }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) {
            self.current = nil
            self.headProgress.responseEnded()
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.current?.clientLeft()
        self.current = nil
        self.inbox.requests.close()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            self.halfClosed = true
            if self.configuration.servesHalfClosedConnections {
                // The request in flight is answered; no other can come.
                self.inbox.requests.close()
                if self.current == nil { context.close(promise: nil) }
            } else {
                self.current?.clientLeft()
                self.inbox.requests.close()
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Parser errors were answered before this handler; a reset or a failed read ends the connection.
        self.current?.clientLeft()
        self.current = nil
        self.inbox.requests.close()
        if !(error is HTTPParserError) { context.close(promise: nil) }
    }

    /// Answers a refused head with its status and closes.
    private func reject(_ rejection: HeadValidator.Rejection, version: NIOHTTP1.HTTPVersion, context: ChannelHandlerContext) {
        self.inbox.requests.close()
        let status = HTTPResponseStatus(statusCode: rejection.status.code, reasonPhrase: rejection.status.reasonPhrase)
        context.refuse(status, message: rejection.message, version: version)
    }
}
