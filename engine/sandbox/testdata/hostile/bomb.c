#include "hostile.h"
/* Allocates and touches memory until malloc fails, then traps. The volatile
 * sink keeps the compiler from removing the unused allocations. */
char *volatile sink;
uint64_t misbehave(uint8_t *in, uint32_t len) {
	for (;;) {
		char *p = malloc(1 << 20);
		if (!p) __builtin_trap();
		memset(p, 1, 1 << 20);
		sink = p;
	}
}
