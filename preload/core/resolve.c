/* Finding the real functions behind the interposers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/core/family.h"

static void ls_die(const char *what, const char *name)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "loopsan: %s %s; aborting\n", what, name);
	ls_trace_say(msg);
	abort();
}

void *ls_resolve(struct ls_lib *lib, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p == NULL) {
		void *h = dlopen(lib->soname, RTLD_NOW | RTLD_NOLOAD);
		if (h != NULL) {
			p = dlsym(h, name);
			dlclose(h);
		}
	}
	if (p == NULL)
		ls_die("cannot find the real", name);
	if (__atomic_load_n(&lib->text.hi, __ATOMIC_ACQUIRE) == 0) {
		uintptr_t lo, hi;
		if (ls_module_range_of(p, &lo, &hi) == 0) {
			__atomic_store_n(&lib->text.lo, lo, __ATOMIC_RELAXED);
			__atomic_store_n(&lib->text.hi, hi, __ATOMIC_RELEASE);
			ls_family_spans_changed();
		}
	}
	return p;
}

_Noreturn void ls_lost_callback(const char *what, const void *key)
{
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "loopsan: internal error: no callback recorded for %s %p; aborting\n", what, key);
	ls_trace_say(msg);
	abort();
}
