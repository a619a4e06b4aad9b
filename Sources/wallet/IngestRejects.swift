// The records an ingest did not apply `ok`, each named by its file, line (or batch and record),
// id and result: the first few on the terminal, all in `--rejects FILE.csv` and in `--json`.
import Foundation
import LedgerCore
import Replica

struct IngestRejects {
    struct Row {
        let place: RecordPlace
        let kind: RecordKind
        let code: UInt8

        var resultName: String {
            kind == .transfers ? TransferResult(rawValue: code)?.name ?? "result_\(code)" : AccountResult(rawValue: code)?.name ?? "result_\(code)"
        }
        var kindName: String { kind == .transfers ? "transfer" : "account" }
        /// `exists` or `exists_with_different_fields` (the same raw values for both kinds).
        var isAlreadyThere: Bool { code == TransferResult.exists.rawValue || code == TransferResult.existsWithDifferentFields.rawValue }
    }

    /// `reject_lines_shown_max`: refused records listed on the terminal; the rest are counted.
    static let linesShownMax = 5

    let rows: [Row]

    init(refused: [RefusedRecord], input: InputFiles) {
        rows = refused.compactMap { record in input.locate(record.index).map { Row(place: $0, kind: record.kind, code: record.result) } }
    }

    /// Records answered `exists` (or `exists_with_different_*`): already in the ledger from an earlier ingest.
    var alreadyThere: Int { rows.filter(\.isAlreadyThere).count }

    func printFirst(rejectsPath: String?) {
        guard !rows.isEmpty else { return }
        // Records refused for a reason first; those already there (a file ingested again) after.
        let shown = (rows.filter { !$0.isAlreadyThere } + rows.filter(\.isAlreadyThere)).prefix(IngestRejects.linesShownMax)
        for row in shown {
            print("  \(row.isAlreadyThere ? "already there" : "refused"): \(row.place.description): \(row.kindName) \(row.place.id): \(row.resultName) (code \(row.code))")
        }
        if rows.count > IngestRejects.linesShownMax {
            let rest = rows.count - IngestRejects.linesShownMax
            print("  ... and \(counted(rest, "more record")) not applied " + (rejectsPath.map { "(all in \($0))" } ?? "(all of them with --rejects FILE.csv or --json)"))
        } else if let rejectsPath {
            print("  (listed in \(rejectsPath))")
        }
    }

    /// Writes every refused record as CSV: file,line,batch,record,kind,id,result,code.
    func write(csvPath: String) throws {
        var text = "file,line,batch,record,kind,id,result,code\n"
        for row in rows {
            let file = row.place.file.contains(",") || row.place.file.contains("\"") ? "\"" + row.place.file.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : row.place.file
            text += "\(file),\(row.place.line.map(String.init) ?? ""),\(row.place.batch.map(String.init) ?? ""),\(row.place.record),\(row.kindName),\(row.place.id),\(row.resultName),\(row.code)\n"
        }
        do {
            try text.write(toFile: csvPath, atomically: true, encoding: .utf8)
        } catch {
            throw UserError("cannot write --rejects \(csvPath): \(error.localizedDescription)")
        }
    }

    /// `"rejects":[...]` for the JSON report.
    var json: String {
        let items = rows.map { row in
            "{\"file\":\"\(jsonEscaped(row.place.file))\",\"line\":\(row.place.line.map(String.init) ?? "null"),\"batch\":\(row.place.batch.map(String.init) ?? "null"),"
                + "\"record\":\(row.place.record),\"kind\":\"\(row.kindName)\",\"id\":\"\(row.place.id)\",\"result\":\"\(row.resultName)\",\"code\":\(row.code)}"
        }
        return "\"rejects\":[\(items.joined(separator: ","))]"
    }
}
