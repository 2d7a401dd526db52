/* blocking-call: known blocking functions called on a loop thread, inside
 * an on-loop callback or a selector loop's iteration (like BlockHound).
 *
 * Off a loop thread, or on one while it waits in its selector, every
 * interposer here costs one thread-local test. On a loop thread the call
 * is timed and counted in the stats slot of its site (api, calling
 * stack); the first call from a site on a thread also writes a BLOCKING
 * record. A call inside a selector loop's iteration (no library callback
 * running) is confirmed only by the thread's next selector call: a thread
 * that has left its loop for good (asyncio.run() returned) and then
 * sleeps is not blocking a loop.
 *
 * The libraries' own calls are not the user's: calls from a loop family's
 * library (libuv, libevent: the spans of their family entries) or from the
 * shim are never findings.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "preload/sys/sys.h"


/* The one table of blocking functions: which api, and when a call of it
 * blocks. docs/FINDINGS.md lists the same. */
enum ls_block_rule {
	LS_BLOCKS_ALWAYS,     /* sleeps, DNS, fsync, system, popen, joins, waits */
	LS_BLOCKS_FD,         /* read/recv/accept/connect on a descriptor in blocking mode */
	LS_BLOCKS_NO_WNOHANG, /* waitpid without WNOHANG */
	LS_BLOCKS_NO_LOCK_NB, /* flock without LOCK_NB */
	LS_BLOCKS_SETLKW,     /* fcntl F_SETLKW / F_OFD_SETLKW */
	LS_BLOCKS_NESTED_WAIT, /* a selector call inside an iteration (selector.c) */
};

#define LS_BLOCKING_LIST(X)                                  \
	X(LS_API_SLEEP, LS_BLOCKS_ALWAYS)                    \
	X(LS_API_USLEEP, LS_BLOCKS_ALWAYS)                   \
	X(LS_API_NANOSLEEP, LS_BLOCKS_ALWAYS)                \
	X(LS_API_CLOCK_NANOSLEEP, LS_BLOCKS_ALWAYS)          \
	X(LS_API_GETADDRINFO, LS_BLOCKS_ALWAYS)              \
	X(LS_API_GETHOSTBYNAME, LS_BLOCKS_ALWAYS)            \
	X(LS_API_GETHOSTBYNAME_R, LS_BLOCKS_ALWAYS)          \
	X(LS_API_FSYNC, LS_BLOCKS_ALWAYS)                    \
	X(LS_API_FDATASYNC, LS_BLOCKS_ALWAYS)                \
	X(LS_API_SYNC, LS_BLOCKS_ALWAYS)                     \
	X(LS_API_SYSTEM, LS_BLOCKS_ALWAYS)                   \
	X(LS_API_POPEN, LS_BLOCKS_ALWAYS)                    \
	X(LS_API_WAIT, LS_BLOCKS_ALWAYS)                     \
	X(LS_API_WAITPID, LS_BLOCKS_NO_WNOHANG)              \
	X(LS_API_FLOCK, LS_BLOCKS_NO_LOCK_NB)                \
	X(LS_API_FCNTL, LS_BLOCKS_SETLKW)                    \
	X(LS_API_PTHREAD_JOIN, LS_BLOCKS_ALWAYS)             \
	X(LS_API_SEM_WAIT, LS_BLOCKS_ALWAYS)                 \
	X(LS_API_READ, LS_BLOCKS_FD)                         \
	X(LS_API_RECV, LS_BLOCKS_FD)                         \
	X(LS_API_RECVFROM, LS_BLOCKS_FD)                     \
	X(LS_API_ACCEPT, LS_BLOCKS_FD)                       \
	X(LS_API_ACCEPT4, LS_BLOCKS_FD)                      \
	X(LS_API_CONNECT, LS_BLOCKS_FD)                      \
	X(LS_API_EPOLL_WAIT, LS_BLOCKS_NESTED_WAIT)          \
	X(LS_API_EPOLL_PWAIT, LS_BLOCKS_NESTED_WAIT)         \
	X(LS_API_EPOLL_PWAIT2, LS_BLOCKS_NESTED_WAIT)        \
	X(LS_API_POLL, LS_BLOCKS_NESTED_WAIT)                \
	X(LS_API_PPOLL, LS_BLOCKS_NESTED_WAIT)               \
	X(LS_API_SELECT, LS_BLOCKS_NESTED_WAIT)              \
	X(LS_API_PSELECT, LS_BLOCKS_NESTED_WAIT)

/* Is this call one to look at: a loop thread inside a callback or an
 * iteration, and the user's call, not a library's or the shim's? */
static inline int ls_block_watched(const void *ret)
{
	const struct ls_loop_thread *l = &ls_lt;
	if (LS_LIKELY(l->loop_cb == 0 && l->in_iter == 0))
		return 0;
	return !ls_disabled && l->in_shim == 0 && l->fork_quiet == 0 &&
	       !ls_family_own_call(ret) &&
	       !ls_module_is_self((uintptr_t)ret);
}

/* blocking_allow: is the site's function, or a function on its calling
 * stack, one the user allowed? Decided once per site. */
static uint8_t ls_allowed[LS_MAX_IDS]; /* 0 unknown, 1 allowed, 2 not */

static int ls_allow_has(const char *name)
{
	const char *list = ls_opt.blocking_allow;
	size_t n = strlen(name);
	if (n == 0)
		return 0;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* A loop library linked into the program (Node.js has libuv inside)
 * makes its own calls: a caller named uv_*, event_*, ... is the library. */
static int ls_library_caller(const void *ret)
{
	static const char *const prefixes[] = { "uv_", "event_", "evutil_", "evbuffer_",
						"bufferevent_", "evthread_", "ev_" };
	Dl_info info;
	if (!dladdr((const char *)ret - 1, &info) || info.dli_sname == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(info.dli_sname, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

/* Is a blocking call of this site not the user's finding: made by a loop
 * library, or allowed by blocking_allow (the function's own name, or a
 * function on its calling stack that the dynamic symbol table names)?
 * Decided once per site. */
static int ls_site_allowed(uint32_t site, uint32_t api, const void *ret)
{
	if (site < LS_MAX_IDS && ls_allowed[site] != 0)
		return ls_allowed[site] == 1;
	int ok = ls_library_caller(ret);
	if (!ok && ls_opt.blocking_allow[0] != 0) {
		ok = ls_allow_has(ls_api_name(api));
		void *pcs[32];
		int n = ok ? 0 : ls_backtrace(pcs, 32);
		for (int k = 0; k < n && !ok; k++) {
			Dl_info info;
			if (ls_module_is_self((uintptr_t)pcs[k]))
				continue;
			if (dladdr((char *)pcs[k] - 1, &info) && info.dli_sname)
				ok = ls_allow_has(info.dli_sname);
		}
	}
	if (site != 0 && site < LS_MAX_IDS)
		ls_allowed[site] = ok ? 1 : 2;
	return ok;
}

static void ls_block_write(uint32_t site, uint32_t api, uint32_t in_site, uint64_t begin,
			   uint64_t dur)
{
	if (!ls_stats_add(site, dur))
		return;  /* not this thread's first call from there: counted */
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_blocking);
	uint64_t end_ns = ls_now();
	ls_trace_note_blocking();
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_BLOCKING;
	r->size = size;
	r->arg = site;
	struct ls_rec_blocking *b = (struct ls_rec_blocking *)(r + 1);
	b->api = api;
	b->in_site = in_site;
	b->begin_ticks = begin;
	b->dur_ticks = dur;
	b->end_mono_ns = end_ns;
	ls_rec_commit(size);
}

/* The calls of the iteration that just ended are confirmed (selector.c). */
void ls_blocking_commit_pending(void)
{
	struct ls_loop_thread *l = &ls_lt;
	for (uint32_t i = 0; i < l->npending; i++) {
		const struct ls_pending_block *p = &l->pending[i];
		ls_block_write(p->site, p->api, 0, p->begin, p->dur);
	}
	l->npending = 0;
}

/* A call that waits for another party (a thread to exit, a semaphore, a
 * child, a peer on a descriptor, a lock, a descriptor of a nested wait)
 * is a finding only when it waited at least blocking_min_ms: such waits
 * are often short and expected (Python's Thread.start waits about 5 ms
 * in sem_wait for the new thread; cmake's kwsys reads its exec-status
 * pipe for 1 ms). Sleeps, DNS, fsync, system and popen always are. */
#define LS_BLOCKING_MIN_MS 10

static int ls_api_waits_for_another(uint32_t api)
{
	switch (api) {
	case LS_API_SLEEP: case LS_API_USLEEP: case LS_API_NANOSLEEP:
	case LS_API_CLOCK_NANOSLEEP: case LS_API_GETADDRINFO: case LS_API_GETHOSTBYNAME:
	case LS_API_GETHOSTBYNAME_R: case LS_API_FSYNC: case LS_API_FDATASYNC:
	case LS_API_SYNC: case LS_API_SYSTEM: case LS_API_POPEN:
		return 0;
	default:
		return 1;
	}
}

static uint64_t ls_block_min_ticks(void)
{
	static uint64_t ticks;
	uint64_t t = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	if (t == 0 && hz != 0) {
		uint32_t ms = ls_opt.blocking_min_set ? ls_opt.blocking_min_ms : LS_BLOCKING_MIN_MS;
		t = (uint64_t)((double)ms / 1e3 * (double)hz);
		t = t ? t : 1;
		__atomic_store_n(&ticks, t, __ATOMIC_RELAXED);
	}
	return t ? t : UINT64_MAX;
}

/* One blocking call that took dur ticks from begin, made by the
 * instruction before ret. The caller has checked ls_block_watched. */
void ls_blocking_record(uint32_t api, const void *ret, uint64_t begin, uint64_t dur)
{
	struct ls_loop_thread *l = &ls_lt;
	int short_wait = ls_api_waits_for_another(api) && dur < ls_block_min_ticks();
	if (short_wait && dur < ls_slow_ticks / 2)
		return;
	l->in_shim++;
	uint32_t site = ls_register_site(api, NULL, ret);
	if (site != 0 && dur >= ls_slow_ticks / 2) {
		l->block_site = site;  /* where a slow run may have been stuck */
		l->block_begin = begin;
		l->block_dur = dur;
	}
	if (site != 0 && !short_wait && !ls_site_allowed(site, api, ret)) {
		if (l->loop_cb > 0) {
			ls_block_write(site, api, ls_self.cur_site, begin, dur);
		} else if (l->npending < sizeof(l->pending) / sizeof(l->pending[0])) {
			l->pending[l->npending++] =
				(struct ls_pending_block){ .site = site, .api = api,
							   .begin = begin, .dur = dur };
		}
	}
	l->in_shim--;
}

struct ls_block {
	int on;
	uint64_t begin;
	uint32_t site;
};

/* Before the real call: publish it for the watchdog (stuck_at). */
static inline void ls_block_begin(struct ls_block *b, uint32_t api, const void *ret)
{
	b->on = 1;
	struct ls_watch *w = ls_lt.watch;
	b->site = 0;
	if (w != NULL) {
		int saved = errno;
		ls_lt.in_shim++;
		b->site = ls_register_site(api, NULL, ret);
		ls_lt.in_shim--;
		errno = saved;
		__atomic_store_n(&w->blocking_site, b->site, __ATOMIC_RELEASE);
	}
	b->begin = ls_ticks();
}

static inline void ls_block_end(struct ls_block *b, uint32_t api, const void *ret)
{
	if (!b->on)
		return;
	uint64_t dur = ls_ticks() - b->begin;
	int saved = errno;
	struct ls_watch *w = ls_lt.watch;
	if (w != NULL)
		__atomic_store_n(&w->blocking_site, 0, __ATOMIC_RELEASE);
	ls_blocking_record(api, ret, b->begin, dur);
	errno = saved;
}

/* A descriptor in blocking mode whose reads wait for another party (a
 * socket, pipe, FIFO or terminal): regular files and block devices do
 * not count. */
static int ls_fd_blocks(int fd)
{
	int saved = errno;
	int fl = LS_LIBC(fcntl)(fd, F_GETFL);
	int blocks = 0;
	if (fl >= 0 && !(fl & O_NONBLOCK)) {
		struct stat st;
		blocks = fstat(fd, &st) == 0 &&
			 (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
	}
	errno = saved;
	return blocks;
}

/* A call on a descriptor is looked at only when it took at least 1 ms:
 * a read of a non-blocking socket returns at once, and checking every
 * descriptor's mode would cost a system call per read. */
static uint64_t ls_fd_min_ticks(void)
{
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	return hz ? hz / 1000 : UINT64_MAX;
}

/* by_fd: a call on descriptor fd, blocking only when fd is in blocking
 * mode (and the call took long enough to look); else fd is not used. */
static inline void ls_block_end_fd(struct ls_block *b, uint32_t api, const void *ret, int by_fd,
				   int fd)
{
	if (!b->on)
		return;
	if (by_fd && (ls_ticks() - b->begin < ls_fd_min_ticks() || !ls_fd_blocks(fd))) {
		struct ls_watch *w = ls_lt.watch;
		if (w != NULL)
			__atomic_store_n(&w->blocking_site, 0, __ATOMIC_RELEASE);
		return;
	}
	ls_block_end(b, api, ret);
}

/* One interposer: the real call, watched when cond says it may wait and
 * the caller is the program on a loop thread. */
#define LS_BLOCKING_CALL(api, by_fd, fd, cond, call)                       \
	do {                                                               \
		const void *ret_ = __builtin_return_address(0);            \
		struct ls_block b_ = { 0 };                                \
		if (LS_UNLIKELY(ls_block_watched(ret_)) && (cond))         \
			ls_block_begin(&b_, (api), ret_);                  \
		__typeof__(call) rc_ = call;                               \
		ls_block_end_fd(&b_, (api), ret_, (by_fd), (fd));          \
		return rc_;                                                \
	} while (0)

/* read/recv/accept/connect: blocking when the descriptor is in blocking
 * mode (and the call took long enough to look). */
#define LS_BLOCKING_FD(api, fd, cond, call) LS_BLOCKING_CALL(api, 1, fd, cond, call)

/* The other blocking calls: blocking whenever cond says they may wait. */
#define LS_BLOCKING(api, cond, call) LS_BLOCKING_CALL(api, 0, -1, cond, call)

/* nanosleep, resumed with the time left when the watchdog's signal alone
 * cut it short (the kernel writes that into rem, always given). */
static int ls_nanosleep(const struct timespec *req, struct timespec *rem)
{
	unsigned n = ls_sig_eintr;
	int rc;
	struct timespec left;
	while ((rc = LS_LIBC(nanosleep)(req, &left)) != 0 && ls_sig_cut(&n))
		req = &left;  /* the kernel read it before it wrote left */
	if (rc != 0 && errno == EINTR && rem != NULL)
		*rem = left;
	return rc;
}

/* glibc's sleep and usleep are nanosleep: so are these, to resume them
 * with the time left. */
LS_EXPORT unsigned int sleep(unsigned int seconds)
{
	struct timespec ts = { (time_t)seconds, 0 };
	int saved = errno;
	LS_BLOCKING(LS_API_SLEEP, seconds > 0,
		    ls_nanosleep(&ts, &ts) != 0 ? (unsigned int)ts.tv_sec : (errno = saved, 0u));
}

LS_EXPORT int usleep(useconds_t usec)
{
	struct timespec ts = { (time_t)(usec / 1000000), (long)(usec % 1000000) * 1000 };
	LS_BLOCKING(LS_API_USLEEP, usec > 0, ls_nanosleep(&ts, NULL));
}

LS_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	LS_BLOCKING(LS_API_NANOSLEEP, req != NULL && (req->tv_sec > 0 || req->tv_nsec > 0),
		    ls_nanosleep(req, rem));
}

/* The same for clock_nanosleep, which returns the error (errno untouched);
 * an absolute wake-up time is simply asked again. */
static int ls_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	unsigned n = ls_sig_eintr;
	int rc;
	struct timespec left;
	while ((rc = LS_LIBC(clock_nanosleep)(clock, flags, req, &left)) == EINTR &&
	       ls_sig_eintr != n) {
		n = ls_sig_eintr;
		if (!(flags & TIMER_ABSTIME))
			req = &left;
	}
	if (rc == EINTR && rem != NULL && !(flags & TIMER_ABSTIME))
		*rem = left;
	return rc;
}

LS_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	LS_BLOCKING(LS_API_CLOCK_NANOSLEEP, req != NULL,
		    ls_clock_nanosleep(clock, flags, req, rem));
}

LS_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res)
{
	LS_BLOCKING(LS_API_GETADDRINFO, hints == NULL || !(hints->ai_flags & AI_NUMERICHOST),
		    LS_LIBC(getaddrinfo)(node, service, hints, res));
}

LS_EXPORT struct hostent *gethostbyname(const char *name)
{
	LS_BLOCKING(LS_API_GETHOSTBYNAME, 1, LS_LIBC(gethostbyname)(name));
}

LS_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			      struct hostent **result, int *h_errnop)
{
	LS_BLOCKING(LS_API_GETHOSTBYNAME_R, 1,
		    LS_LIBC(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop));
}

LS_EXPORT int fsync(int fd)
{
	LS_BLOCKING(LS_API_FSYNC, 1, LS_LIBC(fsync)(fd));
}

LS_EXPORT int fdatasync(int fd)
{
	LS_BLOCKING(LS_API_FDATASYNC, 1, LS_LIBC(fdatasync)(fd));
}

LS_EXPORT void sync(void)
{
	const void *ret = __builtin_return_address(0);
	struct ls_block b = { 0 };
	if (LS_UNLIKELY(ls_block_watched(ret)))
		ls_block_begin(&b, LS_API_SYNC, ret);
	LS_LIBC(sync)();
	ls_block_end(&b, LS_API_SYNC, ret);
}

LS_EXPORT int system(const char *command)
{
	LS_BLOCKING(LS_API_SYSTEM, command != NULL, LS_LIBC(system)(command));
}

LS_EXPORT FILE *popen(const char *command, const char *type)
{
	LS_BLOCKING(LS_API_POPEN, 1, LS_LIBC(popen)(command, type));
}

LS_EXPORT pid_t wait(int *status)
{
	LS_BLOCKING(LS_API_WAIT, 1, LS_RESUMED(LS_LIBC(wait)(status)));
}

LS_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	LS_BLOCKING(LS_API_WAITPID, !(options & WNOHANG),
		    LS_RESUMED(LS_LIBC(waitpid)(pid, status, options)));
}

LS_EXPORT int flock(int fd, int op)
{
	LS_BLOCKING(LS_API_FLOCK, !(op & LOCK_NB), LS_RESUMED(LS_LIBC(flock)(fd, op)));
}

/* fcntl is variadic; glibc reads its third argument as a pointer-sized
 * value whatever the command, and so does this. */
#define LS_FCNTL_BODY(fn)                                                          \
	va_list ap;                                                                \
	va_start(ap, cmd);                                                         \
	void *arg = va_arg(ap, void *);                                            \
	va_end(ap);                                                                \
	LS_BLOCKING(LS_API_FCNTL, cmd == F_SETLKW || cmd == F_OFD_SETLKW,          \
		    LS_RESUMED(LS_LIBC(fn)(fd, cmd, arg)))

LS_EXPORT int fcntl(int fd, int cmd, ...)
{
	LS_FCNTL_BODY(fcntl);
}

extern int fcntl64(int fd, int cmd, ...);

LS_EXPORT int fcntl64(int fd, int cmd, ...)
{
	LS_FCNTL_BODY(fcntl64);
}

LS_EXPORT int pthread_join(pthread_t thread, void **retval)
{
	LS_BLOCKING(LS_API_PTHREAD_JOIN, 1, LS_LIBC(pthread_join)(thread, retval));
}

/* Only a sem_wait that has to wait blocks: an uncontended one (Python's
 * locks, taken all the time) is the same as sem_trywait succeeding. */
static int ls_sem_busy(sem_t *sem)
{
	int saved = errno;
	int busy = LS_LIBC(sem_trywait)(sem) != 0;
	errno = saved;
	return busy;
}

LS_EXPORT int sem_wait(sem_t *sem)
{
	const void *ret = __builtin_return_address(0);
	if (LS_UNLIKELY(ls_block_watched(ret)) && !ls_sem_busy(sem))
		return 0;  /* the trywait took it */
	LS_BLOCKING(LS_API_SEM_WAIT, 1, LS_RESUMED(LS_LIBC(sem_wait)(sem)));
}

LS_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	LS_BLOCKING_FD(LS_API_READ, fd, 1, LS_RESUMED(LS_LIBC(read)(fd, buf, count)));
}

extern ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);

LS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen)
{
	LS_BLOCKING_FD(LS_API_READ, fd, 1, LS_RESUMED(LS_LIBC(__read_chk)(fd, buf, nbytes, buflen)));
}

LS_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	LS_BLOCKING_FD(LS_API_RECV, fd, !(flags & MSG_DONTWAIT),
		    LS_RESUMED(LS_LIBC(recv)(fd, buf, len, flags)));
}

extern ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);

LS_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	LS_BLOCKING_FD(LS_API_RECV, fd, !(flags & MSG_DONTWAIT),
		    LS_RESUMED(LS_LIBC(__recv_chk)(fd, buf, len, buflen, flags)));
}

LS_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			   socklen_t *addrlen)
{
	LS_BLOCKING_FD(LS_API_RECVFROM, fd, !(flags & MSG_DONTWAIT),
		    LS_RESUMED(LS_LIBC(recvfrom)(fd, buf, len, flags, addr, addrlen)));
}

extern ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			      struct sockaddr *addr, socklen_t *addrlen);

LS_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				 struct sockaddr *addr, socklen_t *addrlen)
{
	LS_BLOCKING_FD(LS_API_RECVFROM, fd, !(flags & MSG_DONTWAIT),
		    LS_RESUMED(LS_LIBC(__recvfrom_chk)(fd, buf, len, buflen, flags, addr, addrlen)));
}

LS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	LS_BLOCKING_FD(LS_API_ACCEPT, fd, 1, LS_RESUMED(LS_LIBC(accept)(fd, addr, addrlen)));
}

LS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	LS_BLOCKING_FD(LS_API_ACCEPT4, fd, 1, LS_RESUMED(LS_LIBC(accept4)(fd, addr, addrlen, flags)));
}

LS_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	LS_BLOCKING_FD(LS_API_CONNECT, fd, 1, LS_RESUMED(LS_LIBC(connect)(fd, addr, addrlen)));
}

/* The table is the documentation; keep the compiler honest about it. */
struct ls_block_rule_def {
	uint32_t api;
	enum ls_block_rule rule;
};

static const struct ls_block_rule_def ls_block_rules[] __attribute__((used)) = {
#define LS_RULE(api, rule) { api, rule },
	LS_BLOCKING_LIST(LS_RULE)
#undef LS_RULE
};
