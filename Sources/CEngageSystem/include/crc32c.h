#ifndef ENGAGE_CRC32C_H
#define ENGAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start). Uses the SSE 4.2 instruction
/// when the processor has it, else a table.
uint32_t engage_crc32c(uint32_t crc, const void *bytes, size_t length);

#endif
