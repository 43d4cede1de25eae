/// One server-sent event, in the `text/event-stream` format of the HTML standard: data, and optionally a type, an
/// id and a reconnection delay.
///
/// ```swift
/// ServerSentEvent(data: #"{"price": 42}"#, event: "quote", id: "17")
/// ```
public struct ServerSentEvent: Sendable, Hashable {
    /// The data. Each of its lines is sent as a `data:` field, so the client gets it back with its line breaks.
    public var data: String
    /// The type (`event:`), which picks the client's listener; `message` when `nil`. Line breaks are removed.
    public var event: String?
    /// The id (`id:`), which a reconnecting client sends back as `Last-Event-ID`. Line breaks are removed.
    public var id: String?
    /// How long the client waits before it reconnects (`retry:`), sent in whole milliseconds.
    public var retry: Duration?

    /// An event with `data`, and optionally a type, an id and a reconnection delay.
    public init(data: String, event: String? = nil, id: String? = nil, retry: Duration? = nil) {
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
    }

    /// The event's fields, one a line, and the blank line that dispatches it.
    var wireFormat: String {
        var text = ""
        if let event = self.event { text += "event: \(Self.oneLine(event))\n" }
        if let id = self.id { text += "id: \(Self.oneLine(id))\n" }
        if let retry = self.retry {
            let (seconds, attoseconds) = retry.components
            text += "retry: \(max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000))\n"
        }
        // CR, LF and CRLF end a line of the format; other Unicode line separators are data.
        for line in self.data.split(omittingEmptySubsequences: false, whereSeparator: Self.isLineBreak) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }

    /// `value` without line breaks, which would end its field and start another.
    private static func oneLine(_ value: String) -> String {
        String(value.filter { !Self.isLineBreak($0) })
    }

    private static func isLineBreak(_ character: Character) -> Bool {
        character == "\n" || character == "\r" || character == "\r\n"
    }
}
