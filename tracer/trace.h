/* The recording side of the trace: options, the trace file, per-thread
 * chunks, stacks, sites and the module map. The shim's interposers call
 * these; nothing here knows about findings. */
#ifndef LOOPSAN_TRACE_H
#define LOOPSAN_TRACE_H

#include <stdint.h>
#include <time.h>

#include "tracer/format.h"

#define LS_HIDDEN __attribute__((visibility("hidden")))
#define LS_MAX_IDS (1u << 16)   /* stacks, and sites, per process */
#define LS_LIKELY(x) __builtin_expect(!!(x), 1)
#define LS_UNLIKELY(x) __builtin_expect(!!(x), 0)

struct ls_options {
	uint32_t slow_callback_ms;
	uint32_t stacks;        /* 0 or 1 */
	uint32_t stack_depth;   /* 1 .. LS_MAX_STACK_DEPTH */
	uint32_t mode;          /* enum ls_mode */
	uint32_t halt_on_wrong_thread; /* 0 or 1: abort at a wrong-thread call */
	uint32_t stack_cache;   /* 1: one stack per registering call instruction and callback */
	uint32_t slow_selector_ms; /* a selector call this late past its timeout is slow-selector */
	uint32_t watchdog;      /* 1: sample where a slow callback is stuck (stuck_at) */
	uint32_t stuck_signal;  /* the signal that samples a running loop thread; 0: never signal */
	uint32_t python;        /* 1: asyncio's checks from inside CPython (preload/py/asyncio.c) */
	uint32_t blocking_min_ms;     /* with blocking_min_set: preload/sys/blocking.c's threshold */
	uint32_t blocking_min_set;    /* 0: blocking_min_ms is blocking.c's default */
	char blocking_allow[512]; /* ','-separated function names a blocking call may come from */
	char dir[512];          /* where traces go; "" = working directory */
	char session[64];
	uint32_t help;          /* 1: list the options on stderr at load */
	char log_path[512];     /* absolute; "" = stderr */
};

extern struct ls_options ls_opt;
extern int ls_disabled;            /* set once: AT_SECURE, or a fatal setup error */

/* options.c */
#include "tracer/options.h"

/* trace.c: per-thread record buffers. ls_rec_reserve returns where a record
 * of `size` bytes (a multiple of 8) may be written, or NULL when tracing is
 * off; ls_rec_commit publishes it. Both are for the calling thread only. */
struct ls_rec *ls_rec_reserve_slow(uint32_t size);
void ls_trace_note_open_handle(void);
void ls_trace_note_dropped_error(void);
void ls_trace_note_unclosed(void);
void ls_trace_note_wrong_thread(void);
void ls_trace_note_misuse(void);
void ls_trace_note_never_awaited(void);
void ls_trace_note_lost_wakeup(void);
void ls_trace_note_blocking(void);
void ls_trace_note_slow_selector(void);
/* The first loop call's one-time work, for a family to call before the
 * loop reads its clock (see trace.c). Keeps errno. */
void ls_trace_prepare(void);
/* The trace, made now (header only) while the process still has the rights
 * it started with: it is about to switch users. Keeps errno. */
void ls_trace_before_id_change(void);
void ls_trace_finish(void);
/* The process calls _exit: finish the trace, noted LS_NOTE_QUICK_EXIT.
 * Async-signal-safe; nothing for a vfork child or a fork child that has no
 * trace of its own yet (the header is another process's). */
void ls_trace_quick_exit(void);
void ls_trace_note(uint32_t note); /* enum ls_trace_notes, into the header */
/* One line where the shim's lines go: log_path, or the stderr the process
 * started with. Keeps errno. */
void ls_trace_say(const char *msg);
/* The same once per process for each message (a string constant of the
 * shim's). */
void ls_trace_say_once(const char *msg);
int ls_trace_exec_begin(void);  /* finish before an exec: 1 when there was a trace of ours */
void ls_trace_exec_failed(void); /* the exec returned: the process goes on */
void ls_trace_thread_name(char out[LS_THREAD_NAME_MAX]);
/* Thread tid of this process was just renamed to name (cut to what the
 * kernel keeps): a THREAD_NAME record, once there is a trace. Keeps errno. */
void ls_trace_thread_renamed(uint32_t tid, const char *name);
uint32_t ls_trace_tid(void);

struct ls_thread {
	uint32_t gen;            /* ls_gen when this thread's chunks were taken */
	uint32_t tid;
	uint32_t seq, stats_seq;
	uint32_t used;
	uint32_t cap;            /* record bytes the chunk holds */
	struct ls_chunk_header *chunk;
	uint64_t base;           /* time base of CALLBACK16 records */
	uint32_t cur_site;       /* the callback running now, 0 outside callbacks */
	uintptr_t cur_frame;     /* the stack frame of the shim that runs it (ls_site_at) */
	uint32_t thread_off;     /* where this thread's THREAD record is in `chunk` */
	uint32_t nheld;          /* stats chunks in stats_held */
	struct ls_site_stats **stats_of; /* site id -> this thread's slot */
	/* site id -> a slot in a stats chunk this thread took over from a
	 * thread that exited: it becomes this thread's at its first run here. */
	struct ls_site_stats **found_of;
	struct ls_chunk_header **stats_held; /* every stats chunk it holds */
	struct ls_chunk_header *stats_chunk; /* the one new slots go into */
};

extern __thread struct ls_thread ls_self;

/* Where a loop thread is, for the watchdog (preload/sys/watchdog.c): one slot
 * per loop thread, in static memory so that the watchdog never reads a
 * dead thread's TLS. The owner writes; the watchdog only reads, except
 * the sampling handshake (want/got). */
struct ls_watch {
	uint32_t tid;            /* 0: free */
	uint32_t cb_site;        /* the on-loop callback running, with cb_since */
	uint64_t cb_since;       /* its begin ticks; 0: none running */
	uint32_t iter_site;      /* the selector call that began the iteration */
	uint32_t blocking_site;  /* an interposed blocking call in progress, 0: none */
	uint64_t iter_since;     /* selector loops: when this iteration began; 0: waiting */
	uint64_t sampled;        /* the since value already sampled */
	uint32_t want, got;      /* a signal sample asked for, and answered */
	uint32_t npcs;
	uint32_t npy;            /* Python frames in py (the py_sample hook) */
	uintptr_t py_thread;     /* the owner's Python thread state at its iteration's begin (py_thread hook), 0: none */
	uint32_t cpu_timer;      /* no watchdog thread yet: the owner's CPU-time timer (id + 1), 0: none */
	uint32_t tick_site;      /* the run its timer sampled (pcs, py), for the run's end to write */
	uint64_t tick_since;     /* that run's begin; 0: none */
	uintptr_t pcs[LS_MAX_STACK_DEPTH];
	struct ls_py_frame py[LS_MAX_STACK_DEPTH];
};

/* A thread's place in its event loop, kept apart from ls_self (which a
 * thread's first record resets). */
struct ls_loop_thread {
	uint32_t loop_cb;        /* on-loop callbacks running now (nesting depth) */
	uint32_t lib_slow;       /* SLOW records of on-loop callbacks so far */
	uint32_t in_shim;        /* the shim's own calls: not the user's */
	uint32_t in_iter;        /* between a selector's return and the next call */
	uint32_t sel_calls;      /* selector calls from sel_ret in a row */
	uintptr_t sel_ret;       /* the loop's selector call instruction */
	uint32_t sel_loop;       /* sel_ret is a loop's: evidence seen (preload/sys/selector.c) */
	uint32_t sel_quick;      /* quick returns to sel_ret in a row, before sel_loop */
	uint32_t sel_api;        /* the api of the last selector call */
	uint64_t sel_back;       /* ticks of the last selector return */
	uint64_t iter_begin;     /* ticks of the last selector return */
	uint32_t iter_lib_slow;  /* lib_slow when the iteration began */
	uint32_t npending;
	uint32_t watch_tried;    /* ls_watch_attach was called */
	uint32_t lib_loop;       /* a library's loop runs on this thread (uv_run depth) */
	uint32_t fork_quiet;     /* a forked child, not yet seen running a loop of its own */
	uint32_t wrong_said;     /* a wrong-thread call already reported by an outer layer (asyncio's call_soon over uvloop's uv_idle_start) */
	uint32_t sel_site, sel_site_api; /* preload/sys/selector.c: the site of sel_site_ret */
	uintptr_t sel_site_ret;
	uint32_t block_site;     /* the last long blocking call (at least half slow_callback_ms) */
	uint64_t block_begin, block_dur;
	struct ls_pending_block {
		uint32_t site, api;
		uint64_t begin, dur;
	} pending[8];            /* blocking calls of this iteration, confirmed by the next selector call */
	struct ls_watch *watch;  /* this thread's watchdog slot, NULL if none */
	const void *run_loop;    /* the loop this thread runs (innermost run call), or NULL */
	uintptr_t run_frame;     /* the frame of that run call's interposer */
};

extern __thread struct ls_loop_thread ls_lt;
extern uint32_t ls_gen;
extern uint64_t ls_slow_ticks;   /* slow_callback_ms in ticks; UINT64_MAX until calibrated */
extern uint64_t ls_rec_ticks;    /* a callback this long gets a record: ls_slow_ticks, 0 in mode=timeline */
extern uint64_t ls_tick_hz;      /* ticks per second; 0 until calibrated */

static inline int ls_thread_current(const struct ls_thread *t)
{
	return t->gen == __atomic_load_n(&ls_gen, __ATOMIC_RELAXED);
}

/* The site of the callback running on this thread at stack address sp, or
 * 0. A callback left by longjmp (or unwound by pthread_cancel) never
 * restored cur_site: it counts only while sp is still inside the frame
 * that set it (stacks grow down). */
static inline uint32_t ls_site_at(uintptr_t sp)
{
	return sp < ls_self.cur_frame ? ls_self.cur_site : 0;
}

static inline struct ls_rec *ls_rec_reserve(uint32_t size)
{
	struct ls_thread *t = &ls_self;
	if (LS_UNLIKELY(!ls_thread_current(t) || t->used + size > t->cap))
		return ls_rec_reserve_slow(size);
	return (struct ls_rec *)((char *)(t->chunk + 1) + t->used);
}

static inline uint64_t ls_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The callback clock: the time-stamp counter where it is invariant. */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define LS_CLOCK LS_CLOCK_TSC
static inline uint64_t ls_ticks(void)
{
	return __rdtsc();
}
#else
#define LS_CLOCK LS_CLOCK_NS
static inline uint64_t ls_ticks(void)
{
	return ls_now();
}
#endif

static inline void ls_rec_commit(uint32_t size)
{
	struct ls_thread *t = &ls_self;
	t->used += size;
	/* The reader trusts `used`: store it only after the record's bytes. */
	__atomic_store_n(&t->chunk->used, t->used, __ATOMIC_RELEASE);
}

struct ls_site_stats *ls_stats_slot_slow(uint32_t site);
void ls_record_slow(uint32_t site, uint64_t begin, uint64_t dur, int on_loop);
void ls_record_timeline(uint32_t site, uint64_t begin, uint64_t dur);

/* Records one finished callback of `site` (ticks). on_loop: it ran on a
 * loop thread (a thread-pool work callback does not block a loop). The
 * hot path: a few stores into this thread's mapped stats slot; no lock, no
 * allocation, no system call. */
/* Adds one run of `site` to this thread's stats slot, nothing else.
 * Returns 1 when the slot is new (the first run on this thread). */
int ls_stats_add(uint32_t site, uint64_t dur);

static inline void ls_record_callback(uint32_t site, uint64_t begin, uint64_t dur, int on_loop)
{
	struct ls_thread *t = &ls_self;
	struct ls_site_stats *s;
	/* Site 0 (none) never has a slot: stats_of[0] stays NULL. */
	if (LS_UNLIKELY(!ls_thread_current(t) || t->stats_of == NULL ||
			(s = t->stats_of[site]) == NULL))
		s = ls_stats_slot_slow(site);
	if (LS_LIKELY(s != NULL)) {
		s->total_ticks += dur;
		if (dur > s->max_ticks)
			s->max_ticks = dur;
		s->hist[ls_hist_bucket(dur)]++;
		__atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELEASE);
	}
	if (LS_UNLIKELY(dur >= ls_rec_ticks)) {
		if (dur >= ls_slow_ticks)
			ls_record_slow(site, begin, dur, on_loop);
		else
			ls_record_timeline(site, begin, dur);
	}
}

/* What the recording side asks of the shim above it. tracer/ names
 * nothing of preload/: the shim adds its hooks at load (at most
 * LS_MAX_TRACE_HOOKS sets), and the tracer calls every non-NULL one. */
struct ls_trace_hooks {
	/* This process's trace file was just made (fatal-signal handlers go
	 * in now); called at once for a trace made before the hooks came. */
	void (*opened)(void);
	/* A thread that recorded is exiting. */
	void (*thread_exit)(void);
	/* A slow on-loop run (callback or iteration) of this thread just
	 * ended, its record written. */
	void (*slow_run)(uint64_t begin, uint64_t dur);
	/* The Python frames this thread runs now, innermost first, at most
	 * max; 0 when it runs none. Each frame's code is written already
	 * (ls_pycode_write). Reads only: called from every stack capture. */
	uint32_t (*py_frames)(struct ls_py_frame *out, uint32_t max);
	/* A word that tells apart where this thread's innermost Python frame
	 * is (its code and instruction), 0 when none: part of the key of the
	 * registration-site cache, as the call instruction is. */
	uintptr_t (*py_where)(void);
	/* py_frames for a signal handler (the watchdog's sample): loads
	 * only, bounded, stopping at anything implausible in a chain the
	 * handler may have interrupted half-made; no record written (the
	 * interrupted code may be writing one): a code object new to the
	 * trace is kept (ls_pycode_keep) for the stack that names it. */
	uint32_t (*py_sample)(struct ls_py_frame *out, uint32_t max);
	/* This thread's Python thread state, 0 when none: a thread-specific
	 * read (a loop thread's, at each iteration, for py_frames_of). */
	uintptr_t (*py_thread)(void);
	/* The Python frames of another thread, thread tid whose state
	 * py_thread gave, for the watchdog while that thread is blocked in a
	 * system call (its frames stay put): the same checks as py_sample,
	 * and the thread state must still say tid. Code objects are kept as
	 * py_sample keeps them: what the trace needs of them is copied
	 * before this returns, and the caller, which must check the thread is
	 * still in that call afterwards, reads only the ids. */
	uint32_t (*py_frames_of)(uintptr_t thread, uint32_t tid, struct ls_py_frame *out,
				 uint32_t max);
};
#define LS_MAX_TRACE_HOOKS 4
void ls_trace_hooks_add(const struct ls_trace_hooks *h);
/* The py_frames and py_where hooks of the shim, or 0 without one. */
uint32_t ls_trace_py_frames(struct ls_py_frame *out, uint32_t max);
uint32_t ls_trace_py_sample(struct ls_py_frame *out, uint32_t max);
uint32_t ls_trace_py_frames_of(uintptr_t thread, uint32_t tid, struct ls_py_frame *out,
			       uint32_t max);
extern uintptr_t (*ls_trace_py_thread_hook)(void);
static inline uintptr_t ls_trace_py_thread(void)
{
	uintptr_t (*f)(void) = __atomic_load_n(&ls_trace_py_thread_hook, __ATOMIC_ACQUIRE);
	return f != NULL ? f() : 0;
}
extern uintptr_t (*ls_trace_py_where_hook)(void);
static inline uintptr_t ls_trace_py_where(void)
{
	uintptr_t (*f)(void) = __atomic_load_n(&ls_trace_py_where_hook, __ATOMIC_ACQUIRE);
	return f != NULL ? f() : 0;
}

/* pycode.c: Python code objects, each written once per trace (and again
 * into a forked child's), under the id the caller gives (1, 2, ...; the
 * caller interns, the tracer keeps a copy to write again). Lengths are
 * cut to the LS_PYCODE_*_MAX bounds here, flagged in h->flags. */
void ls_pycode_write(uint32_t id, const struct ls_rec_pycode *h, const char *file,
		     const char *name, const uint8_t *lines);
/* ls_pycode_write for a signal handler: the record is kept, not written;
 * ls_pycode_need(id) writes it into this thread's trace unless this trace
 * has it already (every new stack does so for its Python frames). */
void ls_pycode_keep(uint32_t id, const struct ls_rec_pycode *h, const char *file,
		    const char *name, const uint8_t *lines);
void ls_pycode_need(uint32_t id);
void ls_pycode_replay(void);

/* stack.c: stacks and sites, de-duplicated, each written once per trace. */
uint32_t ls_stack_capture(void);
uint32_t ls_stack_intern_pcs(const uintptr_t *pcs, uint32_t n);
uint32_t ls_stack_intern_pcs_flags(const uintptr_t *pcs, uint32_t n, uint32_t flags);
/* The same with the Python frames the thread ran (LS_STACK_PY when npy). */
uint32_t ls_stack_intern_pcs_py(const uintptr_t *pcs, uint32_t n, uint32_t flags,
				const struct ls_py_frame *py, uint32_t npy);
/* The stack id of `site`'s registration, 0 if none. */
uint32_t ls_site_stack(uint32_t site);
/* The pcs of the stack of `site` (for the watchdog), at most max; 0 if none. */
uint32_t ls_site_stack_pcs(uint32_t site, uintptr_t *out, uint32_t max);
/* Its Python frames, at most max; 0 if none. */
uint32_t ls_site_stack_py(uint32_t site, struct ls_py_frame *out, uint32_t max);
uint32_t ls_site_intern(uint32_t api, uint32_t stack, uintptr_t callback);
/* Every libunwind unwind of the shim goes between these (or through
 * ls_backtrace, unw_backtrace's stand-in): libunwind's validation pipe is
 * closed when the last one ends, so that it never holds a descriptor the
 * program could close and reuse. ls_unwind_enter(1) from a signal
 * handler returns -1 when the caller must not unwind now (the thread it
 * interrupted may be the one opening or closing the pipe); (0) elsewhere
 * waits for that other thread. */
int ls_unwind_enter(int in_handler);
void ls_unwind_leave(void);
int ls_backtrace(void **pcs, int max);
void ls_unwind_atfork_child(void);
void ls_stack_replay(void);   /* writes every known stack and site again (new trace after fork) */
void ls_stack_warm(void);     /* sets the unwinder up, once: the first capture then costs no more */

/* modules.c */
void ls_modules_init_self(void);
int ls_module_is_self(uintptr_t pc);
void ls_modules_cover(const uintptr_t *pcs, uint32_t n);
void ls_modules_replay(void);
int ls_module_range_of(const void *addr, uintptr_t *lo, uintptr_t *hi);

#endif
