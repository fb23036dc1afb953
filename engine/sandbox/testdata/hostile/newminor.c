/* Claims ABI 1.99, newer than any host: it must be refused at scoring. */
#define CUSTOM_MINOR
#include "hostile.h"
__attribute__((export_name("medforge_abi_minor"))) int32_t medforge_abi_minor(void) { return 99; }
uint64_t misbehave(uint8_t *in, uint32_t len) { return ok_result(); }
