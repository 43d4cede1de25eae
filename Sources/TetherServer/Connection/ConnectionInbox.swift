import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// What happens to the request in flight, as the task that serves the connection learns it.
enum RequestEvent: Sendable {
    /// The client left before the response was complete: the request's task is cancelled.
    case departed
    /// The request's task finished; the connection serves another if `keepAlive`.
    case finished(keepAlive: Bool)
}

/// What a connection's event loop hands to the task that serves the connection.
struct ConnectionInbox: Sendable {
    /// The requests, one at a time.
    let requests = Mailbox<PendingRequest>()
    /// The request in flight's departure and end.
    let events = Mailbox<RequestEvent>()
}
