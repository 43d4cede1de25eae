import NIOCore
import NIOWebSocket
import TetherWeb

/// How a WebSocket session that does not complete leaves.
enum WebSocketLeaving {
    /// A close frame; the server answers with its own, then closes the connection.
    case closeFrame
    case fin
    case rst
}

/// A message an echo session sends, and how.
private struct PlannedMessage {
    var message: WebSocketMessage
    var fragments: Int
    var compress: Bool

    var summary: String {
        let kind =
            switch self.message {
            case .text: "text"
            case .binary: "binary"
            }
        return "\(kind) \(self.message.byteCount) B in \(self.fragments) frames\(self.compress ? ", compressed" : "")"
    }
}

/// What one WebSocket session came to.
private struct WebSocketOutcome {
    /// Echoes received and checked.
    var echoes = 0
    /// Why a session meant to complete (or a handshake, a tick the session waited for) did not.
    var failure: String?
    /// Why a close frame went unanswered.
    var closeFailure: String?
}

extension Driver {
    /// How often each ending is chosen, out of 100.
    private static let endings: [(Soak.WebSocketEnding, Int)] = [
        (.complete, 30), (.handshake, 12), (.upgraded, 12), (.echoing, 12), (.fragment, 12), (.ticker, 16),
        (.stalled, 6),
    ]

    /// The permessage-deflate offers a client makes, when it makes one.
    private static let offers = [
        "permessage-deflate", "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
    ]

    /// Close codes a leaving client sends.
    private static let closeCodes: [UInt16] = [1000, 1001, 4000, 4999]

    /// Sessions of each kind that allocates, so that the server's pools exist before the baseline is taken.
    func webSocketWarmUp() async {
        var random = SplitMix64(seed: self.seed)
        await self.webSocketSession(.complete, leaving: .fin, deflate: false, random: &random)
        await self.webSocketSession(.complete, leaving: .fin, deflate: true, random: &random)
        await self.webSocketSession(.ticker, leaving: .closeFrame, deflate: true, random: &random)
        await self.webSocketSession(.stalled, leaving: .rst, deflate: false, random: &random)
    }

    /// One WebSocket session at a random ending; those that leave, leave by close frame (a third of them), else by
    /// RST when `reset`, else by FIN. A client that stops reading always leaves by RST.
    func webSocketSession(reset: Bool, random: inout SplitMix64) async {
        var pick = Int.random(in: 0..<100, using: &random)
        let ending = Self.endings.first { _, weight in
            pick -= weight
            return pick < 0
        }!.0
        let leaving: WebSocketLeaving
        if ending == .stalled {
            leaving = .rst
        } else if ending != .handshake, Int.random(in: 0..<3, using: &random) == 0 {
            leaving = .closeFrame
        } else {
            leaving = reset ? .rst : .fin
        }
        let deflate = ending != .stalled && Bool.random(using: &random)
        await self.webSocketSession(ending, leaving: leaving, deflate: deflate, random: &random)
    }

    /// One WebSocket session that ends at `ending`, leaving by `leaving` unless it completes; `deflate` offers
    /// permessage-deflate.
    func webSocketSession(
        _ ending: Soak.WebSocketEnding, leaving: WebSocketLeaving, deflate: Bool, random: inout SplitMix64
    ) async {
        if ending == .handshake {
            return await self.webSocketHandshake(leaving: leaving, deflate: deflate, random: &random)
        }
        let path =
            switch ending {
            case .ticker: "/ws/ticker/?ms=1"
            // Incompressible ticks of 16 KiB every millisecond fill the socket's buffers within a second.
            case .stalled: "/ws/ticker/?ms=1&bytes=16384"
            default: "/ws/echo/"
            }
        let offer = deflate ? Self.offers.randomElement(using: &random) : nil
        let client: WebSocketClient
        do {
            client = try await WebSocketClient.connect(
                port: self.port, path: path, extensions: offer, group: self.group, timeout: .seconds(30))
        } catch {
            var outcome = WebSocketOutcome()
            outcome.failure = "websocket \(ending.rawValue): handshake \(offer ?? "without extensions"): \(error)"
            return self.count(ending, leaving: nil, deflated: false, outcome)
        }
        let pause = Duration.milliseconds(Int.random(in: 1...20, using: &random))
        var outcome = WebSocketOutcome()
        switch ending {
        case .complete:
            let messages = Self.plan(Int.random(in: 2...6, using: &random), random: &random)
            outcome = await self.echo(messages, on: client, pipelined: Bool.random(using: &random))
            if outcome.failure == nil {
                if let failure = await Self.closeHandshake(client, code: 1000, timeout: .seconds(30)) {
                    outcome.failure = "close handshake: \(failure)"
                }
            }
            if let failure = outcome.failure {
                outcome.failure = "websocket complete (\(client.extensions ?? "no extensions")): \(failure)"
            }
            try? await client.close()
            return self.count(ending, leaving: nil, deflated: client.isDeflating, outcome)
        case .upgraded, .handshake:
            break
        case .echoing:
            // Messages go out; some of their echoes come back before the client leaves.
            let messages = Self.plan(Int.random(in: 1...4, using: &random), random: &random)
            for planned in messages {
                try? await client.send(
                    planned.message, fragments: planned.fragments, compress: planned.compress, timeout: .seconds(30))
            }
            let waited = Int.random(in: 0..<messages.count, using: &random)
            outcome = await self.echo(Array(messages.prefix(waited)), on: client, pipelined: true, sent: true)
        case .fragment:
            if Bool.random(using: &random) {
                outcome = await self.echo(Self.plan(1, random: &random), on: client, pipelined: false)
            }
            var planned = Self.plan(1, random: &random)[0]
            planned.fragments = Int.random(in: 2...4, using: &random)
            try? await client.send(
                planned.message, fragments: planned.fragments, compress: planned.compress, finish: false,
                timeout: .seconds(30))
            try? await Task.sleep(for: pause)
        case .ticker:
            let ticks = Int.random(in: 1...20, using: &random)
            do {
                try await client.waitForMessages(ticks, timeout: .seconds(30))
            } catch {
                outcome.failure = "websocket ticker: \(ticks) ticks: \(error)"
            }
        case .stalled:
            do {
                try await client.waitForMessages(1, timeout: .seconds(30))
            } catch {
                outcome.failure = "websocket stopped reading: the first tick: \(error)"
            }
            try? await client.stopReading()
            try? await Task.sleep(for: .milliseconds(Int.random(in: 100...500, using: &random)))
        }
        if let failure = outcome.failure, !failure.hasPrefix("websocket") {
            outcome.failure = "websocket \(ending.rawValue): \(failure)"
        }
        switch leaving {
        case .closeFrame:
            let code = Self.closeCodes.randomElement(using: &random)!
            if let failure = await Self.closeHandshake(client, code: code, timeout: .seconds(30)) {
                outcome.closeFailure = "\(ending.rawValue), code \(code): \(failure)"
            }
            try? await client.close()
        case .fin:
            try? await client.close()
        case .rst:
            try? await client.reset()
        }
        self.count(ending, leaving: leaving, deflated: client.isDeflating, outcome)
    }

    /// Half a handshake's request head, or a whole one without waiting for the 101, then FIN or RST.
    private func webSocketHandshake(leaving: WebSocketLeaving, deflate: Bool, random: inout SplitMix64) async {
        let key = NIOWebSocketClientUpgrader.randomRequestKey(using: &random)
        let head = Array(
            ("GET /ws/echo/ HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
                + (deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") + "\r\n").utf8)
        let cut =
            Int.random(in: 0..<4, using: &random) == 0 ? head.count : Int.random(in: 1..<head.count, using: &random)
        guard let connection = try? await RawClient.connect(port: self.port, group: self.group) else {
            var outcome = WebSocketOutcome()
            outcome.failure = "websocket handshake: could not connect"
            return self.count(.handshake, leaving: nil, deflated: false, outcome)
        }
        try? await connection.send(ByteBuffer(bytes: head[..<cut]))
        try? await Task.sleep(for: .milliseconds(Int.random(in: 0...5, using: &random)))
        if leaving == .rst {
            try? await connection.reset()
        } else {
            try? await connection.close()
        }
        self.count(.handshake, leaving: leaving, deflated: false, WebSocketOutcome())
    }

    /// `count` messages of both kinds, the first at least 1 KiB and about half the others too; large ones are
    /// compressed (if the handshake negotiated it) half the time, and a third of all go in fragments.
    private static func plan(_ count: Int, random: inout SplitMix64) -> [PlannedMessage] {
        let textFirst = Bool.random(using: &random)
        return (0..<count).map { index in
            let large = index == 0 || Bool.random(using: &random)
            let size = large ? Int.random(in: 1024...65536, using: &random) : Int.random(in: 0...200, using: &random)
            let fragments = Int.random(in: 0..<3, using: &random) == 0 ? Int.random(in: 2...4, using: &random) : 1
            let compress = large && Bool.random(using: &random)
            let message: WebSocketMessage
            if (index % 2 == 0) == textFirst {
                // Multi-byte characters, so that fragments split some of them.
                var text = ""
                var line = 0
                while text.utf8.count < size {
                    text += "soak line \(line): héllo, wörld ✓\n"
                    line += 1
                }
                message = .text(text)
            } else {
                let seed = UInt8.random(in: 0...255, using: &random)
                message = .binary(ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 / 7) &+ seed }))
            }
            return PlannedMessage(message: message, fragments: fragments, compress: compress)
        }
    }

    /// Sends each message (unless already `sent`) and checks its echo: one at a time, or all sent before any echo
    /// is read when `pipelined`.
    private func echo(
        _ messages: [PlannedMessage], on client: WebSocketClient, pipelined: Bool, sent: Bool = false
    ) async -> WebSocketOutcome {
        var outcome = WebSocketOutcome()
        do {
            if pipelined, !sent {
                for planned in messages {
                    try await client.send(
                        planned.message, fragments: planned.fragments, compress: planned.compress,
                        timeout: .seconds(30))
                }
            }
            for (index, planned) in messages.enumerated() {
                if !pipelined, !sent {
                    try await client.send(
                        planned.message, fragments: planned.fragments, compress: planned.compress,
                        timeout: .seconds(30))
                }
                let echo = try await client.receive(timeout: .seconds(30))
                guard echo == planned.message else {
                    outcome.failure =
                        "echo \(index + 1) of \(messages.count) (\(planned.summary)) came back as \(echo.byteCount) B"
                    return outcome
                }
                outcome.echoes += 1
            }
        } catch {
            outcome.failure = "after \(outcome.echoes) of \(messages.count) echoes: \(error)"
        }
        return outcome
    }

    /// Sends a close frame with `code` and waits for the server's answer (the same code) and its FIN; nil when
    /// they came, else what went wrong.
    private static func closeHandshake(_ client: WebSocketClient, code: UInt16, timeout: Duration) async -> String? {
        do {
            try await client.sendClose(code: code, reason: "soak", timeout: timeout)
            let answer = try await client.waitForClose(timeout: timeout)
            guard answer == code else { return "answered \(answer.map { "\($0)" } ?? "without a close frame")" }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Counts a WebSocket session: how it ended, how it left (nil for one that completed or never began), its
    /// echoes, and what went wrong.
    private func count(
        _ ending: Soak.WebSocketEnding, leaving: WebSocketLeaving?, deflated: Bool, _ outcome: WebSocketOutcome
    ) {
        self.tally.withLockedValue { tally in
            tally.requests += 1
            tally.byMoment[.webSocket, default: 0] += 1
            tally.webSocketEndings[ending, default: 0] += 1
            tally.webSocketEchoes += outcome.echoes
            if deflated { tally.webSocketDeflated += 1 }
            switch leaving {
            case .closeFrame: tally.leftByCloseFrame += 1
            case .fin: tally.leftByFIN += 1
            case .rst: tally.leftByRST += 1
            case nil: break
            }
            if let failure = outcome.failure {
                tally.failedCompletions += 1
                if tally.failures.count < 5 { tally.failures.append(failure) }
            }
            if let failure = outcome.closeFailure {
                tally.webSocketClosesUnanswered += 1
                if tally.closeFailures.count < 5 { tally.closeFailures.append(failure) }
            }
        }
    }
}
