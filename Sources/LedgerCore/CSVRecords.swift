// CSV input: the book's transfer columns and an account list, parsed strictly into records.

/// A CSV file's error, with the 1-based line it is on.
public struct CSVError: Error, Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public var description: String { "line \(line): \(message)" }
}

/// The records of one CSV file: all of one kind, chosen by its header row.
public enum CSVRecords: Sendable {
    case transfers([Transfer])
    case accounts([Account])

    public var count: Int {
        switch self {
        case .transfers(let transfers): return transfers.count
        case .accounts(let accounts): return accounts.count
        }
    }

    /// Header of a transfers file; `flags` and `pending_id` may follow for two-phase transfers.
    public static let transferColumns = ["transaction_id", "from_account", "to_account", "amount", "currency"]
    public static let transferOptionalColumns = ["flags", "pending_id"]
    /// Header of an accounts file; `flags` may follow.
    public static let accountColumns = ["account_id", "currency"]
    public static let accountOptionalColumns = ["flags"]
    /// Longest line accepted, in bytes: far more than any valid row needs.
    public static let lineBytesMax = 4096

    /// Parses a whole file. Blank lines are skipped; anything else that is not a valid row is an error
    /// naming its line, and nothing of the file is returned.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<CSVRecords, CSVError> {
        var lineNumbers: [Int] = []
        return parse(bytes, lineNumbers: &lineNumbers)
    }

    /// `parse`, also giving the 1-based line of each record (for reports of refused records).
    public static func parse(_ bytes: UnsafeRawBufferPointer, lineNumbers: inout [Int]) -> Result<CSVRecords, CSVError> {
        lineNumbers = []
        var lines = LineReader(bytes: bytes)
        guard let (headerLine, headerText) = lines.next() else {
            return .failure(CSVError(line: 1, message: "empty file: expected a header row"))
        }
        let header = headerText.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        if matches(header, CSVRecords.transferColumns, optional: CSVRecords.transferOptionalColumns) {
            var transfers: [Transfer] = []
            while let (lineNumber, text) = lines.next() {
                if text.isEmpty { continue }
                switch parseTransfer(text, columns: header.count) {
                case .success(let transfer):
                    transfers.append(transfer)
                    lineNumbers.append(lineNumber)
                case .failure(let error): return .failure(CSVError(line: lineNumber, message: error.message))
                }
            }
            if let error = lines.error { return .failure(error) }
            return .success(.transfers(transfers))
        }
        if matches(header, CSVRecords.accountColumns, optional: CSVRecords.accountOptionalColumns) {
            var accounts: [Account] = []
            while let (lineNumber, text) = lines.next() {
                if text.isEmpty { continue }
                switch parseAccount(text, columns: header.count) {
                case .success(let account):
                    accounts.append(account)
                    lineNumbers.append(lineNumber)
                case .failure(let error): return .failure(CSVError(line: lineNumber, message: error.message))
                }
            }
            if let error = lines.error { return .failure(error) }
            return .success(.accounts(accounts))
        }
        let expected = "'\(transferColumns.joined(separator: ","))' or '\(accountColumns.joined(separator: ","))'"
        return .failure(CSVError(line: headerLine, message: "unknown header row '\(headerText)': expected \(expected)"))
    }

    private static func matches(_ header: [Substring], _ required: [String], optional: [String]) -> Bool {
        guard header.count >= required.count, header.count <= required.count + optional.count else { return false }
        let expected = required + optional
        return zip(header, expected).allSatisfy { $0 == $1 }
    }

    private static func fields(_ text: Substring, count: Int) -> Result<[Substring], RowError> {
        if text.contains("\"") { return .failure("quoted fields are not supported") }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard parts.count == count else { return .failure("expected \(count) fields, found \(parts.count)") }
        return .success(parts)
    }

    private static func decimal(_ field: Substring, _ name: String) -> Result<UInt128, RowError> {
        switch UInt128.parseDecimal(field) {
        case .success(let value): return .success(value)
        case .failure(.empty): return .failure("\(name) is empty")
        case .failure(.tooLarge): return .failure("\(name) '\(field)' does not fit in 128 bits")
        case .failure(.notADigit(let character)):
            return .failure("\(name) '\(field)' is not a non-negative integer (found '\(character)'; amounts are integer minor units)")
        }
    }

    /// An id field: a decimal that is not one of the reserved ids (`ReservedIds`).
    private static func id(_ field: Substring, _ name: String) -> Result<UInt128, RowError> {
        switch decimal(field, name) {
        case .failure(let message): return .failure(message)
        case .success(let value): return ReservedIds.contains(value) ? .failure(RowError(stringLiteral: ReservedIds.refusal(name, value))) : .success(value)
        }
    }

    private static func parseTransfer(_ text: Substring, columns: Int) -> Result<Transfer, RowError> {
        let parts: [Substring]
        switch fields(text, count: columns) {
        case .failure(let message): return .failure(message)
        case .success(let values): parts = values
        }
        var values: [UInt128] = []
        for (index, name) in ["transaction_id", "from_account", "to_account", "amount"].enumerated() {
            switch name == "transaction_id" ? id(parts[index], name) : decimal(parts[index], name) {
            case .failure(let message): return .failure(message)
            case .success(let value): values.append(value)
            }
        }
        guard let ledger = CurrencyCode.parse(parts[4]) else {
            return .failure("currency '\(parts[4])' is neither a positive 32-bit number nor 1-4 letters A-Z")
        }
        var flags: TransferFlags = []
        if parts.count > 5 && !parts[5].isEmpty {
            for name in parts[5].split(separator: "|") {
                switch name {
                case "pending": flags.insert(.pending)
                case "post_pending": flags.insert(.postPending)
                case "void_pending": flags.insert(.voidPending)
                default: return .failure("unknown transfer flag '\(name)' (pending, post_pending, void_pending)")
                }
            }
        }
        // Posting or voiding a pending transfer may leave the accounts 0 ("the pending one's"); 2^128-1 never.
        let resolvesPending = flags.contains(.postPending) || flags.contains(.voidPending)
        for (index, name) in [(1, "from_account"), (2, "to_account")] where values[index] == .max || (values[index] == 0 && !resolvesPending) {
            return .failure(RowError(stringLiteral: ReservedIds.refusal(name, values[index])))
        }
        var pendingId: UInt128 = 0
        if parts.count > 6 && !parts[6].isEmpty {
            switch id(parts[6], "pending_id") {
            case .failure(let message): return .failure(message)
            case .success(let value): pendingId = value
            }
        }
        return .success(Transfer(
            id: values[0], debitAccountId: values[1], creditAccountId: values[2], amount: values[3],
            ledger: ledger, flags: flags, pendingId: pendingId))
    }

    private static func parseAccount(_ text: Substring, columns: Int) -> Result<Account, RowError> {
        let parts: [Substring]
        switch fields(text, count: columns) {
        case .failure(let message): return .failure(message)
        case .success(let values): parts = values
        }
        let accountId: UInt128
        switch id(parts[0], "account_id") {
        case .failure(let message): return .failure(message)
        case .success(let value): accountId = value
        }
        guard let ledger = CurrencyCode.parse(parts[1]) else {
            return .failure("currency '\(parts[1])' is neither a positive 32-bit number nor 1-4 letters A-Z")
        }
        var flags: AccountFlags = []
        if parts.count > 2 && !parts[2].isEmpty {
            for name in parts[2].split(separator: "|") {
                switch name {
                case "debits_must_not_exceed_credits": flags.insert(.debitsMustNotExceedCredits)
                case "credits_must_not_exceed_debits": flags.insert(.creditsMustNotExceedDebits)
                default:
                    return .failure("unknown account flag '\(name)' (debits_must_not_exceed_credits, credits_must_not_exceed_debits)")
                }
            }
        }
        return .success(Account(id: accountId, ledger: ledger, flags: flags))
    }
}

/// Why one row is invalid; the caller adds the line number.
struct RowError: Error, ExpressibleByStringInterpolation {
    let message: String
    init(stringLiteral value: String) { message = value }
    init(stringInterpolation: DefaultStringInterpolation) { message = String(stringInterpolation: stringInterpolation) }
}

/// Splits bytes into lines (LF or CRLF), numbering them from 1 and refusing over-long or non-UTF-8 lines.
struct LineReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var lineNumber = 0
    var error: CSVError?

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func next() -> (Int, Substring)? {
        guard error == nil, offset < bytes.count else { return nil }
        lineNumber += 1
        var end = offset
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        let next = end + 1
        if end > offset && bytes[end - 1] == 0x0D { end -= 1 }
        defer { offset = next }
        guard end - offset <= CSVRecords.lineBytesMax else {
            error = CSVError(line: lineNumber, message: "line longer than \(CSVRecords.lineBytesMax) bytes")
            return nil
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
        guard let text = String(validating: slice, as: UTF8.self) else {
            error = CSVError(line: lineNumber, message: "not valid UTF-8 text")
            return nil
        }
        return (lineNumber, Substring(text))
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var start = startIndex
        var end = endIndex
        while start < end && (self[start] == " " || self[start] == "\t") { start = index(after: start) }
        while end > start && (self[index(before: end)] == " " || self[index(before: end)] == "\t") { end = index(before: end) }
        return self[start..<end]
    }
}
