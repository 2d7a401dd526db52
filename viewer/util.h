/* Small helpers shared by the viewer. */
#ifndef LOOPSAN_VIEWER_UTIL_H
#define LOOPSAN_VIEWER_UTIL_H

#include <stddef.h>

/* A growable array of fixed-size items. */
struct ls_vec {
	void *items;
	size_t len, cap, item_size;
};

#define LS_VEC_AT(v, type, i) (&((type *)(v)->items)[i])

void *ls_vec_push(struct ls_vec *v);
void ls_vec_free(struct ls_vec *v);

/* Never returns NULL: exits the program on memory exhaustion. */
void *ls_xmalloc(size_t n);
void *ls_xcalloc(size_t n, size_t size);
void *ls_xrealloc(void *p, size_t n);
char *ls_xstrdup(const char *s);
char *ls_xstrndup(const char *s, size_t n);
/* Length of the valid UTF-8 sequence at p (at most n bytes: a scalar
 * value, shortest form, no surrogate), 0 if none. */
size_t ls_utf8_len(const unsigned char *p, size_t n);

#endif
