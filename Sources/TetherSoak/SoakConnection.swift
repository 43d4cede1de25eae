import NIOCore
import NIOPosix
import Synchronization

/// A raw client connection for the soak: it writes what it is told, and leaves by FIN or by RST.
final class SoakConnection: Sendable {
    private let channel: any Channel
    private let received: Received

    private init(channel: any Channel, received: Received) {
        self.channel = channel
        self.received = received
    }

    static func connect(port: Int, group: any EventLoopGroup) async throws -> SoakConnection {
        let received = Received()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReceivingHandler(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return SoakConnection(channel: channel, received: received)
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes).get()
    }

    /// Closes by FIN, or by RST when `reset`.
    func leave(reset: Bool) async {
        if reset, let provider = self.channel as? any SocketOptionProvider {
            _ = try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await self.channel.close().get()
    }

    /// What has arrived so far, as text.
    var receivedText: String { self.received.text }

    /// Waits until the response contains `marker`, the server closed, or the timeout passed.
    func waitFor(_ marker: String, timeout: Duration) async -> Bool {
        await self.received.wait(for: Array(marker.utf8), timeout: timeout)
    }
}

/// Bytes a connection received, with waiters woken as they arrive.
private final class Received: Sendable {
    private let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init() {
        (self.changes, self.changed) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func append(_ buffer: ByteBuffer) {
        self.state.withLock { $0.bytes += buffer.readableBytesView }
        self.changed.yield()
    }

    func close() {
        self.state.withLock { $0.closed = true }
        self.changed.yield()
    }

    var text: String { self.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    func wait(for marker: [UInt8], timeout: Duration) async -> Bool {
        await self.wait(timeout: timeout) { bytes in
            bytes.count >= marker.count && bytes.indices.dropLast(marker.count - 1).contains { bytes[$0..<$0 + marker.count].elementsEqual(marker) }
        }
    }

    private func wait(timeout: Duration, until done: @escaping @Sendable ([UInt8]) -> Bool) async -> Bool {
        let check = { @Sendable () -> Bool? in
            self.state.withLock { state in done(state.bytes) ? true : (state.closed ? false : nil) }
        }
        if let result = check() { return result }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in self.changes {
                    if let result = check() { return result }
                }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
    }
}

private final class ReceivingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received: Received

    init(received: Received) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received.append(self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.received.close()
        context.fireChannelInactive()
    }
}
