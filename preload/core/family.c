/* The family table (family.h): the entries every family folder adds at
 * load, and the core's calls of their hooks. */
#include <pthread.h>
#include <unistd.h>

#include "preload/core/family.h"

static const struct ls_family *ls_families[LS_MAX_FAMILIES];
static uint32_t ls_nfamilies;
struct ls_own ls_own;
static pthread_mutex_t ls_own_lock = PTHREAD_MUTEX_INITIALIZER;

#define LS_FOR_FAMILIES(f)                                                   \
	for (const struct ls_family *const *f##_ = ls_families, *f;          \
	     f##_ < ls_families + ls_nfamilies && (f = *f##_) != NULL; f##_++)

/* Constructors run one at a time, before any thread of the program. */
void ls_family_add(const struct ls_family *f)
{
	if (ls_nfamilies < LS_MAX_FAMILIES) {
		ls_families[ls_nfamilies++] = f;
		return;
	}
	ls_trace_say("loopsan: internal error: too many loop families\n");
}

/* Readers never see a wrong `exact`: it goes to 0 before anything else
 * changes and back to 1 only once the rest is written. */
void ls_family_spans_changed(void)
{
	pthread_mutex_lock(&ls_own_lock);
	__atomic_store_n(&ls_own.exact, 0, __ATOMIC_RELEASE);
	uint32_t n = 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	int fine = 0;
	for (uint32_t i = 0; i < ls_nfamilies; i++) {
		const struct ls_family *f = ls_families[i];
		if (f->span == NULL || __atomic_load_n(&f->span->hi, __ATOMIC_ACQUIRE) == 0)
			continue;
		ls_own.v[n] = (struct ls_own_span){ f->span, f->own_addr };
		n++;
		fine |= f->own_addr != NULL;
		uintptr_t l = __atomic_load_n(&f->span->lo, __ATOMIC_RELAXED);
		uintptr_t h = __atomic_load_n(&f->span->hi, __ATOMIC_RELAXED);
		lo = l < lo ? l : lo;
		hi = h > hi ? h : hi;
	}
	__atomic_store_n(&ls_own.n, n, __ATOMIC_RELEASE);
	if (n > 0) {
		/* Only ever wider: a reader between the two stores sees a span
		 * that holds every library it held before. */
		__atomic_store_n(&ls_own.all.lo, lo, __ATOMIC_RELEASE);
		__atomic_store_n(&ls_own.all.hi, hi, __ATOMIC_RELEASE);
	}
	if (n == 1 && !fine)
		__atomic_store_n(&ls_own.exact, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ls_own_lock);
}

/* More than one family's library is loaded, or one with a finer test. */
int ls_family_own_call_slow(const void *ret)
{
	uint32_t n = __atomic_load_n(&ls_own.n, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		const struct ls_own_span *o = &ls_own.v[i];
		if (ls_span_has(o->span, (uintptr_t)ret) &&
		    (o->own_addr == NULL || o->own_addr(ret)))
			return 1;
	}
	return 0;
}

void ls_families_loop_thread(void)
{
	LS_FOR_FAMILIES(f)
		if (f->loop_thread != NULL)
			f->loop_thread();
}

void ls_families_loop_left(void)
{
	LS_FOR_FAMILIES(f)
		if (f->loop_left != NULL)
			f->loop_left();
}

static void ls_families_at_fork_child(void)
{
	LS_FOR_FAMILIES(f)
		if (f->at_fork_child != NULL)
			f->at_fork_child();
}

/* After the tracer's constructor (101), which reads the options, and the
 * entries' (102). */
__attribute__((constructor(103))) static void ls_families_init(void)
{
	ls_family_spans_changed();
	pthread_atfork(NULL, NULL, ls_families_at_fork_child);
	LS_FOR_FAMILIES(f)
		if (f->init != NULL)
			f->init();
}

/* Before the trace is finished (its destructor has a lower number). */
__attribute__((destructor(150))) static void ls_families_at_exit(void)
{
	LS_FOR_FAMILIES(f)
		if (f->at_exit != NULL)
			f->at_exit();
}
