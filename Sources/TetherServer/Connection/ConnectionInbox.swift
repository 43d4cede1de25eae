import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// What a connection's event loop hands to the task that serves the connection.
struct ConnectionInbox: Sendable {
    /// The requests: one at a time on HTTP/1, every stream's on HTTP/2, whose streams share their connection's.
    let requests: Mailbox<PendingRequest>
    /// The end of each request's task, for the next HTTP/1 request to wait for; `nil` on an HTTP/2 stream.
    let finished: Mailbox<Void>?
    /// The request in flight's task, which its exchange cancels when the request is abandoned.
    let task = RequestTask()

    /// An HTTP/1 connection's inbox.
    init() {
        self.requests = Mailbox()
        self.finished = Mailbox()
    }

    /// An HTTP/2 stream's inbox: its request goes to its connection's mailbox.
    init(stream requests: Mailbox<PendingRequest>) {
        self.requests = requests
        self.finished = nil
    }
}
