import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// What a connection's event loop hands to the task that serves the connection.
struct ConnectionInbox: Sendable {
    /// The requests, one at a time.
    let requests = Mailbox<PendingRequest>()
    /// The end of each request's task: the next request waits for it.
    let finished = Mailbox<Void>()
    /// The request in flight's task, which its exchange cancels when the request is abandoned.
    let task = RequestTask()
}
