import HTTPTypes
import NIOCore
import NIOHTTP1
import TestSupport
import Testing
import TetherGateway

@testable import TetherServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The connection's decisions as tables of input → action, on a manual clock: no socket, no sleeping.
@Suite struct ConnectionStateMachineTests {
    /// What happens to the connection.
    enum Input: CustomStringConvertible {
        case read(String)
        case readBytes(Int)
        case head(HTTPRequestHead)
        case body(Int)
        case end
        case readDone
        case responseHead(keepAlive: Bool)
        case responseEnd
        case inputClosed
        case closed
        case error(any Error)
        case wait(Duration)
        case quiesce
        case shutdown

        var description: String {
            switch self {
            case .read(let text): "read \(text.debugDescription)"
            case .head(let head): "head \(head.method) \(head.uri)"
            default: "\(self)".components(separatedBy: "(").first ?? ""
            }
        }
    }

    /// An action, as far as a table states it.
    enum Expected: Equatable {
        case none
        case start(String)
        case webSocket(String)
        case body(Int)
        case end
        case refuse(Int, CancellationReason?)
        case close(CancellationReason?)
        case servePending([Expected])
    }

    struct Table: Sendable, CustomTestStringConvertible {
        var name: String
        var configure: @Sendable (inout Server.Configuration) -> Void = { _ in }
        var steps: [(Input, Expected)]
        var testDescription: String { self.name }
    }

    static func head(
        _ method: HTTPMethod = .GET, _ uri: String = "/", _ fields: [(String, String)] = [],
        version: NIOHTTP1.HTTPVersion = .http1_1
    ) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders([("Host", "x")] + fields))
    }

    static let get = head()
    static let post3 = head(.POST, "/", [("Content-Length", "3")])
    static let chunked = head(.POST, "/", [("Transfer-Encoding", "chunked")])

    static let webSocket = head(
        .GET, "/ws/",
        [
            ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ])

    static let tables: [Table] = [
        Table(
            name: "a WebSocket handshake starts a WebSocket; denied, the connection closes after the response",
            steps: [
                (.head(webSocket), .webSocket("/ws/")), (.end, .end), (.responseHead(keepAlive: false), .none),
                (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "a WebSocket handshake for another version is refused with 426",
            steps: [
                (
                    .head(
                        head(
                            .GET, "/ws/",
                            webSocket.headers.filter { $0.name != "Host" }.map {
                                ($0.name, $0.name == "Sec-WebSocket-Version" ? "8" : $0.value)
                            })),
                    .refuse(426, nil)
                )
            ]),
        Table(
            name: "a WebSocket handshake without a key is refused with 400",
            steps: [
                (
                    .head(
                        head(
                            .GET, "/ws/",
                            webSocket.headers.filter { $0.name != "Sec-WebSocket-Key" && $0.name != "Host" }.map {
                                ($0.name, $0.value)
                            })),
                    .refuse(400, nil)
                )
            ]),
        Table(
            name: "a kept-alive request, then the keep-alive timeout",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.readDone, .none),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .none),
                (.wait(.seconds(4)), .none), (.wait(.seconds(1)), .close(nil)),
            ]),
        Table(
            name: "Connection: close closes after the response",
            steps: [
                (.head(head(.GET, "/", [("Connection", "close")])), .start("/")), (.end, .end),
                (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "HTTP/1.0 closes unless kept alive",
            steps: [
                (.head(head(version: .http1_0)), .start("/")), (.end, .end),
                (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "pipelined requests wait for the one in flight",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.head(head(.GET, "/two")), .none), (.end, .none),
                (.head(post3), .none), (.body(3), .none), (.end, .none), (.readDone, .none),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .servePending([.start("/two"), .end])),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .servePending([.start("/"), .body(3), .end])),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .none),
            ]),
        Table(
            name: "a malformed pipelined head is refused after the response in flight",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.error(HTTPParserError.invalidHeaderToken), .none),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .refuse(400, nil)),
            ]),
        Table(
            name: "a response before the body ends closes: the rest cannot be told from a request",
            steps: [
                (.head(post3), .start("/")), (.body(1), .body(1)),
                (.responseHead(keepAlive: true), .none), (.responseEnd, .close(nil)), (.body(2), .none),
            ]),
        Table(name: "FIN while idle closes", steps: [(.inputClosed, .close(nil))]),
        Table(
            name: "FIN during the body is the client closing",
            steps: [
                (.head(post3), .start("/")), (.body(1), .body(1)), (.inputClosed, .close(.clientClosed)),
            ]),
        Table(
            name: "FIN after the request counts as leaving",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.inputClosed, .close(.clientClosed)), (.closed, .none),
            ]),
        Table(
            name: "a half-close before the body ends cannot be served",
            configure: { $0.servesHalfClosedConnections = true },
            steps: [(.head(post3), .start("/")), (.body(1), .body(1)), (.inputClosed, .close(.halfClosed))]),
        Table(
            name: "a half-closed connection can be served its response",
            configure: { $0.servesHalfClosedConnections = true },
            steps: [
                (.head(get), .start("/")), (.end, .end), (.inputClosed, .none),
                (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "a reset is the client resetting",
            steps: [
                (.head(get), .start("/")), (.end, .end),
                (.error(IOError(errnoCode: ECONNRESET, reason: "read")), .close(.clientReset)),
                (.closed, .none),
            ]),
        Table(
            name: "a connection lost mid-request is the client closing",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.closed, .close(.clientClosed)),
            ]),
        Table(
            name: "a connection lost after the response cancels nothing",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none), (.responseEnd, .none),
                (.closed, .none),
            ]),
        Table(
            name: "a body over the limit is 413 before the response, a close after it",
            configure: { $0.maxBodySize = 10 },
            steps: [
                (.head(head(.POST, "/", [("Transfer-Encoding", "chunked")])), .start("/")), (.body(6), .body(6)),
                (.body(6), .refuse(413, .bodyTooLarge)),
            ]),
        Table(
            name: "a body over the limit after the response began closes", configure: { $0.maxBodySize = 10 },
            steps: [
                (.head(chunked), .start("/")), (.responseHead(keepAlive: true), .none),
                (.body(11), .close(.bodyTooLarge)),
            ]),
        Table(
            name: "a declared body over the limit is 413 at once", configure: { $0.maxBodySize = 10 },
            steps: [
                (.head(head(.POST, "/", [("Content-Length", "11")])), .refuse(413, nil))
            ]),
        Table(
            name: "the head timeout closes a connection that sends nothing",
            steps: [
                (.wait(.seconds(9)), .none), (.wait(.seconds(1)), .close(nil)),
            ]),
        Table(
            name: "a head that has begun must finish within the head timeout",
            steps: [
                (.wait(.seconds(3)), .none), (.read("GET / HT"), .none), (.readDone, .none),
                (.wait(.seconds(9)), .none),
                (.read("T"), .none), (.wait(.seconds(1)), .close(nil)),
            ]),
        Table(
            name: "a stalled body is cut after the body idle timeout with 408",
            steps: [
                (.head(post3), .start("/")), (.body(1), .body(1)), (.wait(.seconds(59)), .none), (.readBytes(1), .none),
                (.wait(.seconds(59)), .none), (.wait(.seconds(1)), .refuse(408, .bodyIdleTimeout)),
            ]),
        Table(
            name: "a body that completes is not cut",
            steps: [
                (.head(post3), .start("/")), (.body(3), .body(3)), (.end, .end), (.wait(.seconds(600)), .none),
            ]),
        Table(
            name: "the request deadline answers 504 before the response",
            configure: { $0.requestTimeout = .seconds(2) },
            steps: [
                (.head(get), .start("/")), (.end, .end), (.wait(.seconds(1)), .none),
                (.wait(.seconds(1)), .refuse(504, .requestDeadline)),
            ]),
        Table(
            name: "the request deadline closes once the response began", configure: { $0.requestTimeout = .seconds(2) },
            steps: [
                (.head(get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none),
                (.wait(.seconds(2)), .close(.requestDeadline)),
            ]),
        Table(
            name: "a response that ends in time clears the request deadline",
            configure: { $0.requestTimeout = .seconds(2) },
            steps: [
                (.head(get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none), (.responseEnd, .none),
                (.wait(.seconds(3)), .none),
            ]),
        Table(
            name: "chunked framing past the limit is refused",
            steps: [
                (.head(chunked), .start("/")), (.readDone, .none), (.readBytes(10_000), .none), (.readDone, .none),
                (.readBytes(7_000), .none), (.readDone, .refuse(400, .malformedBody)),
            ]),
        Table(
            name: "chunked framing between data is counted afresh",
            steps: [
                (.head(chunked), .start("/")), (.readDone, .none), (.readBytes(10_000), .none), (.readDone, .none),
                (.readBytes(1_010), .none), (.body(1_000), .body(1_000)), (.readDone, .none),
                (.readBytes(10_000), .none), (.readDone, .none),
            ]),
        Table(
            name: "a read that carries the head, an over-long chunk extension and the end is refused",
            steps: [
                (.readBytes(100_000), .none), (.head(chunked), .start("/")), (.body(5), .body(5)), (.end, .end),
                (.readDone, .refuse(400, .malformedBody)),
            ]),
        Table(
            name: "a read that ends the body may hold the start of a pipelined head",
            steps: [
                (.readBytes(20_000), .none), (.head(chunked), .start("/")), (.body(1_000), .body(1_000)), (.end, .end),
                (.readDone, .none),
            ]),
        Table(
            name: "an over-long target is 414",
            steps: [
                (.read("GET /" + String(repeating: "a", count: 9_000)), .none),
                (.error(HTTPParserError.headerOverflow), .refuse(414, nil)),
            ]),
        Table(
            name: "an over-long head is 431",
            steps: [
                (.read("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 17_000)), .none),
                (.error(HTTPParserError.headerOverflow), .refuse(431, nil)),
            ]),
        Table(
            name: "another major version is 505, even before the line ends",
            steps: [
                (.read("GET / HTTP/3.0"), .none), (.error(HTTPParserError.invalidVersion), .refuse(505, nil)),
            ]),
        Table(
            name: "a parser error in the body ends the request",
            steps: [
                (.head(chunked), .start("/")), (.error(HTTPParserError.invalidChunkSize), .refuse(400, .malformedBody)),
            ]),
        Table(
            name: "a message cut short is the client closing",
            steps: [
                (.head(post3), .start("/")), (.error(HTTPParserError.invalidEOFState), .close(.clientClosed)),
            ]),
        Table(
            // NIO's decoder reports the FIN that cuts a body short as this error, before the FIN itself.
            name: "a message cut short where half-closed connections are served is a half-close",
            configure: { $0.servesHalfClosedConnections = true },
            steps: [
                (.head(post3), .start("/")), (.error(HTTPParserError.invalidEOFState), .close(.halfClosed)),
            ]),
        Table(
            name: "a graceful shutdown leaves a new connection to its head deadline",
            steps: [(.quiesce, .none), (.wait(.milliseconds(9_999)), .none), (.wait(.milliseconds(1)), .close(nil))]),
        Table(
            name: "a graceful shutdown leaves an idle keep-alive connection to its keep-alive deadline",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none),
                (.responseEnd, .none), (.wait(.seconds(1)), .none), (.quiesce, .none),
                (.wait(.milliseconds(3_999)), .none), (.wait(.milliseconds(1)), .close(nil)),
            ]),
        Table(
            name: "a request that arrives after a graceful shutdown began is served, then the connection closes",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none),
                (.responseEnd, .none), (.quiesce, .none), (.wait(.seconds(4)), .none), (.head(get), .start("/")),
                (.end, .end), (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "a response that said keep-alive before the shutdown keeps its word",
            steps: [
                (.head(get), .start("/")), (.responseHead(keepAlive: true), .none), (.quiesce, .none), (.end, .end),
                (.responseEnd, .none), (.head(get), .start("/")), (.end, .end),
                (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "a head begun before a graceful shutdown is served, then the connection closes",
            steps: [
                (.read("GET / HT"), .none), (.quiesce, .none), (.wait(.seconds(2)), .none), (.head(get), .start("/")),
                (.end, .end), (.responseHead(keepAlive: false), .none), (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "a graceful shutdown lets the request in flight finish, then closes",
            steps: [
                (.head(get), .start("/")), (.quiesce, .none), (.end, .end), (.responseHead(keepAlive: false), .none),
                (.responseEnd, .close(nil)),
            ]),
        Table(
            name: "the end of the grace period cancels the request in flight",
            steps: [
                (.head(get), .start("/")), (.end, .end), (.shutdown, .close(.serverShutdown)),
            ]),
    ]

    @Test(arguments: Self.tables)
    func table(_ table: Table) {
        var configuration = Server.Configuration()
        table.configure(&configuration)
        var clock = ManualClock()
        var machine = ConnectionStateMachine<ManualClock>(configuration: configuration)
        machine.connectionOpened(now: clock.now)
        for (index, (input, expected)) in table.steps.enumerated() {
            let actual = Self.apply(input, to: &machine, clock: &clock)
            #expect(actual == expected, "step \(index): \(input)")
        }
    }

    @Test func headLimitsCountEveryByteWhateverTheShape() {
        let limits = Server.Configuration()
        // "GET / HTTP/1.1\r\n" (16) + "Host: x\r\n" (9) + "X-Pad: …\r\n" (9 + padding) + "a: b\r\n" (6) each + "\r\n".
        func shortFields(_ count: Int, padding: Int) -> HTTPRequestHead {
            var head = Self.head(.GET, "/", [("X-Pad", String(repeating: "p", count: padding))])
            for _ in 0..<count { head.headers.add(name: "a", value: "b") }
            return head
        }
        let fields = 98
        let padding = limits.maxHeadBytes - (16 + 9 + 9 + fields * 6 + 2)
        let exact = shortFields(fields, padding: padding)
        #expect(HeadValidator.headBytes(exact) == limits.maxHeadBytes)
        #expect((try? HeadValidator.validate(exact, limits: limits).get()) != nil)
        let over = shortFields(fields, padding: padding + 1)
        #expect(
            HeadValidator.validate(over, limits: limits)
                == .failure(
                    .init(
                        status: .requestHeaderFieldsTooLarge,
                        message: "The request head exceeds 16384 bytes (limit: maxHeadBytes).")))
        let many = shortFields(limits.maxHeaderFields - 1, padding: 0)
        #expect(
            HeadValidator.validate(many, limits: limits)
                == .failure(
                    .init(
                        status: .requestHeaderFieldsTooLarge,
                        message: "The request has more than 100 header fields (limit: maxHeaderFields).")))
    }

    @Test func pipelinedRequestsBeyondTheLimitStopReads() {
        var configuration = Server.Configuration()
        configuration.maxPipelinedRequests = 2
        var machine = ConnectionStateMachine<ManualClock>(configuration: configuration)
        let now = ManualClock().now
        _ = machine.headReceived(Self.get, now: now)
        _ = machine.endReceived(now: now)
        _ = machine.headReceived(Self.get, now: now)
        #expect(machine.readsAllowed)
        _ = machine.headReceived(Self.get, now: now)
        #expect(!machine.readsAllowed)
    }

    @Test func theResponseHeadSaysWhetherTheConnectionStaysOpen() {
        var machine = ConnectionStateMachine<ManualClock>(configuration: Server.Configuration())
        let now = ManualClock().now
        _ = machine.headReceived(Self.get, now: now)
        let keptAlive = machine.responseStarted()
        #expect(keptAlive)
        _ = machine.endReceived(now: now)
        let ended = machine.responseEnded(now: now)
        #expect(ended == .none)
        _ = machine.headReceived(Self.get, now: now)
        machine.quiesce()
        let keepAlive = machine.responseStarted()
        #expect(!keepAlive)
    }

    static func apply(_ input: Input, to machine: inout ConnectionStateMachine<ManualClock>, clock: inout ManualClock)
        -> Expected
    {
        let now = clock.now
        let action: ConnectionStateMachine<ManualClock>.Action
        switch input {
        case .read(let text):
            machine.bytesRead(ByteBuffer(string: text).readableBytesView, now: now)
            return .none
        case .readBytes(let count):
            machine.bytesRead(ByteBuffer(repeating: 0x61, count: count).readableBytesView, now: now)
            return .none
        case .head(let head): action = machine.headReceived(head, now: now)
        case .body(let count): action = machine.bodyReceived(ByteBuffer(repeating: 0x62, count: count), now: now)
        case .end: action = machine.endReceived(now: now)
        case .readDone: action = machine.readComplete()
        case .responseHead(let keepAlive):
            let keptAlive = machine.responseStarted()
            #expect(keptAlive == keepAlive, "keep-alive of the response head")
            return .none
        case .responseEnd: action = machine.responseEnded(now: now)
        case .inputClosed: action = machine.inputClosed()
        case .closed: action = machine.connectionClosed()
        case .error(let error): action = machine.errorCaught(error)
        case .wait(let duration):
            clock.advance(by: duration)
            action = machine.timerFired(now: clock.now)
        case .quiesce:
            machine.quiesce()
            return .none
        case .shutdown: action = machine.shutdown()
        }
        return Self.expected(action, &machine, now: now)
    }

    static func expected(
        _ action: ConnectionStateMachine<ManualClock>.Action, _ machine: inout ConnectionStateMachine<ManualClock>,
        now: ManualClock.Instant
    ) -> Expected {
        switch action {
        case .none: return .none
        case .startRequest(let head, _): return .start(head.uri)
        case .startWebSocket(let head, _): return .webSocket(head.uri)
        case .deliverBody(let chunk): return .body(chunk.readableBytes)
        case .deliverEnd: return .end
        case .refuse(let status, _, let reason): return .refuse(status.code, reason)
        case .close(let reason): return .close(reason)
        case .servePending:
            var served: [Expected] = []
            while let next = machine.nextPendingAction(now: now) {
                served.append(Self.expected(next, &machine, now: now))
            }
            return .servePending(served)
        }
    }
}
