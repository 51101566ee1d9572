/* What the fuzz harnesses share: the input reader (the fuzzer's bytes
 * consumed from the front, little endian; past the end every byte reads 0,
 * so a short input is a valid one) and POISON, which marks guest memory
 * beyond the RAM slots unreadable under ASan so that an escape is caught. */
#ifndef E1KVM_TESTS_FUZZ_INPUT_H
#define E1KVM_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

static inline uint64_t get(Input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint64_t b = 0;
        if (in->left) {
            b = *in->p++;
            in->left--;
        }
        v |= b << (8 * i);
    }
    return v;
}

#endif
