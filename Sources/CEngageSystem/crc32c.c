// CRC-32C for the journal's records. In C because Swift has no portable way to reach the SSE 4.2 `crc32`
// instruction, which checksums the whole journal (hundreds of MB under load) at memory speed; the table
// version is the fallback for processors without it.
#include "engage_system.h"

#include <string.h>

static uint32_t table[256];
static int table_ready;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        table[i] = crc;
    }
    table_ready = 1;
}

static uint32_t crc32c_table(uint32_t crc, const unsigned char *p, size_t length) {
    if (!table_ready) build_table();
    while (length--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t length) {
    uint64_t value = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        value = __builtin_ia32_crc32di(value, word);
        p += 8;
        length -= 8;
    }
    uint32_t small = (uint32_t)value;
    while (length--) small = __builtin_ia32_crc32qi(small, *p++);
    return small;
}
#endif

uint32_t engage_crc32c(uint32_t crc, const void *bytes, size_t length) {
    const unsigned char *p = bytes;
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_sse42(crc, p, length);
#endif
    return ~crc32c_table(crc, p, length);
}
