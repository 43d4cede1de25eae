import NIOConcurrencyHelpers
import TetherGateway

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Date` header's value, formatted once a second rather than once a response.
enum DateHeader {
    private static let cache = NIOLockedValueBox<(second: Int, value: String)>((0, ""))

    static func now() -> String {
        let second = time(nil)
        return self.cache.withLockedValue { cache in
            if cache.second != second {
                cache = (second, HTTPDate.string(fromEpochSeconds: second))
            }
            return cache.value
        }
    }
}
