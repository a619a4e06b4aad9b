// `wallet format`: create a data directory.
import ArgumentParser
import LedgerCore
import Storage

struct FormatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "format", abstract: "Create and format a data directory.")

    @Option(help: "The data directory to create (must be absent or empty).") var data: String
    @Option(help: "Cluster id (decimal); every replica of a cluster shares it.") var cluster: String = "1"
    @Option(help: "This replica's index, from 0.") var replica: Int = 0
    @Option(help: "Number of replicas in the cluster.") var replicaCount: Int = 1
    @Option(help: "Segment size in MiB (segment_size_bytes / 2^20).") var segmentSizeMib: Int = Limits.segmentSizeBytesDefault >> 20

    func run() throws {
        try reportingErrors {
            guard case .success(let clusterId) = UInt128.parseDecimal(cluster), clusterId != 0 else {
                throw UserError("--cluster '\(cluster)' is not a positive decimal 128-bit id")
            }
            guard segmentSizeMib > 0 && segmentSizeMib <= (Limits.segmentSizeBytesMax >> 20) else {
                throw UserError("--segment-size-mib \(segmentSizeMib) is outside 1...\(Limits.segmentSizeBytesMax >> 20)")
            }
            let directory = try DataDirectory.format(path: data, clusterId: clusterId, replicaIndex: replica,
                                                     replicaCount: replicaCount, segmentSizeBytes: segmentSizeMib << 20)
            print("formatted \(directory.path): cluster \(clusterId), replica \(replica) of \(replicaCount), segments of \(segmentSizeMib) MiB")
        }
    }
}
