#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// HTTP dates in the IMF-fixdate format (RFC 9110 §5.6.7), such as `Sun, 06 Nov 1994 08:49:37 GMT`.
public enum HTTPDate {
    private static let format = "%a, %d %b %Y %H:%M:%S GMT"

    /// `seconds` since the epoch as an HTTP date.
    public static func string(fromEpochSeconds seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let length = strftime(buffer.baseAddress!, 64, Self.format, &parts)
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: length), as: UTF8.self)
        }
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since the epoch of an IMF-fixdate, or `nil` when `string` is not one.
    public static func epochSeconds(from string: String) -> Int? {
        // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, so each field has its place.
        let bytes = Array(string.utf8)
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), string.hasSuffix(" GMT") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            Int32(String(decoding: bytes[range], as: UTF8.self))
        }
        let month = String(decoding: bytes[8..<11], as: UTF8.self)
        guard let monthIndex = Self.months.firstIndex(of: month),
            let day = number(5..<7), let year = number(12..<16),
            let hour = number(17..<19), let minute = number(20..<22), let second = number(23..<25),
            bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":")
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = Int32(monthIndex)
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int(timegm(&parts))
    }
}
