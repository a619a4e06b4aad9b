// Every system call the storage layer makes, wrapped once: EINTR retried, errno turned into IOError.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An operating failure (ENOSPC, EIO, a missing file): typed, with the path and the call that failed.
public struct IOError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

enum Syscall {
    static func retryingEINTR<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw IOError(operation: operation, path: path, errno: code)
        }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        try retryingEINTR("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)  // Linux closes the fd even on EINTR; retrying could close another file.
    }

    static func fileSizeBytes(_ fd: Int32, _ path: String) throws -> Int {
        var info = stat()
        _ = try retryingEINTR("fstat", path) { fstat(fd, &info) }
        return Int(info.st_size)
    }

    /// Reserves `sizeBytes` of disk for the file so appends never hit ENOSPC half-way.
    static func preallocate(_ fd: Int32, _ path: String, sizeBytes: Int) throws {
        let code = posix_fallocate(fd, 0, off_t(sizeBytes))
        if code != 0 { throw IOError(operation: "fallocate", path: path, errno: code) }
    }

    static func fdatasync(_ fd: Int32, _ path: String) throws {
        _ = try retryingEINTR("fdatasync", path) { Glibc.fdatasync(fd) }
    }

    static func fsync(_ fd: Int32, _ path: String) throws {
        _ = try retryingEINTR("fsync", path) { Glibc.fsync(fd) }
    }

    /// fsyncs a directory, so a file created or renamed in it survives a crash.
    static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path)
    }

    static func pwriteAll(_ fd: Int32, _ path: String, _ bytes: UnsafeRawBufferPointer, offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let written = try retryingEINTR("pwrite", path) {
                Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if written == 0 { throw IOError(operation: "pwrite", path: path, errno: EIO) }
            done += written
        }
    }

    static func preadAll(_ fd: Int32, _ path: String, _ bytes: UnsafeMutableRawBufferPointer, offset: Int) throws -> Int {
        var done = 0
        while done < bytes.count {
            let read = try retryingEINTR("pread", path) {
                Glibc.pread(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if read == 0 { break }
            done += read
        }
        return done
    }

    static func mmap(_ fd: Int32, _ path: String, sizeBytes: Int, writable: Bool) throws -> UnsafeMutableRawPointer {
        let protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        guard let address = Glibc.mmap(nil, sizeBytes, protection, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw IOError(operation: "mmap", path: path, errno: errno)
        }
        return address
    }

    static func munmap(_ address: UnsafeMutableRawPointer, sizeBytes: Int) {
        _ = Glibc.munmap(address, sizeBytes)
    }

    /// Writes the mapped pages of [offset, offset + count) back to disk and waits for it.
    static func msync(_ address: UnsafeMutableRawPointer, _ path: String, offset: Int, count: Int) throws {
        let pageSizeBytes = 4096
        let start = offset / pageSizeBytes * pageSizeBytes
        let end = offset + count
        _ = try retryingEINTR("msync", path) { Glibc.msync(address + start, end - start, MS_SYNC) }
    }

    /// Replaces `path` with `bytes` so a crash leaves the old or the new content, never a mix:
    /// write a temporary file, fsync it, rename it over `path`, fsync the directory.
    static func writeFileAtomically(_ path: String, _ bytes: UnsafeRawBufferPointer) throws {
        let temporaryPath = path + ".tmp"
        let fd = try open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        try pwriteAll(fd, temporaryPath, bytes, offset: 0)
        try fsync(fd, temporaryPath)
        try rename(temporaryPath, path)
        let slash = path.lastIndex(of: "/")
        try fsyncDirectory(slash.map { String(path[..<$0]) } ?? ".")
    }

    static func mkdir(_ path: String) throws {
        if Glibc.mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw IOError(operation: "mkdir", path: path, errno: errno)
        }
    }

    static func rename(_ from: String, _ to: String) throws {
        _ = try retryingEINTR("rename", from) { Glibc.rename(from, to) }
    }

    static func unlink(_ path: String) throws {
        _ = try retryingEINTR("unlink", path) { Glibc.unlink(path) }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Names in a directory, sorted (no "." or "..").
    static func listDirectory(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw IOError(operation: "opendir", path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
