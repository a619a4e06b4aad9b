// glibc malloc tuning for the replica process (see csupport.h).
#include "csupport.h"
#include <malloc.h>

int wallet_keep_large_allocations_on_heap(size_t mmap_threshold_bytes, size_t trim_threshold_bytes) {
    int mmap_ok = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold_bytes);
    int trim_ok = mallopt(M_TRIM_THRESHOLD, (int)trim_threshold_bytes);
    return mmap_ok && trim_ok;
}
