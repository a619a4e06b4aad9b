// A throwaway CA and one replica certificate for 127.0.0.1, made with the openssl tool: for tests and
// benches of TLS on one machine (a real cluster brings its own).
import Foundation

public enum LocalCertificates {
    /// Writes `ca.pem`, `replica.pem` and `replica.key` (P-256, valid two days, IP 127.0.0.1) into
    /// `directory` and returns them as TLS files every local replica can use.
    public static func make(in directory: String) throws -> TLSFiles {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let extensions = directory + "/replica.ext"
        try "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + curve + ["-keyout", directory + "/ca.key", "-out", directory + "/ca.pem", "-days", "2", "-subj", "/CN=wallet-local-ca"])
        try openssl(["req"] + curve + ["-keyout", directory + "/replica.key", "-out", directory + "/replica.csr", "-subj", "/CN=wallet-replica"])
        try openssl(["x509", "-req", "-in", directory + "/replica.csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                     "-CAcreateserial", "-out", directory + "/replica.pem", "-days", "2", "-extfile", extensions])
        chmod(directory + "/replica.key", 0o600)
        chmod(directory + "/ca.key", 0o600)
        return TLSFiles(certificatePath: directory + "/replica.pem", privateKeyPath: directory + "/replica.key", caPath: directory + "/ca.pem")
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TLSSetupError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}
