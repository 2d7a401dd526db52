/* The family table (family.h): the entries every family folder adds at
 * load, and the core's calls of their hooks. */
#include <pthread.h>
#include <unistd.h>

#include "preload/core/family.h"

#define LS_MAX_FAMILIES 16
static const struct ls_family *ls_families[LS_MAX_FAMILIES];
static uint32_t ls_nfamilies;
struct ls_own_span ls_own_spans[LS_MAX_FAMILIES];
uint32_t ls_n_own_spans;

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
	static const char msg[] = "loopsan: internal error: too many loop families\n";
	ssize_t rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)rc;
}

void ls_families_loop_thread(void)
{
	LS_FOR_FAMILIES(f)
		if (f->loop_thread != NULL)
			f->loop_thread();
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
	uint32_t n = 0;
	LS_FOR_FAMILIES(f)
		if (f->span != NULL && n < LS_MAX_FAMILIES)
			ls_own_spans[n++] = (struct ls_own_span){ f->span, f->own_addr };
	__atomic_store_n(&ls_n_own_spans, n, __ATOMIC_RELEASE);
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
