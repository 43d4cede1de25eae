import HTTPTypes
import TetherWeb

extension Request {
    /// The body read as a `multipart/form-data` form, streamed from the spooled body: fields into memory, each
    /// file part spooled on its own as `spooling` says (pass the application's configuration, so that part files
    /// go where request bodies go).
    ///
    /// Throws `HTTPError` 415 when the body is not `multipart/form-data`, 400 when it is malformed, and 413 past
    /// one of `limits`; part files read until then are removed. The form's part files are removed once it is
    /// released, or by ``MultipartForm/close()``.
    ///
    /// ```swift
    /// let form = try await request.multipartForm(spooling: configuration)
    /// let caption = form.fields["caption"] ?? ""
    /// let photo = try await form.file("photo")?.body.bytes()
    /// ```
    public func multipartForm(
        limits: MultipartForm.Limits = MultipartForm.Limits(),
        spooling: WebApplication.Configuration = WebApplication.Configuration()
    ) async throws -> MultipartForm {
        let contentType = HeaderParameters(parsing: self.headers[.contentType] ?? "")
        guard contentType.value == "multipart/form-data" else {
            throw HTTPError(.unsupportedMediaType, message: "The request body is not multipart/form-data.")
        }
        // RFC 2046 §5.1.1: a boundary has 1 to 70 characters.
        guard let boundary = contentType.parameters["boundary"], (1...70).contains(boundary.utf8.count) else {
            throw HTTPError(.badRequest, message: "The multipart/form-data Content-Type has no valid boundary.")
        }
        return try await MultipartForm.read(self.body, boundary: boundary, limits: limits, spooling: spooling)
    }

    /// Reads the body as a `multipart/form-data` form, as ``multipartForm(limits:spooling:)`` does, and calls `body`
    /// with it; the form's part files are removed when `body` returns or throws, whatever holds them then.
    ///
    /// ```swift
    /// try await request.withMultipartForm(spooling: configuration) { form in
    ///     try await form.file("upload")?.move(to: FilePath("/srv/uploads/latest"))
    /// }
    /// ```
    public func withMultipartForm<Result>(
        limits: MultipartForm.Limits = MultipartForm.Limits(),
        spooling: WebApplication.Configuration = WebApplication.Configuration(),
        _ body: (MultipartForm) async throws -> Result
    ) async throws -> Result {
        let form = try await self.multipartForm(limits: limits, spooling: spooling)
        defer { form.close() }
        return try await body(form)
    }
}
