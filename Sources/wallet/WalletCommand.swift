// The root command and what its subcommands share: errors, exit codes.
import ArgumentParser
import Foundation

struct WalletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wallet",
        abstract: "A batch-oriented wallet ledger: durable, deterministic, reproducible by replay.",
        subcommands: [
            FormatCommand.self, GenCommand.self, IngestCommand.self, BalanceCommand.self,
            VerifyCommand.self, BenchCommand.self, StartCommand.self, StatusCommand.self, CompactCommand.self,
            HistoryCommand.self, ServeCommand.self, HTTPBaselineCommand.self, ClientKeyCommand.self,
        ])
}

/// An error the user can act on: printed as one line, exit code 1.
struct UserError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

extension ParsableCommand {
    /// Runs `body`, turning operating and input errors into a clear message and exit code 1.
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch {
            FileHandle.standardError.write(Data("wallet: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
