// The ordinary `POST /v1/wallet/balance_transfer` body, parsed in place for the fast path.
import Foundation
import LedgerCore
import NIOCore

/// The ordinary transfer body, parsed without Foundation: one JSON object of exactly the five
/// fields, each a string with nothing escaped, in any order. Nil for anything else (the router
/// parses it properly and names the problem); the values are validated as the router validates them.
enum FastTransferBody {
    static func parse(_ body: ByteBuffer) -> (transfer: Transfer, transactionText: String)? {
        body.withUnsafeReadableBytes { bytes -> (transfer: Transfer, transactionText: String)? in
            // Each field's value as a byte range; the five keys have five different lengths.
            var from: Range<Int>?, to: Range<Int>?, amount: Range<Int>?, currency: Range<Int>?, transaction: Range<Int>?
            var index = 0
            func skipSpace() { while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 } }
            /// A string with nothing escaped, no controls, ASCII only: its byte range (else nil: the router's).
            func string() -> Range<Int>? {
                guard index < bytes.count, bytes[index] == 0x22 else { return nil }
                index += 1
                let start = index
                while index < bytes.count, bytes[index] != 0x22 {
                    guard bytes[index] >= 0x20, bytes[index] != 0x5C, bytes[index] < 0x80 else { return nil }
                    index += 1
                }
                guard index < bytes.count else { return nil }
                index += 1
                return start..<(index - 1)
            }
            func named(_ key: Range<Int>, _ name: StaticString) -> Bool {
                key.count == name.utf8CodeUnitCount && memcmp(bytes.baseAddress! + key.lowerBound, name.utf8Start, key.count) == 0
            }
            skipSpace()
            guard index < bytes.count, bytes[index] == 0x7B else { return nil }
            index += 1
            parsing: while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard index < bytes.count, bytes[index] == 0x3A else { return nil }
                index += 1
                skipSpace()
                guard let value = string() else { return nil }
                switch key.count {
                case 12 where named(key, "from_account") && from == nil: from = value
                case 10 where named(key, "to_account") && to == nil: to = value
                case 6 where named(key, "amount") && amount == nil: amount = value
                case 8 where named(key, "currency") && currency == nil: currency = value
                case 14 where named(key, "transaction_id") && transaction == nil: transaction = value
                default: return nil  // unknown or repeated: the router names it
                }
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == 0x2C { index += 1; continue }
                guard bytes[index] == 0x7D else { return nil }
                index += 1
                skipSpace()
                guard index == bytes.count else { return nil }
                break parsing
            }
            func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
            guard let from, let to, let amount, let currency, let transaction,
                  let debit = Identifier.account(bytes: UnsafeRawBufferPointer(rebasing: bytes[from])),
                  let credit = Identifier.account(bytes: UnsafeRawBufferPointer(rebasing: bytes[to])) else { return nil }
            let currencyCode = text(currency)
            let transactionText = text(transaction)
            guard let exponent = Currency.exponents[currencyCode], let ledger = Currency.ledger(of: currencyCode),
                  case .success(let minor) = Amount.minorUnits(bytes: UnsafeRawBufferPointer(rebasing: bytes[amount]), exponent: exponent),
                  let id = Identifier.transaction(transactionText) else { return nil }
            return (Transfer(id: id, debitAccountId: debit, creditAccountId: credit, amount: minor, ledger: ledger), transactionText)
        }
    }
}
