/* Small helpers shared by the viewer: allocation that cannot fail and a
 * growable array. */
#include "viewer/util.h"

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
