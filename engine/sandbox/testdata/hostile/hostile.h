/* Shared scaffolding for the hostile test modules: the scorer ABI v1
 * exports, with medforge_score left to each file as misbehave(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("medforge_abi_v1"))) void medforge_abi_v1(void) {}
#ifndef CUSTOM_MINOR
__attribute__((export_name("medforge_abi_minor"))) int32_t medforge_abi_minor(void) { return 0; }
#endif
__attribute__((export_name("medforge_alloc"))) void *medforge_alloc(int32_t n) {
	return aligned_alloc(8, ((size_t)n + 8) & ~(size_t)7);
}

static uint64_t pack(void *p, uint32_t n) { return ((uint64_t)(uintptr_t)p << 32) | n; }

/* ok_result encodes primary 0.5 with nothing else. */
__attribute__((unused)) static uint64_t ok_result(void) {
	static uint8_t out[24];
	double v = 0.5;
	memcpy(out, "MFR1", 4);
	memcpy(out + 8, &v, 8);
	return pack(out, 24);
}

uint64_t misbehave(uint8_t *in, uint32_t len);

__attribute__((export_name("medforge_score"))) uint64_t medforge_score(uint8_t *in, uint32_t len) {
	return misbehave(in, len);
}
