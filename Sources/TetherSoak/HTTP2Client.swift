import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// A raw HTTP/2 client (h2c by prior knowledge) for the soak and tests: the caller opens streams, sends their
/// parts, and decides how each ends (RST_STREAM) and how the connection ends (GOAWAY, FIN or RST).
public final class HTTP2Client: Sendable {
    private let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>) {
        self.channel = channel
        self.multiplexer = multiplexer
    }

    /// Connects to 127.0.0.1:`port` and speaks HTTP/2 at once.
    public static func connect(
        port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HTTP2Client {
        let (channel, multiplexer) = try await ClientBootstrap(group: group)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
                        mode: .client
                    ) { stream in
                        // The server opens no stream of its own.
                        stream.close()
                    }
                    return (channel, multiplexer)
                }
            }
        return HTTP2Client(channel: channel, multiplexer: multiplexer)
    }

    /// Opens a stream whose response parts are recorded.
    public func openStream() async throws -> HTTP2ClientStream {
        let received = ReceivedBytes()
        let channel = try await self.multiplexer.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                try stream.pipeline.syncOperations.addHandler(ResponseRecorder(received: received))
                return stream
            }
        }
        return HTTP2ClientStream(channel: channel, received: received)
    }

    /// Waits until the connection is closed (by the server, here); throws ``TimedOut`` after `timeout`.
    public func waitForClose(timeout: Duration = .seconds(10)) async throws {
        let closed = self.channel.closeFuture
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await closed.get()
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else {
                throw TimedOut(description: "the HTTP/2 connection was still open after \(timeout)")
            }
        }
    }

    /// Sends GOAWAY, then closes the connection.
    public func goAway() async throws {
        let frame = HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: .rootStream, errorCode: .noError, opaqueData: nil))
        defer { self.channel.close(promise: nil) }
        try await self.channel.writeAndFlush(frame).get()
    }

    /// Closes the connection with FIN, or with RST when `reset`.
    public func close(reset: Bool = false) async throws {
        defer { self.channel.close(promise: nil) }
        if reset, let provider = self.channel as? any SocketOptionProvider {
            try await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
    }
}

/// One stream of an ``HTTP2Client``: a request written part by part, its response recorded as text.
public final class HTTP2ClientStream: Sendable {
    private let channel: any Channel
    private let received: ReceivedBytes

    init(channel: any Channel, received: ReceivedBytes) {
        self.channel = channel
        self.received = received
    }

    /// Sends a request head for `method` and `path`, with `fields`; `end` ends the request with it.
    public func sendHead(
        _ method: HTTPMethod, _ path: String, fields: [(String, String)] = [], end: Bool = false
    ) async throws {
        let head = HTTPRequestHead(
            version: .http1_1, method: method, uri: path, headers: HTTPHeaders([("host", "soak")] + fields))
        self.channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if end {
            try await self.channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } else {
            self.channel.flush()
        }
    }

    /// Sends body bytes; `end` ends the request after them.
    public func sendBody(_ bytes: ByteBuffer, end: Bool = false) async throws {
        self.channel.write(HTTPClientRequestPart.body(.byteBuffer(bytes)), promise: nil)
        if end {
            try await self.channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } else {
            self.channel.flush()
        }
    }

    /// Resets the stream (RST_STREAM with CANCEL): the client gives up on this request alone.
    public func reset() async {
        try? await self.channel.close().get()
    }

    /// The response's body so far.
    public var text: String { self.received.text }

    /// Waits until the response's body contains `marker`.
    @discardableResult
    public func waitFor(_ marker: String, timeout: Duration = .seconds(10)) async throws -> String {
        try await self.received.wait(timeout: timeout) { text, _ in text.contains(marker) }
    }
}

/// Records a stream's response body, and its end.
private final class ResponseRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let received: ReceivedBytes

    init(received: ReceivedBytes) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head: break
        case .body(let bytes): self.received.append(bytes)
        case .end: self.received.markClosed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.received.markClosed()
        context.fireChannelInactive()
    }
}
