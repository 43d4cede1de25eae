import Foundation
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// Query and path parameters convert the same way; a typed path segment only matches what converts.
@Suite struct ParameterConversionTests {
    enum Order: String, ParameterConvertible {
        case newest, oldest
    }

    static let app: WebApplication = {
        var router = Router()
        router.get("/flag") { request in .text(Self.describe(request.query.get("verbose", as: Bool.self))) }
        router.get("/flag/:value") { request in .text(Self.describe(request.parameters.get("value", as: Bool.self))) }
        router.get("/items/<int:id>") { request in .text("item \(try request.parameters.require("id", as: Int.self))") }
        router.get("/users/<uuid:id>") { request in
            .text("user \(try request.parameters.require("id", as: UUID.self).uuidString)")
        }
        router.get("/list") { request in
            let order = try request.query.require("order", as: Order.self)
            let page = try request.query.require("page", as: Int.self)
            return .text("\(order.rawValue) \(page)")
        }
        return WebApplication(router: router)
    }()

    static func describe(_ flag: Bool?) -> String {
        flag.map { "\($0)" } ?? "nil"
    }

    @Test(arguments: [
        ("1", "true"), ("true", "true"), ("TRUE", "true"), ("yes", "true"), ("On", "true"),
        ("0", "false"), ("false", "false"), ("False", "false"), ("no", "false"), ("OFF", "false"),
        ("", "nil"), ("2", "nil"), ("maybe", "nil"), ("y", "nil"),
    ])
    func boolsReadAsFormsAndCommandLinesWriteThem(value: String, expected: String) async throws {
        let client = TestClient(Self.app)
        #expect(try await client.get("/flag?verbose=\(value)").text == expected)
        if !value.isEmpty {
            #expect(try await client.get("/flag/\(value)").text == expected)
        }
    }

    @Test func anAbsentBoolIsNil() async throws {
        #expect(try await TestClient(Self.app).get("/flag").text == "nil")
    }

    @Test(arguments: [
        ("/items/42", 200), ("/items/9223372036854775807", 200), ("/items/9223372036854775808", 404),
        ("/items/99999999999999999999", 404), ("/items/-1", 404), ("/items/+1", 404),
    ])
    func anIntSegmentMatchesOnlyWhatFitsInt(path: String, status: Int) async throws {
        let response = try await TestClient(Self.app).get(path)
        #expect(response.status.code == status)
    }

    @Test(arguments: [
        ("/users/123e4567-e89b-12d3-a456-426614174000", 200), ("/users/123E4567-E89B-12D3-A456-426614174000", 404),
        ("/users/123e4567e89b12d3a456426614174000", 404), ("/users/123e4567-e89b-12d3-a456-42661417400g", 404),
    ])
    func aUUIDSegmentMatchesOnlyWhatConvertsToUUID(path: String, status: Int) async throws {
        let response = try await TestClient(Self.app).get(path)
        #expect(response.status.code == status)
        if status == 200 {
            #expect(response.text == "user 123E4567-E89B-12D3-A456-426614174000")
        }
    }

    @Test(arguments: [
        ("/list?order=oldest&page=2", 200, "oldest 2"),
        ("/list?page=2", 400, "Parameter 'order' is missing."),
        ("/list?order=random&page=2", 400, "Parameter 'order' is not a valid Order."),
        ("/list?order=newest&page=two", 400, "Parameter 'page' is not a valid Int."),
    ])
    func requiredQueryParametersAre400WhenMissingOrInvalid(target: String, status: Int, text: String) async throws {
        let response = try await TestClient(Self.app).get(target)
        #expect(response.status.code == status)
        #expect(response.text == text)
    }
}
