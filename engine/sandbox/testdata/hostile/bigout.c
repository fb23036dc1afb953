#include "hostile.h"
/* Returns a 4 MiB output, more than the test pool allows. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	uint32_t n = 4 << 20;
	uint8_t *p = malloc(n);
	if (!p) __builtin_trap();
	memset(p, 0, n);
	return pack(p, n);
}
