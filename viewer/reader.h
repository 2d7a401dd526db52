/* The in-memory model of one trace file, as read by ls_trace_read().
 *
 * The reader treats the file as hostile: every length and offset is
 * checked, and ids that are referenced but never defined are kept as they
 * are (lookups return NULL). */
#ifndef LOOPSAN_VIEWER_READER_H
#define LOOPSAN_VIEWER_READER_H

#include <stddef.h>
#include <stdint.h>

#include "tracer/format.h"
#include "viewer/util.h"

struct ls_module {
	uint32_t id;
	uint64_t bias, lo, hi;
	uint8_t build_id_len;
	uint8_t build_id[LS_BUILD_ID_MAX];
	char *path;
};

struct ls_stack {
	uint32_t id;
	uint32_t flags;
	uint32_t depth;
	uint64_t *pcs;
	uint32_t npy;             /* Python frames (LS_STACK_PY), innermost first */
	struct ls_py_frame *py;
};

/* A Python code object (PYCODE): names a Python frame, and its location
 * table gives the line of an instruction (viewer/pycode.c). */
struct ls_pycode {
	uint32_t id;
	int32_t firstlineno;
	uint32_t version, flags;
	char *file, *name;        /* NUL-terminated */
	uint8_t *lines;
	uint32_t lines_len;
};

struct ls_site {
	uint32_t id;
	uint32_t api;
	uint32_t stack;
	uint64_t callback;
};

struct ls_thread {
	uint32_t tid;
	int from_thread_rec; /* the name came from a THREAD or THREAD_NAME record */
	char name[LS_THREAD_NAME_MAX + 1];  /* the last name it had */
	char was[LS_THREAD_NAME_MAX + 1];   /* renamed: its first name, else "" */
};

struct ls_callback {
	uint32_t tid;
	uint32_t site;
	int slow;            /* a SLOW record: it ran past the recording threshold */
	double begin_ns;     /* CLOCK_MONOTONIC of the traced process */
	double dur_ns;
	uint64_t begin_ticks, dur_ticks; /* as recorded */
};

/* A request that failed with no callback to tell (DROPPED_ERROR). */
struct ls_dropped {
	uint32_t tid, site, api;
	int32_t error;
	char name[17];
	uint64_t time_ns;
};

/* A call from the wrong thread (WRONG_THREAD). */
struct ls_wrong_thread {
	uint32_t tid;        /* the calling thread */
	uint32_t stack, api, loop_tid;
	uint64_t loop, handle, time_ns;
};

/* Sends no callback answered (LOST_WAKEUP). */
struct ls_lost {
	uint32_t tid, init_site, lost, when, send_stack;
	uint64_t handle;
};

/* A handle used against its life cycle (MISUSE). */
struct ls_misuse_rec {
	uint32_t tid, stack, api, what, init_site;
	uint64_t handle;
};

/* A fatal signal inside a callback (CRASH). */
struct ls_crash {
	uint32_t tid, site;
	uint32_t crashed_at;  /* stack id, 0: none (older traces) */
	int32_t signo, code;
	uint64_t addr;
};

/* A selector call that came back late (SELECTOR_LATE). */
struct ls_selector_late {
	uint32_t tid, site, api;
	int32_t result;
	int64_t timeout_ns;  /* -1: none */
	uint64_t dur_ticks;
};

/* The first blocking call of a site on a thread (BLOCKING). */
struct ls_blocking {
	uint32_t tid, site, api, in_site;
	uint64_t dur_ticks;
};

/* Where a loop thread was stuck (STUCK, written by the watchdog). */
struct ls_stuck {
	uint32_t tid, site, stack, how;
	int32_t syscall_nr;
	uint64_t begin_ticks;
};

/* One of asyncio's own checks, seen inside the interpreter (PY_EVENT). */
struct ls_pyevent {
	uint32_t tid;        /* the thread that saw it */
	uint32_t what;       /* enum ls_py_event */
	uint32_t stack;      /* where it was seen (the call, or where the object went) */
	uint32_t made_at, raised_at, loop_tid, api;
	uint64_t time_ns;
	char *name, *text;   /* NUL-terminated, cut at a NUL byte */
};

/* Aggregates of every finished callback of a site, from one stats slot:
 * one thread's, or, when the threads that held a stats chunk in turn ran
 * the site, theirs together (threads > 1; tid is then the last holder). */
struct ls_stat {
	uint32_t tid, site;
	uint32_t threads;    /* threads counted here, at least 1 */
	uint64_t count;
	double total_ns, max_ns;
	uint32_t hist[LS_HIST_BUCKETS]; /* bucket b starts at ls_hist_lower(b) ticks */
};

struct ls_loop_close {
	uint32_t tid;
	int32_t result;
	uint32_t api;
	uint64_t loop, time_ns;
};

/* A thread started running a loop (LOOP_RUN): the loop threads. */
struct ls_loop_run {
	uint32_t tid, api;
	uint64_t loop;
};

struct ls_open_handle {
	uint32_t tid;
	uint32_t handle_type, flags, init_site, site;
	uint64_t loop, handle;
	size_t close_index; /* index in closes[] of the LOOP_CLOSE before it */
	char type_name[17];
};

struct ls_trace {
	char *path;
	uint64_t pid, ppid;
	uint32_t mode, slow_callback_ms, stack_depth;
	uint32_t slow_selector_ms;  /* 0: not recorded (older traces) */
	uint64_t dropped;
	uint32_t notes;      /* enum ls_trace_notes */
	char session[65];
	char exe[1025];
	int exited;          /* header state is EXITED */
	uint64_t cut_bytes;  /* bytes missing from the last chunk, 0 if whole */
	struct ls_vec modules, stacks, sites, threads, pycodes;
	/* callbacks: those at least as long as ls_read_options.keep_callbacks_ms
	 * (every slow one); ls_trace_each_callback() walks them all. */
	struct ls_vec callbacks, closes, open_handles, stats, dropped_errors, wrong_threads;
	struct ls_vec lost_wakeups, misuses, crashes, loop_runs;
	struct ls_vec selector_lates, blockings, stucks, py_events;
	const uint8_t *map;  /* the file, mapped */
	size_t map_len;
	struct ls_vec chunks; /* private to the reader */
	/* Timestamps in the file are ticks: ns = start_ns + (ticks - start_ticks) * ns_per_tick. */
	double ns_per_tick;
	uint64_t start_ticks, start_ns;
};

/* A tick count of this trace as CLOCK_MONOTONIC ns. */
double ls_trace_ns(const struct ls_trace *t, uint64_t ticks);

struct ls_read_options {
	/* Keep in memory the callbacks that ran at least this long; 0: the
	 * trace's own slow_callback_ms (a larger value counts as that too);
	 * < 0: every callback. Memory then does not grow with a timeline
	 * trace's length. */
	double keep_callbacks_ms;
	int progress;        /* a progress line on stderr for large files */
};

/* Reads PATH into a new trace. On failure returns NULL and puts a one-line
 * reason (without the path) into err. */
struct ls_trace *ls_trace_read_ex(const char *path, const struct ls_read_options *opt,
				  char *err, size_t errlen);
struct ls_trace *ls_trace_read(const char *path, char *err, size_t errlen);

/* Calls fn for every callback of the trace, each thread's in order; stops
 * at and returns fn's first non-zero result. */
int ls_trace_each_callback(const struct ls_trace *t,
			   int (*fn)(void *arg, const struct ls_callback *c), void *arg);
void ls_trace_free(struct ls_trace *t);

/* A trace is complete when the process exited cleanly and nothing is cut. */
int ls_trace_complete(const struct ls_trace *t);

const struct ls_module *ls_trace_module(const struct ls_trace *t, uint32_t id);
const struct ls_stack *ls_trace_stack(const struct ls_trace *t, uint32_t id);
const struct ls_pycode *ls_trace_pycode(const struct ls_trace *t, uint32_t id);
const struct ls_site *ls_trace_site(const struct ls_trace *t, uint32_t id);
const struct ls_thread *ls_trace_thread(const struct ls_trace *t, uint32_t tid);
/* The module whose [lo, hi) holds pc, or NULL. */
const struct ls_module *ls_trace_module_at(const struct ls_trace *t, uint64_t pc);

#endif
