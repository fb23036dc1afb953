#include "hostile.h"
/* Imports a host function outside the allowlist. */
__attribute__((import_module("env"), import_name("steal_holdout"))) int32_t steal_holdout(void);
uint64_t misbehave(uint8_t *in, uint32_t len) {
	steal_holdout();
	return ok_result();
}
