// Small C helpers for the Swift targets: hardware CRC32C, prefetch hints, byte scans, mremap.
#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC32C of `length` bytes, continuing from `crc` (pass 0 to start).
/// Uses the SSE4.2 `crc32` instruction (8 bytes a step) when the CPU has it,
/// and a slicing-by-8 table otherwise; both give the same value.
uint32_t wallet_crc32c(uint32_t crc, const void *bytes, size_t length);

/// 1 when the hardware path is in use, 0 for the table fallback.
int wallet_crc32c_is_hardware(void);

/// The portable table implementation, exposed so tests can check it against the hardware one.
uint32_t wallet_crc32c_portable(uint32_t crc, const void *bytes, size_t length);

/// Prefetch a cache line for reading and writing (locality: keep in all levels).
static inline void wallet_prefetch_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Prefetch a cache line for reading.
static inline void wallet_prefetch_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// Copies one 128-byte record to a 16-byte-aligned destination with non-temporal stores: no read
/// for ownership, no cache pollution. For append-only stores written once and rarely read soon.
/// Call `wallet_store_fence` before another thread may read what was written.
void wallet_store_record_nontemporal(void *destination, const void *source);

/// Orders earlier non-temporal stores before later stores (sfence).
void wallet_store_fence(void);

/// Index of the last non-zero byte in [bytes, bytes + length), or -1 when all are zero.
long wallet_last_nonzero_index(const void *bytes, size_t length);

/// Offset of the first 32-bit word equal to `magic` at `word_offset` within each `stride`-byte slot
/// of [bytes, bytes + length), or -1. Used to look for batch headers when scanning a segment.
long wallet_find_magic(const void *bytes, size_t length, size_t stride, size_t word_offset, uint32_t magic, long start);

/// Grows an anonymous mapping (mremap with MREMAP_MAYMOVE); NULL on failure. Linux only.
void *wallet_mremap_grow(void *address, size_t old_size, size_t new_size);

/// Raises glibc's mmap and trim thresholds so large, short-lived buffers (1 MiB batches, 4 MiB
/// frames) are reused from the heap instead of being fresh mappings the kernel zeroes on every
/// first touch. Returns 0 if either setting was refused.
int wallet_keep_large_allocations_on_heap(size_t mmap_threshold_bytes, size_t trim_threshold_bytes);

/// Lowers the calling thread's CPU priority by `nice_increment` (Linux: per-thread nice). Returns 0 on success.
int wallet_lower_thread_priority(int nice_increment);

/// Writes back [offset, offset + length) of a file now and waits for it (sync_file_range), so a
/// large file reaches the disk in small steps instead of one burst at its fsync. Returns 0 on
/// success. Not a durability guarantee (no metadata, no disk cache flush): fsync still follows.
int wallet_write_back_range(int fd, long long offset, long long length);

#ifdef __cplusplus
}
#endif

#endif
