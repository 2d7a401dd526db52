/* The sampling signal (stuck_signal: SIGRTMAX - 3), kept out of the
 * program's sight.
 *
 * From the shim's start the real disposition of that signal is the shim's
 * handler, and the program's is virtual: sigaction, signal and their
 * relatives, for that one signal number, read and write what the program
 * set (what it inherited at first: SIG_DFL after an exec). The handler
 * tells the watchdog's sends (rt_tgsigqueueinfo, SI_QUEUE from this
 * process, a value only the shim knows) from everything else:
 *
 * - the watchdog's: a stack sample, and nothing the program sees. When it
 *   cut one of the thread's system calls short (EINTR), ls_sig_eintr
 *   counts it, and the interposed blocking calls resume (blocking.c,
 *   selector.c): the program never gets an EINTR of the shim's.
 * - anyone else's: what the program's disposition says. Its handler, called
 *   as the kernel would have called it (the real disposition carries its
 *   mask and its SA_RESTART, SA_ONSTACK, SA_NODEFER; SA_RESETHAND is done
 *   here, so that the real handler stays); SIG_DFL: the default action, the
 *   process ends of that signal.
 *
 * SIG_IGN is given to the kernel as it is (an ignored signal wakes nobody
 * and interrupts nothing): no sample then. Nor while the program has a
 * handler of its own: the watchdog signals only while the program's
 * disposition is SIG_DFL, which it cannot see or feel. What the program
 * blocks stays blocked: the watchdog never signals a thread that blocks
 * the signal.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "preload/sys/sys.h"

__thread unsigned ls_sig_eintr;
__thread int ls_sig_errno;

__attribute__((noinline, cold)) int ls_sig_cut(unsigned *n)
{
	if (errno != EINTR || ls_sig_eintr == *n)
		return 0;
	*n = ls_sig_eintr;
	errno = ls_sig_errno;
	return 1;
}

static int ls_sig_no;     /* the signal the shim holds; 0: none (the program's own) */
static int ls_sig_magic;  /* its address is the value the watchdog's sends carry */

/* The program's disposition, for the handler: one word, read with one
 * load. Its handler's address (SIG_DFL 0, SIG_IGN 1) and, in the two top
 * bits, which no user-space address has, SA_SIGINFO and SA_RESETHAND. */
#define LS_DISP_SIGINFO (1ull << 63)
#define LS_DISP_RESETHAND (1ull << 62)
#define LS_DISP_FN (LS_DISP_RESETHAND - 1)
static uint64_t ls_sig_disp;

/* The program's whole struct sigaction, for its queries; changed and read
 * under ls_sig_lock, taken with every signal blocked (sigaction is
 * async-signal-safe: a handler may call it). */
static struct sigaction ls_sig_view;
static int ls_sig_lock;
static unsigned ls_sig_nointr;  /* siginterrupt(signo, 1) was asked */

/* The real sigaction: one call site, resolved at init, so that the
 * handler never resolves it. */
static int ls_real_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	return LS_LIBC(sigaction)(signo, act, old);
}

static uint64_t ls_disp_of(const struct sigaction *sa)
{
	uint64_t d = (uint64_t)(uintptr_t)sa->sa_handler & LS_DISP_FN;
	if (sa->sa_handler == SIG_DFL || sa->sa_handler == SIG_IGN)
		return d;
	if (sa->sa_flags & SA_SIGINFO)
		d |= LS_DISP_SIGINFO;
	if (sa->sa_flags & SA_RESETHAND)
		d |= LS_DISP_RESETHAND;
	return d;
}

static void ls_sig_handler(int sig, siginfo_t *si, void *uc);

/* The real disposition for the program's act: SIG_IGN as it is; else the
 * shim's handler, with the program's mask and flags when it has a handler
 * (the kernel then blocks, restarts and switches stacks as the program
 * asked), with SA_RESTART (a sample interrupts no read or write) and
 * everything blocked while it samples when the program has none. */
static void ls_real_of(const struct sigaction *act, struct sigaction *real)
{
	memset(real, 0, sizeof(*real));
	if (act->sa_handler == SIG_IGN) {
		real->sa_handler = SIG_IGN;
		real->sa_mask = act->sa_mask;
		real->sa_flags = act->sa_flags;
		return;
	}
	real->sa_sigaction = ls_sig_handler;
	if (act->sa_handler == SIG_DFL) {
		sigfillset(&real->sa_mask);
		real->sa_flags = SA_SIGINFO | SA_RESTART;
	} else {
		real->sa_mask = act->sa_mask;
		real->sa_flags = SA_SIGINFO | (act->sa_flags & (SA_RESTART | SA_ONSTACK | SA_NODEFER));
	}
}

static void ls_sig_lock_take(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	while (__atomic_exchange_n(&ls_sig_lock, 1, __ATOMIC_ACQUIRE))
		;  /* another thread, with every signal blocked, for one system call */
}

static void ls_sig_lock_drop(const sigset_t *old)
{
	__atomic_store_n(&ls_sig_lock, 0, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The handler reset the program's SA_RESETHAND handler (only the word):
 * the view and the real flags follow, under the lock. */
static void ls_sig_settle(void)
{
	if (__atomic_load_n(&ls_sig_disp, __ATOMIC_ACQUIRE) != (uint64_t)(uintptr_t)SIG_DFL ||
	    ls_sig_view.sa_handler == SIG_DFL)
		return;
	ls_sig_view.sa_handler = SIG_DFL;
	struct sigaction real;
	ls_real_of(&ls_sig_view, &real);
	ls_real_sigaction(ls_sig_no, &real, NULL);
}

/* The program's sigaction for the shim's signal: what the kernel would
 * have answered and kept, the program's handler behind the shim's. */
static int ls_sig_virtual(const struct sigaction *act, struct sigaction *old)
{
	sigset_t mask;
	int rc = 0;
	ls_sig_lock_take(&mask);
	ls_sig_settle();
	struct sigaction was = ls_sig_view;
	if (act != NULL) {
		struct sigaction real, now;
		ls_real_of(act, &real);
		rc = ls_real_sigaction(ls_sig_no, &real, NULL);
		if (rc == 0 && ls_real_sigaction(ls_sig_no, NULL, &now) == 0) {
			ls_sig_view = *act;
			/* What the kernel keeps: the flags libc adds
			 * (SA_RESTORER) and its restorer; never SIGKILL or
			 * SIGSTOP in the mask. */
			ls_sig_view.sa_flags |= now.sa_flags & ~real.sa_flags;
			ls_sig_view.sa_restorer = now.sa_restorer;
			sigdelset(&ls_sig_view.sa_mask, SIGKILL);
			sigdelset(&ls_sig_view.sa_mask, SIGSTOP);
			__atomic_store_n(&ls_sig_disp, ls_disp_of(act), __ATOMIC_RELEASE);
		}
	}
	ls_sig_lock_drop(&mask);
	if (rc == 0 && old != NULL)
		*old = was;
	return rc;
}

static int ls_sig_ours(int signo)
{
	return signo != 0 && signo == __atomic_load_n(&ls_sig_no, __ATOMIC_ACQUIRE);
}

/* ---- the handler ------------------------------------------------------ */

/* 1: the watchdog's send; 2: a loop thread's CPU-time timer (made by
 * ls_sig_cpu_timer, which no one else can name); 0: anyone else's. */
static int ls_sig_from_shim(const siginfo_t *si)
{
	if (si->si_value.sival_ptr != (void *)&ls_sig_magic)
		return 0;
	if (si->si_code == SI_QUEUE && si->si_pid == getpid())
		return 1;
	return si->si_code == SI_TIMER ? 2 : 0;
}

/* Did this signal's delivery end the system call the thread was in with
 * EINTR? The kernel has then put -EINTR in the return register of a
 * context that stands just past the system call instruction (a call it
 * restarts stands on it, its number back in that register). Another
 * signal delivered first would stand between: the EINTR is then its own
 * (unless its handler blocked this one: this one then comes after it, on
 * the same context, and cannot tell). */
static int ls_sig_cut_a_call(const void *ucv)
{
	const ucontext_t *uc = ucv;
#if defined(__x86_64__)
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	if (uc->uc_mcontext.gregs[REG_RAX] != -EINTR || (pc & 0xfff) < 2)
		return 0;
	const unsigned char *p = (const unsigned char *)pc;
	return p[-2] == 0x0f && p[-1] == 0x05;  /* syscall */
#elif defined(__aarch64__)
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
	if ((int64_t)uc->uc_mcontext.regs[0] != -EINTR || (pc & 0xfff) < 4)
		return 0;
	return ((const uint32_t *)pc)[-1] == 0xd4000001u;  /* svc #0 */
#else
	(void)uc;
	return 1;  /* no way to tell: a call that failed with EINTR now is taken for ours */
#endif
}

/* Is another signal, one the interrupted code does not block, waiting for
 * the end of this handler (it came while the sample was taken)? Without
 * the shim it would have cut the call short itself: the EINTR is its. */
static int ls_sig_other_pending(int sig, const void *ucv)
{
	const ucontext_t *uc = ucv;
	sigset_t p;
	if (sigpending(&p) != 0)
		return 1;
	for (int s = 1; s < NSIG; s++)
		if (s != sig && sigismember(&p, s) == 1 && sigismember(&uc->uc_sigmask, s) == 0)
			return 1;
	return 0;
}

/* The default action of a signal whose default is to end the process (a
 * real-time signal's): the kernel's, by the kernel. */
static void ls_sig_die(int sig)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	ls_real_sigaction(sig, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}

static void ls_sig_handler(int sig, siginfo_t *si, void *uc)
{
	int ours = ls_sig_from_shim(si);
	if (ours) {
		int saved = errno;
		int cut = ls_sig_cut_a_call(uc);
		if (ours == 1)
			ls_watch_sample_here(uc);
		else
			ls_watch_tick_here(uc);
		if (cut && !ls_sig_other_pending(sig, uc)) {
			ls_sig_errno = saved;
			ls_sig_eintr++;
		}
		errno = saved;
		return;
	}
	uint64_t d = __atomic_load_n(&ls_sig_disp, __ATOMIC_ACQUIRE);
	uintptr_t fn = (uintptr_t)(d & LS_DISP_FN);
	if (fn == (uintptr_t)SIG_IGN)
		return;  /* SIG_IGN was being given to the kernel */
	if (fn == (uintptr_t)SIG_DFL) {
		ls_sig_die(sig);
		return;
	}
	if (d & LS_DISP_RESETHAND) {
		/* Back to SIG_DFL, for the handler at once and for the
		 * program's queries at the next (ls_sig_settle); a sigaction
		 * of another thread at this moment wins. */
		uint64_t dfl = (uint64_t)(uintptr_t)SIG_DFL;
		__atomic_compare_exchange_n(&ls_sig_disp, &d, dfl, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
	if (d & LS_DISP_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

/* ---- what the watchdog asks ------------------------------------------- */

int ls_sig_can_sample(void)
{
	int signo = __atomic_load_n(&ls_sig_no, __ATOMIC_ACQUIRE);
	struct sigaction cur;
	return signo != 0 &&
	       __atomic_load_n(&ls_sig_disp, __ATOMIC_ACQUIRE) == (uint64_t)(uintptr_t)SIG_DFL &&
	       ls_real_sigaction(signo, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       (cur.sa_flags & SA_RESTART) && cur.sa_sigaction == ls_sig_handler;
}

int ls_sig_number(void)
{
	return __atomic_load_n(&ls_sig_no, __ATOMIC_ACQUIRE);
}

int ls_sig_send(uint32_t tid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = ls_sig_no;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = &ls_sig_magic;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)tid, ls_sig_no, &si);
}

/* Its next expiry after next_ns more of the thread's CPU time (then every
 * period_ns again; 0 when set). Async-signal-safe. */
int ls_sig_cpu_timer_next(uint32_t timer, long next_ns, long period_ns)
{
	if (timer == 0)
		return -1;
	struct itimerspec its;
	its.it_interval.tv_sec = period_ns / 1000000000L;
	its.it_interval.tv_nsec = period_ns % 1000000000L;
	its.it_value.tv_sec = next_ns / 1000000000L;
	its.it_value.tv_nsec = next_ns % 1000000000L;
	return (int)syscall(SYS_timer_settime, (int)(timer - 1), 0, &its, NULL);
}

/* A timer on the calling thread's CPU time, every period_ns of it, whose
 * expiry sends this thread the signal (ls_watch_tick_here): it runs only
 * while the thread computes, so it never wakes a thread that waits, and it
 * is asked for only while the program's disposition is SIG_DFL and the
 * thread does not block the signal. Raw system calls: libc's timer_t is
 * not the kernel's id. Returns the kernel's timer id + 1, 0 when none. */
uint32_t ls_sig_cpu_timer(uint32_t tid, long period_ns)
{
	int signo = ls_sig_number();
	sigset_t cur;
	if (signo == 0 || !ls_sig_can_sample() || pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0 ||
	    sigismember(&cur, signo) != 0)
		return 0;
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = signo;
	sev.sigev_value.sival_ptr = &ls_sig_magic;
	sev._sigev_un._tid = (pid_t)tid;
	int id = -1;
	/* CPU clock of the calling thread (CLOCK_THREAD_CPUTIME_ID's id). */
	if (syscall(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, &sev, &id) != 0 || id < 0)
		return 0;
	if (ls_sig_cpu_timer_next((uint32_t)id + 1, period_ns, period_ns) != 0) {
		syscall(SYS_timer_delete, id);
		return 0;
	}
	return (uint32_t)id + 1;
}

void ls_sig_cpu_timer_delete(uint32_t timer)
{
	if (timer != 0)
		syscall(SYS_timer_delete, (int)(timer - 1));
}

/* Takes the signal, once, at the shim's start: the program's disposition
 * is what it inherited (or what a constructor before the shim's set). */
void ls_sig_init(void)
{
	if (!ls_opt.watchdog || !ls_opt.stuck_signal || ls_disabled)
		return;
	int signo = SIGRTMAX - 3;
	struct sigaction cur, real;
	if (ls_real_sigaction(signo, NULL, &cur) != 0)
		return;
	ls_sig_view = cur;
	__atomic_store_n(&ls_sig_disp, ls_disp_of(&cur), __ATOMIC_RELEASE);
	ls_real_of(&cur, &real);
	if (cur.sa_handler != SIG_IGN && ls_real_sigaction(signo, &real, NULL) != 0)
		return;
	__atomic_store_n(&ls_sig_no, signo, __ATOMIC_RELEASE);
}

/* ---- the program's calls ---------------------------------------------- */

LS_EXPORT int sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return ls_real_sigaction(signo, act, old);
	return ls_sig_virtual(act, old);
}

extern int __sigaction(int signo, const struct sigaction *act, struct sigaction *old);

LS_EXPORT int __sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(__sigaction)(signo, act, old);
	return ls_sig_virtual(act, old);
}

/* glibc's signal() (BSD semantics): the signal blocked in its handler,
 * calls restarted unless siginterrupt said otherwise. */
static __sighandler_t ls_sig_bsd(int signo, __sighandler_t fn)
{
	struct sigaction act, old;
	memset(&act, 0, sizeof(act));
	act.sa_handler = fn;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, signo);
	act.sa_flags = __atomic_load_n(&ls_sig_nointr, __ATOMIC_RELAXED) ? 0 : SA_RESTART;
	if (fn == SIG_ERR || ls_sig_virtual(&act, &old) != 0) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return old.sa_handler;
}

LS_EXPORT __sighandler_t signal(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(signal)(signo, fn);
	return ls_sig_bsd(signo, fn);
}

extern __sighandler_t bsd_signal(int signo, __sighandler_t fn);

LS_EXPORT __sighandler_t bsd_signal(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(bsd_signal)(signo, fn);
	return ls_sig_bsd(signo, fn);
}

LS_EXPORT __sighandler_t ssignal(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(ssignal)(signo, fn);
	return ls_sig_bsd(signo, fn);
}

/* System V semantics: reset on delivery, not blocked in the handler. */
static __sighandler_t ls_sig_sysv(int signo, __sighandler_t fn)
{
	struct sigaction act, old;
	(void)signo;
	memset(&act, 0, sizeof(act));
	act.sa_handler = fn;
	sigemptyset(&act.sa_mask);
	act.sa_flags = SA_RESETHAND | SA_NODEFER;
	if (fn == SIG_ERR || ls_sig_virtual(&act, &old) != 0) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return old.sa_handler;
}

LS_EXPORT __sighandler_t sysv_signal(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(sysv_signal)(signo, fn);
	return ls_sig_sysv(signo, fn);
}

extern __sighandler_t __sysv_signal(int signo, __sighandler_t fn);

LS_EXPORT __sighandler_t __sysv_signal(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(__sysv_signal)(signo, fn);
	return ls_sig_sysv(signo, fn);
}

/* Deprecated, still called by old programs, and by glibc's own signal()
 * reaching its sigaction internally: interposed too. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* sigset: SIG_HOLD blocks; anything else is the disposition, unblocked. */
LS_EXPORT __sighandler_t sigset(int signo, __sighandler_t fn)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(sigset)(signo, fn);
	sigset_t one, was;
	sigemptyset(&one);
	sigaddset(&one, signo);
	struct sigaction act, old;
	if (fn == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &one, &was) < 0)
			return SIG_ERR;
		if (sigismember(&was, signo))
			return SIG_HOLD;
		return ls_sig_virtual(NULL, &old) == 0 ? old.sa_handler : SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = fn;
	sigemptyset(&act.sa_mask);
	if (ls_sig_virtual(&act, &old) != 0 || sigprocmask(SIG_UNBLOCK, &one, &was) < 0)
		return SIG_ERR;
	return sigismember(&was, signo) ? SIG_HOLD : old.sa_handler;
}

LS_EXPORT int sigignore(int signo)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(sigignore)(signo);
	struct sigaction act;
	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_IGN;
	sigemptyset(&act.sa_mask);
	return ls_sig_virtual(&act, NULL);
}

LS_EXPORT int siginterrupt(int signo, int flag)
{
	if (LS_LIKELY(!ls_sig_ours(signo)))
		return LS_LIBC(siginterrupt)(signo, flag);
	struct sigaction act;
	if (ls_sig_virtual(NULL, &act) != 0)
		return -1;
	__atomic_store_n(&ls_sig_nointr, flag != 0, __ATOMIC_RELAXED);
	if (flag)
		act.sa_flags &= ~SA_RESTART;
	else
		act.sa_flags |= SA_RESTART;
	return ls_sig_virtual(&act, NULL);
}

#pragma GCC diagnostic pop
