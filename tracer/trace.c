/* The trace file and the per-thread chunks it is made of.
 *
 * Each thread writes into its own chunk, a MAP_SHARED window onto the file,
 * and publishes each record by storing the chunk's `used` after the record's
 * bytes. The kernel owns the pages, so a crash or SIGKILL of the program
 * loses at most the record being written. A new chunk is the only point
 * where a thread makes system calls; the file is created at the first record
 * so that processes that never touch a loop leave no trace behind. A thread
 * that exits leaves its chunks, still mapped, to the next thread that needs
 * one (format.h: chunks passed on): the file is bounded by the threads
 * alive at once.
 *
 * The trace's descriptor is the shim's only while the program leaves it
 * alone: a daemon may close every descriptor (close_range, closefrom, a
 * close loop) and open its own files under the same numbers. So the file's
 * device and inode are kept, and the descriptor is checked against them
 * before every use (a new chunk, the fork child's close); one that is no
 * longer the trace is never used again, and the trace is opened anew by its
 * path. Records themselves go through the mappings, which no close undoes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/trace.h"

#define LS_CHUNK_SIZE (64u << 10)

struct ls_options ls_opt = {
	.slow_callback_ms = 100,
	.stacks = 1,
	.stack_depth = 16,
	.mode = LS_MODE_SUMMARY,
	.stack_cache = 1,
	.slow_selector_ms = 100,
	.watchdog = 1,
	.stuck_signal = 1,      /* SIGRTMAX - 3, see preload/sys/watchdog.c */
	.python = 1,
};
int ls_disabled;
uint64_t ls_slow_ticks = UINT64_MAX;
uint64_t ls_rec_ticks = UINT64_MAX;
uint64_t ls_tick_hz;
__thread struct ls_thread ls_self;
__thread struct ls_loop_thread ls_lt;
uint32_t ls_gen = 1;
static pid_t ls_own_pid;  /* the process this memory is (set at load and in a fork child) */

static struct {
	pthread_mutex_t lock;       /* taken to create the file, never on the hot path */
	int fd;                     /* -1 until created; checked against dev/ino before each use */
	dev_t dev;                  /* the trace file's, to tell it from whatever took fd's number */
	ino_t ino;
	int broken;                 /* creation or growth failed: record nothing more */
	int early;                  /* made before an id change, ahead of any record */
	int replay_pending;         /* a child of fork: stacks and sites predate the trace */
	struct ls_file_header *hdr;
	uint32_t next_chunk;
	uint64_t tick_hz;           /* calibrated at load */
	uint64_t slow, open_handles, dropped_errors, unclosed, wrong_thread, misuse, lost, blocking, slow_selector, never_awaited; /* finding counts for the exit line */
	char path[600];
	char abs_path[1200];        /* path from /, to open it again after a chdir */
	pthread_key_t key;          /* unmaps a thread's chunk when it exits */
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* The shim's hooks (trace.h), added at load, never removed. */
static const struct ls_trace_hooks *ls_hooks[LS_MAX_TRACE_HOOKS];
static uint32_t ls_nhooks;

/* Each added hook set h whose `field` is filled in, in the order added. */
#define LS_EACH_HOOK(h, field)                                               \
	for (uint32_t i_ = 0, n_ = __atomic_load_n(&ls_nhooks, __ATOMIC_ACQUIRE); \
	     i_ < n_; i_++)                                                  \
		if (((h) = ls_hooks[i_])->field != NULL)

uint32_t ls_trace_py_frames(struct ls_py_frame *out, uint32_t max)
{
	const struct ls_trace_hooks *h;
	LS_EACH_HOOK(h, py_frames)
		return h->py_frames(out, max);
	return 0;
}

uint32_t ls_trace_py_sample(struct ls_py_frame *out, uint32_t max)
{
	const struct ls_trace_hooks *h;
	LS_EACH_HOOK(h, py_sample)
		return h->py_sample(out, max);
	return 0;
}

uint32_t ls_trace_py_frames_of(uintptr_t thread, uint32_t tid, struct ls_py_frame *out,
			       uint32_t max)
{
	const struct ls_trace_hooks *h;
	LS_EACH_HOOK(h, py_frames_of)
		return h->py_frames_of(thread, tid, out, max);
	return 0;
}

/* Kept apart from ls_hooks: every loop iteration asks it (selector.c). */
uintptr_t (*ls_trace_py_thread_hook)(void);

/* Kept apart from ls_hooks: every registration asks it (site_cache.c). */
uintptr_t (*ls_trace_py_where_hook)(void);

static void ls_hooks_opened(void)
{
	const struct ls_trace_hooks *h;
	LS_EACH_HOOK(h, opened)
		h->opened();
}

void ls_trace_hooks_add(const struct ls_trace_hooks *h)
{
	pthread_mutex_lock(&tr.lock);
	uint32_t n = ls_nhooks;
	if (n < LS_MAX_TRACE_HOOKS) {
		ls_hooks[n] = h;
		__atomic_store_n(&ls_nhooks, n + 1, __ATOMIC_RELEASE);
		if (h->py_where != NULL && ls_trace_py_where_hook == NULL)
			__atomic_store_n(&ls_trace_py_where_hook, h->py_where, __ATOMIC_RELEASE);
		if (h->py_thread != NULL && ls_trace_py_thread_hook == NULL)
			__atomic_store_n(&ls_trace_py_thread_hook, h->py_thread, __ATOMIC_RELEASE);
		if (tr.hdr != NULL && h->opened != NULL)
			h->opened();
	}
	pthread_mutex_unlock(&tr.lock);
}

/* The stderr the process started with: the shim writes only there. A
 * program that closed fd 2 and opened a file of its own into it must not
 * find loopsan's lines in that file. */
static struct {
	dev_t dev;
	ino_t ino;
	int known;
} ls_stderr;

__attribute__((constructor(101))) static void ls_stderr_remember(void)
{
	struct stat st;
	if (!getauxval(AT_SECURE) && fstat(STDERR_FILENO, &st) == 0) {
		ls_stderr.dev = st.st_dev;
		ls_stderr.ino = st.st_ino;
		ls_stderr.known = 1;
	}
}

static void ls_say_stderr(const char *msg)
{
	struct stat st;
	if (!ls_stderr.known || fstat(STDERR_FILENO, &st) != 0 || st.st_dev != ls_stderr.dev ||
	    st.st_ino != ls_stderr.ino)
		return;
	ssize_t rc = write(STDERR_FILENO, msg, strlen(msg));
	(void)rc;
}

/* log_path: msg appended to that file, through a descriptor of the
 * shim's own for this one line. When it cannot be opened, one line says
 * so and the lines go to stderr after all. Keeps errno. */
static void ls_say(const char *msg)
{
	static int log_failed;
	int saved = errno;
	int fd = -1;
	if (ls_opt.log_path[0] != 0 && !__atomic_load_n(&log_failed, __ATOMIC_RELAXED))
		fd = open(ls_opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
			  0600);
	if (fd >= 0) {
		ssize_t rc = write(fd, msg, strlen(msg));
		(void)rc;
		close(fd);
	} else {
		if (ls_opt.log_path[0] != 0 && !__atomic_exchange_n(&log_failed, 1, __ATOMIC_RELAXED)) {
			char line[700];
			snprintf(line, sizeof(line), "loopsan: cannot open log_path %s: %s; "
				 "loopsan's lines go to stderr\n", ls_opt.log_path, strerror(errno));
			ls_say_stderr(line);
		}
		ls_say_stderr(msg);
	}
	errno = saved;
}

/* The directory loopsan run made for the shim's reasons (its
 * LOOPSAN_RUN_NOTES, read at load): run cannot see the program's stderr,
 * which may be a terminal, a log of the program's, or closed. */
static char ls_run_notes[512];

/* Hands msg, a reason of the shim's for a trace it could not make or
 * write, to loopsan run: appended to a file named by the pid in run's
 * directory, opened and closed here (a descriptor of the shim's own for
 * that moment, never one of the program's). Keeps errno. */
static void ls_tell_run(const char *msg)
{
	if (ls_run_notes[0] == 0)
		return;
	int saved = errno;
	char path[sizeof(ls_run_notes) + 32];
	snprintf(path, sizeof(path), "%s/%d", ls_run_notes, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t rc = write(fd, msg, strlen(msg));
		(void)rc;
		close(fd);
	}
	errno = saved;
}

/* msg where the shim's lines go: log_path, or the stderr the process
 * started with. Keeps errno. */
void ls_trace_say(const char *msg)
{
	ls_say(msg);
}

/* msg once per process (by its address: a message of the shim's own). */
void ls_trace_say_once(const char *msg)
{
	static const char *said[8];
	for (unsigned i = 0; i < 8; i++) {
		const char *p = __atomic_load_n(&said[i], __ATOMIC_ACQUIRE);
		if (p == msg)
			return;
		const char *expect = NULL;
		if (p == NULL &&
		    __atomic_compare_exchange_n(&said[i], &expect, msg, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			int saved = errno;
			ls_say(msg);
			errno = saved;
			return;
		}
		if (expect == msg)
			return;
	}
}

/* Whether fd is (still) the trace file. */
static int ls_is_trace_fd(int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == tr.dev && st.st_ino == tr.ino;
}

static uint32_t ls_gettid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

uint32_t ls_trace_tid(void)
{
	if (ls_self.tid == 0 || ls_self.gen != __atomic_load_n(&ls_gen, __ATOMIC_RELAXED))
		return ls_gettid();
	return ls_self.tid;
}

/* The system call itself: prctl is interposed (preload/sys/thread_name.c),
 * and a thread's first record may be written where resolving the real one
 * could not be (a crash handler). */
void ls_trace_thread_name(char out[LS_THREAD_NAME_MAX])
{
	memset(out, 0, LS_THREAD_NAME_MAX);
	syscall(SYS_prctl, PR_GET_NAME, out, 0, 0, 0);
	out[LS_THREAD_NAME_MAX - 1] = 0;
}

#define LS_NAME_REC_SIZE \
	((uint32_t)(sizeof(struct ls_rec) + sizeof(struct ls_rec_thread_name)))

void ls_trace_thread_renamed(uint32_t tid, const char *name)
{
	/* No trace yet, or a thread that renames itself before it recorded
	 * anything (a pool's worker naming itself): the THREAD records to
	 * come read the new name, and such a thread takes no chunk for it. */
	if (ls_disabled || tid == 0 || __atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE) < 0 ||
	    (!ls_thread_current(&ls_self) && tid == ls_gettid()))
		return;
	int saved_errno = errno;
	struct ls_rec *r = ls_rec_reserve(LS_NAME_REC_SIZE);
	if (r != NULL) {
		r->type = LS_REC_THREAD_NAME;
		r->size = LS_NAME_REC_SIZE;
		r->arg = tid;
		struct ls_rec_thread_name *n = (struct ls_rec_thread_name *)(r + 1);
		memset(n->name, 0, sizeof(n->name));
		memcpy(n->name, name, strnlen(name, sizeof(n->name) - 1));
		n->ticks = ls_ticks();
		ls_rec_commit(LS_NAME_REC_SIZE);
	}
	errno = saved_errno;
}

/* Ticks per second, measured against CLOCK_MONOTONIC over ~100 us, once
 * at load. The viewer refines it from the clock pairs of the whole run;
 * the shim needs it only to tell slow callbacks. */
static uint64_t ls_calibrate(void)
{
	uint64_t ns0 = ls_now(), t0 = ls_ticks();
	uint64_t ns1, t1;
	do {
		ns1 = ls_now();
		t1 = ls_ticks();
	} while (ns1 - ns0 < 100000);
	if (t1 <= t0)
		return 1000000000ull;
	return (uint64_t)((double)(t1 - t0) * 1e9 / (double)(ns1 - ns0));
}

static void ls_fill_header(struct ls_file_header *h)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	h->clock = LS_CLOCK;
	h->start_mono_ns = ls_now();
	h->start_ticks = ls_ticks();
	h->tick_hz = tr.tick_hz;
	memcpy(h->magic, LS_FILE_MAGIC, sizeof(h->magic));
	h->version = LS_FORMAT_VERSION;
	h->header_size = LS_HEADER_SIZE;
	h->chunk_size = LS_CHUNK_SIZE;
	h->mode = ls_opt.mode;
	h->pid = (uint64_t)getpid();
	h->ppid = (uint64_t)getppid();
	h->start_realtime_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
	h->slow_callback_ms = ls_opt.slow_callback_ms;
	h->slow_selector_ms = ls_opt.slow_selector_ms;
	h->stack_depth = ls_opt.stacks ? ls_opt.stack_depth : 0;
	memcpy(h->session, ls_opt.session, sizeof(h->session));
	ssize_t n = readlink("/proc/self/exe", h->exe, sizeof(h->exe) - 1);
	if (n < 0)
		n = 0;
	h->exe[n] = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = pread(fd, h->cmdline, sizeof(h->cmdline), 0);
		h->cmdline_len = n > 0 ? (uint32_t)n : 0;
		close(fd);
	}
	h->state = LS_STATE_RUNNING;
}

/* The name of the n-th trace of this pid: exec() keeps the pid, so a
 * second trace of the same pid gets a numbered name. */
static void ls_trace_name(int n)
{
	const char *dir = ls_opt.dir[0] ? ls_opt.dir : ".";
	int pid = (int)getpid();
	if (n == 0)
		snprintf(tr.path, sizeof(tr.path), "%s/loopsan.%d.trace", dir, pid);
	else
		snprintf(tr.path, sizeof(tr.path), "%s/loopsan.%d.%d.trace", dir, pid, n);
}

/* tr.path from /: the program may chdir before the trace is opened again. */
static void ls_remember_abs_path(void)
{
	char cwd[sizeof(tr.abs_path) - sizeof(tr.path)];
	if (tr.path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(tr.abs_path, sizeof(tr.abs_path), "%s", tr.path);
	else
		snprintf(tr.abs_path, sizeof(tr.abs_path), "%s/%s", cwd, tr.path);
}

/* O_EXCL|O_NOFOLLOW: never follow a planted symlink, never truncate an
 * existing file. */
static int ls_create_file(void)
{
	for (int i = 0; i < 100; i++) {
		ls_trace_name(i);
		int fd = open(tr.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* Gives the unnamed file fd (O_TMPFILE) its name. linkat, like O_EXCL,
 * never replaces what is at the name, nor follows a symlink there. */
static int ls_name_file(int fd)
{
	char self[64];
	/* thread-self: /proc/self is the main thread, whose fd directory is
	 * gone once it called pthread_exit. */
	snprintf(self, sizeof(self), "/proc/thread-self/fd/%d", fd);
	for (int i = 0; i < 100; i++) {
		ls_trace_name(i);
		if (linkat(AT_FDCWD, self, AT_FDCWD, tr.path, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static void ls_cannot(const char *what, int err)
{
	char msg[800];
	snprintf(msg, sizeof(msg), "loopsan: cannot %s trace %s: %s; not tracing\n", what,
		 tr.path, strerror(err));
	ls_say(msg);
	ls_tell_run(msg);
}

/* The trace gets its name only once its header is complete (O_TMPFILE,
 * then linkat): a process killed in between leaves no half-made file that
 * the viewer would refuse. Where O_TMPFILE is not supported (or /proc is
 * not mounted), the file is created under its name at once. The header's blocks are reserved before
 * it is mapped: on a full disk, writing to a hole would be SIGBUS. */
static int ls_trace_open_locked(void)
{
	ls_trace_name(0);
	int fd = -1;
	if (access("/proc/thread-self/fd", X_OK) == 0)  /* how linkat names it */
		fd = open(ls_opt.dir[0] ? ls_opt.dir : ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int named = fd < 0;
	if (named)
		fd = ls_create_file();
	if (fd < 0) {
		ls_cannot("create", errno);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0)
		goto fail;
	tr.dev = st.st_dev;
	tr.ino = st.st_ino;
	/* Past RLIMIT_FSIZE, the program would get SIGXFSZ. */
	struct rlimit lim;
	int rc = getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur < LS_HEADER_SIZE
			 ? EFBIG : posix_fallocate(fd, 0, LS_HEADER_SIZE);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	void *h = mmap(NULL, LS_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto fail;
	tr.hdr = h;
	ls_fill_header(tr.hdr);
	if (!named && ls_name_file(fd) != 0) {
		int err = errno;
		munmap(h, LS_HEADER_SIZE);
		tr.hdr = NULL;
		close(fd);
		ls_cannot("create", err);
		return -1;
	}
	ls_remember_abs_path();
	ls_hooks_opened();
	uint64_t slow = (uint64_t)((double)ls_opt.slow_callback_ms / 1e3 * (double)tr.hdr->tick_hz);
	__atomic_store_n(&ls_slow_ticks, slow, __ATOMIC_RELAXED);
	__atomic_store_n(&ls_rec_ticks, ls_opt.mode == LS_MODE_TIMELINE ? 0 : slow,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&ls_tick_hz, tr.hdr->tick_hz, __ATOMIC_RELAXED);
	tr.next_chunk = 0;
	__atomic_store_n(&tr.fd, fd, __ATOMIC_RELEASE);
	return 0;
fail:;
	int err = errno;
	close(fd);
	if (named)
		unlink(tr.path);
	ls_cannot("write", err);
	return -1;
}

/* Returns 1 when this call created the trace (the caller then writes the
 * definitions known from before, e.g. in a forked child). */
static int ls_trace_ensure_open(void)
{
	if (__atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE) >= 0)
		return 0;
	int created = 0;
	pthread_mutex_lock(&tr.lock);
	if (tr.fd < 0 && !tr.broken) {
		if (ls_trace_open_locked() == 0)
			created = 1;
		else
			tr.broken = 1;
	}
	pthread_mutex_unlock(&tr.lock);
	return created;
}

static void ls_grow_failed(int err)
{
	if (__atomic_exchange_n(&tr.broken, 1, __ATOMIC_RELAXED))
		return;
	char msg[800];
	snprintf(msg, sizeof(msg), "loopsan: cannot grow trace %s: %s; recording stops here\n",
		 tr.path, strerror(err));
	ls_say(msg);
	ls_tell_run(msg);
}

/* The trace file, opened again by its path after the program closed (or
 * replaced) the descriptor: never a symlink, and only the very file (its
 * device and inode) that was created. The number the old descriptor had is
 * the program's now: it is left alone. Under tr.lock. */
static int ls_trace_reopen_locked(void)
{
	if (ls_is_trace_fd(tr.fd))  /* another thread was first */
		return tr.fd;
	if (__atomic_load_n(&tr.broken, __ATOMIC_RELAXED))
		return -1;
	int fd = open(tr.abs_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !ls_is_trace_fd(fd)) {
		close(fd);  /* ours: just opened, and not the trace */
		fd = -1;
		errno = ENOENT;
	}
	if (fd < 0) {
		int err = errno;
		if (!__atomic_exchange_n(&tr.broken, 1, __ATOMIC_RELAXED)) {
			char msg[900];
			snprintf(msg, sizeof(msg), "loopsan: the program closed the descriptor of trace %s "
				 "and it cannot be opened again (%s); recording stops here\n",
				 tr.path, strerror(err));
			ls_say(msg);
			ls_tell_run(msg);
		}
		return -1;
	}
	__atomic_store_n(&tr.fd, fd, __ATOMIC_RELEASE);
	return fd;
}

/* The trace's descriptor, checked (one fstat) before it grows or maps the
 * file: never on the per-record path, once per chunk. -1: recording
 * stops. */
static int ls_trace_fd(void)
{
	int fd = __atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE);
	if (ls_is_trace_fd(fd))
		return fd;
	pthread_mutex_lock(&tr.lock);
	fd = ls_trace_reopen_locked();
	pthread_mutex_unlock(&tr.lock);
	return fd;
}

static struct ls_chunk_header *ls_chunk_new(uint32_t magic, uint32_t seq)
{
	uint32_t idx = __atomic_fetch_add(&tr.next_chunk, 1, __ATOMIC_RELAXED);
	off_t off = (off_t)LS_HEADER_SIZE + (off_t)idx * LS_CHUNK_SIZE;
	/* Growing past RLIMIT_FSIZE would raise SIGXFSZ in the program. */
	struct rlimit lim;
	if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)off + LS_CHUNK_SIZE > lim.rlim_cur) {
		ls_grow_failed(EFBIG);
		return NULL;
	}
	int fd = ls_trace_fd();
	if (fd < 0)
		return NULL;
	/* Reserve the blocks now: a sparse hole that cannot be filled later
	 * would turn a full disk into SIGBUS in the program. */
	int rc = posix_fallocate(fd, off, LS_CHUNK_SIZE);
	if (rc != 0) {
		ls_grow_failed(rc);
		return NULL;
	}
	struct ls_chunk_header *c =
		mmap(NULL, LS_CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);
	if (c == MAP_FAILED) {
		ls_grow_failed(errno);
		return NULL;
	}
	c->tid = ls_self.tid;
	c->seq = seq;
	c->used = 0;
	c->mono_ns = ls_now();
	c->ticks = ls_ticks();
	__atomic_store_n(&c->magic, magic, __ATOMIC_RELEASE);
	return c;
}

/* Chunks of threads that exited, for the next thread that needs one, so
 * that the file grows with the threads alive at once, not every thread
 * ever started (a program that starts a short-lived loop thread per task).
 * The mappings stay: taking one is no system call. Under tr.lock, which
 * only a thread's first record, a full chunk and a thread's exit take. A
 * forked child empties them: they are the parent's trace. */
#define LS_FREE_MAX 1024u
/* A record chunk is passed on when this much of it is left: at least a
 * THREAD record and a few more. */
#define LS_REUSE_MIN (LS_CHUNK_SIZE / 16)
static struct {
	struct ls_free_rec {
		struct ls_chunk_header *c;
		uint32_t link;   /* the last owner's THREAD record: links to the next */
	} rec[LS_FREE_MAX];
	struct ls_chunk_header *stats[LS_FREE_MAX];
	uint32_t nrec, nstats;
} ls_free;

#define LS_THREAD_REC_SIZE \
	((uint32_t)(sizeof(struct ls_rec) + sizeof(struct ls_rec_thread) + \
		    sizeof(struct ls_rec_thread_ext)))

static int ls_free_put_rec(struct ls_chunk_header *c, uint32_t link)
{
	int kept = 0;
	pthread_mutex_lock(&tr.lock);
	if (ls_free.nrec < LS_FREE_MAX) {
		ls_free.rec[ls_free.nrec++] = (struct ls_free_rec){ .c = c, .link = link };
		kept = 1;
	}
	pthread_mutex_unlock(&tr.lock);
	return kept;
}

static struct ls_chunk_header *ls_free_take_rec(uint32_t *link)
{
	struct ls_chunk_header *c = NULL;
	pthread_mutex_lock(&tr.lock);
	if (ls_free.nrec > 0) {
		struct ls_free_rec *f = &ls_free.rec[--ls_free.nrec];
		c = f->c;
		*link = f->link;
	}
	pthread_mutex_unlock(&tr.lock);
	return c;
}

static int ls_free_put_stats(struct ls_chunk_header *c)
{
	int kept = 0;
	pthread_mutex_lock(&tr.lock);
	if (ls_free.nstats < LS_FREE_MAX) {
		ls_free.stats[ls_free.nstats++] = c;
		kept = 1;
	}
	pthread_mutex_unlock(&tr.lock);
	return kept;
}

static struct ls_chunk_header *ls_free_take_stats(void)
{
	struct ls_chunk_header *c = NULL;
	pthread_mutex_lock(&tr.lock);
	if (ls_free.nstats > 0)
		c = ls_free.stats[--ls_free.nstats];
	pthread_mutex_unlock(&tr.lock);
	return c;
}

/* A forked child's lists hold the parent's chunks: never written here. */
static void ls_free_forget(void)
{
	for (uint32_t i = 0; i < ls_free.nrec; i++)
		munmap(ls_free.rec[i].c, LS_CHUNK_SIZE);
	for (uint32_t i = 0; i < ls_free.nstats; i++)
		munmap(ls_free.stats[i], LS_CHUNK_SIZE);
	ls_free.nrec = ls_free.nstats = 0;
}

/* The index a thread keeps of its stats: stats_of and found_of by site id,
 * then the stats chunks it holds. One mapping, its pages touched as used. */
#define LS_MAX_HELD 1024u
#define LS_INDEX_BYTES ((2 * (size_t)LS_MAX_IDS + LS_MAX_HELD) * sizeof(void *))

/* What a thread holds: its record chunk, its stats chunks, and the index
 * from site ids to its stats slots. The chunks go to the free lists (their
 * records and counts stay in the file); a record chunk too full to be
 * worth passing on is only unmapped. */
static void ls_thread_release(struct ls_thread *t)
{
	if (t->chunk != NULL && (t->cap - t->used < LS_REUSE_MIN ||
				 !ls_free_put_rec(t->chunk, t->thread_off)))
		munmap(t->chunk, LS_CHUNK_SIZE);
	for (uint32_t i = 0; i < t->nheld; i++)
		if (!ls_free_put_stats(t->stats_held[i]))
			munmap(t->stats_held[i], LS_CHUNK_SIZE);
	if (t->stats_of != NULL)
		munmap(t->stats_of, LS_INDEX_BYTES);
	t->chunk = t->stats_chunk = NULL;
	t->stats_of = t->found_of = NULL;
	t->stats_held = NULL;
	t->nheld = 0;
	t->cap = t->used = 0;
}

static void ls_thread_exit(void *arg)
{
	(void)arg;
	const struct ls_trace_hooks *h;
	LS_EACH_HOOK(h, thread_exit)
		h->thread_exit();
	if (ls_thread_current(&ls_self))
		ls_thread_release(&ls_self);
}

/* First record of this thread, or of this process after fork: whatever
 * the thread held belongs to the parent's trace. Returns 0 when ready. */
static int ls_thread_start(struct ls_thread *t)
{
	uint32_t gen = __atomic_load_n(&ls_gen, __ATOMIC_RELAXED);
	if (t->gen == gen)
		return 0;
	/* Mappings made before fork are the parent's: leave them, never write. */
	*t = (struct ls_thread){ .gen = gen, .tid = ls_gettid() };
	ls_trace_ensure_open();
	if (__atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE) < 0)
		return -1;
	pthread_setspecific(tr.key, t);
	return 0;
}

/* The first record of this thread's records in its chunk: at offset 0 of
 * a new chunk, or after the records of the threads that held it before
 * (`prev`: the last one's THREAD record, NULL for a new chunk), which then
 * links to it. The link is stored before `used` covers the record: a
 * reader takes a link at or past `used` for none. */
static void ls_write_thread_record(struct ls_rec_thread_ext *prev, uint64_t ticks, uint64_t ns)
{
	struct ls_thread *t = &ls_self;
	struct ls_rec *r = ls_rec_reserve(LS_THREAD_REC_SIZE);
	if (r == NULL)
		return;
	r->type = LS_REC_THREAD;
	r->size = LS_THREAD_REC_SIZE;
	r->arg = t->tid;
	struct ls_rec_thread *th = (struct ls_rec_thread *)(r + 1);
	ls_trace_thread_name(th->name);
	struct ls_rec_thread_ext *ext = (struct ls_rec_thread_ext *)(th + 1);
	*ext = (struct ls_rec_thread_ext){ .seq = t->seq, .ticks = ticks, .mono_ns = ns };
	t->thread_off = t->used;
	if (prev != NULL)
		__atomic_store_n(&prev->next, t->used, __ATOMIC_RELEASE);
	ls_rec_commit(LS_THREAD_REC_SIZE);
}

static void ls_dropped(void)
{
	if (tr.hdr != NULL)
		__atomic_fetch_add(&tr.hdr->dropped, 1, __ATOMIC_RELAXED);
}

/* A forked child: the stacks, sites and modules it inherited were written
 * to the parent's trace only. Whichever comes first of its records and
 * its stats slots writes them again, once, into the child's trace (a child
 * that keeps running the parent's loop counts callbacks of the parent's
 * sites, and may write no other record). */
static void ls_replay_if_pending(void)
{
	if (!__atomic_load_n(&tr.replay_pending, __ATOMIC_ACQUIRE))
		return;
	if (ls_self.chunk == NULL) {
		ls_rec_reserve_slow(sizeof(struct ls_rec));  /* its first chunk replays */
		return;
	}
	if (__atomic_exchange_n(&tr.replay_pending, 0, __ATOMIC_ACQ_REL)) {
		ls_modules_replay();
		ls_pycode_replay();
		ls_stack_replay();
	}
}

/* This thread's next record chunk: the rest of one an exited thread left,
 * or a new one. Its records start with a THREAD record either way. */
static int ls_rec_chunk_next(struct ls_thread *t, uint32_t size)
{
	uint32_t link = 0;
	struct ls_chunk_header *c = NULL;
	/* A record this large may not fit the rest of a used chunk. */
	if (size + LS_THREAD_REC_SIZE <= LS_REUSE_MIN)
		c = ls_free_take_rec(&link);
	uint32_t used = c != NULL ? c->used : 0;
	if (c == NULL && (c = ls_chunk_new(LS_CHUNK_MAGIC, t->seq)) == NULL)
		return -1;
	if (t->chunk != NULL)
		munmap(t->chunk, LS_CHUNK_SIZE);
	t->chunk = c;
	t->used = used;
	t->cap = LS_CHUNK_SIZE - sizeof(struct ls_chunk_header);
	struct ls_rec_thread_ext *prev = NULL;
	uint64_t ticks = c->ticks, ns = c->mono_ns;
	if (used != 0) {
		prev = (struct ls_rec_thread_ext *)((char *)(c + 1) + link + sizeof(struct ls_rec) +
						    sizeof(struct ls_rec_thread));
		ticks = ls_ticks();
		ns = ls_now();
	}
	t->base = ticks;
	ls_write_thread_record(prev, ticks, ns);
	t->seq++;
	return 0;
}

struct ls_rec *ls_rec_reserve_slow(uint32_t size)
{
	struct ls_thread *t = &ls_self;
	if (ls_disabled || size > LS_CHUNK_SIZE - sizeof(struct ls_chunk_header))
		return NULL;
	int saved_errno = errno;
	if (ls_thread_start(t) != 0 || __atomic_load_n(&tr.broken, __ATOMIC_RELAXED) ||
	    ls_rec_chunk_next(t, size) != 0) {
		ls_dropped();
		errno = saved_errno;
		return NULL;
	}
	ls_replay_if_pending();
	errno = saved_errno;
	return ls_rec_reserve(size);
}

#define LS_SLOTS_PER_CHUNK \
	((LS_CHUNK_SIZE - sizeof(struct ls_chunk_header)) / sizeof(struct ls_site_stats))

static int ls_stats_index_new(struct ls_thread *t)
{
	void *p = mmap(NULL, LS_INDEX_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	t->stats_of = p;
	t->found_of = t->stats_of + LS_MAX_IDS;
	t->stats_held = (struct ls_chunk_header **)(t->found_of + LS_MAX_IDS);
	return 0;
}

/* A stats chunk an exited thread held: its slots keep their counts, and
 * this thread adds to those of the sites it runs (found_of). The header
 * names the new holder. */
static void ls_stats_adopt(struct ls_thread *t, struct ls_chunk_header *c)
{
	__atomic_store_n(&c->tid, t->tid, __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, t->stats_seq, __ATOMIC_RELAXED);
	struct ls_site_stats *s = (struct ls_site_stats *)(c + 1);
	for (uint32_t i = 0; i < c->used / sizeof(*s); i++) {
		uint32_t site = s[i].site;
		if (site != 0 && site < LS_MAX_IDS && t->stats_of[site] == NULL &&
		    t->found_of[site] == NULL)
			t->found_of[site] = &s[i];
	}
}

/* One more stats chunk: one an exited thread held, or a new one. */
static int ls_stats_chunk_next(struct ls_thread *t)
{
	struct ls_chunk_header *c = t->nheld < LS_MAX_HELD ? ls_free_take_stats() : NULL;
	if (c != NULL)
		ls_stats_adopt(t, c);
	else if ((c = ls_chunk_new(LS_STATS_MAGIC, t->stats_seq)) == NULL)
		return -1;
	t->stats_seq++;
	/* The chunks before stay held: their slots are still in use. */
	if (t->nheld < LS_MAX_HELD)
		t->stats_held[t->nheld++] = c;
	t->stats_chunk = c;
	return 0;
}

/* This thread's slot of `site`: one a thread before it left in a chunk it
 * holds now (the slot then counts one more thread), or a new one. */
static struct ls_site_stats *ls_stats_find(struct ls_thread *t, uint32_t site)
{
	for (;;) {
		struct ls_site_stats *s = t->found_of[site];
		if (s != NULL) {
			t->found_of[site] = NULL;
			__atomic_store_n(&s->threads, (s->threads ? s->threads : 1) + 1,
					 __ATOMIC_RELAXED);
			return t->stats_of[site] = s;
		}
		struct ls_chunk_header *c = t->stats_chunk;
		if (c != NULL && c->used / sizeof(*s) < LS_SLOTS_PER_CHUNK) {
			s = (struct ls_site_stats *)(c + 1) + c->used / sizeof(*s);
			memset(s, 0, sizeof(*s));
			s->site = site;
			s->threads = 1;
			__atomic_store_n(&c->used, c->used + (uint32_t)sizeof(*s), __ATOMIC_RELEASE);
			return t->stats_of[site] = s;
		}
		if (ls_stats_chunk_next(t) != 0)
			return NULL;
	}
}

/* The first callback of `site` on this thread: take a stats slot. */
struct ls_site_stats *ls_stats_slot_slow(uint32_t site)
{
	struct ls_thread *t = &ls_self;
	if (ls_disabled || site == 0 || site >= LS_MAX_IDS)
		return NULL;
	int saved_errno = errno;
	struct ls_site_stats *s = NULL;
	if (ls_thread_start(t) != 0 || __atomic_load_n(&tr.broken, __ATOMIC_RELAXED))
		goto out;
	ls_replay_if_pending();
	if (t->stats_of == NULL && ls_stats_index_new(t) != 0)
		goto out;
	s = t->stats_of[site];
	if (s == NULL)
		s = ls_stats_find(t, site);
out:
	if (s == NULL)
		ls_dropped();
	errno = saved_errno;
	return s;
}

int ls_stats_add(uint32_t site, uint64_t dur)
{
	struct ls_thread *t = &ls_self;
	struct ls_site_stats *s = NULL;
	int fresh = 0;
	if (ls_thread_current(t) && t->stats_of != NULL && site != 0 && site < LS_MAX_IDS)
		s = t->stats_of[site];
	if (s == NULL) {
		s = ls_stats_slot_slow(site);
		fresh = s != NULL;
	}
	if (s == NULL)
		return 0;
	s->total_ticks += dur;
	if (dur > s->max_ticks)
		s->max_ticks = dur;
	s->hist[ls_hist_bucket(dur)]++;
	__atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELEASE);
	return fresh;
}

void ls_record_slow(uint32_t site, uint64_t begin, uint64_t dur, int on_loop)
{
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_slow);
	uint64_t end_ns = ls_now();
	struct ls_rec *r = ls_rec_reserve(size);
	if (on_loop) {
		__atomic_fetch_add(&tr.slow, 1, __ATOMIC_RELAXED);
		ls_lt.lib_slow++;
	}
	if (r == NULL)
		goto out;
	r->type = LS_REC_SLOW;
	r->size = size;
	r->arg = site;
	struct ls_rec_slow *sl = (struct ls_rec_slow *)(r + 1);
	sl->begin_ticks = begin;
	sl->dur_ticks = dur;
	sl->end_mono_ns = end_ns;
	ls_self.base = begin + dur;
	ls_rec_commit(size);
out:
	/* After the commit: this writes records of its own. */
	if (on_loop) {
		const struct ls_trace_hooks *h;
		LS_EACH_HOOK(h, slow_run)
			h->slow_run(begin, dur);
	}
}

void ls_record_timeline(uint32_t site, uint64_t begin, uint64_t dur)
{
	struct ls_thread *t = &ls_self;
	struct ls_rec *r = ls_rec_reserve(16);  /* may start a chunk: a new base */
	if (r == NULL)
		return;
	int64_t delta = (int64_t)(begin + dur - t->base);
	if (LS_LIKELY(dur <= UINT32_MAX && delta >= INT32_MIN && delta <= INT32_MAX)) {
		r->type = LS_REC_CALLBACK16;
		r->size = 16;
		r->arg = site;
		struct ls_rec_callback16 *c = (struct ls_rec_callback16 *)(r + 1);
		c->dur_ticks = (uint32_t)dur;
		c->end_delta = (int32_t)delta;
		t->base = begin + dur;
		ls_rec_commit(16);
		return;
	}
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_callback);
	r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_CALLBACK;
	r->size = size;
	r->arg = site;
	struct ls_rec_callback *c = (struct ls_rec_callback *)(r + 1);
	c->begin_ticks = begin;
	c->dur_ticks = dur;
	t->base = begin + dur;
	ls_rec_commit(size);
}

void ls_trace_note_open_handle(void)
{
	__atomic_fetch_add(&tr.open_handles, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_unclosed(void)
{
	__atomic_fetch_add(&tr.unclosed, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_wrong_thread(void)
{
	__atomic_fetch_add(&tr.wrong_thread, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_never_awaited(void)
{
	__atomic_fetch_add(&tr.never_awaited, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_misuse(void)
{
	__atomic_fetch_add(&tr.misuse, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_lost_wakeup(void)
{
	__atomic_fetch_add(&tr.lost, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_blocking(void)
{
	__atomic_fetch_add(&tr.blocking, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_slow_selector(void)
{
	__atomic_fetch_add(&tr.slow_selector, 1, __ATOMIC_RELAXED);
}

void ls_trace_note_dropped_error(void)
{
	__atomic_fetch_add(&tr.dropped_errors, 1, __ATOMIC_RELAXED);
}

static void ls_atfork_child(void)
{
	/* The child writes a trace of its own; the parent's stays untouched. */
	__atomic_add_fetch(&ls_gen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&ls_own_pid, getpid(), __ATOMIC_RELAXED);
	pthread_mutex_init(&tr.lock, NULL);
	/* Only the trace's own descriptor: the program may have closed it and
	 * opened a file of its own under that number. The child is one thread
	 * here, so nothing can change the descriptor between check and close. */
	if (ls_is_trace_fd(tr.fd))
		close(tr.fd);
	tr.fd = -1;
	tr.broken = 0;
	tr.early = 0;
	ls_free_forget();
	ls_unwind_atfork_child();
	tr.replay_pending = 1;
	tr.hdr = NULL;
	tr.slow = tr.open_handles = tr.dropped_errors = tr.unclosed = tr.wrong_thread = tr.misuse = tr.lost = tr.never_awaited = 0;
	tr.blocking = tr.slow_selector = 0;
}

/* Before the families' (102): they read the options. */
__attribute__((constructor(101))) static void ls_trace_init(void)
{
	if (getauxval(AT_SECURE)) {
		ls_disabled = 1;  /* setuid/setgid: do nothing at all */
		return;
	}
	ls_own_pid = getpid();
	ls_stderr_remember();  /* before the options' lines, whichever constructor runs first */
	ls_options_parse(&ls_opt, getenv("LOOPSAN_OPTIONS"), ls_say);
	const char *notes = getenv("LOOPSAN_RUN_NOTES");
	if (notes != NULL && notes[0] == '/' && strlen(notes) < sizeof(ls_run_notes))
		strcpy(ls_run_notes, notes);
	/* Here, not in the program's first loop call: 0.1 ms spent there is
	 * 0.1 ms libuv's cached loop time (taken in uv_loop_init) falls
	 * behind, and its timers come due that much early. A forked child
	 * keeps the parent's: the same clock. */
	tr.tick_hz = ls_calibrate();
	ls_modules_init_self();
	pthread_key_create(&tr.key, ls_thread_exit);
	pthread_atfork(NULL, NULL, ls_atfork_child);
}

/* The trace file and the unwinder are made ready at the first record and
 * the first stack capture, which in libuv come after uv_loop_init has
 * cached the loop's time: everything they cost there (0.3 ms or more), the
 * program's first timers see as time gone by. libuv's loop interposers
 * call this before the real call instead. Not at load: a process that never
 * makes a loop call gets no trace and no descriptors of the shim's. */
void ls_trace_prepare(void)
{
	/* A trace made early (ls_trace_before_id_change) still wants the
	 * calling thread's first chunk here. */
	if (ls_disabled || (__atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE) >= 0 &&
			    !__atomic_load_n(&tr.early, __ATOMIC_ACQUIRE)))
		return;
	int saved = errno;
	ls_trace_ensure_open();
	ls_stack_warm();
	/* This thread's first chunk (and its thread record): reserved, not
	 * committed, so nothing else is written. */
	(void)ls_rec_reserve(sizeof(struct ls_rec));
	errno = saved;
}

/* The trace, made now ahead of any record: the process is about to give
 * up the identity it started with (preload/sys/privilege.c), and after
 * that it may no longer create a file where the trace goes. Only the file
 * and its header: until the process records something (its first loop
 * call), the trace holds no chunk, and one that never gets any recorded
 * nothing. Such a trace is removed at exit where the process still may
 * (ls_trace_drop_empty); where it may not, loopsan run removes it, and a
 * reader sees a process with no loop. Keeps errno. */
void ls_trace_before_id_change(void)
{
	/* A vfork child (a pid not this memory's) would make its trace in
	 * the parent's state. */
	if (ls_disabled || __atomic_load_n(&tr.fd, __ATOMIC_ACQUIRE) >= 0 ||
	    getpid() != __atomic_load_n(&ls_own_pid, __ATOMIC_RELAXED))
		return;
	int saved = errno;
	if (ls_trace_ensure_open())
		__atomic_store_n(&tr.early, 1, __ATOMIC_RELEASE);
	ls_stack_warm();
	errno = saved;
}

/* An early trace that recorded nothing and lost nothing (no chunk, nothing
 * dropped) is unlinked, when the process still has the right to: it says
 * nothing of a process that never ran a loop (su, setpriv, a daemon's
 * helper that only switched users). Only the very file made (its device and
 * inode at the name, never a symlink). Returns 1 when it was removed. */
static int ls_trace_drop_empty(void)
{
	struct stat st;
	if (!__atomic_load_n(&tr.early, __ATOMIC_ACQUIRE) || tr.hdr == NULL ||
	    __atomic_load_n(&tr.next_chunk, __ATOMIC_ACQUIRE) != 0 ||
	    __atomic_load_n(&tr.hdr->dropped, __ATOMIC_RELAXED) != 0 || tr.abs_path[0] == 0)
		return 0;
	if (lstat(tr.abs_path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != tr.dev ||
	    st.st_ino != tr.ino)
		return 0;
	return unlink(tr.abs_path) == 0;
}

void ls_trace_finish(void)
{
	if (tr.hdr == NULL)
		return;
	tr.hdr->end_ticks = ls_ticks();
	tr.hdr->end_mono_ns = ls_now();
	__atomic_store_n(&tr.hdr->state, LS_STATE_EXITED, __ATOMIC_RELEASE);
}

void ls_trace_quick_exit(void)
{
	struct ls_file_header *h = __atomic_load_n(&tr.hdr, __ATOMIC_ACQUIRE);
	if (h == NULL || h->pid != (uint64_t)getpid())
		return;
	__atomic_or_fetch(&h->notes, LS_NOTE_QUICK_EXIT, __ATOMIC_RELAXED);
	ls_trace_finish();
	ls_trace_drop_empty();
}

void ls_trace_note(uint32_t note)
{
	struct ls_file_header *h = __atomic_load_n(&tr.hdr, __ATOMIC_ACQUIRE);
	if (h != NULL)
		__atomic_or_fetch(&h->notes, note, __ATOMIC_RELAXED);
}

int ls_trace_exec_begin(void)
{
	/* A vfork child shares the parent's memory, trace header included:
	 * its exec is none of the parent's trace's business. */
	if (tr.hdr == NULL || tr.hdr->pid != (uint64_t)getpid())
		return 0;
	int saved = errno;
	ls_trace_finish();
	/* Gone from the directory: should the exec fail, this image records
	 * no more (its records would go to a file with no name). */
	if (ls_trace_drop_empty())
		__atomic_store_n(&tr.broken, 1, __ATOMIC_RELAXED);
	errno = saved;
	return 1;
}

void ls_trace_exec_failed(void)
{
	if (tr.hdr == NULL)
		return;
	tr.hdr->end_mono_ns = 0;
	tr.hdr->end_ticks = 0;
	__atomic_store_n(&tr.hdr->state, LS_STATE_RUNNING, __ATOMIC_RELEASE);
}

__attribute__((destructor(101))) static void ls_trace_fini(void)
{
	if (tr.hdr == NULL)
		return;
	ls_trace_finish();
	int saved = errno;
	int dropped = ls_trace_drop_empty();
	errno = saved;
	if (dropped)
		return;
	uint64_t n[10] = { __atomic_load_n(&tr.slow, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.open_handles, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.dropped_errors, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.unclosed, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.wrong_thread, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.misuse, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.lost, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.blocking, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.slow_selector, __ATOMIC_RELAXED),
			  __atomic_load_n(&tr.never_awaited, __ATOMIC_RELAXED) };
	static const char *const what[10][2] = {
		{ "slow callback", "slow callbacks" },
		{ "handle left open at loop close", "handles left open at loop close" },
		{ "error nobody received", "errors nobody received" },
		{ "handle or request left at exit", "handles or requests left at exit" },
		{ "call from the wrong thread", "calls from the wrong thread" },
		{ "handle misuse", "handle misuses" },
		{ "lost wake-up", "lost wake-ups" },
		{ "blocking call site on a loop thread", "blocking call sites on loop threads" },
		{ "slow selector call", "slow selector calls" },
		{ "coroutine never awaited", "coroutines never awaited" },
	};
	char msg[1024];
	size_t len = 0;
	for (int i = 0; i < 10; i++) {
		if (n[i] == 0)
			continue;
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%llu %s",
					len ? ", " : "loopsan: ", (unsigned long long)n[i],
					what[i][n[i] != 1]);
	}
	if (len == 0)
		return;
	snprintf(msg + len, sizeof(msg) - len, "; see: loopsan report %s\n", tr.path);
	ls_say(msg);
}
