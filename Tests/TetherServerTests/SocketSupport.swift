import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TetherGateway
import TetherServer
import TestSupport
import Testing

/// Runs a server for `application` on an ephemeral port of 127.0.0.1 while `body` runs, then stops it.
func withServer<T: Sendable>(
    _ application: some Application,
    configure: (inout Server.Configuration) -> Void = { _ in },
    _ body: @Sendable (_ port: Int, _ server: Server) async throws -> T
) async throws -> T {
    var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
    configuration.accessLog = false
    // Most test applications are written for HTTP only; the lifespan tests turn it back on.
    configuration.lifespan = .off
    configure(&configuration)
    var logger = Logger(label: "test.server")
    logger.logLevel = .critical
    let server = Server(application: application, configuration: configuration, logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await server.run()
            return nil
        }
        defer { group.cancelAll() }
        let port = try await server.localAddress.port!
        let result = try await body(port, server)
        group.cancelAll()
        while let next = try await group.next() {
            if let next { return next }
        }
        return result
    }
}

/// A raw TCP client: the test decides exactly which bytes go out and when the socket closes.
final class RawClient: Sendable {
    private let channel: any Channel
    private let received: ReceivedBytes

    private init(channel: any Channel, received: ReceivedBytes) {
        self.channel = channel
        self.received = received
    }

    /// Connects to 127.0.0.1:`port`; a client that is not `reading` never reads the socket.
    static func connect(port: Int, reading: Bool = true) async throws -> RawClient {
        let received = ReceivedBytes()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
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

    func send(_ text: String) async throws {
        try await self.send(ByteBuffer(string: text))
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes).get()
    }

    /// Sends FIN: the client will send nothing more but can still read.
    func halfClose() async throws {
        try await self.channel.close(mode: .output).get()
    }

    /// Closes with RST instead of FIN.
    func reset() async throws {
        try await (self.channel as! any SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await self.channel.close().get()
    }

    func close() async throws {
        try await self.channel.close().get()
    }

    /// Everything received so far.
    var text: String { self.received.text }

    /// Waits until what was received contains `marker`; returns all of it.
    @discardableResult
    func waitFor(_ marker: String, timeout: Duration = .seconds(10)) async throws -> String {
        try await self.received.wait(timeout: timeout) { text, _ in text.contains(marker) }
    }

    /// Waits until the server closes the connection; returns all that was received.
    @discardableResult
    func waitForClose(timeout: Duration = .seconds(10)) async throws -> String {
        try await self.received.wait(timeout: timeout) { _, closed in closed }
    }
}

/// What a raw client has received, and whether the server closed.
final class ReceivedBytes: Sendable {
    private let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init() {
        (self.changes, self.changed) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var text: String { self.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    func append(_ buffer: ByteBuffer) {
        self.state.withLock { $0.bytes += buffer.readableBytesView }
        self.changed.yield()
    }

    func markClosed() {
        self.state.withLock { $0.closed = true }
        self.changed.yield()
    }

    /// Waits, woken by each change, until `done` holds; one waiter at a time.
    func wait(timeout: Duration, until done: @escaping @Sendable (String, Bool) -> Bool) async throws -> String {
        let check = { @Sendable () -> String? in
            let (text, closed) = self.state.withLock { (String(decoding: $0.bytes, as: UTF8.self), $0.closed) }
            return done(text, closed) ? text : nil
        }
        if let text = check() { return text }
        let found = await withTaskGroup(of: String?.self) { group in
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
            let (text, closed) = self.state.withLock { (String(decoding: $0.bytes, as: UTF8.self), $0.closed) }
            throw TimedOut(description: "waited \(timeout); received so far: \(text.debugDescription), closed: \(closed)")
        }
        return found
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
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
