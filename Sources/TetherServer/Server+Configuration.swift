import Logging
import NIOCore

extension Server {
    /// Where the server listens, its limits and its timeouts; every property has a documented default.
    public struct Configuration: Sendable {
        /// The address to bind. Default `127.0.0.1`.
        public var host = "127.0.0.1"
        /// The port to bind; 0 picks a free one (read it from ``Server/localAddress``). Default 8000.
        public var port = 8000
        /// A Unix-domain socket to listen on instead of `host` and `port`, for a proxy on the same machine. An old
        /// socket file there is replaced, the new one is made writable by every user (as uvicorn's), and it is
        /// removed when the server stops. Default `nil`.
        public var unixSocketPath: String? = nil
        /// A socket already bound, usually listening, to serve instead of binding one: handed over by systemd's
        /// socket activation or a supervisor (uvicorn's `--fd`). The server owns it from then on, and closes it when it
        /// stops. Takes precedence over ``unixSocketPath``, `host` and `port`. Default `nil`.
        public var socketDescriptor: Int32? = nil
        /// Whether other processes accept from ``socketDescriptor`` too (the workers of one Unix socket or one
        /// `--fd`): a thread of the server's then accepts, since every sharer is woken for each connection. Default
        /// `false`.
        public var socketDescriptorIsShared = false
        /// The path prefix the application is mounted under behind a proxy (ASGI's `root_path`, uvicorn's
        /// `--root-path`): every scope carries it, and a path that does not begin with it gets it prepended.
        /// Default empty.
        public var rootPath = ""
        /// Whether `Forwarded` and `X-Forwarded-For`, `-Proto` and `-Host` set the scope's client, scheme and
        /// `Host` field, for requests from ``forwardedAllowIPs`` only. Default `true`, as uvicorn's
        /// `--proxy-headers`.
        public var proxyHeaders = true
        /// The peers whose proxy headers are believed: addresses, CIDR ranges, `unix` for any Unix-socket peer, `*`
        /// for all. Default `127.0.0.1`, as uvicorn's `--forwarded-allow-ips`.
        public var forwardedAllowIPs = ForwardedAllowList.loopback
        /// Connections the kernel queues before they are accepted (capped by `net.core.somaxconn`). Default 2048,
        /// as uvicorn's: a burst of a thousand clients is not dropped and retried a second later.
        public var backlog: Int32 = 2048
        /// Connections served at once; more are answered 503 and closed. Default 10,000.
        public var maxConnections = 10_000
        /// Bytes of a request head before it is refused with 431. Default 16 KiB.
        ///
        /// The head is counted as its request line, each field as `name: value` with its line end, and the blank
        /// line that ends it, so one long field and many short ones meet the same limit.
        public var maxHeadBytes = 16 * 1024
        /// Header fields of a request head before it is refused with 431. Default 100, as Apache's.
        public var maxHeaderFields = 100
        /// Bytes of a request target before it is refused with 414. Default 8 KiB.
        public var maxTargetBytes = 8 * 1024
        /// Bytes of a request body before it is refused with 413 (or the connection closed, once the response has
        /// begun); `nil` leaves the limit to the application. Default `nil`.
        public var maxBodySize: Int64? = nil
        /// Bytes of chunked framing read without body data between them, before the request is refused with 400:
        /// a chunk-size line with its extensions, or the trailer section. Default 16 KiB.
        ///
        /// Counted per read of the socket: a read that carries body data counts all the framing it carries.
        public var maxChunkFramingBytes = 16 * 1024
        /// Request body bytes buffered ahead of the application before the socket stops being read. Default 256 KiB.
        public var bodyBufferBytes = 256 * 1024
        /// Requests a client may send ahead (HTTP/1.1 pipelining) while one is served; beyond it the socket is not
        /// read until they are served. Default 16.
        public var maxPipelinedRequests = 16
        /// Time a client has to finish a request head once it has begun. Default 10 s.
        public var headerTimeout: Duration = .seconds(10)
        /// Time an idle keep-alive connection is kept open. Default 5 s.
        ///
        /// A graceful shutdown keeps it too: an idle connection closes at its deadline, and a request that arrives
        /// before then is served with `Connection: close`, so that a proxy's request on a pooled connection (proxies
        /// close theirs sooner, nginx's at 4 s) never meets a connection closing under it.
        public var keepAliveTimeout: Duration = .seconds(5)
        /// Time a request body may go without a byte arriving before the request is ended: the application sees
        /// `disconnect` (`CancellationReason.bodyIdleTimeout`) and the client gets 408 if nothing
        /// was answered yet; `nil` waits for ever. Default 60 s, as nginx's `client_body_timeout`.
        public var bodyIdleTimeout: Duration? = .seconds(60)
        /// Time a request may take, from its head to its response's end, before its work is cancelled
        /// (`CancellationReason.requestDeadline`): 504 if nothing was sent yet, else the
        /// connection closes; `nil` for no limit. Default `nil`.
        public var requestTimeout: Duration? = nil
        /// Whether a client that half-closes (FIN after its request) still gets its response. Default `false`:
        /// a half-close counts as leaving, as nginx and uvicorn treat it.
        public var servesHalfClosedConnections = false
        /// Whether the server drives the application's lifespan scope. Default ``LifespanMode/auto``.
        public var lifespan = LifespanMode.auto
        /// The `Server` header's value; `nil` sends none. Default `Tether`.
        public var serverName: String? = "Tether"
        /// Whether to log a line per request at `info`. Default `true`.
        public var accessLog = true
        /// Metrics, spans, request IDs and the access log's format.
        public var observability = Observability()
        /// Whether a connection's requests run on its event loop, as uvicorn runs them on its loop, rather than on
        /// Swift's cooperative pool. Default `true`: no thread hop per event. Either way, an async handler must not
        /// block; blocking work belongs in a blocking handler, which runs on a thread pool.
        public var runsRequestsOnEventLoop = true
        /// The certificate and key to serve HTTPS with; `nil` serves plain HTTP. Default `nil`.
        ///
        /// Under TLS, ALPN offers `h2` and `http/1.1`, and the scope's scheme is `https`.
        public var tls: TLS? = nil
        /// Time a client has to complete the TLS handshake; then the connection is closed. Default 10 s.
        public var tlsHandshakeTimeout: Duration = .seconds(10)
        /// HTTP/2: whether it is served, and its limits.
        public var http2 = HTTP2()
        /// WebSocket: its limits, compression and heartbeat.
        public var webSocket = WebSocket()
        /// TCP keepalive probes on accepted connections, so that a client whose network vanished is found out;
        /// `nil` leaves the system's default (off). Default `nil`.
        ///
        /// A request whose client the probes give up on is cancelled with `CancellationReason.clientUnreachable`.
        public var tcpKeepAlive: TCPKeepAlive? = nil
        /// Time sent data may stay unacknowledged (and keepalive probes unanswered) before the kernel drops the
        /// connection (`TCP_USER_TIMEOUT`, Linux); `nil` leaves the system's default. Default `nil`.
        ///
        /// It only counts while something is unacknowledged: a request whose client went silent while its handler
        /// works, with nothing sent, is found out by ``tcpKeepAlive``'s probes, which this then bounds.
        public var tcpUserTimeout: Duration? = nil

        /// The defaults.
        public init() {}

        /// The defaults, listening on `host` and `port`.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// How the server treats the lifespan scope.
    public enum LifespanMode: Sendable {
        /// Run it; an application that throws on it does not handle lifespan and is served without it.
        case auto
        /// Run it; an application that throws on it stops the server.
        case on
        /// Never run it.
        case off
    }
}

extension Server.Configuration {
    /// The PEM files a TLS server presents.
    public struct TLS: Sendable {
        /// A PEM file holding the certificate chain, the server's own certificate first.
        public var certificateChainPath: String
        /// A PEM file holding the certificate's private key.
        public var privateKeyPath: String

        /// Serves the chain in `certificateChainPath` with the key in `privateKeyPath`.
        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// HTTP/2 on the plain port (by prior knowledge: the connection preface) and under TLS (by ALPN), with its
    /// limits. Each stream is one request, with the same contract as an HTTP/1.1 request.
    public struct HTTP2: Sendable {
        /// Whether HTTP/2 is served at all. Default `true`.
        public var isEnabled = true
        /// Streams a client may have open at once on a connection (`SETTINGS_MAX_CONCURRENT_STREAMS`, which clients
        /// honour); a client that opens more breaks the protocol, and NIOHTTP2 answers GOAWAY(PROTOCOL_ERROR): the
        /// connection closes. Default 100.
        public var maxConcurrentStreams = 100
        /// Bytes of a header list the server decodes (`SETTINGS_MAX_HEADER_LIST_SIZE`, counted as HPACK does: name,
        /// value and 32 per field); a larger one is a connection error (GOAWAY), as an HPACK bomb is. Default 64 KiB.
        ///
        /// A head within it but over ``Server/Configuration/maxHeadBytes`` or
        /// ``Server/Configuration/maxHeaderFields`` is answered 431 on its stream alone.
        public var maxHeaderListSize = 64 * 1024
        /// RST_STREAM frames a client may send within ``resetStreamWindow`` before the connection is closed with
        /// GOAWAY(ENHANCE_YOUR_CALM): the rapid-reset attack (CVE-2023-44487). Default 200.
        public var maxResetStreams = 200
        /// The window ``maxResetStreams`` is counted over. Default 30 s.
        public var resetStreamWindow: Duration = .seconds(30)
        /// CONTINUATION frames a header block may span before the connection is closed with a GOAWAY (the
        /// CONTINUATION flood, CVE-2024-27316). Default 5.
        public var maxContinuationFrames = 5
        /// Bytes a client may send on a stream before the server's reader consumes them (the stream's flow-control
        /// window): all a slow reader holds. Default 64 KiB.
        public var initialWindowSize = 65_535
        /// Time a connection with no open stream is kept; then it gets GOAWAY and is closed; `nil` keeps it.
        /// Default 60 s.
        public var idleTimeout: Duration? = .seconds(60)
        /// Time without a frame from the client after which the server sends a PING; `nil` sends none. Default
        /// `nil`.
        public var pingInterval: Duration? = nil
        /// Time a PING may go unanswered before the connection is closed and its requests cancelled with
        /// `CancellationReason.clientUnreachable`. Default 20 s.
        public var pingTimeout: Duration = .seconds(20)

        /// The defaults.
        public init() {}
    }

    /// WebSocket connections (RFC 6455), upgraded from HTTP/1.1 when the application accepts them: each one a
    /// `websocket` scope whose application is cancelled the moment its peer leaves.
    public struct WebSocket: Sendable {
        /// Bytes of one frame's payload; a larger frame fails the connection with close code 1009. Default 1 MiB.
        public var maxFrameSize = 1 << 20
        /// Bytes of one message, its fragments joined and inflated if compressed; a larger one fails the connection
        /// with 1009, its inflation stopped at the limit. Default 1 MiB.
        public var maxMessageSize = 1 << 20
        /// Message bytes queued ahead of the application before the socket stops being read. Default 1 MiB.
        public var receiveBufferBytes = 1 << 20
        /// Whether permessage-deflate (RFC 7692) is accepted when a client offers it. Default `true`.
        public var perMessageDeflate = true
        /// Messages smaller than this are sent uncompressed even under permessage-deflate. Default 256 bytes.
        public var compressionThreshold = 256
        /// Time between the server's pings; `nil` sends none. Default 20 s, as uvicorn's.
        public var pingInterval: Duration? = .seconds(20)
        /// Time a ping may go unanswered before the connection is closed and its application cancelled with
        /// `CancellationReason.pingTimeout`. Default 20 s, as uvicorn's.
        public var pongTimeout: Duration = .seconds(20)
        /// Time the peer has to answer the server's close frame before the connection is dropped. Default 5 s.
        public var closeTimeout: Duration = .seconds(5)

        /// The defaults.
        public init() {}
    }

    /// TCP keepalive settings: the first probe after `idle` without traffic, then one every `interval`; after
    /// `count` unanswered probes the connection is dropped.
    public struct TCPKeepAlive: Sendable {
        /// Time without traffic before the first probe (`TCP_KEEPIDLE`).
        public var idle: Duration
        /// Time between probes (`TCP_KEEPINTVL`).
        public var interval: Duration
        /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
        public var count: Int

        /// Probes after `idle`, every `interval`, `count` of them.
        public init(idle: Duration, interval: Duration, count: Int) {
            self.idle = idle
            self.interval = interval
            self.count = count
        }
    }
}

extension Duration {
    /// The duration in NIO's terms.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension ForwardedAllowList {
    /// `127.0.0.1` alone: uvicorn's default, a proxy on the same machine.
    public static let loopback: ForwardedAllowList = {
        do {
            return try ForwardedAllowList(["127.0.0.1"])
        } catch {
            preconditionFailure("127.0.0.1 is an address: \(error)")
        }
    }()
}
