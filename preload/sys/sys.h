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
/* The watchdog's signal arrived: sample this thread (uc: its context). */
void ls_watch_sample_here(void *uc);

/* signal.c: the sampling signal, taken at init (the program's disposition
 * of it virtual from then on); its number, 0 when the shim does not hold
 * it; may the watchdog send it now (the program's disposition is SIG_DFL);
 * send it to thread tid (0 when sent). ls_sig_eintr counts the system
 * calls of this thread that the watchdog's signal cut short with EINTR. */
void ls_sig_init(void);
int ls_sig_number(void);
int ls_sig_can_sample(void);
int ls_sig_send(uint32_t tid);
extern __thread unsigned ls_sig_eintr;

/* blocking.c: a blocking call (api) of dur ticks from begin by the call
 * instruction before ret, on this loop thread; and the confirmation of
 * those made in the selector iteration that just ended. */
void ls_blocking_record(uint32_t api, const void *ret, uint64_t begin, uint64_t dur);
void ls_blocking_commit_pending(void);

/* selector.c: the calling thread runs an event loop (a library's run
 * call, a selector called again and again): give it a watchdog slot. */
void ls_loop_thread_seen(void);

/* crash.c: fatal-signal handlers, once per process. */
void ls_crash_arm(void);

#endif
