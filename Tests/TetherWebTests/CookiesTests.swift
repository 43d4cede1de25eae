import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// `request.cookies`: every `Cookie` field, parsed leniently as browsers send them.
@Suite struct CookiesTests {
    /// The cookies a handler sees for a request with `fields` as its `Cookie` header fields.
    static func cookies(_ fields: [String]) async throws -> Cookies {
        var headers = HTTPFields()
        for field in fields { headers.append(HTTPField(name: .cookie, value: field)) }
        let seen = Box<Cookies?>(nil)
        var router = Router()
        router.get("/") { request in
            seen.value = request.cookies
            return .text("")
        }
        _ = try await TestClient(WebApplication(router: router)).get("/", headers: headers)
        return try #require(seen.value)
    }

    @Test func cookiesOfEveryFieldAreRead() async throws {
        let cookies = try await Self.cookies(["a=1; b=2", "c=3"])
        #expect(cookies["a"] == "1")
        #expect(cookies["b"] == "2")
        #expect(cookies["c"] == "3")
        #expect(cookies["d"] == nil)
        #expect(cookies.map(\.name) == ["a", "b", "c"])
    }

    @Test func spacesAroundNamesAndValuesAreDropped() async throws {
        let cookies = try await Self.cookies(["  a = 1 ;b=two words;\tc=3\t;;"])
        #expect(cookies.map(\.name) == ["a", "b", "c"])
        #expect(cookies.map(\.value) == ["1", "two words", "3"])
    }

    @Test func quotedValuesLoseTheirQuotes() async throws {
        let cookies = try await Self.cookies([#"a="quoted"; b=""; c="; d="x"y""#])
        #expect(cookies["a"] == "quoted")
        #expect(cookies["b"] == "")
        #expect(cookies["c"] == "\"")
        #expect(cookies["d"] == "x\"y")
    }

    @Test func valuesKeepEqualsSignsAndPercentEscapes() async throws {
        let cookies = try await Self.cookies(["token=abc==; path=%2Fhome"])
        #expect(cookies["token"] == "abc==")
        #expect(cookies["path"] == "%2Fhome")
    }

    @Test func pairsWithoutANameOrAnEqualsSignAreSkipped() async throws {
        let cookies = try await Self.cookies(["flag; =orphan; a=1"])
        #expect(cookies.map(\.name) == ["a"])
    }

    @Test func theFirstOfARepeatedNameIsTheMostSpecific() async throws {
        let cookies = try await Self.cookies(["id=path-specific; id=site-wide", "id=later"])
        #expect(cookies["id"] == "path-specific")
        #expect(cookies.values(for: "id") == ["path-specific", "site-wide", "later"])
    }

    @Test func aRequestWithoutCookiesHasNone() async throws {
        #expect(try await Self.cookies([]).pairs.isEmpty)
    }
}
