// What the REST API reads from a request: keys, the body as strict JSON, path ids, query parameters.
import Foundation
import Hummingbird
import HummingbirdCore
import LedgerCore
import NIOCore
import Replica

extension WalletAPI {
    func authorize(_ request: Request, write: Bool) throws {
        if let refusal = keys.refusal(authorization: request.headers[.authorization], write: write) { throw refusal }
    }

    /// The body as a JSON object with exactly the expected fields, parsed strictly (`StrictJSON`:
    /// a repeated field, a trailing comma, a byte order mark or bytes that are not UTF-8 are
    /// refused), and unknown fields refused too, so a typo never silently drops a field.
    func jsonObject(_ request: Request, fields: Set<String>, optional: Set<String> = []) async throws -> [String: JSONValue] {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limits.requestBodyBytesMax)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limits.requestBodyBytesMax)
        } catch {
            throw Problem(.badRequest, "incomplete-body", "Incomplete body", detail: "the request body could not be read whole: \(error)")
        }
        let parsed: JSONValue
        do {
            parsed = try buffer.withUnsafeReadableBytes { bytes throws(JSONError) in try StrictJSON.parse(bytes.bindMemory(to: UInt8.self)) }
        } catch {
            throw Problem.invalidJSON(error)
        }
        guard case .object(let members) = parsed else { throw Problem.invalidJSON("the body is JSON but not an object") }
        var object: [String: JSONValue] = [:]
        for (key, value) in members {
            guard fields.contains(key) else { throw Problem.unknownField(key) }
            object[key] = value
        }
        for key in fields.sorted() where !optional.contains(key) && object[key] == nil { throw Problem.missingField(key) }
        return object
    }

    /// The `{id}` of the path, as an account id.
    func accountIdParameter(_ context: BasicRequestContext) throws -> UInt128 {
        let text = try context.parameters.require("id")
        guard let id = Identifier.account(text) else { throw Problem.invalidAccountId(text) }
        return id
    }

    /// `?consistency=`: `applied` (the default: this replica's state, as of the op the answer
    /// names) or `linearizable` (after the leader's read index).
    func isLinearizable(_ query: FlatDictionary<Substring, Substring>) throws -> Bool {
        guard let consistency = query.get("consistency") else { return false }
        guard consistency == "linearizable" || consistency == "applied" else {
            throw Problem.invalidField("consistency", "'\(consistency.prefix(40))' is neither 'applied' (the default: this replica's state) nor 'linearizable' (the leader's read index)")
        }
        return consistency == "linearizable"
    }

    /// Unknown query parameters are refused, as unknown body fields are; so is a repeated one
    /// (`?at_op=1&at_op=2` means nothing in particular).
    func onlyParameters(_ query: FlatDictionary<Substring, Substring>, _ allowed: Set<String>) throws {
        var seen = Set<Substring>()
        for (key, _) in query {
            guard allowed.contains(String(key)) else { throw Problem.invalidField(String(key.prefix(64)), "unknown query parameter") }
            guard seen.insert(key).inserted else {
                throw Problem(.badRequest, "duplicate-parameter", "Repeated query parameter", detail: "query parameter '\(key)' appears more than once")
            }
        }
    }

    func string(_ body: [String: JSONValue], _ name: String) throws -> String {
        guard case .string(let value)? = body[name] else { throw Problem.invalidField(name, "must be a string, not \(body[name]?.kindName ?? "missing")") }
        return value
    }

    func accountId(_ body: [String: JSONValue], _ name: String) throws -> UInt128 {
        let text = try string(body, name)
        guard let id = Identifier.account(text) else { throw Problem.invalidAccountId(text) }
        return id
    }
}
