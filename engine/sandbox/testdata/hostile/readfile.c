#include "hostile.h"
#include <stdio.h>
/* Tries to read a host file through wasi-libc (path_open). */
uint64_t misbehave(uint8_t *in, uint32_t len) {
	FILE *f = fopen("/etc/passwd", "r");
	if (f) {
		char buf[64];
		fread(buf, 1, sizeof buf, f);
		return ok_result();
	}
	__builtin_trap();
}
