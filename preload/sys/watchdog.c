/* The watchdog: where is a loop thread whose callback (or iteration) has
 * run longer than slow_callback_ms? That place is the finding's stuck_at.
 *
 * Loop threads publish what they run in a slot of ls_watches (two stores
 * per callback, see ls_loop_cb_begin). One thread, started with the first
 * loop thread, with every signal blocked and never keeping the process
 * alive, looks at the slots a few times per threshold. For a thread found
 * past the threshold it reads /proc/self/task/<tid>/syscall:
 *
 * - blocked in a system call: never signalled (a signal would end
 *   nanosleep, epoll_wait, poll, ... with EINTR, even under SA_RESTART).
 *   The pc of the call comes from /proc; when the call is one of the
 *   interposed blocking functions, its stack follows, with its Python
 *   frames; otherwise the Python frames of a thread that runs Python are
 *   read from here (py_frames_of hook), kept only if /proc shows the same
 *   system call after the read.
 * - running: the watchdog sends it stuck_signal's signal (SIGRTMAX - 3), whose
 *   handler unwinds from the interrupted context and reads the thread's
 *   Python frames (py_sample hook). Only while the program's
 *   (virtual) disposition of that signal is SIG_DFL and the thread does not
 *   block it (signal.c). A thread that enters a system call between the
 *   last look and the signal has that call cut short: the interposed
 *   blocking calls resume it (ls_sig_eintr).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "preload/sys/sys.h"

#define LS_WATCH_SLOTS 256

static struct ls_watch ls_watches[LS_WATCH_SLOTS];
static int ls_wd_state;     /* 0 not started, 1 running, -1 could not start */
static int ls_wd_deferred;  /* a single-threaded program: start at its first slow run */
static pthread_key_t ls_wd_key; /* frees a loop thread's slot when it exits */
static int ls_wd_key_ok;

/* The sample, in the handler of the watchdog's signal (signal.c): the
 * stack of the interrupted context, when the watchdog asked for one. */
void ls_watch_sample_here(void *ucv)
{
	struct ls_watch *w = ls_lt.watch;
	uint32_t want = w ? __atomic_load_n(&w->want, __ATOMIC_ACQUIRE) : 0;
	if (w == NULL || want == __atomic_load_n(&w->got, __ATOMIC_RELAXED))
		return;
	unw_cursor_t c;
	uint32_t n = 0;
	/* libunwind's own libc calls (read() on its pipe) are the shim's:
	 * the interposers must not record them, least of all from here,
	 * where the interrupted code may be inside the trace writer. */
	ls_lt.in_shim++;
	/* Counted as an unwind, so that libunwind's validation pipe is not
	 * closed under it (and is closed after it: tracer/stack.c). */
	if (ls_unwind_enter(1) == 0) {
		if (unw_init_local2(&c, (unw_context_t *)ucv, UNW_INIT_SIGNAL_FRAME) == 0) {
			do {
				unw_word_t ip = 0;
				if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || ip == 0)
					break;
				w->pcs[n++] = (uintptr_t)ip;
			} while (n < ls_opt.stack_depth && n < LS_MAX_STACK_DEPTH &&
				 unw_step(&c) > 0);
		}
		ls_unwind_leave();
	}
	/* The Python frames it runs (read here: once the handler returns,
	 * they and their code objects may be gone). */
	w->npy = ls_trace_py_sample(w->py, LS_MAX_STACK_DEPTH);
	ls_lt.in_shim--;
	w->npcs = n;
	__atomic_store_n(&w->got, want, __ATOMIC_RELEASE);
}

/* What the run of slot w that is on now is: its begin (0: none) and site. */
static uint64_t ls_watch_run(struct ls_watch *w, uint32_t *site)
{
	uint64_t since = __atomic_load_n(&w->cb_since, __ATOMIC_ACQUIRE);
	*site = __atomic_load_n(&w->cb_site, __ATOMIC_RELAXED);
	if (since != 0 && __atomic_load_n(&w->cb_since, __ATOMIC_ACQUIRE) == since)
		return since;
	since = __atomic_load_n(&w->iter_since, __ATOMIC_ACQUIRE);
	*site = __atomic_load_n(&w->iter_site, __ATOMIC_RELAXED);
	if (__atomic_load_n(&w->iter_since, __ATOMIC_ACQUIRE) != since)
		return 0;
	return since;
}

/* The period of a loop thread's CPU-time timer: a quarter of the
 * threshold (a thread that shares its core gets less CPU time than wall
 * time: a run on past the threshold may have had only a part of it). */
static long ls_cpu_period_ns(void)
{
	long period = (long)ls_opt.slow_callback_ms * 1000000L / 4;
	return period < 5000000L ? 5000000L : period;
}

/* The thread's CPU-time timer expired (a single-threaded program, no
 * watchdog thread yet): a run on for longer than the threshold is sampled
 * here, once; its end writes the sample (ls_watch_slow_run), for a handler
 * may have cut into the trace writer. */
void ls_watch_tick_here(void *ucv)
{
	struct ls_watch *w = ls_lt.watch;
	if (w == NULL)
		return;
	uint32_t site;
	uint64_t since = ls_watch_run(w, &site);
	uint64_t slow = __atomic_load_n(&ls_slow_ticks, __ATOMIC_RELAXED);
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	uint64_t now = ls_ticks();
	if (since == 0 || slow == UINT64_MAX || hz == 0 || now < since ||
	    since == __atomic_load_n(&w->sampled, __ATOMIC_RELAXED))
		return;
	if (now - since < slow) {
		/* A run that has not reached the threshold yet: the next
		 * expiry where it would if it computed all along, when that is
		 * sooner than the period. */
		long left = (long)((double)(slow - (now - since)) / (double)hz * 1e9) + 1000000L;
		long period = ls_cpu_period_ns();
		if (left < period)
			ls_sig_cpu_timer_next(__atomic_load_n(&w->cpu_timer, __ATOMIC_ACQUIRE), left,
					      period);
		return;
	}
	__atomic_store_n(&w->sampled, since, __ATOMIC_RELAXED);
	__atomic_store_n(&w->want, __atomic_load_n(&w->got, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	ls_watch_sample_here(ucv);
	w->tick_site = site;
	__atomic_store_n(&w->tick_since, since, __ATOMIC_RELEASE);
}

/* The stack of the sample in w: without the shim's own frames
 * (trampolines), which are not the program's. */
static uint32_t ls_watch_sample_stack(struct ls_watch *w)
{
	uintptr_t pcs[LS_MAX_STACK_DEPTH];
	uint32_t n = 0, flags = 0;
	for (uint32_t k = 0; k < w->npcs && k < LS_MAX_STACK_DEPTH; k++) {
		if (ls_module_is_self(w->pcs[k]))
			continue;
		if (k == 0)
			flags = LS_STACK_EXACT_PC0;
		pcs[n++] = w->pcs[k];
	}
	uint32_t npy = w->npy < LS_MAX_STACK_DEPTH ? w->npy : LS_MAX_STACK_DEPTH;
	return ls_stack_intern_pcs_py(pcs, n, flags, w->py, npy);
}

/* Reads a small /proc file of thread tid into buf; returns its length. */
/* Reads the small file path into buf, NUL-terminated; returns its length. */
static ssize_t ls_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = LS_LIBC(read)(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

static ssize_t ls_read_task(uint32_t tid, const char *what, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%u/%s", tid, what);
	return ls_read_small(path, buf, size);
}

/* Does thread tid block signal signo (its SigBlk mask)? */
static int ls_task_blocks(uint32_t tid, int signo)
{
	char buf[2048];
	if (ls_read_task(tid, "status", buf, sizeof(buf)) <= 0)
		return 1;
	const char *p = strstr(buf, "\nSigBlk:");
	if (p == NULL)
		return 1;
	unsigned long long mask = strtoull(p + 8, NULL, 16);
	return (mask >> (signo - 1)) & 1;
}

static void ls_write_stuck(uint32_t tid, uint32_t site, uint64_t since, uint32_t stack,
			   uint32_t how, int32_t nr)
{
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_stuck);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_STUCK;
	r->size = size;
	r->arg = stack;
	struct ls_rec_stuck *st = (struct ls_rec_stuck *)(r + 1);
	st->tid = tid;
	st->site = site;
	st->begin_ticks = since;
	st->sample_ticks = ls_ticks();
	st->how = how;
	st->syscall_nr = nr;
	ls_rec_commit(size);
}

static void ls_nap_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
	LS_LIBC(nanosleep)(&ts, NULL);
}

/* Is the slot still in the same run (since) as when it was picked? */
static int ls_still(struct ls_watch *w, uint64_t since)
{
	return __atomic_load_n(&w->cb_since, __ATOMIC_ACQUIRE) == since ||
	       __atomic_load_n(&w->iter_since, __ATOMIC_ACQUIRE) == since;
}

static void ls_sample(struct ls_watch *w, uint32_t tid, uint32_t site, uint64_t since)
{
	char buf[512];
	if (ls_read_task(tid, "syscall", buf, sizeof(buf)) <= 0)
		return;
	if (strncmp(buf, "running", 7) != 0) {
		/* "nr a1 ... a6 sp pc", or "-1 sp pc" when blocked outside a call */
		char *end;
		long nr = strtol(buf, &end, 10);
		const char *last = strrchr(buf, ' ');
		uintptr_t pc = last ? (uintptr_t)strtoull(last + 1, NULL, 16) : 0;
		uintptr_t pcs[LS_MAX_STACK_DEPTH];
		struct ls_py_frame py[LS_MAX_STACK_DEPTH];
		uint32_t n = 0, npy = 0, how = LS_STUCK_SYSCALL;
		if (pc != 0)
			pcs[n++] = pc;
		uint32_t bsite = __atomic_load_n(&w->blocking_site, __ATOMIC_ACQUIRE);
		if (bsite != 0) {
			/* The call's stack, Python frames and all, as the
			 * thread captured it when it made the call. */
			n += ls_site_stack_pcs(bsite, pcs + n, LS_MAX_STACK_DEPTH - n);
			npy = ls_site_stack_py(bsite, py, LS_MAX_STACK_DEPTH);
			how = LS_STUCK_BLOCKING;
		}
		uintptr_t pyt = __atomic_load_n(&w->py_thread, __ATOMIC_RELAXED);
		if (npy == 0 && pyt != 0 && ls_still(w, since)) {
			/* Not in an interposed call: its Python frames, read
			 * from here while it sits in the system call, kept
			 * only if it still sits in the same one after. */
			char again[sizeof(buf)];
			npy = ls_trace_py_frames_of(pyt, tid, py, LS_MAX_STACK_DEPTH);
			if (npy != 0 && (ls_read_task(tid, "syscall", again, sizeof(again)) <= 0 ||
					 strcmp(again, buf) != 0))
				npy = 0;
		}
		if (!ls_still(w, since))
			return;
		uint32_t stack = ls_stack_intern_pcs_py(pcs, n, LS_STACK_EXACT_PC0, py, npy);
		ls_write_stuck(tid, site, since, stack, how, (int32_t)nr);
		return;
	}
	int signo = ls_sig_number();
	if (signo == 0 || !ls_sig_can_sample() || ls_task_blocks(tid, signo) ||
	    !ls_still(w, since))
		return;
	uint32_t want = __atomic_load_n(&w->got, __ATOMIC_ACQUIRE) + 1;
	__atomic_store_n(&w->want, want, __ATOMIC_RELEASE);
	/* Last look: a thread that has just entered a system call is left alone. */
	if (ls_read_task(tid, "syscall", buf, sizeof(buf)) <= 0 || strncmp(buf, "running", 7) != 0)
		goto undo;
	if (ls_sig_send(tid) != 0)
		goto undo;
	for (int i = 0; i < 50; i++) {
		if (__atomic_load_n(&w->got, __ATOMIC_ACQUIRE) == want) {
			ls_write_stuck(tid, site, since, ls_watch_sample_stack(w), LS_STUCK_SIGNAL,
				       -1);
			return;
		}
		ls_nap_ns(1000000);
	}
	return;
undo:
	__atomic_store_n(&w->want, __atomic_load_n(&w->got, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

/* The process goes on only while some other thread does. A main thread
 * that called pthread_exit stays as a zombie in the thread group: count
 * the live threads other than this one. */
static int ls_last_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	uint32_t self = ls_trace_tid();
	int others = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && others == 0) {
		char *end;
		unsigned long tid = strtoul(e->d_name, &end, 10);
		if (e->d_name[0] == '.' || *end != 0 || tid == self)
			continue;
		char buf[512];
		ssize_t n = ls_read_task((uint32_t)tid, "stat", buf, sizeof(buf));
		const char *p = n > 0 ? strrchr(buf, ')') : NULL;
		/* after ") ": the state letter */
		if (p == NULL || (p[1] == ' ' && p[2] != 'Z' && p[2] != 'X'))
			others++;
	}
	closedir(d);
	return others == 0;
}

static void *ls_watchdog_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "loopsan-watch");
	ls_lt.in_shim = 1;  /* nothing this thread does is the user's */
	long period = (long)ls_opt.slow_callback_ms * 1000000L / 4;
	if (period < 5000000L)
		period = 5000000L;
	if (period > 250000000L)
		period = 250000000L;
	uint32_t gen = __atomic_load_n(&ls_gen, __ATOMIC_RELAXED);
	for (;;) {
		ls_nap_ns(period);
		if (__atomic_load_n(&ls_gen, __ATOMIC_RELAXED) != gen)
			return NULL;  /* a forked child's copy never runs; belt and braces */
		uint64_t slow = __atomic_load_n(&ls_slow_ticks, __ATOMIC_RELAXED);
		uint64_t now = ls_ticks();
		int active = 0;
		for (int i = 0; i < LS_WATCH_SLOTS; i++) {
			struct ls_watch *w = &ls_watches[i];
			uint32_t tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE);
			if (tid == 0)
				continue;
			active++;
			uint32_t site;
			uint64_t since = ls_watch_run(w, &site);
			if (since == 0 || slow == UINT64_MAX || now - since < slow ||
			    since == __atomic_load_n(&w->sampled, __ATOMIC_RELAXED) || now < since)
				continue;
			__atomic_store_n(&w->sampled, since, __ATOMIC_RELAXED);
			ls_sample(w, tid, site, since);
		}
		if (active == 0 && ls_last_thread())
			pthread_exit(NULL);
	}
	return NULL;
}

/* Threads of this process (the Threads: line of /proc/self/status). */
static int ls_process_threads(void)
{
	char buf[2048];
	if (ls_read_small("/proc/self/status", buf, sizeof(buf)) <= 0)
		return 2;
	const char *p = strstr(buf, "\nThreads:");
	return p ? (int)strtol(p + 9, NULL, 10) : 2;
}

static void ls_watchdog_start(void)
{
	int expect = 0;
	if (!__atomic_compare_exchange_n(&ls_wd_state, &expect, 1, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_t th;
	int ok = pthread_attr_init(&attr) == 0;
	if (ok) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 << 10);
		ok = pthread_create(&th, &attr, ls_watchdog_main, NULL) == 0;
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		__atomic_store_n(&ls_wd_state, -1, __ATOMIC_RELEASE);
		return;
	}
	/* It samples from now on: the loop threads' CPU-time timers go. */
	for (int i = 0; i < LS_WATCH_SLOTS; i++)
		ls_sig_cpu_timer_delete(__atomic_exchange_n(&ls_watches[i].cpu_timer, 0,
							    __ATOMIC_ACQ_REL));
}

/* A slow run just ended on this loop thread (tracer's ls_record_slow):
 * the watchdog that was put off is wanted now. */
void ls_watch_slow_run(uint64_t begin, uint64_t dur)
{
	struct ls_loop_thread *l = &ls_lt;
	if (__atomic_load_n(&ls_wd_deferred, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&ls_wd_deferred, 0, __ATOMIC_RELAXED))
		ls_watchdog_start();
	/* Not sampled (no watchdog yet, or it missed it) but blocked in an
	 * interposed call for most of the run: that call is where it was. */
	struct ls_watch *w = l->watch;
	if (w != NULL && __atomic_load_n(&w->tick_since, __ATOMIC_ACQUIRE) == begin) {
		/* Its CPU-time timer sampled it while it ran. */
		__atomic_store_n(&w->tick_since, 0, __ATOMIC_RELAXED);
		ls_write_stuck(ls_trace_tid(), w->tick_site, begin, ls_watch_sample_stack(w),
			       LS_STUCK_SIGNAL, -1);
		return;
	}
	if (l->block_site == 0 || l->block_begin < begin ||
	    l->block_begin + l->block_dur > begin + dur + 1 ||
	    (w != NULL && __atomic_load_n(&w->sampled, __ATOMIC_RELAXED) == begin))
		return;
	uintptr_t pcs[LS_MAX_STACK_DEPTH];
	struct ls_py_frame py[LS_MAX_STACK_DEPTH];
	uint32_t n = ls_site_stack_pcs(l->block_site, pcs, LS_MAX_STACK_DEPTH);
	uint32_t npy = ls_site_stack_py(l->block_site, py, LS_MAX_STACK_DEPTH);
	uint32_t stack = ls_stack_intern_pcs_py(pcs, n, 0, py, npy);
	l->block_site = 0;
	if (stack != 0)
		ls_write_stuck(ls_trace_tid(), ls_self.cur_site, begin, stack, LS_STUCK_BLOCKING, -1);
}

struct ls_watch *ls_watch_attach(void)
{
	if (!ls_opt.watchdog || ls_disabled)
		return NULL;
	int saved = errno;
	uint32_t tid = ls_trace_tid();
	struct ls_watch *got = NULL;
	for (int i = 0; i < LS_WATCH_SLOTS && got == NULL; i++) {
		uint32_t expect = 0;
		if (__atomic_load_n(&ls_watches[i].tid, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&ls_watches[i].tid, &expect, tid, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			got = &ls_watches[i];
	}
	if (got != NULL) {
		/* Also when the thread never gets a trace of its own (it could
		 * not be created): its slot must go with it. */
		if (ls_wd_key_ok)
			pthread_setspecific(ls_wd_key, got);
		/* The watchdog may be reading the slot already (its tid is
		 * published): atomic stores, though detach left it idle. */
		__atomic_store_n(&got->cb_since, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->iter_since, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->sampled, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->cb_site, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->iter_site, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->blocking_site, 0, __ATOMIC_RELAXED);
		/* Until its iterations begin to say it (selector.c). */
		__atomic_store_n(&got->py_thread, ls_trace_py_thread(), __ATOMIC_RELAXED);
		__atomic_store_n(&got->want, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->got, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&got->tick_since, 0, __ATOMIC_RELAXED);
		/* A second thread makes glibc pay for every cancellable system
		 * call (epoll_wait, read, ...) ever after: a single-threaded
		 * program gets its watchdog only once it had a slow callback.
		 * (Python programs too: a chain of call_soon callbacks, one
		 * epoll_wait each, is 1.06x slower with an idle second thread,
		 * BENCHMARKS.md.) */
		if (ls_process_threads() > 1) {
			ls_watchdog_start();
		} else {
			__atomic_store_n(&ls_wd_deferred, 1, __ATOMIC_RELAXED);
			/* Until then a timer on this thread's CPU time samples
			 * a run that computes past the threshold (one that
			 * waits is found where it waits: ls_watch_slow_run):
			 * at most 40 signals a second at a 100 ms threshold
			 * while the thread computes, none while it waits. */
			if (__atomic_load_n(&ls_wd_state, __ATOMIC_ACQUIRE) == 0)
				__atomic_store_n(&got->cpu_timer,
						 ls_sig_cpu_timer(tid, ls_cpu_period_ns()),
						 __ATOMIC_RELEASE);
		}
	}
	errno = saved;
	return got;
}

void ls_watch_detach(void)
{
	struct ls_watch *w = ls_lt.watch;
	if (w == NULL)
		return;
	ls_lt.watch = NULL;
	ls_sig_cpu_timer_delete(__atomic_exchange_n(&w->cpu_timer, 0, __ATOMIC_ACQ_REL));
	__atomic_store_n(&w->cb_since, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&w->iter_since, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&w->py_thread, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->tid, 0, __ATOMIC_RELEASE);
}

void ls_watch_exec(int begin)
{
	int saved = errno;
	if (begin) {
		/* Deleted from here: a signal one of them queued on this
		 * thread is delivered as this call returns, before the exec. */
		for (int i = 0; i < LS_WATCH_SLOTS; i++)
			ls_sig_cpu_timer_delete(__atomic_exchange_n(&ls_watches[i].cpu_timer, 0,
								    __ATOMIC_ACQ_REL));
	} else {
		struct ls_watch *w = ls_lt.watch;
		if (w != NULL && __atomic_load_n(&ls_wd_deferred, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&ls_wd_state, __ATOMIC_ACQUIRE) == 0)
			__atomic_store_n(&w->cpu_timer,
					 ls_sig_cpu_timer(ls_trace_tid(), ls_cpu_period_ns()),
					 __ATOMIC_RELEASE);
	}
	errno = saved;
}

/* A forked child has only the forking thread, and no watchdog. */
void ls_watch_atfork_child(void)
{
	memset(ls_watches, 0, sizeof(ls_watches));
	ls_lt.watch = NULL;
	ls_lt.watch_tried = 0;
	ls_lt.fork_quiet = 1;
	ls_lt.npending = 0;
	ls_wd_state = 0;
	ls_wd_deferred = 0;
}

static void ls_watch_thread_exit(void *arg)
{
	(void)arg;
	ls_watch_detach();
}

void ls_watch_init(void)
{
	ls_wd_key_ok = pthread_key_create(&ls_wd_key, ls_watch_thread_exit) == 0;
}
