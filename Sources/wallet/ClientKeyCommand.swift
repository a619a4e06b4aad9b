// `wallet client-key`: a new client key for the binary protocol, and the line replicas accept it by.
import ArgumentParser
import Cluster
import Foundation

struct ClientKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client-key",
        abstract: "Make a client key: its file for the client (--key-file), and the line for the replicas' --client-keys file.",
        discussion: """
            A read-only key may look up accounts and ask for status, never submit. The key file is \
            written readable by its owner only; the line printed holds the same secret, for the \
            replicas' --client-keys file (keep that file as private as the key).
            """)

    @Option(help: "The key's id (1-32 of A-Z a-z 0-9 _ -), as the replicas will log it.") var id: String
    @Flag(help: "The key may only read (look-ups, status).") var read = false
    @Option(help: "Where to write the client's key file (must not exist).") var out: String

    func run() throws {
        try reportingErrors {
            guard id != SecretKey.clusterKeyId else { throw UserError("'cluster' names the cluster key: choose another id") }
            guard !FileManager.default.fileExists(atPath: out) else { throw UserError("\(out) exists: not overwritten") }
            let key: SecretKey
            do {
                key = try SecretKey.random(id: id)
                try key.write(path: out)
            } catch let error as KeyFileError {
                throw UserError(error.message)
            }
            print("wrote \(out): client key '\(id)' (\(read ? "read" : "write"), fingerprint \(key.fingerprint))")
            print("add this line to every replica's --client-keys file:")
            print(ClientKeys.line(for: key, scope: read ? .read : .write), terminator: "")
        }
    }
}
