/* What the files of preload/sys/ share: the layer below any loop library
 * (selector calls, blocking calls, fork/exec, crash signals, the watchdog).
 * Nothing outside this folder includes it; the core reaches it through its
 * family entry (sys.c). */
#ifndef LOOPSAN_SYS_H
#define LOOPSAN_SYS_H

#include "preload/core/family.h"

/* libc: the real functions behind the interposers of this folder. */
extern struct ls_lib ls_libc;
#define LS_LIBC(fn) LS_REAL(ls_libc, fn)

/* watchdog.c: a slot for the calling loop thread (NULL when the watchdog
 * is off or every slot is taken), and its release (thread exit); a slow
 * on-loop run (callback or iteration) of this thread just ended. */
struct ls_watch *ls_watch_attach(void);
void ls_watch_detach(void);
void ls_watch_slow_run(uint64_t begin, uint64_t dur);
void ls_watch_init(void);
void ls_watch_atfork_child(void);
/* An exec of this process is about to be made (begin 1), or failed (0):
 * the loop threads' CPU-time timers end before it (a signal of theirs
 * still pending would reach the new image), and this thread's is made
 * again after. */
void ls_watch_exec(int begin);
/* The watchdog's signal arrived: sample this thread (uc: its context). */
void ls_watch_sample_here(void *uc);
/* This thread's CPU-time timer expired: sample it if its run is slow. */
void ls_watch_tick_here(void *uc);

/* signal.c: the sampling signal, taken at init (the program's disposition
 * of it virtual from then on); its number, 0 when the shim does not hold
 * it; may the watchdog send it now (the program's disposition is SIG_DFL);
 * send it to thread tid (0 when sent). ls_sig_eintr counts the system
 * calls of this thread that the watchdog's signal cut short with EINTR:
 * an interposed call that failed with EINTR while it grew resumes. */
void ls_sig_init(void);
int ls_sig_number(void);
int ls_sig_can_sample(void);
int ls_sig_send(uint32_t tid);
/* A CPU-time timer of the calling thread (tid) sending it the signal every
 * period_ns of CPU time it uses: its id + 1, 0 when none; its next expiry
 * moved; its end. */
uint32_t ls_sig_cpu_timer(uint32_t tid, long period_ns);
int ls_sig_cpu_timer_next(uint32_t timer, long next_ns, long period_ns);
void ls_sig_cpu_timer_delete(uint32_t timer);
extern __thread unsigned ls_sig_eintr;
/* errno as it was when the watchdog's signal last cut a call short: the
 * handler runs before the call's libc wrapper has set errno. */
extern __thread int ls_sig_errno;

/* A call just failed (-1): if the watchdog's signal alone cut it short
 * (*n: ls_sig_eintr before the call), errno is put back as it was before
 * the call, *n moves on, and 1 says to call again. Out of line: only
 * failed calls come here. */
int ls_sig_cut(unsigned *n);

/* call (returning -1 and errno on failure), resumed when the watchdog's
 * signal alone cut it short, as the kernel restarts a call under
 * SA_RESTART: called again, errno as it was before. The call that does
 * not fail pays one thread-local load and one compare. */
#define LS_RESUMED(call) ({                                                  \
	unsigned n_ = ls_sig_eintr;                                          \
	__typeof__(call) r_;                                                 \
	while (LS_UNLIKELY((r_ = (call)) == -1) && ls_sig_cut(&n_))          \
		;                                                            \
	r_; })

/* What is left of a wait of ns nanoseconds begun at ticks t0: all of it
 * while the clock is not calibrated yet (the call then waits longer). */
static inline int64_t ls_left_ns(int64_t ns, uint64_t t0)
{
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	if (hz == 0)
		return ns;
	double spent = (double)(ls_ticks() - t0) / (double)hz * 1e9;
	return spent >= (double)ns ? 0 : ns - (int64_t)spent;
}

/* blocking.c: a blocking call (api) of dur ticks from begin by the call
 * instruction before ret, on this loop thread; and the confirmation of
 * those made in the selector iteration that just ended. */
void ls_blocking_record(uint32_t api, const void *ret, uint64_t begin, uint64_t dur);
void ls_blocking_commit_pending(void);

/* selector.c: the calling thread runs an event loop (a library's run
 * call, a selector called again and again): give it a watchdog slot. */
void ls_loop_thread_seen(void);

/* selector.c: the thread's library loop returned; its iteration ends. */
void ls_sel_loop_left(void);

/* crash.c: fatal-signal handlers, once per process. */
void ls_crash_arm(void);

#endif
