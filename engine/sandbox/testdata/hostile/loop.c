#include "hostile.h"
/* Loops forever: the pool must kill it at the time limit. */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	volatile uint64_t x = 0;
	for (;;) x++;
	return ok_result();
}
