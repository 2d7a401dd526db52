/* crash-in-callback: a fatal signal raised while a wrapped callback runs is
 * recorded with that callback's site, the trace is finished, and then the
 * signal goes where it would have gone without the shim: the program's own
 * handler, or the default action (the same death, the same core dump).
 *
 * The handlers are installed once, when the trace is created, in front of
 * whatever the program had then. A handler the program installs later
 * replaces them: it then sees its signals first, and no crash is recorded.
 */
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "preload/sys/sys.h"

static const int ls_fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
#define LS_NFATAL (sizeof(ls_fatal) / sizeof(ls_fatal[0]))
static struct sigaction ls_prev[LS_NFATAL];
static int ls_recorded;

static int ls_index(int sig)
{
	for (unsigned i = 0; i < LS_NFATAL; i++)
		if (ls_fatal[i] == sig)
			return (int)i;
	return -1;
}

/* Async-signal-safe: a record into this thread's mapped chunk. */
static void ls_record_crash(uint32_t site, const siginfo_t *info)
{
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_crash);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	memset(r, 0, size);
	r->type = LS_REC_CRASH;
	r->size = size;
	r->arg = site;
	struct ls_rec_crash *c = (struct ls_rec_crash *)(r + 1);
	c->signo = info->si_signo;
	c->code = info->si_code;
	c->addr = (uintptr_t)info->si_addr;
	c->time_ns = ls_now();
	ls_rec_commit(size);
}

/* Where the signal interrupted the thread: on an alternate signal stack
 * the handler's own frame says nothing about that. */
static uintptr_t ls_interrupted_sp(void *uctx)
{
#if defined(__x86_64__)
	return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.sp;
#else
	(void)uctx;
	return (uintptr_t)__builtin_frame_address(0);
#endif
}

static void ls_on_fatal(int sig, siginfo_t *info, void *uctx)
{
	int i = ls_index(sig);
	uint32_t site = ls_site_at(ls_interrupted_sp(uctx));
	if (site != 0 && ls_thread_current(&ls_self) &&
	    !__atomic_exchange_n(&ls_recorded, 1, __ATOMIC_ACQ_REL)) {
		ls_record_crash(site, info);
		ls_trace_finish();
	}
	if (i < 0)
		return;
	struct sigaction *prev = &ls_prev[i];
	if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		/* The program's own handler, as the kernel would have called it. */
		if (prev->sa_flags & SA_SIGINFO)
			prev->sa_sigaction(sig, info, uctx);
		else
			prev->sa_handler(sig);
		return;
	}
	/* The default action: put it back and let the signal happen again. A
	 * fault re-executes the instruction; a sent signal must be re-sent. */
	sigaction(sig, prev, NULL);
	if (info->si_code <= 0)
		raise(sig);
}

void ls_crash_arm(void)
{
	static int armed;
	if (__atomic_exchange_n(&armed, 1, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = 0; i < LS_NFATAL; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = ls_on_fatal;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		if (sigaction(ls_fatal[i], NULL, &ls_prev[i]) != 0)
			continue;
		if (ls_prev[i].sa_handler == SIG_IGN)
			continue; /* ignored stays ignored */
		sigaction(ls_fatal[i], &sa, NULL);
	}
}
