import NIOCore
import TetherGateway

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension IOError {
    /// How a socket that failed with this error tells its client left: reset, unreachable (keepalive probes or
    /// `TCP_USER_TIMEOUT` gave up on a network that is gone), or closed.
    var departure: CancellationReason {
        switch self.errnoCode {
        case ECONNRESET: .clientReset
        case ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: .clientUnreachable
        default: .clientClosed
        }
    }
}
