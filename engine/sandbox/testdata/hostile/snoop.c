#include "hostile.h"
/* Looks for what an earlier scoring left in memory: counts the non-zero
 * bytes of a fresh 16 MiB allocation (at most malloc's bookkeeping), then dirties it for the
 * next instance to find. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	size_t n = 16 << 20;
	volatile uint8_t *p = malloc(n);
	if (!p) __builtin_trap();
	double seen = 0;
	for (size_t i = 0; i < n; i++) seen += p[i] != 0;
	for (size_t i = 0; i < n; i++) p[i] = 0xAB;
	static uint8_t out[24];
	memcpy(out, "MFR1", 4);
	memcpy(out + 8, &seen, 8);
	return pack(out, 24);
}
