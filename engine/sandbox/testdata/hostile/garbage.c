#include "hostile.h"
/* Returns bytes that are not a valid output. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	static uint8_t out[32] = "MFR1\xff\xff\xff\xff";
	return pack(out, sizeof out);
}
