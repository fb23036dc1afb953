#include "hostile.h"
/* Executes unreachable. */
uint64_t misbehave(uint8_t *in, uint32_t len) { __builtin_trap(); }
