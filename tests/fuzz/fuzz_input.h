/* The fuzz harnesses' input reader: the fuzzer's bytes consumed from the
 * front, little endian; past the end every byte reads 0, so a short input
 * is a valid one. */
#ifndef E1KVM_TESTS_FUZZ_INPUT_H
#define E1KVM_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

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
