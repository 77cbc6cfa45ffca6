#ifndef ENGAGE_SYSTEM_H
#define ENGAGE_SYSTEM_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start). Uses the SSE 4.2 instruction
/// when the processor has it, else a table.
uint32_t engage_crc32c(uint32_t crc, const void *bytes, size_t length);

/// Names the calling thread (as `top`, `perf` and /proc show it); at most 15 bytes are kept.
void engage_set_thread_name(const char *name);

#endif
