#include "hostile.h"
/* Reports a participant-safe error. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	static const char msg[] = "predictions look shuffled";
	static uint8_t out[12 + sizeof msg - 1];
	uint32_t flags = 1, n = sizeof msg - 1;
	memcpy(out, "MFE1", 4);
	memcpy(out + 4, &flags, 4);
	memcpy(out + 8, &n, 4);
	memcpy(out + 12, msg, n);
	return pack(out, sizeof out);
}
