import Logging
import NIOCore

extension Server {
    /// Where the server listens, its limits and its timeouts; every property has a documented default.
    public struct Configuration: Sendable {
        /// The address to bind. Default `127.0.0.1`.
        public var host = "127.0.0.1"
        /// The port to bind; 0 picks a free one (read it from ``Server/localAddress``). Default 8000.
        public var port = 8000
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
        /// Whether a connection's requests run on its event loop, as uvicorn runs them on its loop, rather than on
        /// Swift's cooperative pool. Default `true`: no thread hop per event. Either way, an async handler must not
        /// block; blocking work belongs in a blocking handler, which runs on a thread pool.
        public var runsRequestsOnEventLoop = true

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

extension Duration {
    /// The duration in NIO's terms.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
