// An mmap'd file that owns its descriptor and mapping: maps in init, unmaps in deinit.
#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped shared, read-write or read-only. Pointers lent out stay valid while it lives.
public final class MappedFile {
    public let path: String
    public let sizeBytes: Int
    public let isWritable: Bool
    let fd: Int32
    let base: UnsafeMutableRawPointer

    /// Opens an existing file and maps all of it.
    public init(path: String, writable: Bool) throws {
        fd = try Syscall.open(path, writable ? O_RDWR : O_RDONLY)
        do {
            sizeBytes = try Syscall.fileSizeBytes(fd, path)
            guard sizeBytes > 0 else { throw IOError(operation: "mmap (empty file)", path: path, errno: EINVAL) }
            base = try Syscall.mmap(fd, path, sizeBytes: sizeBytes, writable: writable)
        } catch {
            Syscall.close(fd)
            throw error
        }
        self.path = path
        isWritable = writable
    }

    /// Creates a new file of `sizeBytes`, preallocated on disk, and maps it read-write.
    /// Fails if the file exists. The caller makes the creation durable (`syncAll`, directory fsync).
    public init(creating path: String, sizeBytes: Int) throws {
        fd = try Syscall.open(path, O_RDWR | O_CREAT | O_EXCL)
        do {
            try Syscall.preallocate(fd, path, sizeBytes: sizeBytes)
            base = try Syscall.mmap(fd, path, sizeBytes: sizeBytes, writable: true)
        } catch {
            Syscall.close(fd)
            try? Syscall.unlink(path)
            throw error
        }
        self.path = path
        self.sizeBytes = sizeBytes
        isWritable = true
    }

    deinit {
        Syscall.munmap(base, sizeBytes: sizeBytes)
        Syscall.close(fd)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: sizeBytes) }

    public var mutableBytes: UnsafeMutableRawBufferPointer {
        precondition(isWritable)
        return UnsafeMutableRawBufferPointer(start: base, count: sizeBytes)
    }

    /// Makes [offset, offset + count) durable (msync MS_SYNC, which fdatasyncs that range).
    public func sync(offset: Int, count: Int) throws {
        precondition(offset >= 0 && count >= 0 && offset + count <= sizeBytes)
        guard count > 0 else { return }
        try Syscall.msync(base, path, offset: offset, count: count)
    }

    /// fsync: data and all metadata (size, allocation), for freshly created files.
    public func syncAll() throws {
        try Syscall.msync(base, path, offset: 0, count: sizeBytes)
        try Syscall.fsync(fd, path)
    }
}
