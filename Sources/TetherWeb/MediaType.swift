/// Content types by file extension, for file responses and static files.
enum MediaType {
    private static let byExtension: [String: String] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8", "txt": "text/plain; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "xml": "application/xml", "json": "application/json", "pdf": "application/pdf",
        "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar",
        "wasm": "application/wasm", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "svg": "image/svg+xml", "ico": "image/vnd.microsoft.icon",
        "avif": "image/avif", "mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg",
        "mp4": "video/mp4", "webm": "video/webm", "woff": "font/woff", "woff2": "font/woff2",
        "ttf": "font/ttf", "otf": "font/otf", "map": "application/json", "jsonld": "application/ld+json",
        "webmanifest": "application/manifest+json", "yaml": "application/yaml", "yml": "application/yaml",
        "atom": "application/atom+xml", "rss": "application/rss+xml", "ics": "text/calendar; charset=utf-8",
        "apng": "image/apng", "bmp": "image/bmp", "m4a": "audio/mp4", "aac": "audio/aac", "flac": "audio/flac",
        "opus": "audio/ogg", "ogv": "video/ogg", "mov": "video/quicktime", "m3u8": "application/vnd.apple.mpegurl",
    ]

    /// The content type for a file name, `application/octet-stream` when its extension is unknown.
    static func forFile(named name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        let ext = name[name.index(after: dot)...].lowercased()
        return Self.byExtension[ext] ?? "application/octet-stream"
    }
}
