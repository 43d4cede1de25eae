import HTTPTypes
import NIOFileSystem
import TetherGateway

extension Response {
    /// How a browser should present a file response.
    public enum Disposition: Sendable {
        /// Shown in the browser where it can be.
        case inline
        /// Saved as a download.
        case attachment
    }

    /// A response that streams the file at `path`, with Content-Type (from the extension unless given),
    /// Content-Length, Last-Modified and Content-Disposition (none when `disposition` is `nil`).
    ///
    /// It answers every request with the whole file, as Django's `FileResponse` does;
    /// ``file(at:for:contentType:disposition:filename:)`` also answers conditional and range requests.
    /// Throws ``HTTPError`` 404 when there is no regular file at `path`.
    public static func file(
        at path: String,
        contentType: String? = nil,
        disposition: Disposition? = .inline,
        filename: String? = nil
    ) async throws -> Response {
        let info = try await Self.regularFileInfo(at: path)
        return Self.file(at: path, info: info, contentType: contentType, disposition: disposition, filename: filename)
    }

    /// The file at `path` as `request` asks for it: the whole file (200), a single byte range (206 with
    /// Content-Range), none (416 with `Content-Range: bytes */size`), or nothing new (304).
    ///
    /// On top of ``file(at:contentType:disposition:filename:)``'s headers it sends a strong `ETag` and
    /// `Accept-Ranges: bytes`; it answers 304 to a matching `If-None-Match`, or, without one, to an
    /// `If-Modified-Since` no older than the file; it honours `Range` on GET while `If-Range`, if sent, still names
    /// the file. A request for several ranges gets the whole file, as RFC 9110 lets a server ignore `Range`.
    /// Throws ``HTTPError`` 404 when there is no regular file at `path`.
    ///
    /// ```swift
    /// router.get("/reports/latest") { request in
    ///     try await .file(at: "/srv/reports/latest.pdf", for: request, disposition: .attachment)
    /// }
    /// ```
    public static func file(
        at path: String,
        for request: Request,
        contentType: String? = nil,
        disposition: Disposition? = .inline,
        filename: String? = nil
    ) async throws -> Response {
        let info = try await Self.regularFileInfo(at: path)
        let modified = info.lastDataModificationTime
        let etag = ETag(size: info.size, modifiedSeconds: modified.seconds, nanoseconds: modified.nanoseconds)
        var response = Self.file(
            at: path, info: info, contentType: contentType, disposition: disposition, filename: filename)
        response.headers[.eTag] = etag.description
        response.headers[.acceptRanges] = "bytes"
        switch FileAnswer(request, length: info.size, etag: etag, modifiedSeconds: modified.seconds) {
        case .notModified:
            // A 304 carries the validators a 200 would (RFC 9110 §15.4.5), and no body.
            var headers: HTTPFields = [.eTag: etag.description]
            headers[.lastModified] = response.headers[.lastModified]
            return Response(status: .notModified, headers: headers)
        case .send(.whole):
            return response
        case .send(.part(let offset, let count)):
            response.status = .partialContent
            response.headers[.contentLength] = String(count)
            response.headers[.contentRange] = "bytes \(offset)-\(offset + count - 1)/\(info.size)"
            response.body = ResponseBody(file: FileBody(path: path, offset: offset, count: count))
            return response
        case .send(.unsatisfiable):
            return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(info.size)"])
        }
    }

    /// The whole file with its headers, from what was learnt of it.
    private static func file(
        at path: String,
        info: FileInfo,
        contentType: String?,
        disposition: Disposition?,
        filename: String?
    ) -> Response {
        let name = filename ?? FilePath(path).lastComponent?.string ?? "file"
        var headers: HTTPFields = [:]
        headers[.contentType] = contentType ?? MediaType.forFile(named: name)
        headers[.contentLength] = String(info.size)
        headers[.lastModified] = HTTPDate.string(fromEpochSeconds: info.lastDataModificationTime.seconds)
        headers[.contentDisposition] = disposition.map { Self.contentDisposition($0, filename: name) }
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(file: FileBody(path: path, offset: 0, count: info.size)))
    }

    /// What the file system says of the regular file at `path`; ``HTTPError`` 404 when there is none.
    private static func regularFileInfo(at path: String) async throws -> FileInfo {
        let info = try? await FileSystem.shared.info(forFileAt: FilePath(path), infoAboutSymbolicLink: false)
        guard let info, info.type == .regular else {
            throw HTTPError(.notFound, message: "Not Found")
        }
        return info
    }

    /// `inline; filename="a.txt"`, or RFC 6266's `filename*` for names that are not plain ASCII.
    static func contentDisposition(_ disposition: Disposition, filename: String) -> String {
        let kind = disposition == .inline ? "inline" : "attachment"
        let plain = filename.utf8.allSatisfy {
            $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
        }
        if plain { return "\(kind); filename=\"\(filename)\"" }
        var encoded = ""
        for byte in filename.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return "\(kind); filename*=utf-8''\(encoded)"
    }
}
