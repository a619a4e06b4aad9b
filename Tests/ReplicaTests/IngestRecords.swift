// What the node tests share: ingesting records held in arrays.
import LedgerCore
import Replica

extension LocalNode {
    /// Ingests `accounts` and then `transfers` durably, as `wallet ingest` does with two files.
    @discardableResult
    func ingest(accounts: [Account] = [], transfers: ArraySlice<Transfer> = []) throws -> IngestReport {
        try accounts.withUnsafeBytes { accountBytes in
            try transfers.withUnsafeBytes { transferBytes in
                var submissions: [Submission] = []
                if !accounts.isEmpty { submissions.append(Submission(kind: .accounts, records: accountBytes)) }
                if !transfers.isEmpty { submissions.append(Submission(kind: .transfers, records: transferBytes)) }
                return try ingest(submissions)
            }
        }
    }
}
