import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// What happens to the request in flight, as the task that serves the connection learns it.
enum RequestEvent: Sendable {
    /// The request's work is abandoned (its ``TetherGateway/CancellationReason`` is in its exchange): its task is
    /// cancelled.
    case cancelled
    /// The request's task finished; the connection's handler has decided whether another follows.
    case finished
}

/// What a connection's event loop hands to the task that serves the connection.
struct ConnectionInbox: Sendable {
    /// The requests, one at a time.
    let requests = Mailbox<PendingRequest>()
    /// The request in flight's departure and end.
    let events = Mailbox<RequestEvent>()
}
