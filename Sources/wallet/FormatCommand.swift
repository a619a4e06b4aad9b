// `wallet format`: create a data directory.
import ArgumentParser
import Foundation
import Cluster
import LedgerCore
import Storage

struct FormatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "format", abstract: "Create and format a data directory.")

    @Option(help: "The data directory to create (must be absent or empty).") var data: String
    @Option(help: "Cluster id (decimal); every replica of a cluster shares it.") var cluster: String = "1"
    @Option(help: "This replica's index, from 0.") var replica: Int = 0
    @Option(help: "Number of replicas in the cluster.") var replicaCount: Int = 1
    @Option(help: "Segment size in MiB (segment_size_bytes / 2^20).") var segmentSizeMib: Int = Limits.segmentSizeBytesDefault >> 20
    @Option(help: "The cluster key to copy into DATA/cluster-key (every replica of a cluster needs the same one); without it a new random key is made. Give a replica's DATA/cluster-key.")
    var clusterKeyFile: String?

    func run() throws {
        try reportingErrors {
            guard case .success(let clusterId) = UInt128.parseDecimal(cluster), clusterId != 0 else {
                throw UserError("--cluster '\(cluster)' is not a positive decimal 128-bit id")
            }
            guard segmentSizeMib > 0 && segmentSizeMib <= (Limits.segmentSizeBytesMax >> 20) else {
                throw UserError("--segment-size-mib \(segmentSizeMib) is outside 1...\(Limits.segmentSizeBytesMax >> 20)")
            }
            // Read (and checked) before anything is created, so a bad key file leaves nothing behind.
            let key: SecretKey
            do {
                key = try clusterKeyFile.map { try SecretKey.read(path: $0) } ?? SecretKey.random(id: SecretKey.clusterKeyId)
            } catch let error as KeyFileError {
                throw UserError(error.message)
            }
            guard key.id == SecretKey.clusterKeyId else { throw UserError("\(clusterKeyFile!): holds client key '\(key.id)', not a cluster key") }
            // Missing parents are created (as `mkdir -p` would); the directory itself must be new or empty.
            if let parent = parentPath(of: data), !FileManager.default.fileExists(atPath: parent) {
                do {
                    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                } catch {
                    throw UserError("cannot create \(parent), the parent of --data \(data): \(error.localizedDescription)")
                }
            }
            let directory = try DataDirectory.format(path: data, clusterId: clusterId, replicaIndex: replica,
                                                     replicaCount: replicaCount, segmentSizeBytes: segmentSizeMib << 20)
            try key.write(path: directory.path + "/" + SecretKey.clusterKeyFileName)
            print("formatted \(directory.path): cluster \(clusterId), replica \(replica) of \(replicaCount), segments of \(segmentSizeMib) MiB; "
                  + (clusterKeyFile == nil ? "a new cluster key \(key.fingerprint)" : "cluster key \(key.fingerprint)") + " in \(SecretKey.clusterKeyFileName)"
                  + (clusterKeyFile == nil && replicaCount > 1 ? " (format the other replicas with --cluster-key-file \(directory.path)/\(SecretKey.clusterKeyFileName))" : ""))
        }
    }
}

/// The directory holding `path` ("a/b/c" → "a/b", "/x" → "/"), or nil for a single relative
/// component. (Foundation's `deletingLastPathComponent` traps on some relative paths here.)
func parentPath(of path: String) -> String? {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return nil }
    let parent = trimmed[..<slash]
    return parent.isEmpty ? "/" : String(parent)
}
