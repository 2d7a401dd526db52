/* loopsan trace format, version 1.
 *
 * This header is the only thing the shim (preload/, tracer/) and the viewer
 * (viewer/) share. docs/FORMAT.md explains it in prose; keep both in step.
 *
 * A trace file is a 4096-byte file header followed by fixed-size chunks.
 * Each chunk belongs to one thread and holds a run of records. The shim maps
 * each chunk MAP_SHARED onto the file and publishes a record by storing the
 * chunk's `used` field after the record's bytes are written, so a crash or
 * SIGKILL loses at most the record being written. All integers are
 * little-endian (the native order of the only supported hosts).
 */
#ifndef LOOPSAN_FORMAT_H
#define LOOPSAN_FORMAT_H

#include <stdint.h>

#define LS_FILE_MAGIC "LOOPSAN\0" /* 8 bytes, NUL included */
#define LS_FORMAT_VERSION 1u
#define LS_HEADER_SIZE 4096u
#define LS_CHUNK_MAGIC 0x4b43534cu /* "LSCK" */
#define LS_CHUNK_SIZE_MIN 4096u
#define LS_CHUNK_SIZE_MAX (16u << 20)
#define LS_MAX_STACK_DEPTH 64u
#define LS_THREAD_NAME_MAX 16u
#define LS_BUILD_ID_MAX 32u

enum ls_mode {
	LS_MODE_SUMMARY = 0,
	LS_MODE_TIMELINE = 1,
};

/* What timestamps count. Ticks of the CPU's invariant time-stamp counter
 * are converted to ns by the viewer from (ticks, CLOCK_MONOTONIC ns) pairs
 * taken at trace creation, at each chunk, at each slow callback and at
 * exit: the widest pair gives the rate. */
enum ls_clock {
	LS_CLOCK_NS = 0,    /* ticks are CLOCK_MONOTONIC ns */
	LS_CLOCK_TSC = 1,   /* ticks are rdtsc */
};

/* Header states: a trace whose state is still RUNNING after the process is
 * gone was cut short (killed, crashed, or _exit() without destructors). */
enum ls_state {
	LS_STATE_RUNNING = 0,
	LS_STATE_EXITED = 1,
};

/* What the shim could not do as usual, for the reader to say. */
enum ls_trace_notes {
	/* The exit-time check of what was left open ran without the shim's
	 * table lock, held by a thread stopped inside the shim (exit() from
	 * a signal handler): an entry changed at that moment may be off. */
	LS_NOTE_EXIT_UNLOCKED = 1u << 0,
	/* The process ran a CPython whose frames the shim cannot read (not
	 * 3.11, 3.12 or 3.13 on LP64): its stacks show the interpreter's C
	 * frames only. */
	LS_NOTE_PY_UNSUPPORTED = 1u << 1,
	/* The process ended with _exit (or _Exit): every record is in, but
	 * the exit-time checks (handles left open, sends lost at exit) did
	 * not run. The header's state is EXITED all the same. */
	LS_NOTE_QUICK_EXIT = 1u << 2,
};

struct ls_file_header {
	char magic[8];             /* LS_FILE_MAGIC */
	uint32_t version;          /* LS_FORMAT_VERSION */
	uint32_t header_size;      /* LS_HEADER_SIZE */
	uint32_t chunk_size;       /* bytes per chunk, chunk header included */
	uint32_t mode;             /* enum ls_mode */
	uint64_t pid;
	uint64_t ppid;
	uint64_t start_realtime_ns; /* CLOCK_REALTIME at trace creation */
	uint64_t start_mono_ns;    /* CLOCK_MONOTONIC at trace creation */
	uint32_t slow_callback_ms; /* the option in force when recording */
	uint32_t stack_depth;      /* 0 when stacks=0 */
	char session[64];          /* LOOPSAN_OPTIONS session=, NUL-terminated */
	char exe[1024];            /* /proc/self/exe, NUL-terminated */
	uint32_t cmdline_len;      /* bytes used in cmdline */
	char cmdline[2044];        /* argv, each NUL-terminated, may be cut */
	/* Updated while the program runs. */
	uint32_t state;            /* enum ls_state */
	uint32_t clock;            /* enum ls_clock */
	uint64_t end_mono_ns;      /* CLOCK_MONOTONIC at clean exit, else 0 */
	uint64_t dropped;          /* records the shim could not write */
	uint64_t start_ticks;      /* ticks at start_mono_ns */
	uint64_t end_ticks;        /* ticks at end_mono_ns */
	uint64_t tick_hz;          /* ticks per second, estimated at creation */
	uint32_t slow_selector_ms; /* the option in force when recording; 0 in older traces */
	uint32_t notes;            /* enum ls_trace_notes; 0 in older traces */
	uint8_t pad[LS_HEADER_SIZE - 3256];
};

_Static_assert(sizeof(struct ls_file_header) == LS_HEADER_SIZE, "header size");

/* Chunk i starts at LS_HEADER_SIZE + i * chunk_size. A chunk whose magic is
 * 0 was reserved but never written; the reader skips it.
 *
 * A record chunk (LS_CHUNK_MAGIC) holds records. A stats chunk
 * (LS_STATS_MAGIC) holds an array of struct ls_site_stats, one per callback
 * site the thread ran, updated in place: `used` counts the bytes of slots
 * taken. Each thread's record and stats chunks have their own seq.
 *
 * When a thread exits, its chunks pass to the next thread that needs one,
 * so that the file is bounded by the threads alive at once. A record chunk
 * is then shared in turn: the new owner appends a THREAD record (with the
 * ls_rec_thread_ext fields) after the old owner's records, and the records
 * after it are the new owner's, up to the next such THREAD record; the
 * chunk header names its first owner. A stats chunk's header is rewritten
 * to name its new owner, who adds to the slots it finds (see
 * ls_site_stats.threads) and takes free slots for new sites. */
struct ls_chunk_header {
	uint32_t magic;      /* LS_CHUNK_MAGIC or LS_STATS_MAGIC */
	uint32_t tid;        /* kernel thread id of the writer (record chunk: the first) */
	uint32_t seq;        /* 0, 1, 2, ... per thread and magic */
	uint32_t used;       /* bytes of records (or slots) after this header */
	uint64_t ticks;      /* a (ticks, ns) pair taken when the chunk was made; */
	uint64_t mono_ns;    /* also the time base of its CALLBACK16 records */
};

#define LS_STATS_MAGIC 0x5453534cu /* "LSST" */

/* Durations histogram: bucket b < 4 holds d == b ticks; above, 4 buckets per
 * power of two: d in [2^o, 2^(o+1)) goes to 4*(o-1) + the two bits below
 * its top bit. The last bucket also holds everything longer. */
#define LS_HIST_BUCKETS 160u

static inline uint32_t ls_hist_bucket(uint64_t d)
{
	if (d < 4)
		return (uint32_t)d;
	uint32_t o = 63u - (uint32_t)__builtin_clzll(d);
	uint32_t b = 4u * (o - 1u) + (uint32_t)((d >> (o - 2u)) & 3u);
	return b < LS_HIST_BUCKETS ? b : LS_HIST_BUCKETS - 1u;
}

/* The smallest duration (ticks) that falls in bucket b. */
static inline uint64_t ls_hist_lower(uint32_t b)
{
	if (b < 4)
		return b;
	uint32_t o = b / 4u + 1u;
	return (uint64_t)(4u + b % 4u) << (o - 2u);
}

struct ls_site_stats {
	uint32_t site;       /* site id; 0: slot not in use */
	uint32_t threads;    /* threads whose runs this slot counts; 0 (older traces): 1 */
	uint64_t count;      /* finished callbacks */
	uint64_t total_ticks;
	uint64_t max_ticks;
	uint32_t hist[LS_HIST_BUCKETS];
};

/* Every record starts with this header. size counts the header, is a
 * multiple of 8 and at least 8. */
struct ls_rec {
	uint16_t type;       /* enum ls_rec_type */
	uint16_t size;
	uint32_t arg;        /* meaning depends on type (usually an id) */
};

enum ls_rec_type {
	LS_REC_THREAD = 1,       /* arg: tid                     payload: ls_rec_thread */
	LS_REC_MODULE = 2,       /* arg: module id (1, 2, ...)   payload: ls_rec_module + path */
	LS_REC_STACK = 3,        /* arg: stack id (1, 2, ...)    payload: ls_rec_stack + pcs */
	LS_REC_SITE = 4,         /* arg: site id (1, 2, ...)     payload: ls_rec_site */
	LS_REC_CALLBACK = 5,     /* arg: site id                 payload: ls_rec_callback */
	LS_REC_LOOP_RUN = 6,     /* arg: tid                     payload: ls_rec_loop_run */
	LS_REC_LOOP_CLOSE = 7,   /* arg: 0                       payload: ls_rec_loop_close */
	LS_REC_OPEN_HANDLE = 8,  /* arg: 0                       payload: ls_rec_open_handle */
	LS_REC_SLOW = 9,         /* arg: site id                 payload: ls_rec_slow */
	LS_REC_CALLBACK16 = 10,  /* arg: site id                 payload: ls_rec_callback16 */
	LS_REC_DROPPED_ERROR = 11, /* arg: site id               payload: ls_rec_dropped_error */
	LS_REC_WRONG_THREAD = 12, /* arg: stack id of the call   payload: ls_rec_wrong_thread */
	LS_REC_LOST_WAKEUP = 13, /* arg: site of the async handle payload: ls_rec_lost_wakeup */
	LS_REC_MISUSE = 14,      /* arg: stack id of the call    payload: ls_rec_misuse */
	LS_REC_CRASH = 15,       /* arg: site of the callback    payload: ls_rec_crash */
	LS_REC_SELECTOR_LATE = 16, /* arg: site of the selector call payload: ls_rec_selector_late */
	LS_REC_BLOCKING = 17,    /* arg: site of the call        payload: ls_rec_blocking */
	LS_REC_STUCK = 18,       /* arg: stack id (stuck_at)     payload: ls_rec_stuck */
	LS_REC_PYCODE = 19,      /* arg: Python code id (1, 2, ...) payload: ls_rec_pycode + bytes */
	LS_REC_PY_EVENT = 20,    /* arg: stack id (where seen)   payload: ls_rec_py_event + text */
	LS_REC_THREAD_NAME = 21, /* arg: tid of the renamed thread payload: ls_rec_thread_name */
};

struct ls_rec_thread {
	char name[LS_THREAD_NAME_MAX]; /* NUL-terminated */
};

/* What follows the name in a THREAD record of a shim that passes chunks on
 * (absent in older traces: the payload is then just the name). A THREAD
 * record at offset 0 of a chunk starts the records of the chunk header's
 * thread; one further in, written by a thread that took over the chunk of a
 * thread that exited, starts the records of thread `arg`. Each links to the
 * next owner's THREAD record: `next` is its offset in the chunk's record
 * area, stored after that record's bytes and before the chunk's `used`
 * covers it, so a link at or past `used` is not published yet. */
struct ls_rec_thread_ext {
	uint32_t next;       /* offset of the next owner's THREAD record; 0: none (yet) */
	uint32_t seq;        /* this owner's seq of these records, ordered with its chunks' */
	uint64_t ticks;      /* a clock pair read when the owner took the chunk, and */
	uint64_t mono_ns;    /* the time base of its first CALLBACK16 record */
};

/* Thread `arg` of the process was renamed (pthread_setname_np, also of
 * another thread, or prctl(PR_SET_NAME)), written by the thread that renamed
 * it. A THREAD record reads its thread's name when written; of all of a
 * thread's names, THREAD records' and these, the one with the latest ticks
 * is its name (a THREAD record without ls_rec_thread_ext has none: it
 * comes first). Older readers skip this record. */
struct ls_rec_thread_name {
	char name[LS_THREAD_NAME_MAX]; /* NUL-terminated, as the kernel keeps it */
	uint64_t ticks;      /* read just after the rename */
};

/* A loaded object. Addresses are absolute in the traced process. */
struct ls_rec_module {
	uint64_t bias;       /* load bias: pc - bias = address in the ELF file */
	uint64_t lo, hi;     /* [lo, hi) covers the object's PT_LOAD segments */
	uint8_t build_id_len;
	uint8_t build_id[LS_BUILD_ID_MAX];
	uint8_t reserved[5];
	uint16_t path_len;   /* bytes of path that follow, no NUL */
	/* char path[path_len], then zero padding to a multiple of 8 */
};

/* A de-duplicated stack, innermost frame first. pcs are return addresses
 * (the frame's call instruction ends just before pc), except pcs[0] of a
 * stack whose flags has LS_STACK_EXACT_PC0. */
#define LS_STACK_EXACT_PC0 1u  /* pcs[0] is the instruction itself (a sampled stack) */
#define LS_STACK_PY 2u         /* Python frames follow the pcs (ls_py_frames) */

struct ls_rec_stack {
	uint32_t depth;      /* number of pcs, <= LS_MAX_STACK_DEPTH */
	uint32_t flags;      /* LS_STACK_* */
	/* uint64_t pcs[depth] */
};

/* After the pcs of a stack with LS_STACK_PY: the Python frames the thread
 * was running, innermost first (CPython's frame chain). A reader that does
 * not know the flag ignores them as a longer payload. */
struct ls_py_frames {
	uint32_t n;          /* <= LS_MAX_STACK_DEPTH */
	uint32_t reserved;
	/* struct ls_py_frame frames[n], then zero padding to a multiple of 8 */
};

#define LS_PY_ENTRY 1u         /* the first frame one C call of the eval loop ran */

struct ls_py_frame {
	uint32_t code;       /* PYCODE id */
	uint32_t lasti;      /* offset of the instruction, in 2-byte code units */
	uint32_t flags;      /* LS_PY_* */
};

/* A Python code object, written once before the first stack that names
 * it: what the viewer needs to name a frame and find its line. */
#define LS_PYCODE_FILE_MAX 1024u
#define LS_PYCODE_NAME_MAX 256u
#define LS_PYCODE_LINES_MAX (16u << 10)
#define LS_PYCODE_CUT_FILE 1u   /* the filename was longer and is cut */
#define LS_PYCODE_CUT_NAME 2u
#define LS_PYCODE_CUT_LINES 4u  /* the location table was longer: later lines unknown */

struct ls_rec_pycode {
	int32_t firstlineno;
	uint16_t version;    /* CPython's major * 100 + minor (311, 312, 313): the location table's format */
	uint16_t flags;      /* LS_PYCODE_CUT_* */
	uint16_t file_len;   /* <= LS_PYCODE_FILE_MAX */
	uint16_t name_len;   /* <= LS_PYCODE_NAME_MAX: the qualified name */
	uint32_t lines_len;  /* <= LS_PYCODE_LINES_MAX: co_linetable's bytes */
	/* char file[file_len], char name[name_len], uint8_t lines[lines_len],
	 * then zero padding to a multiple of 8 */
};

/* One of asyncio's own checks, seen by the py family's hooks inside the
 * interpreter (preload/py/asyncio.c). arg: the stack where it was seen
 * (the call, or where the object's last reference went), 0 if none. */
struct ls_rec_py_event {
	uint32_t what;       /* enum ls_py_event */
	uint32_t made_at;    /* stack where the object was created, 0: unknown */
	uint32_t raised_at;  /* dropped-error: stack of the exception's traceback, 0: none */
	uint32_t loop_tid;   /* wrong-thread: the thread running the loop, 0: unknown */
	uint64_t time_ns;    /* CLOCK_MONOTONIC */
	uint16_t name_len;   /* bytes of name: see enum ls_py_event */
	uint16_t text_len;   /* bytes of text: see enum ls_py_event */
	uint32_t api;        /* wrong-thread: enum ls_api of the loop method (LS_API_PY_*) */
	/* char name[name_len], char text[text_len], then zero padding to a
	 * multiple of 8; both UTF-8, cut at LS_PY_EVENT_TEXT_MAX */
};

#define LS_PY_EVENT_TEXT_MAX 512u

enum ls_py_event {
	/* A coroutine destroyed without ever running (RuntimeWarning
	 * "coroutine ... was never awaited"). name: its qualified name;
	 * text: "file:line" of its definition; arg: where its last
	 * reference went (where it was made, when it was never stored);
	 * made_at: 0 (kept for where it was made, not recorded). */
	LS_PY_NEVER_AWAITED = 1,
	/* "Task (Future) exception was never retrieved". name: "Task
	 * main()" or "Future"; text: "Type: message"; made_at: where the
	 * task was created (create_task), raised_at: the traceback. */
	LS_PY_DROPPED_ERROR = 2,
	/* An asyncio object collected unclosed (its ResourceWarning). name:
	 * what ("transport", "event loop", "server", "resource"); text: the
	 * warning's message; made_at: where it was created, when known. */
	LS_PY_UNCLOSED = 3,
	/* A non-threadsafe loop method called from another thread than the
	 * one running the loop. name: the method ("call_soon"); arg: the
	 * call's stack; loop_tid. */
	LS_PY_WRONG_THREAD = 4,
};

/* A site: one registering API, one callback function, one registration
 * stack. Callback records refer to it. A handle's init call is a site too,
 * with callback 0. */
struct ls_rec_site {
	uint32_t api;        /* enum ls_api */
	uint32_t stack;      /* stack id of the registering call, 0 if none */
	uint64_t callback;   /* address of the user's function */
};

/* One callback invocation, recorded when it returns (mode=timeline). */
struct ls_rec_callback {
	uint64_t begin_ticks;
	uint64_t dur_ticks;
};

/* A callback that ran at least slow_callback_ms, in every mode (in
 * timeline mode instead of its CALLBACK record). */
struct ls_rec_slow {
	uint64_t begin_ticks;
	uint64_t dur_ticks;
	uint64_t end_mono_ns; /* CLOCK_MONOTONIC when it returned: a clock pair */
};

/* The 16-byte form of CALLBACK (mode=timeline). Each thread's chunk has a
 * running time base: the chunk header's ticks at its start, then the end
 * (begin + dur) of each CALLBACK, SLOW or CALLBACK16 record in turn. This
 * callback ended at base + end_delta. */
struct ls_rec_callback16 {
	uint32_t dur_ticks;
	int32_t end_delta;
};

/* A request completed with an error and had no callback to receive it
 * (e.g. uv_write with a NULL callback): the error went to nobody. arg is
 * the request's site (its callback 0). */
struct ls_rec_dropped_error {
	int32_t error;       /* the library's error code (UV_EPIPE, ...) */
	uint32_t api;        /* enum ls_api of the request */
	char name[16];       /* the library's name for it ("EPIPE"), NUL-terminated */
	uint64_t time_ns;    /* CLOCK_MONOTONIC */
};

/* A call on a loop, or on one of its handles or requests, from another
 * thread than the one running that loop, while it runs. arg: the stack of
 * the call (called_at). */
struct ls_rec_wrong_thread {
	uint32_t api;        /* enum ls_api of the call */
	uint32_t loop_tid;   /* the thread running the loop */
	uint64_t loop;
	uint64_t handle;     /* the handle or request, 0 for a call on the loop */
	uint64_t time_ns;    /* CLOCK_MONOTONIC */
};

/* uv_async_send calls whose callback never ran: the handle was closed, or
 * the process exited, first. arg: the handle's init site (its callback). */
struct ls_rec_lost_wakeup {
	uint32_t lost;       /* sends not followed by a callback */
	uint32_t when;       /* enum ls_lost_when */
	uint64_t handle;
	uint32_t send_stack; /* one frame: the last lost send's caller */
	uint32_t reserved;
	uint64_t time_ns;
};

enum ls_lost_when {
	LS_LOST_AT_CLOSE = 1,
	LS_LOST_AT_EXIT = 2,
};

/* A fatal signal raised while a callback of site `arg` ran. Older shims
 * wrote the first four fields only (24 bytes): crashed_at is then 0. */
struct ls_rec_crash {
	int32_t signo;       /* SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT */
	int32_t code;        /* si_code */
	uint64_t addr;       /* si_addr */
	uint64_t time_ns;
	uint32_t crashed_at; /* stack id where it crashed (pcs[0] exact), 0: none */
	uint32_t reserved;
};

#define LS_REC_CRASH_V1_SIZE 24u  /* the payload without crashed_at */

/* A handle used against its life cycle. arg: the stack of the call. */
struct ls_rec_misuse {
	uint32_t api;        /* the call */
	uint32_t what;       /* enum ls_misuse */
	uint64_t handle;
	uint32_t init_site;  /* where the handle was created, 0 if unknown */
	uint32_t reserved;
	uint64_t time_ns;
};

enum ls_misuse {
	LS_MISUSE_CLOSE_CLOSING = 1,  /* uv_close on a handle already closing */
	LS_MISUSE_START_CLOSING = 2,  /* starting a handle that is closing */
	LS_MISUSE_OTHER_LOOP = 3,     /* a handle of another loop than the call's */
	LS_MISUSE_USE_FREED = 4,      /* libevent: adding (deleting, activating) a freed event */
	LS_MISUSE_FREE_FREED = 5,     /* libevent: freeing an event or bufferevent twice */
	LS_MISUSE_BASE_FREED = 6,     /* libevent: using an event whose base was freed */
};

/* A selector call (epoll_wait, poll, select, ...) that returned more than
 * slow_selector_ms after the deadline its timeout asked for (the thread was
 * starved), or a zero-timeout call that itself took that long. arg: the
 * site of the selector call (callback 0). */
struct ls_rec_selector_late {
	uint32_t api;        /* enum ls_api of the selector */
	int32_t result;      /* what it returned */
	int64_t timeout_ns;  /* the timeout it asked for; -1: none (wait forever) */
	uint64_t begin_ticks;
	uint64_t dur_ticks;
	uint64_t end_mono_ns; /* CLOCK_MONOTONIC when it returned: a clock pair */
};

/* A known blocking function called on a loop thread inside a callback or
 * a loop iteration, the first time this thread called it from this site.
 * Every such call (this one too) is counted in this thread's stats slot of
 * the site (count, total, max, histogram). arg: the call's site (api, the
 * stack of the call, callback 0). */
struct ls_rec_blocking {
	uint32_t api;        /* enum ls_api of the blocking function */
	uint32_t in_site;    /* the callback running, 0: a selector loop's iteration */
	uint64_t begin_ticks;
	uint64_t dur_ticks;
	uint64_t end_mono_ns;
};

/* Where a loop thread was while a callback (or a loop iteration) had run
 * longer than slow_callback_ms, sampled by the watchdog thread. The SLOW
 * record of that run has the same tid and begin_ticks. arg: the stack
 * sampled (stuck_at), 0 if none could be taken. */
struct ls_rec_stuck {
	uint32_t tid;        /* the loop thread */
	uint32_t site;       /* the callback's (or iteration's) site */
	uint64_t begin_ticks; /* when that callback or iteration began */
	uint64_t sample_ticks;
	uint32_t how;        /* enum ls_stuck_how */
	int32_t syscall_nr;  /* the system call the thread was blocked in, -1: none */
};

enum ls_stuck_how {
	LS_STUCK_SIGNAL = 1,   /* the thread was running: sampled in a signal handler */
	LS_STUCK_SYSCALL = 2,  /* blocked in a system call: its pc from /proc (frame 0 only) */
	LS_STUCK_BLOCKING = 3, /* blocked in an interposed blocking call: its pc, then the call's stack */
};

/* A thread entered uv_run (or another loop's run) for a loop it had not run
 * before, or the loop moved to this thread. */
struct ls_rec_loop_run {
	uint64_t loop;       /* the loop's address */
	uint32_t api;        /* enum ls_api of the run call */
	uint32_t reserved;
	char name[LS_THREAD_NAME_MAX]; /* thread name at that moment */
};

struct ls_rec_loop_close {
	uint64_t loop;
	int32_t result;      /* what the real close returned (UV_EBUSY, 0, ...) */
	uint32_t open_handles; /* OPEN_HANDLE records that follow this one */
	uint64_t time_ns;
	uint32_t api;        /* enum ls_api of the close call */
	uint32_t reserved;
};

enum ls_handle_flags {
	LS_HANDLE_ACTIVE = 1u << 0,
	LS_HANDLE_CLOSING = 1u << 1,
	LS_HANDLE_AT_EXIT = 1u << 2,   /* still open when the process exited */
	LS_HANDLE_REQUEST = 1u << 3,   /* a request still pending, not a handle */
};

/* A handle still open when its loop was closed: follows its LOOP_CLOSE
 * record in the same chunk stream. With LS_HANDLE_AT_EXIT: a handle still
 * open, or (LS_HANDLE_REQUEST) a request still pending, when the process
 * exited, not counting those already reported at their loop's close; for a
 * request, init_site and site are the request's site and type_name is
 * "request". */
struct ls_rec_open_handle {
	uint64_t loop;
	uint64_t handle;
	uint32_t handle_type; /* the library's own type number */
	uint32_t flags;       /* enum ls_handle_flags */
	uint32_t init_site;   /* site of the uv_*_init call (callback 0), 0 if unknown */
	uint32_t site;        /* site of its current callback, 0 if none */
	char type_name[16];   /* "timer", "tcp", ... NUL-terminated */
};

/* The interposed functions a record can name. Append only: the numbers are
 * part of the format. */
#define LS_API_LIST(X)                      \
	X(LS_API_NONE, 0, "none")               \
	X(LS_API_UV_RUN, 1, "uv_run")           \
	X(LS_API_UV_TIMER_START, 2, "uv_timer_start") \
	X(LS_API_UV_IDLE_START, 3, "uv_idle_start")   \
	X(LS_API_UV_PREPARE_START, 4, "uv_prepare_start") \
	X(LS_API_UV_CHECK_START, 5, "uv_check_start") \
	X(LS_API_UV_ASYNC_INIT, 6, "uv_async_init")   \
	X(LS_API_UV_QUEUE_WORK, 7, "uv_queue_work")   \
	X(LS_API_UV_QUEUE_WORK_AFTER, 8, "uv_queue_work(after_work_cb)") \
	X(LS_API_UV_CLOSE, 9, "uv_close")             \
	X(LS_API_UV_LOOP_CLOSE, 10, "uv_loop_close")  \
	X(LS_API_UV_TIMER_INIT, 11, "uv_timer_init")  \
	X(LS_API_UV_IDLE_INIT, 12, "uv_idle_init")    \
	X(LS_API_UV_PREPARE_INIT, 13, "uv_prepare_init") \
	X(LS_API_UV_CHECK_INIT, 14, "uv_check_init")  \
	X(LS_API_UV_TCP_INIT, 15, "uv_tcp_init")      \
	X(LS_API_UV_TCP_INIT_EX, 16, "uv_tcp_init_ex") \
	X(LS_API_UV_PIPE_INIT, 17, "uv_pipe_init")    \
	X(LS_API_UV_UDP_INIT, 18, "uv_udp_init")      \
	X(LS_API_UV_UDP_INIT_EX, 19, "uv_udp_init_ex") \
	X(LS_API_UV_POLL_INIT, 20, "uv_poll_init")    \
	X(LS_API_UV_POLL_INIT_SOCKET, 21, "uv_poll_init_socket") \
	X(LS_API_UV_SIGNAL_INIT, 22, "uv_signal_init") \
	X(LS_API_UV_TTY_INIT, 23, "uv_tty_init")      \
	X(LS_API_UV_FS_EVENT_INIT, 24, "uv_fs_event_init") \
	X(LS_API_UV_FS_POLL_INIT, 25, "uv_fs_poll_init")   \
	X(LS_API_UV_READ_START, 26, "uv_read_start") \
	X(LS_API_UV_READ_START_ALLOC, 27, "uv_read_start(alloc_cb)") \
	X(LS_API_UV_WRITE, 28, "uv_write") \
	X(LS_API_UV_WRITE2, 29, "uv_write2") \
	X(LS_API_UV_SHUTDOWN, 30, "uv_shutdown") \
	X(LS_API_UV_LISTEN, 31, "uv_listen") \
	X(LS_API_UV_TCP_CONNECT, 32, "uv_tcp_connect") \
	X(LS_API_UV_PIPE_CONNECT, 33, "uv_pipe_connect") \
	X(LS_API_UV_UDP_SEND, 34, "uv_udp_send") \
	X(LS_API_UV_UDP_RECV_START, 35, "uv_udp_recv_start") \
	X(LS_API_UV_UDP_RECV_START_ALLOC, 36, "uv_udp_recv_start(alloc_cb)") \
	X(LS_API_UV_POLL_START, 37, "uv_poll_start") \
	X(LS_API_UV_SIGNAL_START, 38, "uv_signal_start") \
	X(LS_API_UV_SIGNAL_START_ONESHOT, 39, "uv_signal_start_oneshot") \
	X(LS_API_UV_FS_EVENT_START, 40, "uv_fs_event_start") \
	X(LS_API_UV_FS_POLL_START, 41, "uv_fs_poll_start") \
	X(LS_API_UV_SPAWN, 42, "uv_spawn") \
	X(LS_API_UV_GETADDRINFO, 43, "uv_getaddrinfo") \
	X(LS_API_UV_GETNAMEINFO, 44, "uv_getnameinfo") \
	X(LS_API_UV_RANDOM, 45, "uv_random") \
	X(LS_API_UV_WALK, 46, "uv_walk") \
	X(LS_API_UV_TRY_WRITE, 47, "uv_try_write") \
	X(LS_API_UV_UDP_TRY_SEND, 48, "uv_udp_try_send") \
	X(LS_API_UV_ASYNC_SEND, 49, "uv_async_send") \
	X(LS_API_UV_LOOP_INIT, 50, "uv_loop_init") \
	X(LS_API_UV_DEFAULT_LOOP, 51, "uv_default_loop") \
	X(LS_API_UV_STOP, 52, "uv_stop") \
	X(LS_API_UV_LOOP_DELETE, 53, "uv_loop_delete") \
	X(LS_API_UV_FS_CLOSE, 54, "uv_fs_close") \
	X(LS_API_UV_FS_OPEN, 55, "uv_fs_open") \
	X(LS_API_UV_FS_READ, 56, "uv_fs_read") \
	X(LS_API_UV_FS_UNLINK, 57, "uv_fs_unlink") \
	X(LS_API_UV_FS_WRITE, 58, "uv_fs_write") \
	X(LS_API_UV_FS_COPYFILE, 59, "uv_fs_copyfile") \
	X(LS_API_UV_FS_MKDIR, 60, "uv_fs_mkdir") \
	X(LS_API_UV_FS_MKDTEMP, 61, "uv_fs_mkdtemp") \
	X(LS_API_UV_FS_MKSTEMP, 62, "uv_fs_mkstemp") \
	X(LS_API_UV_FS_RMDIR, 63, "uv_fs_rmdir") \
	X(LS_API_UV_FS_SCANDIR, 64, "uv_fs_scandir") \
	X(LS_API_UV_FS_OPENDIR, 65, "uv_fs_opendir") \
	X(LS_API_UV_FS_READDIR, 66, "uv_fs_readdir") \
	X(LS_API_UV_FS_CLOSEDIR, 67, "uv_fs_closedir") \
	X(LS_API_UV_FS_STAT, 68, "uv_fs_stat") \
	X(LS_API_UV_FS_FSTAT, 69, "uv_fs_fstat") \
	X(LS_API_UV_FS_RENAME, 70, "uv_fs_rename") \
	X(LS_API_UV_FS_FSYNC, 71, "uv_fs_fsync") \
	X(LS_API_UV_FS_FDATASYNC, 72, "uv_fs_fdatasync") \
	X(LS_API_UV_FS_FTRUNCATE, 73, "uv_fs_ftruncate") \
	X(LS_API_UV_FS_SENDFILE, 74, "uv_fs_sendfile") \
	X(LS_API_UV_FS_ACCESS, 75, "uv_fs_access") \
	X(LS_API_UV_FS_CHMOD, 76, "uv_fs_chmod") \
	X(LS_API_UV_FS_UTIME, 77, "uv_fs_utime") \
	X(LS_API_UV_FS_FUTIME, 78, "uv_fs_futime") \
	X(LS_API_UV_FS_LUTIME, 79, "uv_fs_lutime") \
	X(LS_API_UV_FS_LSTAT, 80, "uv_fs_lstat") \
	X(LS_API_UV_FS_LINK, 81, "uv_fs_link") \
	X(LS_API_UV_FS_SYMLINK, 82, "uv_fs_symlink") \
	X(LS_API_UV_FS_READLINK, 83, "uv_fs_readlink") \
	X(LS_API_UV_FS_REALPATH, 84, "uv_fs_realpath") \
	X(LS_API_UV_FS_FCHMOD, 85, "uv_fs_fchmod") \
	X(LS_API_UV_FS_CHOWN, 86, "uv_fs_chown") \
	X(LS_API_UV_FS_FCHOWN, 87, "uv_fs_fchown") \
	X(LS_API_UV_FS_LCHOWN, 88, "uv_fs_lchown") \
	X(LS_API_UV_FS_STATFS, 89, "uv_fs_statfs") \
	X(LS_API_UV_TIMER_STOP, 90, "uv_timer_stop") \
	X(LS_API_UV_TIMER_AGAIN, 91, "uv_timer_again") \
	X(LS_API_UV_TIMER_SET_REPEAT, 92, "uv_timer_set_repeat") \
	X(LS_API_UV_IDLE_STOP, 93, "uv_idle_stop") \
	X(LS_API_UV_PREPARE_STOP, 94, "uv_prepare_stop") \
	X(LS_API_UV_CHECK_STOP, 95, "uv_check_stop") \
	X(LS_API_UV_READ_STOP, 96, "uv_read_stop") \
	X(LS_API_UV_UDP_RECV_STOP, 97, "uv_udp_recv_stop") \
	X(LS_API_UV_POLL_STOP, 98, "uv_poll_stop") \
	X(LS_API_UV_SIGNAL_STOP, 99, "uv_signal_stop") \
	X(LS_API_UV_FS_EVENT_STOP, 100, "uv_fs_event_stop") \
	X(LS_API_UV_FS_POLL_STOP, 101, "uv_fs_poll_stop") \
	X(LS_API_UV_REF, 102, "uv_ref") \
	X(LS_API_UV_UNREF, 103, "uv_unref") \
	X(LS_API_UV_ACCEPT, 104, "uv_accept") \
	X(LS_API_UV_UPDATE_TIME, 105, "uv_update_time") \
	X(LS_API_EV_BASE_NEW, 120, "event_base_new") \
	X(LS_API_EV_BASE_NEW_WITH_CONFIG, 121, "event_base_new_with_config") \
	X(LS_API_EV_INIT, 122, "event_init") \
	X(LS_API_EV_BASE_LOOP, 123, "event_base_loop") \
	X(LS_API_EV_BASE_DISPATCH, 124, "event_base_dispatch") \
	X(LS_API_EV_DISPATCH, 125, "event_dispatch") \
	X(LS_API_EV_LOOP, 126, "event_loop") \
	X(LS_API_EV_BASE_LOOPEXIT, 127, "event_base_loopexit") \
	X(LS_API_EV_BASE_LOOPBREAK, 128, "event_base_loopbreak") \
	X(LS_API_EV_BASE_FREE, 129, "event_base_free") \
	X(LS_API_EV_NEW, 130, "event_new") \
	X(LS_API_EV_ASSIGN, 131, "event_assign") \
	X(LS_API_EV_SET, 132, "event_set") \
	X(LS_API_EV_BASE_SET, 133, "event_base_set") \
	X(LS_API_EV_ADD, 134, "event_add") \
	X(LS_API_EV_DEL, 135, "event_del") \
	X(LS_API_EV_ACTIVE, 136, "event_active") \
	X(LS_API_EV_FREE, 137, "event_free") \
	X(LS_API_EV_BASE_ONCE, 138, "event_base_once") \
	X(LS_API_EV_ONCE, 139, "event_once") \
	X(LS_API_BEV_SOCKET_NEW, 140, "bufferevent_socket_new") \
	X(LS_API_BEV_PAIR_NEW, 141, "bufferevent_pair_new") \
	X(LS_API_BEV_SETCB, 142, "bufferevent_setcb") \
	X(LS_API_BEV_SETCB_WRITE, 143, "bufferevent_setcb(writecb)") \
	X(LS_API_BEV_SETCB_EVENT, 144, "bufferevent_setcb(eventcb)") \
	X(LS_API_BEV_NEW, 145, "bufferevent_new") \
	X(LS_API_BEV_NEW_WRITE, 146, "bufferevent_new(writecb)") \
	X(LS_API_BEV_NEW_ERROR, 147, "bufferevent_new(errorcb)") \
	X(LS_API_BEV_FREE, 148, "bufferevent_free") \
	X(LS_API_BEV_ENABLE, 149, "bufferevent_enable") \
	X(LS_API_BEV_DISABLE, 150, "bufferevent_disable") \
	X(LS_API_BEV_WRITE, 151, "bufferevent_write") \
	X(LS_API_BEV_WRITE_BUFFER, 152, "bufferevent_write_buffer") \
	X(LS_API_EVCONNLISTENER_NEW, 153, "evconnlistener_new") \
	X(LS_API_EVCONNLISTENER_NEW_BIND, 154, "evconnlistener_new_bind") \
	X(LS_API_EVCONNLISTENER_SET_CB, 155, "evconnlistener_set_cb") \
	X(LS_API_EVCONNLISTENER_SET_ERROR_CB, 156, "evconnlistener_set_error_cb") \
	X(LS_API_EVHTTP_SET_CB, 157, "evhttp_set_cb") \
	X(LS_API_EVHTTP_SET_GENCB, 158, "evhttp_set_gencb") \
	X(LS_API_EVDNS_GETADDRINFO, 159, "evdns_getaddrinfo") \
	X(LS_API_EVDNS_RESOLVE_IPV4, 160, "evdns_base_resolve_ipv4") \
	X(LS_API_EVDNS_RESOLVE_IPV6, 161, "evdns_base_resolve_ipv6") \
	X(LS_API_EVDNS_RESOLVE_REVERSE, 162, "evdns_base_resolve_reverse") \
	X(LS_API_EVDNS_RESOLVE_REVERSE_IPV6, 163, "evdns_base_resolve_reverse_ipv6") \
	X(LS_API_EVTHREAD_USE_PTHREADS, 164, "evthread_use_pthreads") \
	X(LS_API_EPOLL_WAIT, 200, "epoll_wait") \
	X(LS_API_EPOLL_PWAIT, 201, "epoll_pwait") \
	X(LS_API_EPOLL_PWAIT2, 202, "epoll_pwait2") \
	X(LS_API_POLL, 203, "poll") \
	X(LS_API_PPOLL, 204, "ppoll") \
	X(LS_API_SELECT, 205, "select") \
	X(LS_API_PSELECT, 206, "pselect") \
	X(LS_API_SLEEP, 210, "sleep") \
	X(LS_API_USLEEP, 211, "usleep") \
	X(LS_API_NANOSLEEP, 212, "nanosleep") \
	X(LS_API_CLOCK_NANOSLEEP, 213, "clock_nanosleep") \
	X(LS_API_GETADDRINFO, 214, "getaddrinfo") \
	X(LS_API_GETHOSTBYNAME, 215, "gethostbyname") \
	X(LS_API_GETHOSTBYNAME_R, 216, "gethostbyname_r") \
	X(LS_API_FSYNC, 217, "fsync") \
	X(LS_API_FDATASYNC, 218, "fdatasync") \
	X(LS_API_SYNC, 219, "sync") \
	X(LS_API_SYSTEM, 220, "system") \
	X(LS_API_POPEN, 221, "popen") \
	X(LS_API_WAIT, 222, "wait") \
	X(LS_API_WAITPID, 223, "waitpid") \
	X(LS_API_FLOCK, 224, "flock") \
	X(LS_API_FCNTL, 225, "fcntl") \
	X(LS_API_PTHREAD_JOIN, 226, "pthread_join") \
	X(LS_API_SEM_WAIT, 227, "sem_wait") \
	X(LS_API_READ, 228, "read") \
	X(LS_API_RECV, 229, "recv") \
	X(LS_API_ACCEPT, 230, "accept") \
	X(LS_API_CONNECT, 231, "connect") \
	X(LS_API_RECVFROM, 232, "recvfrom") \
	X(LS_API_ACCEPT4, 233, "accept4") \
	X(LS_API_PY_CALL_SOON, 300, "call_soon") \
	X(LS_API_PY_CALL_LATER, 301, "call_later") \
	X(LS_API_PY_CALL_AT, 302, "call_at") \
	X(LS_API_PY_CREATE_TASK, 303, "create_task")

enum ls_api {
#define LS_API_ENUM(sym, num, name) sym = num,
	LS_API_LIST(LS_API_ENUM)
#undef LS_API_ENUM
	LS_API_COUNT
};

/* The selectors (a site of one is a loop's iterations), and the blocking
 * functions of blocking-call. */
static inline int ls_api_is_selector(uint32_t api)
{
	return api >= LS_API_EPOLL_WAIT && api <= LS_API_PSELECT;
}

static inline int ls_api_is_blocking(uint32_t api)
{
	return api >= LS_API_SLEEP && api <= LS_API_ACCEPT4;
}

/* asyncio's loop methods: a site of one has, as its callback, the PYCODE id
 * of the Python function it runs (0: not a Python function); a
 * create_task site's is its coroutine's. */
static inline int ls_api_is_python(uint32_t api)
{
	return api >= LS_API_PY_CALL_SOON && api <= LS_API_PY_CREATE_TASK;
}

static inline const char *ls_api_name(uint32_t api)
{
	switch (api) {
#define LS_API_CASE(sym, num, name) case num: return name;
	LS_API_LIST(LS_API_CASE)
#undef LS_API_CASE
	}
	return "unknown";
}

#endif
