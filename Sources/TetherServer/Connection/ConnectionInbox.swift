import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// What a connection's event loop hands to the task that serves the connection.
struct ConnectionInbox: Sendable {
    /// The requests, one at a time.
    let requests = Mailbox<PendingRequest>()
    /// An element each time a client leaves before its response is complete: the request in flight is cancelled.
    let departures = Mailbox<Void>()
}
