import HTTPTypes
import NIOHTTP1
import Synchronization

/// Request IDs: a client's own, when it is a sane one, or a new one, unique across processes and cheap to make.
enum RequestID {
    /// The ID a request is known by: `offered` when it is 1 to 200 visible ASCII characters, else a new one.
    static func resolve(_ offered: String?) -> String {
        if let offered, Self.isAcceptable(offered) { return offered }
        return Self.make()
    }

    /// The ID of the request `head` begins, read from `header` (the server's request-ID header); `nil` when the
    /// server uses no request IDs.
    static func of(_ head: HTTPRequestHead, header: HTTPField.Name?) -> String? {
        header.map { Self.resolve(head.headers.first(name: $0.rawName)) }
    }

    /// Whether a client's ID can go into logs and headers as it is: short, visible ASCII, no spaces.
    static func isAcceptable(_ id: String) -> Bool {
        var count = 0
        for byte in id.utf8 {
            guard byte > 0x20, byte < 0x7F else { return false }
            count += 1
            if count > 200 { return false }
        }
        return count > 0
    }

    /// 64 random bits per process, so that IDs from different workers and restarts do not collide.
    private static let processBits = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    /// A new ID: 32 hexadecimal digits, the process's random half then a counter scrambled (a bijection, so never
    /// repeated within the process) so that consecutive IDs do not look alike.
    static func make() -> String {
        let count = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        return Self.hex(Self.processBits, Self.scrambled(count))
    }

    /// SplitMix64's finaliser: a bijection on 64 bits that spreads every input bit over the output.
    private static func scrambled(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func hex(_ high: UInt64, _ low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { digits in
                for index in 0..<32 {
                    let word = index < 16 ? high : low
                    buffer[index] = digits[Int((word >> (60 - 4 * UInt64(index % 16))) & 0xF)]
                }
            }
            return 32
        }
    }
}
