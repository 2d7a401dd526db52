/* What every interposer file shares: exporting, finding the real function,
 * telling the library's own calls from the user's, and the side table. */
#ifndef LOOPSAN_SHIM_H
#define LOOPSAN_SHIM_H

#include <stdint.h>

#include "tracer/trace.h"

/* The shim is built with hidden visibility; only interposers are exported. */
#define LS_EXPORT __attribute__((visibility("default")))

typedef void (*ls_fn)(void);

/* A library the shim interposes. `soname` is what to dlopen(RTLD_NOLOAD)
 * when RTLD_NEXT finds nothing: Python loads extension modules (uvloop)
 * RTLD_LOCAL, so their libuv is not in the global scope, yet libuv's own
 * PLT calls still reach the shim. */
struct ls_lib {
	const char *soname;
	uintptr_t lo, hi;     /* text range, to recognise the library's own calls */
};

extern struct ls_lib ls_libuv;

void *ls_resolve(struct ls_lib *lib, const char *name);

/* The real `fn`, resolved once. */
#define LS_REAL(lib, fn) ({                                                  \
	static __typeof__(&fn) real_;                                        \
	__typeof__(&fn) r_ = __atomic_load_n(&real_, __ATOMIC_RELAXED);      \
	if (LS_UNLIKELY(r_ == NULL)) {                                       \
		r_ = (__typeof__(&fn))ls_resolve(&(lib), #fn);               \
		__atomic_store_n(&real_, r_, __ATOMIC_RELAXED);              \
	}                                                                    \
	r_; })

/* Did the call come from inside the library itself (e.g. uv_timer_again
 * calling uv_timer_start)? Such calls are the library's business. */
static inline int ls_from_lib(const struct ls_lib *lib, const void *ret)
{
	return (uintptr_t)ret - lib->lo < lib->hi - lib->lo;
}

/* Side table: what the shim knows of each handle, request and loop, keyed
 * by its address. Lookups are lock-free; changes take a lock. */
enum ls_entry_flags {
	LS_ENT_LOOP = 1u << 0,
	LS_ENT_CLOSING = 1u << 1,
};

struct ls_entry {
	uintptr_t key;        /* 0 empty, 1 removed */
	void *loop;
	ls_fn cb[2];          /* the user's callbacks (e.g. work, after_work) */
	ls_fn close_cb;
	uint32_t site[2];
	uint32_t close_site;
	uint32_t init_site;
	uint32_t flags;
	uint32_t tid;         /* loops: the thread that last ran it */
};

struct ls_entry *ls_table_find(const void *key);
void ls_table_lock(void);
void ls_table_unlock(void);
struct ls_entry *ls_table_get_locked(const void *key); /* find or add; NULL when out of memory */
int ls_table_take(const void *key, struct ls_entry *out); /* copy and remove */

/* A callback whose entry is gone: never call a wrong function. */
_Noreturn void ls_lost_callback(const char *what, const void *key);

#endif
