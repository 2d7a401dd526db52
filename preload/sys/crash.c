/* crash-in-callback: a fatal signal raised while a wrapped callback runs is
 * recorded with that callback's site, the trace is finished, and then the
 * signal goes where it would have gone without the shim: the program's own
 * handler, or the default action (the same death, the same core dump).
 *
 * The handlers are installed once, when the trace is created, in front of
 * whatever the program had then. A handler the program installs later
 * replaces them: it then sees its signals first, and no crash is recorded.
 *
 * Where it crashed (crashed_at) is unwound from the signal's context, the
 * watchdog's way (libunwind from the ucontext, the thread's Python frames
 * from the py_sample hook), and interned lock-free like any stack. Not when
 * a frame of the shim itself runs inside the callback (an interposer the
 * callback called): its tables may be half-updated by that very frame.
 */
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

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
static void ls_record_crash(uint32_t site, uint32_t stack, const siginfo_t *info)
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
	c->crashed_at = stack;
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

/* The stack of the faulting thread, innermost first (pcs[0] the faulting
 * instruction), interned; 0 when none can be taken safely. */
static uint32_t ls_crash_stack(void *uctx)
{
	uintptr_t pcs[LS_MAX_STACK_DEPTH];
	struct ls_py_frame py[LS_MAX_STACK_DEPTH];
	uint32_t n = 0, flags = 0, shim_inside = 0, prev_self = 0;
	uint32_t max = ls_opt.stack_depth < LS_MAX_STACK_DEPTH ? ls_opt.stack_depth
							       : LS_MAX_STACK_DEPTH;
	if (!ls_opt.stacks || max == 0)
		return 0;
	ls_lt.in_shim++;
	if (ls_unwind_enter(1) == 0) {
		unw_cursor_t c;
		if (unw_init_local2(&c, (unw_context_t *)uctx, UNW_INIT_SIGNAL_FRAME) == 0) {
			uint32_t k = 0;
			unw_word_t ip, sp;
			do {
				ip = 0, sp = 0;
				if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || ip == 0)
					break;
				/* A shim frame whose caller's frame (this
				 * one's sp on) lies below the trampoline's
				 * frame ran inside the callback. */
				if (unw_get_reg(&c, UNW_REG_SP, &sp) == 0 && prev_self &&
				    (uintptr_t)sp < ls_self.cur_frame)
					shim_inside = 1;
				prev_self = ls_module_is_self((uintptr_t)ip);
				if (!prev_self && n < max) {
					if (k == 0)
						flags = LS_STACK_EXACT_PC0;
					pcs[n++] = (uintptr_t)ip;
				}
				k++;
				/* Past max frames, on to the trampoline only:
				 * is there a shim frame inside the callback? */
			} while ((n < max || (uintptr_t)sp < ls_self.cur_frame) &&
				 k < 2 * LS_MAX_STACK_DEPTH && unw_step(&c) > 0);
		}
		ls_unwind_leave();
	}
	uint32_t id = 0;
	if (!shim_inside) {
		uint32_t npy = ls_trace_py_sample(py, LS_MAX_STACK_DEPTH);
		id = ls_stack_intern_pcs_py(pcs, n, flags, py, npy);
	}
	ls_lt.in_shim--;
	return id;
}

static void ls_on_fatal(int sig, siginfo_t *info, void *uctx)
{
	int i = ls_index(sig);
	uint32_t site = ls_site_at(ls_interrupted_sp(uctx));
	if (site != 0 && ls_thread_current(&ls_self) &&
	    !__atomic_exchange_n(&ls_recorded, 1, __ATOMIC_ACQ_REL)) {
		ls_record_crash(site, ls_crash_stack(uctx), info);
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
