import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import TetherGateway
import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 and HTTP/2 server for any TetherGateway application, that tells the application the moment its
/// client leaves: a closed or reset connection, a reset stream, a client gone silent.
///
/// The plain port serves HTTP/1.1 and HTTP/2 by prior knowledge (h2c); with ``Configuration/tls`` set, it serves
/// HTTPS, with HTTP/2 or HTTP/1.1 as ALPN agrees.
///
/// Runs until cancelled, as a swift-service-lifecycle `Service`. A graceful shutdown stops accepting, lets
/// requests in flight finish, closes idle connections, then ends the application's lifespan.
///
/// ```swift
/// let server = Server(application: app, configuration: .init(host: "127.0.0.1", port: 8000))
/// try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
/// ```
public final class Server: Service, Sendable {
    let application: any Application
    /// The configuration the server was created with.
    public let configuration: Configuration
    let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let listening = ListeningAddress()
    let connections = Atomic(0)
    let metrics: ServerMetrics
    /// The tracer requests get a span from; `nil` when none is bootstrapped, so that no span is made.
    let tracer: (any Tracer)?

    /// A server for `application`; it listens once ``run()`` is called.
    public init(
        application: some Application,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "tether.server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.application = application
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.metrics = ServerMetrics(factory: configuration.observability.metricsFactory ?? MetricsSystem.factory)
        let tracer = configuration.observability.tracer ?? InstrumentationSystem.tracer
        self.tracer = tracer is NoOpTracer ? nil : tracer
    }

    /// The address the server listens on, once it does; waits until then.
    ///
    /// Throws ``ServerError/notListening`` if the server stopped first.
    public var localAddress: SocketAddress {
        get async throws { try await self.listening.value() }
    }

    /// Serves until the task is cancelled or a graceful shutdown has drained every connection.
    public func run() async throws {
        defer { self.listening.fail() }
        let lifespan = self.configuration.lifespan == .off ? nil : Lifespan(logger: self.logger)
        try await withThrowingDiscardingTaskGroup { group in
            if let lifespan {
                group.addTask { await lifespan.run(self.application) }
                switch await lifespan.startup() {
                case .success:
                    break
                case .failure(.lifespanUnsupported(let reason)) where self.configuration.lifespan == .auto:
                    self.logger.debug(
                        "The application does not handle lifespan; serving without it",
                        metadata: ["reason": "\(reason)"])
                case .failure(let error):
                    self.logger.error("\(error)")
                    throw error
                }
            }
            try await self.serve()
            await lifespan?.shutdown()
            group.cancelAll()
        }
    }

    private func serve() async throws {
        let configuration = self.configuration
        let tls = try configuration.tls.map { try Self.makeTLSContext($0, http2: configuration.http2.isEnabled) }
        if configuration.socketDescriptorIsShared, let descriptor = configuration.socketDescriptor {
            try await self.serveShared(SharedSocketAcceptor(descriptor), tls: tls)
            return
        }
        let quiescing = ServerQuiescingHelper(group: self.eventLoopGroup)
        let bootstrap = ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        // Connections are handed over as they are set up rather than through the server channel, whose stream ends
        // when it closes: one accepted just before a graceful shutdown would be set up, then never served.
        let (connections, handOver) = AsyncStream.makeStream(of: Accepted.self)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let connection = try self.configure(channel, tls: tls) { handOver.yield(connection) }
            }
        }
        let serverChannel: NIOAsyncChannel<Void, Never>
        if let descriptor = configuration.socketDescriptor {
            serverChannel = try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
        } else if let path = configuration.unixSocketPath {
            serverChannel = try await bootstrap.bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
            // A proxy running as another user connects to it, as to uvicorn's.
            chmod(path, 0o666)
        } else {
            serverChannel = try await bootstrap.bind(
                host: configuration.host, port: configuration.port, childChannelInitializer: initializer)
        }
        defer {
            if configuration.socketDescriptor == nil, let path = configuration.unixSocketPath { unlink(path) }
        }
        self.listens(on: serverChannel.channel.localAddress)

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // Accepts until the server channel closes (cancelled: the connections' tasks are cancelled too).
                    try? await serverChannel.executeThenClose { inbound in for try await _ in inbound {} }
                    // A connection accepted before the close is set up by a task queued on its event loop before
                    // these: once each loop has run them, every one has been handed over.
                    for loop in self.eventLoopGroup.makeIterator() { try? await loop.submit {}.get() }
                    handOver.finish()
                }
                for await connection in connections {
                    self.serve(connection, in: &group, secure: tls != nil)
                }
            }
        } onGracefulShutdown: {
            self.logger.info("Shutting down: no new connections, draining requests in flight")
            quiescing.initiateShutdown(promise: nil)
        }
    }

    /// A connection accepted, and when its protocol is known.
    typealias Accepted = (any Channel, EventLoopFuture<NegotiatedConnection>)

    /// Serves connections from a socket other processes accept from too; a graceful shutdown stops accepting and
    /// asks each connection to finish, as NIO's quiescing helper does for a server channel.
    private func serveShared(_ acceptor: SharedSocketAcceptor, tls: NIOSSLContext?) async throws {
        self.listens(on: acceptor.localAddress)
        let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let bootstrap = ClientBootstrap(group: self.eventLoopGroup).channelOption(.allowRemoteHalfClosure, value: true)
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                for await descriptor in acceptor.connections() {
                    let accepted = try? await bootstrap.withConnectedSocket(descriptor) { channel in
                        channel.eventLoop.makeCompletedFuture { try self.configure(channel, tls: tls) }
                    }
                    guard let accepted = accepted ?? nil else { continue }
                    let channel = accepted.0
                    let key = ObjectIdentifier(channel)
                    open.withLockedValue { $0[key] = channel }
                    channel.closeFuture.whenComplete { _ in open.withLockedValue { $0[key] = nil } }
                    self.serve(accepted, in: &group, secure: tls != nil)
                }
            }
        } onGracefulShutdown: {
            self.logger.info("Shutting down: no new connections, draining requests in flight")
            acceptor.stop()
            for channel in open.withLockedValue({ Array($0.values) }) {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }

    private func listens(on address: SocketAddress?) {
        if let address { self.listening.set(address) }
        self.logger.info("Listening", metadata: ["address": "\(address.map { "\($0)" } ?? "?")"])
    }

    /// Serves an accepted connection in a task of the server's, on its event loop if requests run there.
    private func serve(_ accepted: Accepted, in group: inout ThrowingDiscardingTaskGroup<any Error>, secure: Bool) {
        let (channel, negotiated) = accepted
        let executor = self.configuration.runsRequestsOnEventLoop ? EventLoopTaskExecutor(channel.eventLoop) : nil
        group.addTask(executorPreference: executor) {
            await self.serveConnection(channel, negotiated, secure: secure)
        }
    }

    /// Sets up a new connection's pipeline, or refuses it with 503 when the server is full.
    ///
    /// Its protocol is known once the future succeeds: at once for plain HTTP/1 only, else after the TLS handshake
    /// or the first bytes.
    private func configure(_ channel: any Channel, tls: NIOSSLContext?) throws -> Accepted? {
        let count = self.connections.wrappingAdd(1, ordering: .relaxed).newValue
        guard count <= self.configuration.maxConnections else {
            self.connections.wrappingSubtract(1, ordering: .relaxed)
            self.logger.warning(
                "Connection refused: \(self.configuration.maxConnections) connections are open (limit: maxConnections)")
            self.metrics.refused(503)
            let refusal = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            channel.writeAndFlush(ByteBuffer(string: refusal)).assumeIsolated().whenComplete { _ in
                channel.close(promise: nil)
            }
            return nil
        }
        let negotiated: EventLoopFuture<NegotiatedConnection>
        do {
            try self.applySocketOptions(channel)
            negotiated = try self.selectProtocol(on: channel, tls: tls)
        } catch {
            self.connections.wrappingSubtract(1, ordering: .relaxed)
            throw error
        }
        self.metrics.connectionOpened()
        return (channel, negotiated)
    }

    /// Installs what finds out the connection's protocol, then serves it: HTTP/1 at once when nothing else is
    /// possible, else once TLS (with ALPN) or the first bytes (HTTP/2's preface or not) tell.
    private func selectProtocol(on channel: any Channel, tls: NIOSSLContext?) throws -> EventLoopFuture<
        NegotiatedConnection
    > {
        let pipeline = channel.pipeline.syncOperations
        guard tls != nil || self.configuration.http2.isEnabled else {
            return channel.eventLoop.makeSucceededFuture(.http1(try self.makeConnection(on: channel)))
        }
        if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
        let promise = channel.eventLoop.makePromise(of: NegotiatedConnection.self)
        let selection = ProtocolSelectionHandler(
            secure: tls != nil, handshakeTimeout: self.configuration.tlsHandshakeTimeout,
            firstBytesTimeout: self.configuration.headerTimeout, promise: promise
        ) { selection, channel in
            switch selection {
            case .http2 where self.configuration.http2.isEnabled:
                .http2(try self.makeHTTP2Connection(on: channel))
            case .http1, .http2, .undecided:
                .http1(try self.makeConnection(on: channel))
            }
        }
        try pipeline.addHandler(selection)
        return promise.futureResult
    }

    /// `TCP_NODELAY`, and the opt-in TCP keepalive and `TCP_USER_TIMEOUT`, which find out a client whose network
    /// vanished; none of them on a Unix socket.
    private func applySocketOptions(_ channel: any Channel) throws {
        switch channel.localAddress {
        case .v4?, .v6?: break
        default: return
        }
        let options = channel.syncOptions
        try options?.setOption(.socketOption(.tcp_nodelay), value: 1)
        if let keepAlive = self.configuration.tcpKeepAlive {
            try options?.setOption(.socketOption(.so_keepalive), value: 1)
            try options?.setOption(.tcpOption(.init(rawValue: TCP_KEEPIDLE)), value: Self.seconds(keepAlive.idle))
            try options?.setOption(.tcpOption(.init(rawValue: TCP_KEEPINTVL)), value: Self.seconds(keepAlive.interval))
            try options?.setOption(.tcpOption(.init(rawValue: TCP_KEEPCNT)), value: SocketOptionValue(keepAlive.count))
        }
        #if os(Linux)
        if let timeout = self.configuration.tcpUserTimeout {
            let milliseconds = timeout / .milliseconds(1)
            try options?.setOption(
                .tcpOption(.init(rawValue: TCP_USER_TIMEOUT)), value: SocketOptionValue(milliseconds))
        }
        #endif
    }

    private static func seconds(_ duration: Duration) -> SocketOptionValue {
        SocketOptionValue(max(1, duration.components.seconds))
    }

    /// The TLS context every connection shares: the configured chain and key, ALPN offering h2 (if served) and
    /// http/1.1.
    private static func makeTLSContext(_ tls: Configuration.TLS, http2: Bool) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map {
            NIOSSLCertificateSource.certificate($0)
        }
        let key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(key))
        configuration.applicationProtocols = http2 ? ["h2", "http/1.1"] : ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }

    /// Installs a connection's HTTP/1.1 handlers on `channel`, as the server does for every connection: for
    /// fuzzing the request pipeline in-process, on an `EmbeddedChannel`.
    @_spi(Fuzzing)
    public func installHTTPPipeline(on channel: any Channel) throws {
        _ = try self.makeConnection(on: channel)
    }

    /// Installs the connection's HTTP/1.1 handlers on `channel`; its requests arrive in the returned inbox.
    ///
    /// Four handlers: raw bytes into the state machine, NIO's decoder and encoder, and the connection's handler.
    private func makeConnection(on channel: any Channel) throws -> ConnectionInbox {
        let inbox = ConnectionInbox()
        let connection = ConnectionHandler(inbox: inbox, configuration: self.configuration, metrics: self.metrics)
        var limits = NIOHTTPDecoderLimitConfiguration()
        // The decoder's own counts stay a little above the server's exact ones, which decide the status.
        limits.maxHeaderFieldSize = self.configuration.maxHeadBytes
        limits.maxHeaderListSize = self.configuration.maxHeadBytes
        limits.maxHeaderFieldCount = self.configuration.maxHeaderFields + 1
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ConnectionHandler.RawBytes(connection))
        // NIO's own setup links the decoder to the encoder, so that a response to HEAD is framed without a body.
        // Header values come from swift-http-types fields, which cannot carry CR or LF: no validator is needed.
        // An upgrade configuration without upgraders keeps the bytes after a WebSocket handshake for the frame
        // decoder (its handler steps aside at the first request); the application decides on the upgrade.
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withServerUpgrade: (upgraders: [], completionHandler: { _ in }),
            withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: HTTPResponseEncoder.Configuration(), withDecoderLimitConfiguration: limits)
        try pipeline.addHandler(connection)
        return inbox
    }
}

/// The bound address, for callers that wait for the server to listen.
final class ListeningAddress: Sendable {
    private let state = NIOLockedValueBox<
        (address: SocketAddress?, failed: Bool, waiters: [CheckedContinuation<SocketAddress, any Error>])
    >((nil, false, []))

    func set(_ address: SocketAddress) {
        let waiters = self.state.withLockedValue { state in
            state.address = address
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: address) }
    }

    func fail() {
        let waiters = self.state.withLockedValue { state in
            state.failed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: ServerError.notListening) }
    }

    func value() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let ready = self.state.withLockedValue { state -> Result<SocketAddress, any Error>? in
                if let address = state.address, !state.failed { return .success(address) }
                if state.failed { return .failure(ServerError.notListening) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
