import HTTPTypes
import NIOHTTP1

/// A request the event loop has parsed and validated, on its way to the task that serves the connection.
typealias PendingRequest = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

/// Hands a connection's requests, one at a time, from its event loop to the task that serves them.
typealias ConnectionInbox = Mailbox<PendingRequest>
