import NIOCore
import NIOHTTP1

/// How an HTTP/2 soak session's streams end.
enum HTTP2Ending: CaseIterable {
    /// Each stream alone: complete, or RST_STREAM.
    case streams
    /// All at once, by the client's GOAWAY.
    case goAway
    /// All at once, by the connection's FIN.
    case fin
    /// All at once, by the connection's RST.
    case rst
}

extension Driver {
    /// One HTTP/2 connection with one to four concurrent streams that end at random moments: alone (complete or
    /// RST_STREAM), or all at once by the connection's GOAWAY, FIN or RST.
    func http2Session(moments: [Soak.Moment], random: inout SplitMix64) async {
        guard let client = try? await HTTP2Client.connect(port: self.port, group: self.group) else {
            self.tally.withLockedValue { $0.failedCompletions += 1 }
            return
        }
        // A head cannot be cut short on HTTP/2: HEADERS arrive whole.
        let available = moments.filter { $0 != .head }.isEmpty ? [.complete] : moments.filter { $0 != .head }
        let leaving = available.filter { $0 != .complete }
        let ending = leaving.isEmpty ? .streams : HTTP2Ending.allCases.randomElement(using: &random)!
        // Streams meant to complete run only where the connection outlives them.
        let choices = ending == .streams ? available : leaving
        let streams = (0..<Int.random(in: 1...4, using: &random)).map { _ in
            (choices.randomElement(using: &random)!, random.next())
        }
        await withTaskGroup(of: Void.self) { group in
            for (moment, seed) in streams {
                group.addTask {
                    var random = SplitMix64(seed: seed)
                    await self.http2Stream(moment, on: client, resetsAlone: ending == .streams, random: &random)
                }
            }
        }
        switch ending {
        case .streams: try? await client.close()
        case .goAway: try? await client.goAway()
        case .fin: try? await client.close()
        case .rst: try? await client.close(reset: true)
        }
        if ending != .streams {
            self.tally.withLockedValue { tally in
                let left = streams.count
                switch ending {
                case .goAway: tally.leftByGoAway += left
                case .fin: tally.leftByFIN += left
                case .rst: tally.leftByRST += left
                case .streams: break
                }
            }
        }
    }

    /// One stream that ends at `moment`; unless it completes, it is reset when `resetsAlone`, else left to its
    /// connection's end.
    private func http2Stream(
        _ moment: Soak.Moment, on client: HTTP2Client, resetsAlone: Bool, random: inout SplitMix64
    ) async {
        guard let stream = try? await client.openStream() else {
            self.tally.withLockedValue { $0.failedCompletions += 1 }
            return
        }
        let pause = Duration.milliseconds(Int.random(in: 1...20, using: &random))
        var completed = true
        var kind = "h2 \(moment)"
        switch moment {
        case .complete:
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                kind = "h2 hello"
                try? await stream.sendHead(.GET, "/hello/", end: true)
                completed = (try? await stream.waitFor("Hello", timeout: .seconds(30))) != nil
            case 1:
                let size = Bool.random(using: &random) ? 1000 : 300_000
                kind = "h2 upload \(size)"
                try? await stream.sendHead(.POST, "/upload/", fields: [("content-length", "\(size)")])
                try? await stream.sendBody(ByteBuffer(repeating: 0x73, count: size), end: true)
                completed = (try? await stream.waitFor("{\"bytes\": \(size)}", timeout: .seconds(30))) != nil
            default:
                kind = "h2 stream"
                try? await stream.sendHead(.GET, "/stream/?chunks=3&ms=1", end: true)
                completed = (try? await stream.waitFor("chunk 2\n", timeout: .seconds(30))) != nil
            }
        case .head, .smallBody, .webSocket:  // .webSocket never comes here: Soak.run leaves it out of HTTP/2.
            try? await stream.sendHead(.POST, "/upload/", fields: [("content-length", "10000")])
            try? await stream.sendBody(ByteBuffer(repeating: 0x73, count: 5000))
        case .largeBody:
            try? await stream.sendHead(.POST, "/upload/", fields: [("content-length", "1048576")])
            try? await stream.sendBody(ByteBuffer(repeating: 0x73, count: 300_000))
            try? await Task.sleep(for: pause)
        case .handler:
            try? await stream.sendHead(.POST, "/slow/?ms=5000", fields: [("content-length", "100")])
            try? await stream.sendBody(ByteBuffer(repeating: 0x73, count: 100), end: true)
            try? await Task.sleep(for: pause)
        case .blocking:
            try? await stream.sendHead(.GET, "/blocking/?ms=5000", end: true)
            try? await Task.sleep(for: pause)
        case .stream:
            try? await stream.sendHead(.GET, "/stream/?chunks=100000&ms=2", end: true)
            _ = try? await stream.waitFor("chunk 1\n", timeout: .seconds(30))
        }
        if moment != .complete && resetsAlone { await stream.reset() }
        // A stream left to its connection's end is counted with the connection's.
        self.count(moment, completed: completed, kind: kind, received: stream.text) { tally in
            if resetsAlone { tally.leftByStreamReset += 1 }
        }
    }
}
