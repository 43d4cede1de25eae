import TestSupport
import Testing
import TetherCookieSigning
import TetherTesting
import TetherWeb

/// Signed cookies: HMAC-SHA256 of name and value; a changed or unsigned value reads as nil; keys rotate.
@Suite struct SignedCookiesTests {
    static let signer = CookieSigner(secrets: ["first secret, 32 bytes or more, random"])

    /// The `Set-Cookie` value of a response that sets `value` signed by `signer`, and what a request sending back
    /// `cookie(value)` reads with `reader`.
    static func roundTrip(
        _ value: String, signer: CookieSigner = Self.signer, reader: CookieSigner = Self.signer,
        sending cookie: @escaping @Sendable (String) -> String = { "user=\($0)" }
    ) async throws -> (set: String, read: String?) {
        let read = Box<String?>(nil)
        var router = Router()
        router.get("/login") { _ in
            var response = Response.text("ok")
            try response.setCookie(SetCookie("user", value: value, path: nil, sameSite: nil), signedBy: signer)
            return response
        }
        router.get("/me") { request in
            read.value = request.cookies.verified("user", by: reader)
            return .text("")
        }
        let client = TestClient(WebApplication(router: router))
        let set = try #require(try await client.get("/login").headers[.setCookie])
        let signed = String(set.dropFirst("user=".count))
        _ = try await client.get("/me", headers: [.cookie: cookie(signed)])
        return (set, read.value)
    }

    @Test func aSignedValueReadsBack() async throws {
        let (set, read) = try await Self.roundTrip("42")
        #expect(read == "42")
        // `value.signature`: 32 bytes of HMAC in unpadded base64url.
        let signature = try #require(set.split(separator: ".").last)
        #expect(set.hasPrefix("user=42."))
        #expect(signature.count == 43)
        #expect(signature.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test func aValueWithDotsReadsBack() async throws {
        #expect(try await Self.roundTrip("a.b.c").read == "a.b.c")
    }

    @Test func theSignatureIsAnHMACOfNameAndValue() {
        // Computed apart (Python's hmac), so that a change of format is noticed.
        let signer = CookieSigner(secrets: ["key"])
        #expect(signer.sign("v", name: "n") == "v.\(Self.expected)")
    }

    /// HMAC-SHA256(key: "key", message: "n=v"), in unpadded base64url.
    static let expected = "G_k_oBBx6a8bQoZBSY8BsOuJY02JUbBtbCKwdKd5ef4"

    @Test(arguments: [
        "user=43.SIG", "user=42", "user=42.", "user=.SIG", "user=42.SIGx", "user=42.SIG==", "user=SIG",
    ])
    func aTamperedOrUnsignedValueReadsAsNil(template: String) async throws {
        let read = try await Self.roundTrip("42") { signed in
            let signature = String(signed.split(separator: ".").last!)
            return template.replacing("SIG", with: signature)
        }.read
        #expect(read == nil)
    }

    @Test func aChangedSignatureReadsAsNil() async throws {
        let read = try await Self.roundTrip("42") { signed in
            var bytes = Array(signed.utf8)
            bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            return "user=" + String(decoding: bytes, as: UTF8.self)
        }.read
        #expect(read == nil)
    }

    @Test func aValueSignedForAnotherCookieReadsAsNil() {
        let signed = Self.signer.sign("42", name: "admin")
        #expect(Self.signer.verify(signed, name: "user") == nil)
        #expect(Self.signer.verify(signed, name: "admin") == "42")
    }

    @Test func anUnsignedCookieOfTheSameNameDoesNotShadowTheSignedOne() async throws {
        let read = try await Self.roundTrip("42") { "user=forged; user=\($0)" }.read
        #expect(read == "42")
    }

    @Test func keysRotateTheFirstSignsAndAllVerify() async throws {
        let old = CookieSigner(secrets: ["old secret"])
        let rotated = CookieSigner(secrets: ["new secret", "old secret"])
        let new = CookieSigner(secrets: ["new secret"])
        #expect(try await Self.roundTrip("42", signer: old, reader: rotated).read == "42")
        #expect(try await Self.roundTrip("42", signer: rotated, reader: new).read == "42")
        #expect(try await Self.roundTrip("42", signer: old, reader: new).read == nil)
        #expect(try await Self.roundTrip("42", signer: rotated, reader: old).read == nil)
    }
}
