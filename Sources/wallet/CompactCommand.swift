// `wallet compact`: take a snapshot of a local data directory's state now.
import ArgumentParser
import Foundation
import LedgerCore
import Replica
import Storage

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Snapshot the state at the log's last op, then archive the sealed segments (lz4).",
        discussion: """
            The next open loads the newest valid snapshot and replays only the log after it; a damaged \
            snapshot is reported and an older one (or genesis) is used. Archived segments stay part of \
            the log (verify and history replay through them); no batch is deleted unless --prune-archives \
            is given.
            """)

    @Option(help: "The data directory.") var data: String
    @Option(help: "Snapshots kept (snapshots_retained); older ones are deleted.") var retain: Int = SnapshotFile.retainedCountDefault
    @Flag(name: .customLong("no-archive"), help: "Take the snapshot only; leave sealed segments as they are.") var noArchive = false
    @Flag(name: .customLong("prune-archives"),
          help: "Then delete the archives whose ops all lie at or before the oldest retained snapshot (keep your archive elsewhere first: states before that snapshot can no longer be rebuilt here).")
    var pruneArchives = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        try reportingErrors {
            guard retain >= 1 && retain <= 1000 else { throw UserError("--retain \(retain) is outside 1...1000") }
            guard !(pruneArchives && noArchive) else { throw UserError("--prune-archives deletes archives: it needs archiving (drop --no-archive)") }
            let node = try openNode(data: data, readOnly: false, quiet: json)
            guard node.log.lastOp >= 1 else { throw UserError("\(data): the log is empty, nothing to snapshot") }
            let startNs = monotonicNowNs()
            let written = try node.compact(retainedCount: retain, archive: !noArchive, pruneArchives: pruneArchives)
            let elapsedMs = (monotonicNowNs() - startNs) / 1_000_000
            let stateBytes = StateSection.allCases.reduce(0) { $0 + node.ledger.sectionBytes($1).count }
            let archivedData = written.archived.reduce(0) { $0 + $1.dataSizeBytes }
            let archivedFiles = written.archived.reduce(0) { $0 + $1.archiveSizeBytes }
            if json {
                print("{\"op\":\(written.op),\"path\":\"\(written.path)\",\"size_bytes\":\(written.sizeBytes),\"state_bytes\":\(stateBytes),\"elapsed_ms\":\(elapsedMs),"
                    + "\"segments_archived\":\(written.archived.count),\"archived_data_bytes\":\(archivedData),\"archive_bytes\":\(archivedFiles),\"archives_pruned\":\(written.pruned.count),\"base_op\":\(written.baseOp)}")
            } else {
                print("snapshot at op \(written.op): \(written.path), \(formatCount(written.sizeBytes)) bytes (state \(formatCount(stateBytes)) bytes before lz4), \(elapsedMs) ms")
                for archived in written.archived {
                    print("archived ops \(archived.firstOp)...\(archived.lastOp): \(archived.path), \(formatCount(archived.dataSizeBytes)) bytes -> \(formatCount(archived.archiveSizeBytes)) bytes")
                }
                for path in written.pruned { print("pruned \(path)") }
                if !written.pruned.isEmpty { print("the log now starts after op \(written.baseOp)") }
            }
        }
    }
}
