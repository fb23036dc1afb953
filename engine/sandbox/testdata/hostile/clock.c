#include "hostile.h"
#include <time.h>
#include <unistd.h>
/* Reports what it can learn of the outside: the wall clock, the monotonic
 * clock and random bytes. In the sandbox all are deterministic, so two
 * scorings return the same number. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	struct timespec a, b;
	unsigned char r[8];
	clock_gettime(CLOCK_REALTIME, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (getentropy(r, sizeof r) != 0) __builtin_trap();
	double v = (double)a.tv_sec + (double)b.tv_nsec + r[0] + 256.0 * r[1];
	static uint8_t out[24];
	memcpy(out, "MFR1", 4);
	memcpy(out + 8, &v, 8);
	return pack(out, 24);
}
