import HTTPTypes
import NIOCore

extension Response {
    /// A `text/event-stream` response that sends each of `events` as it comes, and a `: keep-alive` comment whenever
    /// none came for `keepAlive` (`nil`: never).
    ///
    /// The head carries `Content-Type: text/event-stream`, `Cache-Control: no-cache` and `X-Accel-Buffering: no`
    /// (so that nginx passes each event on at once), unless `headers` give them. The events are read, and the
    /// keep-alives written, by two child tasks of the request's task, one write at a time. When the client leaves
    /// (the request's task is cancelled, or a write throws), both end: the iteration stops, running the sequence's own
    /// clean-up (such as an `AsyncStream`'s `onTermination`), and nothing outlives the request.
    ///
    /// ```swift
    /// router.get("/quotes/") { _ in
    ///     .eventStream(quotes.map { ServerSentEvent(data: $0.json, event: "quote", id: $0.id) })
    /// }
    /// ```
    public static func eventStream<Events: AsyncSequence & Sendable>(
        _ events: Events,
        keepAlive: Duration? = .seconds(15),
        headers: HTTPFields = [:]
    ) -> Response where Events.Element == ServerSentEvent {
        Self.eventStream(events, keepAlive: keepAlive, headers: headers) { ByteBuffer(string: $0.wireFormat) }
    }

    /// A `text/event-stream` response in which each of `messages` is the data of one event; otherwise like the
    /// stream of ``ServerSentEvent``s.
    ///
    /// ```swift
    /// router.get("/ticks/") { _ in .eventStream(ticks.map { "tick \($0)" }) }
    /// ```
    public static func eventStream<Messages: AsyncSequence & Sendable>(
        _ messages: Messages,
        keepAlive: Duration? = .seconds(15),
        headers: HTTPFields = [:]
    ) -> Response where Messages.Element == String {
        Self.eventStream(messages, keepAlive: keepAlive, headers: headers) {
            ByteBuffer(string: ServerSentEvent(data: $0).wireFormat)
        }
    }

    private static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!

    private static func eventStream<Events: AsyncSequence & Sendable>(
        _ events: Events,
        keepAlive: Duration?,
        headers: HTTPFields,
        encode: @escaping @Sendable (Events.Element) -> ByteBuffer
    ) -> Response {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "text/event-stream" }
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-cache" }
        if headers[Self.accelBuffering] == nil { headers[Self.accelBuffering] = "no" }
        return Response(
            headers: headers,
            body: ResponseBody { writer in
                let stream = EventStreamWriter(writer)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await event in events {
                            try await stream.write(encode(event))
                        }
                    }
                    if let keepAlive {
                        group.addTask { try await stream.keepAlive(every: keepAlive) }
                    }
                    // The first to end ends the stream: the events running out, or a write failing once the client
                    // has gone (which a silent source would never notice).
                    _ = try await group.next()
                    group.cancelAll()
                }
            })
    }
}
