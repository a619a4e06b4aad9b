// Non-temporal stores for the append-only transfer store (see csupport.h).
#include "csupport.h"
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>

void wallet_store_record_nontemporal(void *destination, const void *source) {
    __m128i *to = (__m128i *)destination;
    const __m128i *from = (const __m128i *)source;
    for (int i = 0; i < 8; i++) _mm_stream_si128(to + i, _mm_loadu_si128(from + i));
}

void wallet_store_fence(void) { _mm_sfence(); }
#else
void wallet_store_record_nontemporal(void *destination, const void *source) { memcpy(destination, source, 128); }
void wallet_store_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif
