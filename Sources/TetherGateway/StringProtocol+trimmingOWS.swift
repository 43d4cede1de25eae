extension StringProtocol {
    /// The text without the spaces and tabs around it: HTTP's optional whitespace (RFC 9110 §5.6.3).
    package var trimmingOWS: SubSequence {
        let start = self.firstIndex { $0 != " " && $0 != "\t" } ?? self.endIndex
        let end = self.lastIndex { $0 != " " && $0 != "\t" }.map(self.index(after:)) ?? start
        return self[start..<end]
    }
}
