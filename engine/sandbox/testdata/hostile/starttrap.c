#include "hostile.h"
/* Crashes while starting: a constructor runs from _initialize. */
__attribute__((constructor)) static void crash(void) { __builtin_trap(); }
uint64_t misbehave(uint8_t *in, uint32_t len) { return ok_result(); }
