extension MultipartForm {
    /// How large a `multipart/form-data` body may be, part by part; past a limit, `HTTPError` 413 with a message
    /// that names the limit, and every part file read so far removed.
    ///
    /// ```swift
    /// var limits = MultipartForm.Limits()
    /// limits.maxPartSize = 10 << 20
    /// let form = try await request.multipartForm(limits: limits)
    /// ```
    public struct Limits: Sendable {
        /// Bytes of one part's content, file or field. Default 100 MiB.
        public var maxPartSize: Int64 = 100 << 20
        /// Bytes of all parts' contents together. Default 1 GiB.
        public var maxTotalSize: Int64 = 1 << 30
        /// Parts in the form. Default 1,000.
        public var maxParts: Int = 1000
        /// Bytes of one field's content: a part without a filename, held in memory. Default 1 MiB.
        public var maxFieldSize: Int64 = 1 << 20
        /// Bytes of one part's header fields, and of bytes that bring no part forward (preamble, epilogue),
        /// counted per 64 KiB read. Default 16 KiB.
        public var maxHeaderBytes: Int = 16 * 1024

        /// The defaults.
        public init() {}
    }
}
