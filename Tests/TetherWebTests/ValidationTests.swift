import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// A JSON body that does not decode is 400 in plain words; one that decodes but does not validate is 422.
@Suite struct ValidationTests {
    struct NewItem: Decodable, Validatable {
        struct Negative: Error {}

        var name: String
        var count: Int
        var tags: [String]?

        func validate() throws {
            if self.name.isEmpty { throw HTTPError.unprocessable("Field 'name' must not be empty.") }
            if self.count < 0 { throw Negative() }
        }
    }

    static let app: WebApplication = {
        var router = Router()
        router.post("/items") { request in
            let item = try await request.json(NewItem.self)
            return .text("created \(item.name)", status: .created)
        }
        return WebApplication(router: router)
    }()

    static func post(_ body: String) async throws -> TestResponse {
        try await TestClient(Self.app).post("/items", body: ByteBuffer(string: body))
    }

    @Test func aValidBodyReachesTheHandler() async throws {
        let response = try await Self.post(#"{"name":"pear","count":3}"#)
        #expect(response.status == .created)
        #expect(response.text == "created pear")
    }

    @Test func anHTTPErrorFromValidateIs422WithItsMessage() async throws {
        let response = try await Self.post(#"{"name":"","count":3}"#)
        #expect(response.status == .unprocessableContent)
        #expect(response.text == "Field 'name' must not be empty.")
    }

    @Test func anyOtherErrorFromValidateIs422WithoutItsText() async throws {
        let response = try await Self.post(#"{"name":"pear","count":-1}"#)
        #expect(response.status == .unprocessableContent)
        #expect(response.text == "The request body is not valid.")
    }

    @Test(arguments: [
        ("{nope", "The request body is not valid JSON."),
        ("", "The request body is not valid JSON."),
        (#"{"count":1}"#, "Field 'name' is missing."),
        (#"{"name":"pear","count":"three"}"#, "Field 'count' must be a number."),
        (#"{"name":null,"count":1}"#, "Field 'name' must not be null."),
        (#"{"name":"pear","count":1,"tags":["a",2]}"#, "Field 'tags[1]' must be a string."),
        ("[1, 2]", "The request body must be an object."),
    ])
    func aBodyThatDoesNotDecodeIs400InPlainWords(body: String, message: String) async throws {
        let response = try await Self.post(body)
        #expect(response.status == .badRequest)
        #expect(response.text == message)
        for leak in ["DecodingError", "Swift.", "CodingKeys", "NewItem", "context"] {
            #expect(!response.text.contains(leak))
        }
    }
}
