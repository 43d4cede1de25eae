import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTP2
import TestSupport
import Testing
import TetherGateway

@testable import TetherServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// HTTP/2's decisions without a socket: the protocol a connection's first bytes or ALPN select, a stream's request
/// on a multiplexed connection machine, and the connection's own machine, on a manual clock.
@Suite struct HTTP2StateMachineTests {
    typealias Tables = ConnectionStateMachineTests
    typealias Machine = HTTP2ConnectionStateMachine<ManualClock>

    // MARK: Selecting the protocol

    @Test func everyPrefixOfThePrefaceWaitsAndTheWholeOneIsHTTP2() {
        let preface = ProtocolSelection.preface
        for count in 1..<preface.count {
            let bytes = ByteBuffer(bytes: preface.prefix(count))
            #expect(ProtocolSelection.sniff(bytes.readableBytesView) == .undecided, "\(count) bytes")
        }
        let whole = ByteBuffer(bytes: preface + Array("\0\0\0\u{4}".utf8))
        #expect(ProtocolSelection.sniff(whole.readableBytesView) == .http2)
    }

    @Test func aByteOffThePrefaceAnywhereIsHTTP1() {
        let preface = ProtocolSelection.preface
        for index in preface.indices {
            var bytes = Array(preface.prefix(index + 1))
            bytes[index] ^= 0x20
            #expect(ProtocolSelection.sniff(ByteBuffer(bytes: bytes).readableBytesView) == .http1, "byte \(index)")
        }
        // A request shorter than the preface is told at its first byte.
        #expect(ProtocolSelection.sniff(ByteBuffer(string: "GET / HTTP/1.0\r\n\r\n").readableBytesView) == .http1)
    }

    static let alpnCases: [(String?, ProtocolSelection)] = [
        ("h2", .http2), ("http/1.1", .http1), (nil, .undecided), ("spdy/3", .undecided),
    ]

    @Test(arguments: Self.alpnCases)
    func alpnSelects(_ negotiated: String?, _ selection: ProtocolSelection) {
        #expect(ProtocolSelection.alpn(negotiated) == selection)
    }

    /// What reaches the protocol's handlers once the selection installed them.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var reads: [String] = []
        var quiesced = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.reads.append(String(buffer: self.unwrapInboundIn(data)))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { self.quiesced += 1 }
        }
    }

    /// A plain connection whose protocol is not known yet, with a recorder installed behind it once it is.
    static func selecting(_ recorder: Recorder) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let promise = channel.eventLoop.makePromise(of: NegotiatedConnection.self)
        let handler = ProtocolSelectionHandler(
            secure: false, handshakeTimeout: .seconds(10), firstBytesTimeout: .seconds(10), promise: promise
        ) { _, channel in
            try channel.pipeline.syncOperations.addHandler(recorder)
            return .http1(ConnectionInbox())
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aConnectionAcceptedAsTheServerQuiescesIsServedThenToldToClose() throws {
        let recorder = Recorder()
        let channel = try Self.selecting(recorder)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        // Its request was on its way: closing now would reset it.
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(recorder.reads == ["GET / HTTP/1.1\r\n\r\n"])
        #expect(recorder.quiesced == 1)
        _ = try channel.finish()
    }

    @Test func aConnectionSilentAsTheServerQuiescesIsClosedAfterASecond() throws {
        let recorder = Recorder()
        let channel = try Self.selecting(recorder)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(recorder.reads.isEmpty)
    }

    // MARK: A stream's request

    static let h2Get = HTTPRequestHead(
        version: .init(major: 2, minor: 0), method: .GET, uri: "/", headers: ["host": "x"])
    static let h2Post = HTTPRequestHead(
        version: .init(major: 2, minor: 0), method: .POST, uri: "/", headers: ["host": "x", "content-length": "3"])
    static let reset = NIOHTTP2Errors.streamClosed(streamID: HTTP2StreamID(1), errorCode: .cancel)

    /// Runs `steps` on a stream's machine; `loss` is what its connection recorded when it was lost.
    func stream(
        _ steps: [(Tables.Input, Tables.Expected)], loss: CancellationReason? = nil,
        configure: (inout Server.Configuration) -> Void = { _ in }
    ) {
        var configuration = Server.Configuration()
        configure(&configuration)
        var clock = ManualClock()
        var machine = ConnectionStateMachine<ManualClock>(configuration: configuration, multiplexed: true)
        machine.connectionOpened(now: clock.now)
        for (index, (input, expected)) in steps.enumerated() {
            let actual: Tables.Expected
            if case .closed = input, let loss {
                actual = Tables.expected(machine.connectionClosed(because: loss), &machine, now: clock.now)
            } else {
                actual = Tables.apply(input, to: &machine, clock: &clock)
            }
            #expect(actual == expected, "step \(index): \(input)")
        }
    }

    @Test func aStreamEndsWithItsResponseAndNeverSaysConnectionClose() {
        // The response head reports "kept alive": no Connection field is added; the stream is retired, not closed.
        stream([
            (.head(Self.h2Get), .start("/")), (.end, .end), (.responseHead(keepAlive: true), .none),
            (.responseEnd, .none), (.wait(.seconds(60)), .none), (.closed, .none),
        ])
    }

    @Test func aResetStreamCancelsItsRequestForStreamResetAsItCloses() {
        stream([
            (.head(Self.h2Get), .start("/")), (.end, .end), (.error(Self.reset), .none),
            (.closed, .close(.streamReset)),
        ])
    }

    @Test func aStreamClosedByItsConnectionsGoAwayTakesTheConnectionsReason() {
        stream(
            [(.head(Self.h2Get), .start("/")), (.error(Self.reset), .none), (.closed, .close(.clientClosed))],
            loss: .clientClosed)
    }

    @Test(arguments: [CancellationReason.clientUnreachable, .serverShutdown, .clientClosed])
    func aLostConnectionCancelsItsStreamsForTheReasonItRecorded(_ reason: CancellationReason) {
        stream([(.head(Self.h2Get), .start("/")), (.end, .end), (.closed, .close(reason))], loss: reason)
    }

    @Test func aStreamsBodyChunksKeepItsBodyIdleDeadlineAway() {
        stream(
            [
                (.head(Self.h2Post), .start("/")), (.wait(.seconds(8)), .none), (.body(1), .body(1)),
                (.wait(.seconds(8)), .none), (.body(1), .body(1)), (.wait(.seconds(9)), .none),
                (.wait(.seconds(1)), .refuse(408, .bodyIdleTimeout)),
            ], configure: { $0.bodyIdleTimeout = .seconds(10) })
    }

    @Test func aStreamHeadOverTheLimitsIsRefusedWith431() {
        let fields = (0..<101).map { ("x-\($0)", "v") }
        let head = HTTPRequestHead(
            version: .init(major: 2, minor: 0), method: .GET, uri: "/", headers: HTTPHeaders([("host", "x")] + fields))
        stream([(.head(head), .refuse(431, nil))])
    }

    @Test func version2IsAStreamsAndNeverARequestLines() {
        let limits = Server.Configuration()
        #expect((try? HeadValidator.validate(Self.h2Get, limits: limits, multiplexed: true).get()) != nil)
        #expect(
            (try? HeadValidator.validate(Self.h2Get, limits: limits, multiplexed: false).get()) == nil,
            "a request line saying HTTP/2.0 is answered 505")
        let h1 = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["host": "x"])
        #expect((try? HeadValidator.validate(h1, limits: limits, multiplexed: true).get()) == nil)
    }

    @Test(arguments: [ETIMEDOUT, EHOSTUNREACH])
    func anHTTP1ClientWhoseNetworkVanishedIsUnreachable(_ errno: Int32) {
        var clock = ManualClock()
        var machine = ConnectionStateMachine<ManualClock>(configuration: Server.Configuration())
        machine.connectionOpened(now: clock.now)
        #expect(Tables.apply(.head(Tables.get), to: &machine, clock: &clock) == .start("/"))
        let action = Tables.apply(.error(IOError(errnoCode: errno, reason: "read")), to: &machine, clock: &clock)
        #expect(action == .close(.clientUnreachable))
    }

    // MARK: The connection

    func machine(_ configure: (inout Server.Configuration.HTTP2) -> Void = { _ in }) -> (Machine, ManualClock) {
        var http2 = Server.Configuration.HTTP2()
        configure(&http2)
        let clock = ManualClock()
        var machine = Machine(configuration: .init(http2))
        machine.opened(now: clock.now)
        return (machine, clock)
    }

    @Test func anIdleConnectionIsClosedWithGoAwayAfterItsTimeout() {
        var (machine, clock) = self.machine { $0.idleTimeout = .seconds(60) }
        machine.streamOpened(HTTP2StreamID(1))
        clock.advance(by: .seconds(120))
        #expect(machine.timerFired(now: clock.now) == .none, "a connection with a stream open is not idle")
        #expect(machine.streamClosed(now: clock.now) == .none)
        #expect(machine.nextDeadline == clock.now.advanced(by: .seconds(60)))
        clock.advance(by: .seconds(59))
        #expect(machine.timerFired(now: clock.now) == .none)
        clock.advance(by: .seconds(1))
        #expect(
            machine.timerFired(now: clock.now)
                == .close(goAway: .noError, lastStreamID: HTTP2StreamID(1), cancelling: .clientClosed))
    }

    @Test func anUnansweredPingMakesTheClientUnreachable() {
        var (machine, clock) = self.machine {
            $0.idleTimeout = nil
            $0.pingInterval = .seconds(10)
            $0.pingTimeout = .seconds(5)
        }
        machine.streamOpened(HTTP2StreamID(1))
        clock.advance(by: .seconds(6))
        machine.readFromClient(now: clock.now)
        clock.advance(by: .seconds(6))
        #expect(machine.timerFired(now: clock.now) == .none, "a read puts the ping off")
        clock.advance(by: .seconds(4))
        #expect(machine.timerFired(now: clock.now) == .ping)
        clock.advance(by: .seconds(5))
        #expect(
            machine.timerFired(now: clock.now)
                == .close(goAway: nil, lastStreamID: HTTP2StreamID(1), cancelling: .clientUnreachable))
        #expect(machine.lossReason == .clientUnreachable)
        #expect(machine.nextDeadline == nil)
    }

    @Test func anAnsweredPingKeepsTheConnection() {
        var (machine, clock) = self.machine {
            $0.idleTimeout = nil
            $0.pingInterval = .seconds(10)
            $0.pingTimeout = .seconds(5)
        }
        clock.advance(by: .seconds(10))
        #expect(machine.timerFired(now: clock.now) == .ping)
        clock.advance(by: .seconds(1))
        machine.readFromClient(now: clock.now)
        clock.advance(by: .seconds(4))
        #expect(machine.timerFired(now: clock.now) == .none)
        #expect(machine.nextDeadline == clock.now.advanced(by: .seconds(6)), "the next ping, not a timeout")
    }

    @Test func aClientsGoAwayCancelsEveryOpenStream() {
        var (machine, _) = self.machine()
        machine.streamOpened(HTTP2StreamID(1))
        machine.streamOpened(HTTP2StreamID(3))
        #expect(
            machine.goAwayReceived()
                == .close(goAway: .noError, lastStreamID: HTTP2StreamID(3), cancelling: .clientClosed))
        #expect(machine.goAwayReceived() == .none)
    }

    @Test func aClientsFINCancelsEveryOpenStream() {
        var (machine, _) = self.machine()
        machine.streamOpened(HTTP2StreamID(1))
        #expect(
            machine.inputClosed() == .close(goAway: nil, lastStreamID: HTTP2StreamID(1), cancelling: .clientClosed))
    }

    @Test func aGracefulShutdownSendsGoAwayAndClosesWhenTheLastStreamEnds() {
        var (machine, clock) = self.machine()
        machine.streamOpened(HTTP2StreamID(1))
        machine.streamOpened(HTTP2StreamID(3))
        #expect(machine.quiesce() == .goAway(lastStreamID: HTTP2StreamID(3)))
        #expect(machine.nextDeadline == nil, "no idle timeout or ping while draining")
        #expect(machine.streamClosed(now: clock.now) == .none)
        clock.advance(by: .seconds(1))
        #expect(
            machine.streamClosed(now: clock.now)
                == .close(goAway: nil, lastStreamID: HTTP2StreamID(3), cancelling: .serverShutdown))
    }

    @Test func anIdleConnectionClosesAtOnceOnShutdownAndABusyOneWhenTheGraceRunsOut() {
        var (idle, _) = self.machine()
        #expect(idle.quiesce() == .close(goAway: .noError, lastStreamID: .rootStream, cancelling: .serverShutdown))
        var (busy, _) = self.machine()
        busy.streamOpened(HTTP2StreamID(5))
        #expect(busy.quiesce() == .goAway(lastStreamID: HTTP2StreamID(5)))
        #expect(
            busy.shutdown() == .close(goAway: .noError, lastStreamID: HTTP2StreamID(5), cancelling: .serverShutdown))
    }

    @Test(arguments: [(ECONNRESET, CancellationReason.clientReset), (ETIMEDOUT, .clientUnreachable)])
    func aBrokenSocketSaysWhyTheStreamsAreLost(_ errno: Int32, _ reason: CancellationReason) {
        var (machine, _) = self.machine()
        machine.streamOpened(HTTP2StreamID(1))
        #expect(machine.errorCaught(IOError(errnoCode: errno, reason: "read")) == .none, "NIO closes the socket")
        #expect(machine.lossReason == reason)
        #expect(machine.errorCaught(IOError(errnoCode: EPIPE, reason: "write")) == .none)
        #expect(machine.lossReason == reason, "the first reason stands")
    }

    @Test func aConnectionErrorClosesTheConnectionAndCancelsItsStreams() {
        var (machine, _) = self.machine()
        machine.streamOpened(HTTP2StreamID(1))
        // NIOHTTP2 has sent GOAWAY itself, and leaves the close to its user.
        #expect(
            machine.errorCaught(NIOHTTP2Errors.excessiveRSTFrames())
                == .close(goAway: nil, lastStreamID: HTTP2StreamID(1), cancelling: .protocolError))
        #expect(machine.errorCaught(NIOHTTP2Errors.excessiveRSTFrames()) == .none)
    }
}
