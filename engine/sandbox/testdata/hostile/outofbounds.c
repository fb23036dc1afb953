#include "hostile.h"
/* Claims an output range far outside its memory. */
uint64_t misbehave(uint8_t *in, uint32_t len) { return pack((void *)0x7ff00000, 1000); }
