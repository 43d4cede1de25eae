import Foundation
import Testing

@testable import TetherServer

/// Request IDs and the JSON access-log line, without a server.
@Suite struct RequestIDTests {
    @Test(arguments: ["abc-123", "0af7651916cd43dd8448eb211c80319c", String(repeating: "x", count: 200)])
    func aSaneOfferedIDIsKept(_ offered: String) {
        #expect(RequestID.resolve(offered) == offered)
    }

    @Test(arguments: [nil, "", "has space", "tab\there", "naïve", "line\nbreak", String(repeating: "x", count: 201)])
    func anyOtherIsReplacedByANewOne(_ offered: String?) {
        let id = RequestID.resolve(offered)
        #expect(id != offered)
        #expect(id.count == 32)
        #expect(id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test func newIDsDoNotRepeat() {
        let ids = (0..<10_000).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        // The process's half is the same in each; the counter's half changes in most of its digits.
        #expect(Set(ids.map { $0.prefix(16) }).count == 1)
        #expect(
            zip(ids, ids.dropFirst()).allSatisfy { pair in
                zip(pair.0.suffix(16), pair.1.suffix(16)).filter { $0 != $1 }.count > 4
            })
    }

    @Test func theJSONAccessLogLineIsJSONWithItsFieldsEscaped() throws {
        let line = AccessLogLine(
            client: "127.0.0.1", method: "GET", target: "/a?q=\"x\"\n", route: "/a", http_version: "1.1",
            status: 0, bytes_in: 3, bytes_out: 0, duration_ms: 1.5, request_id: "id\\1", cancelled: "client_closed",
            close_to_cancel_ms: 0.25, messages_in: nil, messages_out: nil, close_code: nil)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(line.encoded.utf8)) as? [String: Any])
        #expect(object["target"] as? String == "/a?q=\"x\"\n")
        #expect(object["request_id"] as? String == "id\\1")
        #expect(object["cancelled"] as? String == "client_closed")
        #expect(object["close_to_cancel_ms"] as? Double == 0.25)
        #expect(object["status"] as? Int == 0)
        #expect(object["messages_in"] == nil)
        #expect(!line.encoded.contains("\n"))
        // Slashes as they are, and the keys in one order, so that lines compare and grep alike.
        let start = #"{"bytes_in":3,"bytes_out":0,"cancelled":"client_closed","client":"127.0.0.1""#
        #expect(line.encoded.hasPrefix(start))
        #expect(line.encoded.contains(#""route":"/a""#))
    }
}
