/* The line of a Python instruction, from its code object's location
 * table (co_linetable, described in CPython's Objects/locations.md: the
 * same format in 3.11, 3.12 and 3.13; the table covers an instruction's
 * inline cache entries too, with the instruction's line).
 *
 * The table is a run of entries, each covering 1 to 8 code units. An
 * entry's first byte has its top bit set; bits 3-6 are its form and bits
 * 0-2 its length less one. What follows depends on the form, but never
 * has the top bit set, so the next entry is the next byte that has it.
 * Only the line matters here: forms 0-10 keep the line, 11 and 12 add 1
 * and 2, 13 (no columns) and 14 (long) add a signed varint, and 15 says
 * the instructions have no line. Varints are 6-bit groups, least
 * significant first, bit 6 set on every group but the last; a signed one
 * keeps its sign in bit 0. */
#include "viewer/pycode.h"

enum {
	FORM_ONE_LINE1 = 11,
	FORM_ONE_LINE2 = 12,
	FORM_NO_COLUMNS = 13,
	FORM_LONG = 14,
	FORM_NONE = 15,
};

/* The signed varint at *at (within end); *at moves past it. */
static int64_t read_svarint(const uint8_t *p, size_t end, size_t *at)
{
	uint64_t v = 0;
	unsigned shift = 0;
	while (*at < end && shift < 60) {
		uint8_t b = p[(*at)++];
		v |= (uint64_t)(b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	return (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
}

static int64_t line_delta(const uint8_t *p, size_t len, size_t at)
{
	unsigned form = (p[at] >> 3) & 15;
	at++;
	switch (form) {
	case FORM_ONE_LINE1:
		return 1;
	case FORM_ONE_LINE2:
		return 2;
	case FORM_NO_COLUMNS:
	case FORM_LONG:
		return read_svarint(p, len, &at);
	default:
		return 0;
	}
}

int ls_pycode_line(const struct ls_pycode *c, uint32_t lasti)
{
	if (c->version < 311 || c->version > 313)
		return 0;
	int64_t line = c->firstlineno;
	uint64_t end = 0;  /* code units covered so far */
	size_t at = 0;
	while (at < c->lines_len) {
		const uint8_t *p = c->lines;
		if (!(p[at] & 128)) {  /* not an entry's first byte: a broken table */
			at++;
			continue;
		}
		line += line_delta(p, c->lines_len, at);
		end += (p[at] & 7) + 1u;
		if (lasti < end) {
			if (((p[at] >> 3) & 15) == FORM_NONE)
				return 0;
			return line > 0 && line <= INT32_MAX ? (int)line : 0;
		}
		for (at++; at < c->lines_len && !(p[at] & 128); at++)
			;
	}
	return 0;  /* past the table (cut short): unknown */
}
