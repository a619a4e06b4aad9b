// The REST API's reads: an account now or in the past, its changes paged, its event stream, a transfer.
import Foundation
import Hummingbird
import HummingbirdCore
import LedgerCore
import NIOCore
import Replica

extension WalletAPI {
    func account(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["at_op", "at_time", "consistency"])
        if try isLinearizable(query) {
            guard query.get("at_op") == nil && query.get("at_time") == nil else {
                throw Problem.conflictingParameters("consistency=linearizable reads the present; at_op and at_time read the past (give one or the other)")
            }
            let (found, op) = try await writer.linearizableAccount(id, timeoutMs: limits.requestTimeoutMs)
            guard let found else { throw Problem.notFound("account \(id) does not exist (as of op \(op))") }
            var object = accountJSON(found)
            object["op"] = op
            object["consistency"] = "linearizable"
            return json(.ok, object)
        }
        if let atOpText = query.get("at_op") {
            guard query.get("at_time") == nil else { throw Problem.conflictingParameters("give at_op or at_time, not both") }
            guard let atOp = UInt64(atOpText) else { throw Problem.invalidField("at_op", "'\(atOpText.prefix(40))' is not an op number") }
            return try await pastAccount(id, atOp: atOp, atTimeNs: nil)
        }
        if let atTimeText = query.get("at_time") {
            guard let atTimeNs = Instant.parseNs(atTimeText) else {
                throw Problem.invalidField("at_time", "'\(atTimeText.prefix(40))' is neither ns since the epoch nor RFC 3339 UTC (2026-11-23T14:20:00Z)")
            }
            return try await pastAccount(id, atOp: nil, atTimeNs: atTimeNs)
        }
        let (found, op) = readModel.account(id: id)
        guard let found else { throw Problem.notFound("account \(id) does not exist (as of op \(op))") }
        // The hot read: written straight to text, the same fields and order as `accountJSON` + JSONText.
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: accountText(found, op: op))))
    }

    /// A past balance, exact to the record: from the read model's balance history when the point is
    /// in its window (microseconds), otherwise the nearest snapshot at or before it plus a replay.
    func pastAccount(_ id: UInt128, atOp: UInt64?, atTimeNs: UInt64?) async throws -> Response {
        if let atOp, atOp > readModel.op {
            throw Problem.opNotApplied("at_op", atOp, appliedOp: readModel.op)
        }
        if let recent = readModel.pastAccount(id: id, atOp: atOp, atTimeNs: atTimeNs) {
            guard let found = recent.account else { throw Problem.notFound("account \(id) did not exist at op \(recent.point.op)") }
            var object = accountJSON(found)
            object["op"] = recent.point.op
            object["records_of_op"] = recent.point.records
            object["as_of_ns"] = recent.point.timestampNs
            object["source"] = "balance_history"
            object["consistency"] = "historical"
            return json(.ok, object)
        }
        let past = try await self.past.account(id, atOp: atOp, atTimeNs: atTimeNs, appliedOp: readModel.op)
        guard let found = past.account else { throw Problem.notFound("account \(id) did not exist at op \(past.point.op)") }
        var object = accountJSON(found)
        object["op"] = past.point.op
        object["records_of_op"] = past.point.records
        object["as_of_ns"] = past.point.timestampNs
        object["snapshot_op"] = past.snapshotOp
        object["source"] = "replay"
        object["consistency"] = "historical"
        return json(.ok, object)
    }

    /// An account's changes, paged by op: each with the transfer, the amount and the balances after it.
    func accountTransfers(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["from_op", "to_op", "limit"])
        let appliedOp = readModel.op
        guard let account = readModel.account(id: id).account else { throw Problem.notFound("account \(id) does not exist (as of op \(appliedOp))") }
        func number(_ name: String, _ fallback: UInt64) throws -> UInt64 {
            guard let given = query.get(name) else { return fallback }
            guard let value = UInt64(given) else { throw Problem.invalidField(name, "'\(given.prefix(40))' is not a number") }
            return value
        }
        let fromOp = try number("from_op", 1)
        let toOp = try number("to_op", appliedOp)
        let limit = try number("limit", 100)
        guard limit >= 1 && limit <= UInt64(PastReads.pageEntriesMax) else {
            throw Problem.invalidField("limit", "\(limit) is outside 1...\(PastReads.pageEntriesMax) (history_page_entries_max)")
        }
        guard toOp <= appliedOp else { throw Problem.opNotApplied("to_op", toOp, appliedOp: appliedOp) }
        // An empty range (from_op past to_op, or op 0 alone) is an empty page.
        let page: (entries: [AccountHistoryEntry], nextFromOp: UInt64?) = fromOp > toOp || toOp == 0 ? ([], nil) : try await past.transfers(id, fromOp: max(fromOp, 1), toOp: toOp, limit: Int(limit))
        let (code, exponent) = Currency.display(account.ledger)
        let entries = page.entries.map { historyEntryJSON($0, exponent: exponent) }
        var object: [String: Any] = ["account_id": String(id), "currency": code, "from_op": fromOp, "to_op": toOp, "entries": entries]
        object["next_from_op"] = page.nextFromOp.map { $0 as Any } ?? NSNull()
        return json(.ok, object)
    }

    /// Server-sent events: the account's state now (`event: balance`), its changes since `from_op`
    /// if given (`event: change`, one per transfer, from the log), then every later change as it
    /// is applied (`event: balance`, with the op). `id` is the op, so a client that reconnects
    /// with `Last-Event-ID` (or `from_op`) misses nothing. Comments keep idle proxies open.
    func accountEvents(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["from_op"])
        var fromOp: UInt64?
        let lastEventId = request.headers.first { $0.name.canonicalName == "last-event-id" }?.value
        // Last-Event-ID is the op of the last event seen: the stream resumes after it (checked: it is the client's number).
        if let lastEventId, query.get("from_op") == nil {
            guard let seen = UInt64(lastEventId.trimmingCharacters(in: .whitespaces)), seen < UInt64.max else {
                throw Problem.invalidField("Last-Event-ID", "'\(lastEventId.prefix(40))' is not the op of an event")
            }
            fromOp = seen + 1
        } else if let given = query.get("from_op") {
            guard let value = UInt64(given), value >= 1 else { throw Problem.invalidField("from_op", "'\(given.prefix(40))' is not an op number") }
            fromOp = value
        }
        // Subscribe before reading the current state, so no change falls between the two.
        let stream = events.subscribe(id)
        let (current, currentOp) = readModel.account(id: id)
        guard let current else { throw Problem.notFound("account \(id) does not exist (as of op \(currentOp))") }
        let exponent = Currency.display(current.ledger).exponent
        var history: [AccountHistoryEntry] = []
        if let fromOp, fromOp <= currentOp {
            var next: UInt64? = fromOp
            while let start = next {
                let page = try await past.transfers(id, fromOp: start, toOp: currentOp, limit: PastReads.pageEntriesMax)
                history += page.entries
                next = page.nextFromOp
            }
        }
        let keepAliveMs = max(100, min(15_000, limits.connectionIdleTimeoutMs / 2))
        let replay = history
        let body = ResponseBody { writer in
            for entry in replay {
                var change = historyEntryJSON(entry, exponent: exponent)
                change["account_id"] = String(id)
                try await writer.write(serverSentEvent(id: entry.op, event: "change", change))
            }
            var state = accountJSON(current)
            state["op"] = currentOp
            try await writer.write(serverSentEvent(id: currentOp, event: "balance", state))
            // Live changes, with keep-alive comments between them when quiet.
            let merged = AsyncStream<EventHub.Event?> { continuation in
                let forward = Task {
                    for await event in stream { continuation.yield(event) }
                    continuation.finish()
                }
                let ticker = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(keepAliveMs))
                        continuation.yield(nil)
                    }
                }
                continuation.onTermination = { _ in forward.cancel(); ticker.cancel() }
            }
            for await item in merged {
                guard let item else {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                switch item {
                case .balance(let account, let op):
                    guard op > currentOp else { continue }
                    var object = accountJSON(account)
                    object["op"] = op
                    try await writer.write(serverSentEvent(id: op, event: "balance", object))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func transfer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let text = try context.parameters.require("id")
        guard let id = Identifier.transaction(text) else { throw Problem.invalidTransactionId(text) }
        let query = request.uri.queryParameters
        try onlyParameters(query, ["consistency"])
        let linearizable = try isLinearizable(query)
        let outcome = linearizable
            ? try await writer.linearizableTransfer(id, timeoutMs: limits.requestTimeoutMs)
            : try await writer.submit(.lookupTransfer(id), timeoutMs: limits.requestTimeoutMs)
        guard let stored = outcome.stored else { throw Problem.notFound("transfer \(text.prefix(64)) does not exist (as of op \(outcome.op))") }
        var object = transferJSON(stored.transfer, transactionId: text)
        object["result"] = stored.result.name
        // The op that applied it, as the transfer's own answer names it; the state read is as of `as_of_op`.
        object["op"] = outcome.storedOp.map { $0 as Any } ?? NSNull()
        object["as_of_op"] = outcome.op
        object["consistency"] = linearizable ? "linearizable" : "applied"
        return json(.ok, object)
    }
}
