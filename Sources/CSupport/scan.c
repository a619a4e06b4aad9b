// Byte scans the storage layer runs over whole segments during recovery; in C so debug builds stay fast.
#include "csupport.h"
#include <string.h>

long wallet_last_nonzero_index(const void *bytes, size_t length) {
    const uint8_t *p = (const uint8_t *)bytes;
    size_t end = length;
    while (end >= 8) {
        uint64_t word;
        memcpy(&word, p + end - 8, 8);
        if (word != 0) break;
        end -= 8;
    }
    while (end > 0) {
        if (p[end - 1] != 0) return (long)(end - 1);
        end--;
    }
    return -1;
}

long wallet_find_magic(const void *bytes, size_t length, size_t stride, size_t word_offset, uint32_t magic, long start) {
    const uint8_t *p = (const uint8_t *)bytes;
    for (size_t offset = (size_t)start; offset + word_offset + 4 <= length; offset += stride) {
        uint32_t word;
        memcpy(&word, p + offset + word_offset, 4);
        if (word == magic) return (long)offset;
    }
    return -1;
}
