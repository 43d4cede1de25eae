import NIOCore
import NIOFileSystem
import SystemPackage
import TetherWeb

/// A file part of a ``MultipartForm``: its names, its content type, and its content spooled as a request body
/// is, in memory up to the spooling threshold and in a temporary file beyond it.
///
/// ```swift
/// guard let upload = form.file("document") else { throw HTTPError(.badRequest, message: "No document.") }
/// try await upload.move(to: FilePath("/srv/uploads/\(UUID())"))
/// ```
public struct MultipartFile: Sendable {
    /// The form field's name.
    public let name: String
    /// The file's name as the client gave it, unchecked: never use it as a path.
    public let filename: String
    /// The part's `Content-Type`; `application/octet-stream` when it has none.
    public let contentType: String
    /// The part's header fields.
    public let headers: HTTPFields
    /// The content: read it with `bytes()` or `chunks()`; `temporaryFile` is its path on disk, if it is there.
    public let body: SpooledBody

    /// The content's size in bytes.
    public var size: Int64 { self.body.count }

    /// Puts the content at `destination`, which must not exist: renames the temporary file (copies it across
    /// file systems), or writes the bytes held in memory.
    ///
    /// The file at `destination` is the caller's; the form's end no longer removes it.
    public func move(to destination: FilePath) async throws {
        if let temporaryFile = self.body.temporaryFile {
            try await FileSystem.shared.moveItem(at: temporaryFile, to: destination)
            return
        }
        try await self.body.bytes().write(toFileAt: destination)
    }
}
