/* Small helpers shared by the viewer: allocation that cannot fail and a
 * growable array. */
#include "viewer/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *ls_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("loopsan: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

void *ls_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fputs("loopsan: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

void *ls_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("loopsan: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

char *ls_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(ls_xmalloc(n), s, n);
}

char *ls_xstrndup(const char *s, size_t n)
{
	char *d = ls_xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none. */
size_t ls_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t min, c;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, min = 0x80, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, min = 0x10000, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

void *ls_vec_push(struct ls_vec *v)
{
	if (v->len == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->items = ls_xrealloc(v->items, v->cap * v->item_size);
	}
	void *item = (char *)v->items + v->len * v->item_size;
	memset(item, 0, v->item_size);
	v->len++;
	return item;
}

void ls_vec_free(struct ls_vec *v)
{
	free(v->items);
	v->items = NULL;
	v->len = v->cap = 0;
}
