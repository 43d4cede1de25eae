import Foundation
import Testing
import TetherTesting
import TetherWeb

/// `Set-Cookie` values: every attribute serialised, and what browsers would misread refused.
@Suite struct SetCookieTests {
    @Test func defaultsAreTheWholeSiteAndLax() throws {
        #expect(try SetCookie("theme", value: "dark").headerValue() == "theme=dark; Path=/; SameSite=Lax")
    }

    @Test func everyAttributeIsSerialisedInOrder() throws {
        let cookie = SetCookie(
            "session", value: "abc123", domain: "example.org", path: "/app",
            expires: Date(timeIntervalSince1970: 784_111_777),
            maxAge: 3600, secure: true, httpOnly: true, sameSite: SetCookie.SameSite.none, partitioned: true)
        #expect(
            try cookie.headerValue()
                == "session=abc123; Domain=example.org; Path=/app; Expires=Sun, 06 Nov 1994 08:49:37 GMT; "
                + "Max-Age=3600; Secure; HttpOnly; SameSite=None; Partitioned")
    }

    @Test(arguments: [(SetCookie.SameSite.strict, "Strict"), (.lax, "Lax"), (.none, "None")])
    func sameSiteIsSpelledAsBrowsersExpect(sameSite: SetCookie.SameSite, spelled: String) throws {
        let cookie = SetCookie("a", value: "b", path: nil, secure: true, sameSite: sameSite)
        #expect(try cookie.headerValue() == "a=b; Secure; SameSite=\(spelled)")
    }

    @Test func attributesLeftOutAreNotWritten() throws {
        #expect(try SetCookie("a", value: "", path: nil, sameSite: nil).headerValue() == "a=")
    }

    @Test(arguments: ["", "a b", "a=b", "a;b", "a,b", "(a)", "é", "a\"b"])
    func aNameThatIsNotATokenIsRefused(name: String) {
        #expect(throws: InvalidCookie.self) { try SetCookie(name, value: "v").headerValue() }
    }

    @Test(arguments: ["a b", "a;b", "a,b", "a\\b", "a\"b", "\"", "é", "a\u{7F}", "a\tb"])
    func aValueWithACharacterACookieCannotHoldIsRefused(value: String) {
        #expect(throws: InvalidCookie.self) { try SetCookie("a", value: value).headerValue() }
    }

    @Test(arguments: ["\"quoted\"", "\"\"", "!#$%&'()*+-./:<=>?@[]^_`{|}~", "base64url-_=="])
    func aValueOfCookieOctetsOrQuotedOnesIsKept(value: String) throws {
        #expect(try SetCookie("a", value: value, path: nil, sameSite: nil).headerValue() == "a=\(value)")
    }

    @Test func badAttributesAreRefused() {
        let refused: [SetCookie] = [
            SetCookie("a", value: "b", domain: ""),
            SetCookie("a", value: "b", domain: "example.org; Secure"),
            SetCookie("a", value: "b", path: "/a;b"),
            SetCookie("a", value: "b", path: "/a\nb"),
            SetCookie("a", value: "b", sameSite: SetCookie.SameSite.none),
            SetCookie("a", value: "b", partitioned: true),
            SetCookie("__Secure-a", value: "b"),
            SetCookie("__Host-a", value: "b"),
            SetCookie("__Host-a", value: "b", domain: "example.org", secure: true),
            SetCookie("__Host-a", value: "b", path: "/app", secure: true),
        ]
        for cookie in refused {
            #expect(throws: InvalidCookie.self, "\(cookie)") { try cookie.headerValue() }
        }
        #expect(throws: Never.self) { try SetCookie("__Host-a", value: "b", secure: true).headerValue() }
        #expect(throws: Never.self) { try SetCookie("a", value: "b", domain: ".example.org").headerValue() }
    }

    @Test func aResponseCarriesEachCookieInItsOwnField() async throws {
        var router = Router()
        router.get("/") { _ in
            var response = Response.text("hi")
            try response.setCookie(SetCookie("a", value: "1"))
            try response.setCookie(SetCookie("b", value: "2", httpOnly: true))
            try response.deleteCookie("old")
            try response.deleteCookie("__Host-gone")
            return response
        }
        let response = try await TestClient(WebApplication(router: router)).get("/")
        #expect(
            response.headers[values: .setCookie] == [
                "a=1; Path=/; SameSite=Lax",
                "b=2; Path=/; HttpOnly; SameSite=Lax",
                "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; SameSite=Lax",
                "__Host-gone=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; SameSite=Lax",
            ])
    }

    @Test func anInvalidCookieIsAServerError() async throws {
        var router = Router()
        router.get("/") { _ in
            var response = Response.text("hi")
            try response.setCookie(SetCookie("a", value: "two words"))
            return response
        }
        let response = try await TestClient(WebApplication(router: router)).get("/")
        #expect(response.status == .internalServerError)
        #expect(response.headers[values: .setCookie].isEmpty)
    }
}
