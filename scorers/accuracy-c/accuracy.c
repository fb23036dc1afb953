/*
 * accuracy-c: the titanic-survival accuracy metric written in C against
 * scorer ABI v1 (docs/scorer-abi.md), to show the ABI is language-neutral.
 * It must give exactly the results of the Go module scorers/accuracy: the
 * same primary score, secondary "correct" and per-unit values, and an
 * internal error when the input lacks one int64 truth and one int64
 * prediction column.
 *
 * Build (scorers/build.sh does):
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -o accuracy-c.wasm accuracy.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { T_INT64 = 1, T_FLOAT64 = 2, T_UTF8 = 3, T_LIST_FLOAT64 = 4 };
enum { R_KEY = 1, R_TRUTH = 2, R_PREDICTION = 3 };

static uint8_t *out_buf;

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wrf64(uint8_t *p, double v) { memcpy(p, &v, 8); }

static uint64_t pack(uint8_t *p, uint32_t n) {
	return ((uint64_t)(uintptr_t)p << 32) | n;
}

/* error_out encodes an internal (non-public) error. */
static uint64_t error_out(const char *msg) {
	uint32_t n = (uint32_t)strlen(msg);
	free(out_buf);
	out_buf = malloc(12 + n);
	if (!out_buf) __builtin_trap();
	memcpy(out_buf, "MFE1", 4);
	wr32(out_buf + 4, 0);
	wr32(out_buf + 8, n);
	memcpy(out_buf + 12, msg, n);
	return pack(out_buf, 12 + n);
}

__attribute__((export_name("medforge_abi_v1"))) void medforge_abi_v1(void) {}

__attribute__((export_name("medforge_abi_minor"))) int32_t medforge_abi_minor(void) { return 0; }

__attribute__((export_name("medforge_alloc"))) uint8_t *medforge_alloc(int32_t n) {
	if (n < 0) return 0;
	return aligned_alloc(8, ((size_t)n + 8) & ~(size_t)7);
}

/* column finds the only column with the given role; returns its values
 * pointer when it is int64 with units values, else 0. */
static const int64_t *column(const uint8_t *in, uint32_t len, uint32_t units, uint32_t ncols, uint8_t role) {
	const int64_t *found = 0;
	int count = 0;
	for (uint32_t i = 0; i < ncols; i++) {
		const uint8_t *d = in + 16 + 32 * i;
		if (d[1] != role) continue;
		count++;
		uint32_t off = rd32(d + 20), n = rd32(d + 24);
		if (d[0] != T_INT64 || n != 8 * units || off % 8 || (uint64_t)off + n > len) return 0;
		found = (const int64_t *)(in + off);
	}
	return count == 1 ? found : 0;
}

__attribute__((export_name("medforge_score"))) uint64_t medforge_score(uint8_t *in, uint32_t len) {
	if (len < 16 || memcmp(in, "MFI1", 4) != 0 || rd32(in + 4) != 1)
		return error_out("host sent a malformed input");
	uint32_t units = rd32(in + 8), ncols = rd32(in + 12);
	if ((uint64_t)ncols * 32 + 16 > len) return error_out("host sent a malformed input");
	const int64_t *truth = column(in, len, units, ncols, R_TRUTH);
	if (!truth) return error_out("needs one truth column of type int64");
	const int64_t *pred = column(in, len, units, ncols, R_PREDICTION);
	if (!pred) return error_out("needs one prediction column of type int64");
	if (units == 0) return error_out("no units to score");

	/* Result: header 24, per-unit 8*units, one secondary "correct". */
	static const char name[] = "correct";
	uint32_t nlen = sizeof name - 1;
	uint32_t size = 24 + 8 * units + 4 + nlen + 8;
	free(out_buf);
	out_buf = malloc(size);
	if (!out_buf) __builtin_trap();
	double *per = (double *)(out_buf + 24);
	uint64_t correct = 0;
	for (uint32_t i = 0; i < units; i++) {
		int ok = truth[i] == pred[i];
		correct += ok;
		per[i] = ok ? 1.0 : 0.0;
	}
	double acc = (double)correct / (double)units;
	memcpy(out_buf, "MFR1", 4);
	wr32(out_buf + 4, 1);
	wrf64(out_buf + 8, acc);
	wr32(out_buf + 16, 1);
	wr32(out_buf + 20, units);
	uint8_t *p = out_buf + 24 + 8 * (size_t)units;
	wr32(p, nlen);
	memcpy(p + 4, name, nlen);
	wrf64(p + 4 + nlen, (double)correct);
	return pack(out_buf, size);
}
