#include "hostile.h"
/* Never finishes starting: a constructor runs from _initialize. */
__attribute__((constructor)) static void hang(void) {
	volatile int x = 0;
	for (;;) x++;
}
uint64_t misbehave(uint8_t *in, uint32_t len) { return ok_result(); }
