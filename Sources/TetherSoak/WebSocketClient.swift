import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import TetherServer
import TetherWeb

/// A WebSocket client for the soak and tests, built from NIO's parts: NIOHTTP1's client pipeline and
/// `NIOTypedWebSocketClientUpgrader` for the handshake, then NIOWebSocket's frame encoder and decoder.
///
/// Every frame it sends is masked. It can offer permessage-deflate (RFC 7692): the server's compressed messages are
/// inflated, and messages sent with `compress` are deflated. It sends messages whole or in fragments, leaves a
/// fragmented message unfinished, sends close frames, stops reading, and leaves by FIN or RST; every wait has a
/// timeout, so that no server misbehaviour can hang its caller.
public final class WebSocketClient: Sendable {
    /// The server's answer to a handshake was not a WebSocket upgrade.
    public struct NotUpgraded: Error, CustomStringConvertible {
        public var description: String { "the server did not switch protocols" }
    }

    /// A frame came from the server that breaks RFC 6455 (masked, RSV1 without compression, a stray continuation…).
    public struct ProtocolViolation: Error, CustomStringConvertible {
        public var description: String
    }

    private let channel: any Channel
    private let inbox: WebSocketInbox
    /// The `Sec-WebSocket-Extensions` value of the server's 101, if it had one.
    public let extensions: String?

    private init(channel: any Channel, inbox: WebSocketInbox, extensions: String?) {
        self.channel = channel
        self.inbox = inbox
        self.extensions = extensions
    }

    /// The server's own permessage-deflate codec, seen from the client's side: it inflates the server's messages
    /// (each compressed on its own: the server always takes `server_no_context_takeover`) and deflates the client's
    /// whole messages, each on its own too; nil if the server's 101 has no permessage-deflate.
    static func deflate(negotiated extensions: String?) -> PerMessageDeflate? {
        guard let extensions = extensions?.lowercased(), extensions.contains("permessage-deflate") else { return nil }
        // The client compresses within the window the server's answer allows it (`client_max_window_bits`).
        let window = extensions.split(separator: ";").lazy.compactMap { parameter -> Int32? in
            let pair = parameter.split(separator: "=").map { $0.filter { $0 != " " && $0 != "\"" } }
            return pair.count == 2 && pair[0] == "client_max_window_bits" ? Int32(pair[1]) : nil
        }.first
        return PerMessageDeflate(
            configuration: .init(compressionThreshold: 0), clientNoContextTakeover: true,
            serverMaxWindowBits: window ?? 15)
    }

    /// Whether the handshake negotiated permessage-deflate.
    public var isDeflating: Bool { self.extensions?.lowercased().contains("permessage-deflate") ?? false }

    /// Opens a WebSocket on 127.0.0.1:`port` at `path`, offering `extensions` (such as
    /// `"permessage-deflate; client_max_window_bits"`) if given; waits at most `timeout` for the 101.
    public static func connect(
        port: Int, path: String, extensions offer: String? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: Duration = .seconds(10)
    ) async throws -> WebSocketClient {
        let inbox = WebSocketInbox()
        let (channel, upgraded) = try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(timeout))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<String?>(
                        maxFrameSize: 1 << 22, enableAutomaticErrorHandling: false
                    ) { channel, response in
                        channel.eventLoop.makeCompletedFuture {
                            let extensions = response.headers["Sec-WebSocket-Extensions"].first
                            let deflate = Self.deflate(negotiated: extensions)
                            try channel.pipeline.syncOperations.addHandler(
                                WebSocketClientHandler(inbox: inbox, deflate: deflate))
                            return extensions
                        }
                    }
                    var headers = HTTPHeaders([("Host", "soak")])
                    if let offer { headers.add(name: "Sec-WebSocket-Extensions", value: offer) }
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let upgrade = NIOTypedHTTPClientUpgradeConfiguration<String?>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeFailedFuture(NotUpgraded())
                        })
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
                    // Frames the server sends right behind its 101 arrive in the same read as the 101.
                    configuration.leftOverBytesStrategy = .forwardBytes
                    let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: configuration)
                    return (channel, upgraded)
                }
            }
        do {
            let extensions = try await upgraded.get(within: timeout)
            return WebSocketClient(channel: channel, inbox: inbox, extensions: extensions)
        } catch {
            try? await channel.close().get(within: timeout)
            throw error
        }
    }

    // MARK: Sending

    /// Sends `message` in `fragments` frames (its compressed payload split when `compress`), with RSV1 on the first
    /// if it is compressed; leaves the message unfinished, its last frame without FIN, unless `finish`.
    public func send(
        _ message: WebSocketMessage, fragments: Int = 1, compress: Bool = false, finish: Bool = true,
        timeout: Duration = .seconds(10)
    ) async throws {
        let outbound = WebSocketClientOutbound.message(
            message, fragments: max(1, fragments), compress: compress && self.isDeflating, finish: finish)
        try await self.channel.writeAndFlush(outbound).get(within: timeout)
    }

    /// Sends a close frame with `code` and `reason`; the server answers with its own and closes the connection.
    public func sendClose(code: UInt16 = 1000, reason: String = "", timeout: Duration = .seconds(10)) async throws {
        try await self.channel.writeAndFlush(WebSocketClientOutbound.close(code: code, reason: reason))
            .get(within: timeout)
    }

    // MARK: Receiving

    /// The next message from the server, waiting at most `timeout`.
    public func receive(timeout: Duration = .seconds(10)) async throws -> WebSocketMessage {
        try await self.inbox.wait(timeout: timeout) { state in
            if let violation = state.violation { throw ProtocolViolation(description: violation) }
            guard !state.messages.isEmpty else {
                if state.closed { throw ChannelError.ioOnClosedChannel }
                return nil
            }
            return state.messages.removeFirst()
        }
    }

    /// Skips the server's messages until `count` have arrived in all, waiting at most `timeout`.
    public func waitForMessages(_ count: Int, timeout: Duration = .seconds(10)) async throws {
        try await self.inbox.wait(timeout: timeout) { state in
            if let violation = state.violation { throw ProtocolViolation(description: violation) }
            state.messages.removeAll()
            guard state.received < count else { return () }
            if state.closed { throw ChannelError.ioOnClosedChannel }
            return nil
        }
    }

    /// Messages received so far, in all.
    public var received: Int { self.inbox.withState { $0.received } }

    /// Waits until the server has closed the connection; returns the code of the server's close frame (1005 if it
    /// had none), or nil if it closed without one.
    @discardableResult
    public func waitForClose(timeout: Duration = .seconds(10)) async throws -> UInt16? {
        try await self.inbox.wait(timeout: timeout) { state in
            state.messages.removeAll()
            return state.closed ? .some(state.closeCode) : nil
        }
    }

    /// Stops reading the socket: what the server sends piles up in the kernel's buffers, then in the server.
    public func stopReading(timeout: Duration = .seconds(10)) async throws {
        try await self.channel.setOption(ChannelOptions.autoRead, value: false).get(within: timeout)
    }

    // MARK: Leaving

    /// Closes with FIN, without a close frame.
    public func close(timeout: Duration = .seconds(10)) async throws {
        try await self.channel.close().get(within: timeout)
    }

    /// Closes with RST instead of FIN (SO_LINGER 0).
    public func reset(timeout: Duration = .seconds(10)) async throws {
        if let provider = self.channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get(within: timeout)
        }
        try await self.channel.close().get(within: timeout)
    }
}

/// What the client hands its frame handler.
enum WebSocketClientOutbound: Sendable {
    /// A data message, in `fragments` frames, compressed or not, finished or left open.
    case message(WebSocketMessage, fragments: Int, compress: Bool, finish: Bool)
    /// A close frame.
    case close(code: UInt16, reason: String)
}

/// What a WebSocket client has received, shared by its handler (which fills it) and its caller (who waits on it).
final class WebSocketInbox: Sendable {
    struct State {
        /// Messages not yet taken.
        var messages: [WebSocketMessage] = []
        /// Messages received in all.
        var received = 0
        /// The code of the server's close frame, 1005 for one without a code.
        var closeCode: UInt16?
        /// Whether the connection is closed.
        var closed = false
        /// The first frame that broke the protocol.
        var violation: String?
    }

    private let state = NIOLockedValueBox<(state: State, changed: AsyncStream<Void>.Continuation?)>((State(), nil))

    /// Changes the state and wakes the waiter.
    func update(_ change: (inout State) -> Void) {
        let changed = self.state.withLockedValue { box in
            change(&box.state)
            return box.changed
        }
        changed?.yield()
    }

    func withState<T>(_ body: (State) -> T) -> T {
        self.state.withLockedValue { body($0.state) }
    }

    /// Waits, woken by each change, until `check` returns a value or throws; `check` may take what it returns out
    /// of the state. One waiter at a time.
    func wait<T: Sendable>(
        timeout: Duration, until check: @escaping @Sendable (inout State) throws -> T?
    ) async throws -> T {
        let (changes, changed) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let checkNow = { @Sendable () throws -> T? in
            try self.state.withLockedValue { box in try check(&box.state) }
        }
        let first = try self.state.withLockedValue { box -> T? in
            if let value = try check(&box.state) { return value }
            box.changed = changed
            return nil
        }
        if let first { return first }
        defer {
            self.state.withLockedValue { $0.changed = nil }
            changed.finish()
        }
        let found = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                for await _ in changes {
                    if let value = try checkNow() { return value }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        guard let found = try found ?? checkNow() else {
            let (messages, closed) = self.withState { ($0.received, $0.closed) }
            throw TimedOut(description: "waited \(timeout); messages received: \(messages), closed: \(closed)")
        }
        return found
    }
}

/// Turns the server's frames into messages for the inbox (inflating compressed ones, answering pings and the
/// server's close), and the client's messages into masked frames.
private final class WebSocketClientHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketClientOutbound
    typealias OutboundOut = WebSocketFrame

    private let inbox: WebSocketInbox
    private let deflate: PerMessageDeflate?
    /// The message arriving in fragments: whether it is text, whether compressed, its payload so far.
    private var fragments: (text: Bool, compressed: Bool, payload: ByteBuffer)?
    private var closeSent = false

    init(inbox: WebSocketInbox, deflate: PerMessageDeflate?) {
        self.inbox = inbox
        self.deflate = deflate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard frame.maskKey == nil else { return self.violated("a masked frame from the server", context: context) }
        guard !frame.rsv2, !frame.rsv3, !frame.rsv1 || (self.deflate != nil && frame.opcode.isData) else {
            return self.violated("reserved bit set on \(frame.opcode)", context: context)
        }
        switch frame.opcode {
        case .text, .binary:
            guard self.fragments == nil else {
                return self.violated("a message began inside a fragmented one", context: context)
            }
            self.fragments = (frame.opcode == .text, frame.rsv1, frame.unmaskedData)
            if frame.fin { self.messageEnded(context: context) }
        case .continuation:
            guard self.fragments != nil else {
                return self.violated("a continuation without a message", context: context)
            }
            var data = frame.unmaskedData
            self.fragments?.payload.writeBuffer(&data)
            if frame.fin { self.messageEnded(context: context) }
        case .ping:
            guard !self.closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? 1005
            self.inbox.update { $0.closeCode = $0.closeCode ?? code }
            if !self.closeSent {
                // Answer the server's close with its code (RFC 6455 §5.5.1); it then closes the connection.
                self.closeSent = true
                context.writeAndFlush(self.wrapOutboundOut(Self.closeFrame(code == 1005 ? 1000 : code, "")))
                    .whenFailure { _ in }
            }
        default:
            self.violated("reserved opcode \(frame.opcode)", context: context)
        }
    }

    private func messageEnded(context: ChannelHandlerContext) {
        guard let fragments = self.fragments else { return }
        self.fragments = nil
        var bytes = fragments.payload
        if fragments.compressed {
            guard let inflated = try? self.deflate?.inflate(bytes, maxSize: 1 << 22) else {
                return self.violated("a compressed message that does not inflate", context: context)
            }
            bytes = inflated
        }
        let message: WebSocketMessage
        if fragments.text {
            guard let string = String(validating: bytes.readableBytesView, as: UTF8.self) else {
                return self.violated("text that is not UTF-8", context: context)
            }
            message = .text(string)
        } else {
            message = .binary(bytes)
        }
        self.inbox.update { state in
            state.messages.append(message)
            state.received += 1
        }
    }

    private func violated(_ what: String, context: ChannelHandlerContext) {
        self.inbox.update { $0.violation = $0.violation ?? what }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .message(let message, let fragments, let compress, let finish):
            let opcode: WebSocketOpcode
            var payload: ByteBuffer
            switch message {
            case .text(let text): (opcode, payload) = (.text, context.channel.allocator.buffer(string: text))
            case .binary(let bytes): (opcode, payload) = (.binary, bytes)
            }
            var compressed = false
            if compress, let deflate = self.deflate {
                do {
                    // A message that deflating would not shrink goes as it is, as the server's do.
                    if let deflated = try deflate.deflate(payload) {
                        payload = deflated
                        compressed = true
                    }
                } catch {
                    promise?.fail(error)
                    return
                }
            }
            let size = (payload.readableBytes + fragments - 1) / fragments
            for index in 0..<fragments {
                let piece = payload.readSlice(length: min(size, payload.readableBytes)) ?? ByteBuffer()
                let last = index == fragments - 1
                let frame = WebSocketFrame(
                    fin: finish && last, rsv1: compressed && index == 0, opcode: index == 0 ? opcode : .continuation,
                    maskKey: .random(), data: piece)
                context.write(self.wrapOutboundOut(frame), promise: last ? promise : nil)
            }
        case .close(let code, let reason):
            self.closeSent = true
            context.write(self.wrapOutboundOut(Self.closeFrame(code, reason)), promise: promise)
        }
    }

    private static func closeFrame(_ code: UInt16, _ reason: String) -> WebSocketFrame {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.inbox.update { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketError { self.inbox.update { $0.violation = $0.violation ?? "\(error)" } }
        context.close(promise: nil)
    }
}

extension WebSocketOpcode {
    /// Whether frames of this opcode carry a message's data.
    fileprivate var isData: Bool { self == .text || self == .binary }
}

extension EventLoopFuture where Value: Sendable {
    /// The future's value, or ``TimedOut`` if it has none within `timeout`.
    func get(within timeout: Duration) async throws -> Value {
        let promise = self.eventLoop.makePromise(of: Value.self)
        self.cascade(to: promise)
        let timer = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(TimedOut(description: "waited \(timeout) for the event loop"))
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }
}
