// The secrets a connection proves: the cluster key (peers, and operators' tools) and client keys.
import Crypto
import Foundation

/// A 256-bit secret and the name it is known by: `cluster` for the cluster key, or a client key's id.
///
/// Key files hold one line, `wallet key v1 <id> <64 hex digits>`, and must be readable by their
/// owner only (mode 0600 or stricter): a key file others can read is refused, as ssh refuses one.
/// A secret never appears in a log, a status answer or a command line.
public struct SecretKey: Sendable, Equatable, CustomStringConvertible {
    public static let clusterKeyId = "cluster"
    /// The cluster key's file in every replica's data directory.
    public static let clusterKeyFileName = "cluster-key"
    public static let sizeBytes = 32
    /// Key ids: 1...32 of [A-Za-z0-9_-].
    public static let idBytesMax = 32

    public let id: String
    let bytes: [UInt8]

    public init(id: String, bytes: [UInt8]) throws {
        guard SecretKey.isValidId(id) else { throw KeyFileError("key id '\(id.prefix(40))' must be 1...\(SecretKey.idBytesMax) of A-Z a-z 0-9 _ -") }
        guard bytes.count == SecretKey.sizeBytes else { throw KeyFileError("a key is \(SecretKey.sizeBytes) bytes, not \(bytes.count)") }
        self.id = id
        self.bytes = bytes
    }

    /// A fresh random key (the system's CSPRNG).
    public static func random(id: String) throws -> SecretKey {
        var generator = SystemRandomNumberGenerator()
        return try SecretKey(id: id, bytes: (0..<sizeBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func isValidId(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= idBytesMax && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }

    var symmetric: SymmetricKey { SymmetricKey(data: bytes) }

    /// Never the secret: its id and a short fingerprint (the first 8 hex digits of its SHA-256).
    public var description: String { "key '\(id)' (fingerprint \(fingerprint))" }

    public var fingerprint: String { SHA256.hash(data: bytes).prefix(4).map { String(format: "%02x", $0) }.joined() }

    /// The one line of its key file.
    public var fileText: String { "wallet key v1 \(id) \(bytes.map { String(format: "%02x", $0) }.joined())\n" }

    /// Parses `wallet key v1 <id> <hex>` (surrounding whitespace ignored).
    public static func parse(line: Substring) throws -> SecretKey {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count == 5, words[0] == "wallet", words[1] == "key", words[2] == "v1" else {
            throw KeyFileError("expected 'wallet key v1 <id> <\(sizeBytes * 2) hex digits>'")
        }
        guard let bytes = hexBytes(words[4]), bytes.count == sizeBytes else { throw KeyFileError("the key is not \(sizeBytes * 2) hex digits") }
        return try SecretKey(id: String(words[3]), bytes: bytes)
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = hexValue(high), let l = hexValue(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// Reads a key file, refusing one that others may read.
    public static func read(path: String) throws -> SecretKey {
        var status = stat()
        guard stat(path, &status) == 0 else { throw KeyFileError("\(path): cannot read the key file (\(String(cString: strerror(errno))))") }
        guard status.st_mode & 0o077 == 0 else {
            throw KeyFileError("\(path): the key file may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw KeyFileError("\(path): the key file is not UTF-8 text") }
        do {
            return try parse(line: Substring(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        } catch let error as KeyFileError {
            throw KeyFileError("\(path): \(error.message)")
        }
    }

    /// Writes the key file, readable by its owner only, durably (temp file, fsync, rename).
    public func write(path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw KeyFileError("\(temporary): cannot create (\(String(cString: strerror(errno))))") }
        let text = Array(fileText.utf8)
        let written = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == text.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw KeyFileError("\(path): cannot write the key file (\(String(cString: strerror(errno))))")
        }
    }
}

public struct KeyFileError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a client key may do.
public enum ClientScope: String, Sendable {
    case read, write
}

/// The client keys a replica accepts (`--client-keys FILE`): one per line, `<id> <64 hex> <read|write>`,
/// `#` starting a comment. The cluster key is always accepted from clients too, with write scope
/// (the replica's own REST API and operators' tools on its host hold it).
public struct ClientKeys: Sendable {
    let keys: [String: (key: SecretKey, scope: ClientScope)]

    public init(_ keys: [(SecretKey, ClientScope)] = []) {
        self.keys = Dictionary(keys.map { ($0.0.id, ($0.0, $0.1)) }, uniquingKeysWith: { first, _ in first })
    }

    public static func parse(_ text: String, path: String) throws -> ClientKeys {
        var entries: [(SecretKey, ClientScope)] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.isEmpty { continue }
            guard words.count == 3, let bytes = SecretKey.hexBytes(words[1]), let scope = ClientScope(rawValue: String(words[2])) else {
                throw KeyFileError("\(path), line \(number + 1): expected '<id> <\(SecretKey.sizeBytes * 2) hex digits> <read|write>'")
            }
            guard words[0] != Substring(SecretKey.clusterKeyId) else { throw KeyFileError("\(path), line \(number + 1): 'cluster' names the cluster key") }
            do {
                entries.append((try SecretKey(id: String(words[0]), bytes: bytes), scope))
            } catch let error as KeyFileError {
                throw KeyFileError("\(path), line \(number + 1): \(error.message)")
            }
            guard Set(entries.map(\.0.id)).count == entries.count else { throw KeyFileError("\(path), line \(number + 1): key id '\(words[0])' appears twice") }
        }
        return ClientKeys(entries)
    }

    func key(id: String) -> (key: SecretKey, scope: ClientScope)? { keys[id] }

    /// The line a replica's client-keys file holds for `key`.
    public static func line(for key: SecretKey, scope: ClientScope) -> String {
        "\(key.id) \(key.bytes.map { String(format: "%02x", $0) }.joined()) \(scope.rawValue)\n"
    }
}
