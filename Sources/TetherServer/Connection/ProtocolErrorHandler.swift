import NIOCore
import NIOHTTP1

/// Answers what NIO's parser refuses — 414 for an oversized request line, 431 for an oversized head, 505 for a
/// version other than 1.x, 400 for anything else — and closes.
///
/// Takes the place of NIO's `HTTPServerProtocolErrorHandler`, which answers 400 to everything and leaves
/// the connection open.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false
    private let headProgress: HeadProgressHandler
    private let maxTargetBytes: Int

    init(headProgress: HeadProgressHandler, maxTargetBytes: Int) {
        self.headProgress = headProgress
        self.maxTargetBytes = maxTargetBytes
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        context.fireErrorCaught(parserError)
        // A message cut short by the client leaving has nobody left to answer.
        guard !self.responseInProgress, parserError != .invalidEOFState, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        let status: HTTPResponseStatus
        if let version = self.headProgress.requestLineVersion, version.major != 1 {
            status = .httpVersionNotSupported
        } else if parserError == .headerOverflow {
            status = self.headProgress.requestLineBytes > self.maxTargetBytes ? .uriTooLong : .requestHeaderFieldsTooLarge
        } else {
            status = .badRequest
        }
        context.refuse(status, message: nil, version: .http1_1)
        self.responseInProgress = true
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200 || head.status == .switchingProtocols: self.responseInProgress = true
        case .end: self.responseInProgress = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
