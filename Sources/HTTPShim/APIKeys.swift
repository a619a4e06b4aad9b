// Who may do what: the bearer tokens of `--api-keys FILE`, checked in constant time.
import Crypto
import Foundation

/// The API keys given at start. A key is kept only as its SHA-256 digest; a presented token is
/// hashed and compared with every key's digest, byte by byte, without stopping at the first
/// difference or the first match, so the time an answer takes says nothing about any key.
public struct APIKeys: Sendable {
    public enum Scope: String, Sendable { case read, write }

    private struct Key: Sendable {
        let digest: [UInt8]
        let scope: Scope
    }

    private let entries: [Key]
    /// Whether reads need a key too (by default reads are open).
    public let readsRequireKey: Bool

    public init(keys: [String: Scope], readsRequireKey: Bool) {
        entries = keys.sorted { $0.key < $1.key }.map { Key(digest: Array(SHA256.hash(data: Array($0.key.utf8))), scope: $0.value) }
        self.readsRequireKey = readsRequireKey
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// One key per line: `TOKEN` (may write) or `TOKEN read` (reads only); `#` starts a comment.
    public static func parse(_ text: String, readsRequireKey: Bool) throws -> APIKeys {
        var keys: [String: Scope] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count <= 2, words[0].count >= 16, words[0].allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw APIKeyFileError(line: number + 1, message: "expected 'TOKEN' or 'TOKEN read', with a token of at least 16 characters")
            }
            guard let scope = words.count == 2 ? Scope(rawValue: String(words[1])) : .write else {
                throw APIKeyFileError(line: number + 1, message: "the scope must be 'read' or 'write'")
            }
            keys[String(words[0])] = scope
        }
        guard !keys.isEmpty else { throw APIKeyFileError(line: 0, message: "no key in the file (without keys, leave out --api-keys)") }
        return APIKeys(keys: keys, readsRequireKey: readsRequireKey)
    }

    /// No keys at all: everyone who can connect may read and write (a local, loopback-only default).
    public static let open = APIKeys(keys: [:], readsRequireKey: false)

    /// Nil when allowed; otherwise the 401 or 403 to answer.
    func refusal(authorization: String?, write: Bool) -> Problem? {
        guard !entries.isEmpty, write || readsRequireKey else { return nil }
        guard let authorization, let token = APIKeys.bearerToken(authorization), let scope = scope(of: token) else { return .unauthorized() }
        return write && scope != .write ? .forbidden() : nil
    }

    /// The token of `Bearer <token>`: the scheme compared without case (RFC 9110 §11.1), spaces
    /// around the token allowed; nil for another scheme or no token.
    static func bearerToken(_ authorization: String) -> Substring? {
        let trimmed = authorization.drop { $0 == " " || $0 == "\t" }
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        guard trimmed[..<space].lowercased() == "bearer" else { return nil }
        var token = trimmed[space...].drop { $0 == " " || $0 == "\t" }
        while let last = token.last, last == " " || last == "\t" { token = token.dropLast() }
        return token.isEmpty ? nil : token
    }

    /// The scope of the key equal to `token`: every key is compared whole, whatever matches.
    private func scope(of token: Substring) -> Scope? {
        let presented = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Scope?
        for entry in entries {
            var difference: UInt8 = 0
            for index in 0..<presented.count { difference |= presented[index] ^ entry.digest[index] }
            if difference == 0 { found = entry.scope }
        }
        return found
    }
}

public struct APIKeyFileError: Error, CustomStringConvertible {
    public let line: Int
    public let message: String
    public var description: String { "API key file, line \(line): \(message)" }
}
