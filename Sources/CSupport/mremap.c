// mremap is a GNU extension that Swift's Glibc module does not export; wrapped here.
#define _GNU_SOURCE
#include "csupport.h"
#include <stddef.h>
#if defined(__linux__)
#include <sys/mman.h>

void *wallet_mremap_grow(void *address, size_t old_size, size_t new_size) {
    void *moved = mremap(address, old_size, new_size, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? NULL : moved;
}
#else
void *wallet_mremap_grow(void *address, size_t old_size, size_t new_size) {
    (void)address; (void)old_size; (void)new_size;
    return NULL;
}
#endif
