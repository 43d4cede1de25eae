import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A raw TCP client for tests and the soak: the caller decides exactly which bytes go out and when the socket
/// closes (FIN, half-close or RST).
public final class RawClient: Sendable {
    private let channel: any Channel
    private let received: ReceivedBytes

    private init(channel: any Channel, received: ReceivedBytes) {
        self.channel = channel
        self.received = received
    }

    /// Connects to 127.0.0.1:`port`; a client that is not `reading` never reads the socket.
    public static func connect(
        port: Int, reading: Bool = true, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RawClient {
        let received = ReceivedBytes()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.autoRead, value: reading)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, received: received)
    }

    /// Sends `text` as UTF-8.
    public func send(_ text: String) async throws {
        try await self.send(ByteBuffer(string: text))
    }

    /// Sends `bytes`.
    public func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes).get()
    }

    /// Sends FIN: the client will send nothing more but can still read.
    public func halfClose() async throws {
        try await self.channel.close(mode: .output).get()
    }

    /// Closes with RST instead of FIN.
    public func reset() async throws {
        if let provider = self.channel as? any SocketOptionProvider {
            try await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try await self.channel.close().get()
    }

    /// Closes with FIN.
    public func close() async throws {
        try await self.channel.close().get()
    }

    /// Everything received so far.
    public var text: String { self.received.text }

    /// Waits until what was received contains `marker`; returns all of it.
    @discardableResult
    public func waitFor(_ marker: String, timeout: Duration = .seconds(10)) async throws -> String {
        try await self.received.wait(timeout: timeout) { text, _ in text.contains(marker) }
    }

    /// Waits until at least `count` bytes were received; returns all of them, as bytes (HTTP/2 frames are binary).
    public func waitForBytes(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await self.received.waitForBytes(timeout: timeout) { bytes, _ in bytes.count >= count }
    }

    /// Waits until the server closes the connection; returns all that was received.
    @discardableResult
    public func waitForClose(timeout: Duration = .seconds(10)) async throws -> String {
        try await self.received.wait(timeout: timeout) { _, closed in closed }
    }
}

/// What a raw client has received, and whether the server closed.
final class ReceivedBytes: Sendable {
    private let state = NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>(([], false))
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init() {
        (self.changes, self.changed) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var text: String { self.state.withLockedValue { String(decoding: $0.bytes, as: UTF8.self) } }

    func append(_ buffer: ByteBuffer) {
        self.state.withLockedValue { $0.bytes += buffer.readableBytesView }
        self.changed.yield()
    }

    func markClosed() {
        self.state.withLockedValue { $0.closed = true }
        self.changed.yield()
    }

    /// Waits, woken by each change, until `done` holds for the text received; one waiter at a time.
    func wait(timeout: Duration, until done: @escaping @Sendable (String, Bool) -> Bool) async throws -> String {
        let bytes = try await self.waitForBytes(timeout: timeout) { bytes, closed in
            done(String(decoding: bytes, as: UTF8.self), closed)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits, woken by each change, until `done` holds for the bytes received; one waiter at a time.
    func waitForBytes(
        timeout: Duration, until done: @escaping @Sendable ([UInt8], Bool) -> Bool
    ) async throws -> [UInt8] {
        let check = { @Sendable () -> [UInt8]? in
            let (bytes, closed) = self.state.withLockedValue { ($0.bytes, $0.closed) }
            return done(bytes, closed) ? bytes : nil
        }
        if let text = check() { return text }
        let found = await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                for await _ in self.changes {
                    if let text = check() { return text }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
        guard let found = found ?? check() else {
            let (text, closed) = self.state.withLockedValue { (String(decoding: $0.bytes, as: UTF8.self), $0.closed) }
            throw TimedOut(
                description: "waited \(timeout); received so far: \(text.debugDescription), closed: \(closed)")
        }
        return found
    }
}

/// What a ``RawClient`` waited for did not come in time.
public struct TimedOut: Error, CustomStringConvertible {
    public var description: String
}

private final class RecordingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received: ReceivedBytes

    init(received: ReceivedBytes) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received.append(self.unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            self.received.markClosed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.received.markClosed()
    }
}
