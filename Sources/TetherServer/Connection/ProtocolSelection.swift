import NIOCore
import NIOSSL
import NIOTLS

/// Which protocol a connection speaks, told by ALPN under TLS or by its first bytes: HTTP/2's connection preface
/// (prior knowledge, RFC 9113 §3.3) or anything else, which is HTTP/1.
enum ProtocolSelection: Equatable {
    case http1
    case http2
    /// The bytes so far are the start of HTTP/2's preface: wait for more.
    case undecided

    /// The connection preface every HTTP/2 client sends first.
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// The protocol that a connection starting with `bytes` speaks, as soon as they tell.
    static func sniff(_ bytes: ByteBufferView) -> ProtocolSelection {
        let count = min(bytes.count, Self.preface.count)
        guard bytes.prefix(count).elementsEqual(Self.preface.prefix(count)) else { return .http1 }
        return count == Self.preface.count ? .http2 : .undecided
    }

    /// The protocol ALPN agreed on, or `undecided` when it agreed on none (the first bytes will tell).
    static func alpn(_ negotiated: String?) -> ProtocolSelection {
        switch negotiated {
        case "h2": .http2
        case "http/1.1": .http1
        default: .undecided
        }
    }
}

/// What a connection turned out to speak, with what serves it.
enum NegotiatedConnection: Sendable {
    /// HTTP/1: its requests arrive in the inbox.
    case http1(ConnectionInbox)
    /// HTTP/2: every stream's request arrives in the mailbox, with its stream's channel and task in its exchange.
    case http2(Mailbox<PendingRequest>)
}

/// The first handler of a connection, until it knows its protocol: waits for the TLS handshake (and its ALPN) or
/// for the first bytes, installs the pipeline of that protocol behind itself, hands it what it read, and leaves.
///
/// A client that gets no further within the timeout (a stalled handshake, a silent connection) is closed.
final class ProtocolSelectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let install: (ProtocolSelection, any Channel) throws -> NegotiatedConnection
    private let promise: EventLoopPromise<NegotiatedConnection>
    private let secure: Bool
    private let handshakeTimeout: TimeAmount
    private let firstBytesTimeout: TimeAmount
    private var buffered: ByteBuffer?
    private var timeout: Scheduled<Void>?
    private var decided = false
    /// A graceful shutdown began before the protocol was known: the protocol's handler is told once installed.
    private var quiesced = false

    /// Decides for a connection, under TLS if `secure`; `install` sets up the pipeline once the protocol is known.
    init(
        secure: Bool, handshakeTimeout: Duration, firstBytesTimeout: Duration,
        promise: EventLoopPromise<NegotiatedConnection>,
        install: @escaping (ProtocolSelection, any Channel) throws -> NegotiatedConnection
    ) {
        self.secure = secure
        self.handshakeTimeout = handshakeTimeout.timeAmount
        self.firstBytesTimeout = firstBytesTimeout.timeAmount
        self.promise = promise
        self.install = install
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.arm(context, self.secure ? self.handshakeTimeout : self.firstBytesTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timeout?.cancel()
        self.timeout = nil
        if !self.decided { self.promise.fail(ChannelError.inputClosed) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client left before saying which protocol it speaks.
            self.fail(ChannelError.inputClosed)
            context.close(promise: nil)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // The server is shutting down: a connection just accepted may have its first request on its way, so it is
            // served, and told to close, if its first bytes come within a second; closing it now would reset it.
            self.quiesced = true
            if !self.secure { self.arm(context, .seconds(1)) }
            return
        }
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            let selection = ProtocolSelection.alpn(negotiated)
            if selection == .undecided {
                self.arm(context, self.firstBytesTimeout)
            } else {
                self.select(selection, context: context)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if var buffered = self.buffered {
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        let selection = ProtocolSelection.sniff(bytes.readableBytesView)
        guard selection != .undecided else {
            self.buffered = bytes
            return
        }
        self.buffered = nil
        self.select(selection, context: context, bytes: bytes)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(ChannelError.inputClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A failed handshake or a broken socket before any request: nobody to answer.
        self.fail(error)
        context.close(promise: nil)
    }

    private func select(_ selection: ProtocolSelection, context: ChannelHandlerContext, bytes: ByteBuffer? = nil) {
        self.decided = true
        self.timeout?.cancel()
        self.timeout = nil
        do {
            let negotiated = try self.install(selection, context.channel)
            if let bytes { context.fireChannelRead(self.wrapInboundOut(bytes)) }
            if self.quiesced { context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            self.promise.succeed(negotiated)
        } catch {
            self.promise.fail(error)
            context.close(promise: nil)
        }
    }

    private func fail(_ error: any Error) {
        guard !self.decided else { return }
        self.decided = true
        self.timeout?.cancel()
        self.timeout = nil
        self.promise.fail(error)
    }

    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        self.timeout?.cancel()
        let channel = context.channel
        self.timeout = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }
}
