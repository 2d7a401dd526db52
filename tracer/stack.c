/* Registration stacks and callback sites, de-duplicated.
 *
 * Each distinct stack and each distinct (api, stack, callback) site gets a
 * small id and is written to the trace once, by the thread that first saw
 * it. Lookups and inserts are lock-free (open addressing, CAS on the hash);
 * the contents are kept so that a forked child can write them again into
 * its own trace.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tracer/trace.h"

#define LS_SLOTS (LS_MAX_IDS * 2)        /* load factor <= 1/2: 1 MiB a table */

/* One word: the hash's upper 48 bits (never 0), and the id below them, 0
 * until the definition is written. 0: empty. Two different stacks alike in
 * 48 bits of hash would share an id: about one process in 10^5 that has
 * 65536 stacks, one in 10^9 that has a thousand. */
typedef uint64_t ls_slot;
#define LS_SLOT_ID_BITS 16
_Static_assert(LS_MAX_IDS <= (1u << LS_SLOT_ID_BITS), "ids fit a slot");

struct ls_site_def {
	uint32_t api;
	uint32_t stack;
	uint64_t callback;
};

struct ls_stack_def {
	uint32_t depth;
	uint32_t flags;
	uint64_t pcs[LS_MAX_STACK_DEPTH];
	uint32_t npy;            /* Python frames, with LS_STACK_PY */
	struct ls_py_frame py[LS_MAX_STACK_DEPTH];
};

static ls_slot *stack_slots, *site_slots;

/* Definitions by id, in segments mapped as ids reach them: the address
 * space a process pays for is what it uses (a stack's definition is 520
 * bytes; all 65536 would be 33 MiB), and a segment never moves once
 * published, so readers need no lock. */
#define LS_STACK_SEG 256                 /* 330 KiB */
#define LS_SITE_SEG 4096                 /* 64 KiB */
static struct ls_stack_def *stack_seg[LS_MAX_IDS / LS_STACK_SEG];
static struct ls_site_def *site_seg[LS_MAX_IDS / LS_SITE_SEG];
static uint32_t stack_count, site_count;
static int tables_ready;                 /* 1 ready, -1 unavailable */

/* libunwind's validation pipe.
 *
 * libunwind 1.6 (as Debian builds it: conservative checks on) checks that
 * an address is readable before it reads it by writing one byte from there
 * into a pipe it keeps for good (mem_validate_pipe, x86_64 Ginit.c), and
 * reading it back; when that read fails it closes both numbers and makes a
 * new pipe. No local unwinding call avoids it: unw_init_local starts with
 * the check off, but unw_step turns it on for every step, and unw_backtrace
 * steps for each frame its per-thread cache has not seen yet (a new thread,
 * a new call site); the caching policy and UNW_INIT_SIGNAL_FRAME change
 * nothing of this. A daemon that closes every descriptor and opens its own
 * files would then have libunwind read from them, write into them and
 * close them (its epoll descriptor, say).
 *
 * So the pipe lives only while the shim unwinds. libunwind hands its pair
 * to pipe2 (interposed here: a call from libunwind's own code, on an array
 * in libunwind's own memory); when the last unwind in progress ends, both
 * are closed and set back to -1, from where libunwind makes a new pipe at
 * its next check, which fails cleanly on -1 without closing anything.
 * Between unwinds libunwind holds no descriptor at all; an unwind that
 * finds every frame in its cache (the usual case) costs two atomic
 * operations more. */
static uintptr_t unw_lo, unw_hi;      /* libunwind's mapping */
static int *unw_pipe;                 /* its pair, once seen */
static int unw_users;                 /* unwinds in progress; -1 while the pair is closed */

/* The next pipe2 (libc's, or a sanitizer runtime's, which must see every
 * descriptor made), looked up at load: pipe2 may be called inside a
 * signal handler's unwind, where a symbol lookup may not run. */
static int (*next_pipe2)(int *, int);

__attribute__((constructor(101))) static void ls_unwind_init(void)
{
	next_pipe2 = (int (*)(int *, int))dlsym(RTLD_NEXT, "pipe2");
	if (!getauxval(AT_SECURE))
		ls_module_range_of((const void *)unw_backtrace, &unw_lo, &unw_hi);
}

/* The next pipe2; the raw system call only before load is done. */
static int ls_next_pipe2(int fds[2], int flags)
{
	if (next_pipe2 != NULL)
		return next_pipe2(fds, flags);
	return (int)syscall(SYS_pipe2, fds, flags);
}

static int ls_in_libunwind(uintptr_t a)
{
	return a >= unw_lo && a < unw_hi;
}

/* pipe2 for everyone: the next one's answer. */
__attribute__((visibility("default"))) int pipe2(int fds[2], int flags)
{
	if (ls_in_libunwind((uintptr_t)__builtin_return_address(0)) &&
	    ls_in_libunwind((uintptr_t)fds))
		__atomic_store_n(&unw_pipe, fds, __ATOMIC_RELEASE);
	return ls_next_pipe2(fds, flags);
}

/* Opens libunwind's pair for it, once it is known (its first pipe2):
 * libunwind then never finds it closed and never opens one itself, which
 * two threads could do at once (each closing the other's numbers) and
 * which nothing would order before the other threads' use of it. */
static void ls_unwind_open(int *p)
{
	int fds[2];
	if (ls_next_pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
		__atomic_store_n(&p[0], fds[0], __ATOMIC_RELAXED);
		__atomic_store_n(&p[1], fds[1], __ATOMIC_RELAXED);
	}
}

/* unw_users: unwinds in progress (the pair open, or not known yet), 0
 * none (the pair closed), -1 while one thread opens or closes it.
 * Returns 0 when the caller may unwind. A signal handler may have stopped
 * the very thread that is opening or closing the pair: it gives up (-1)
 * after a while; any other caller waits for the thread at it, which only
 * has a system call or two to finish, for 100 ms at most (then no stack:
 * never a hang).
 *
 * Between enter and leave the thread cannot be cancelled: libunwind's
 * checks read and write its pipe, both cancellation points, and a thread
 * cancelled there (a cancel pending when the watchdog's signal arrived,
 * say) would leave the count wrong for good. */
static __thread int unw_depth, unw_cancel_old;

static int ls_unwind_count_in(int in_handler)
{
	int n = __atomic_load_n(&unw_users, __ATOMIC_RELAXED);
	for (int spins = 0;; spins++) {
		if (n < 0) {
			if (spins > 1000 && (in_handler || spins > 2000))
				return -1;
			if (spins <= 1000) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 100000 };  /* interposed: the call */
				syscall(SYS_nanosleep, &ts, NULL);
			}
			n = __atomic_load_n(&unw_users, __ATOMIC_RELAXED);
			continue;
		}
		int *p = n == 0 ? __atomic_load_n(&unw_pipe, __ATOMIC_ACQUIRE) : NULL;
		if (p != NULL) {
			/* The first unwind in: the pair is opened here, alone. */
			if (!__atomic_compare_exchange_n(&unw_users, &n, -1, 1, __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED))
				continue;
			if (__atomic_load_n(&p[0], __ATOMIC_RELAXED) < 0 &&
			    __atomic_load_n(&p[1], __ATOMIC_RELAXED) < 0)
				ls_unwind_open(p);
			__atomic_store_n(&unw_users, 1, __ATOMIC_RELEASE);
			return 0;
		}
		if (__atomic_compare_exchange_n(&unw_users, &n, n + 1, 1, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 0;
	}
}

int ls_unwind_enter(int in_handler)
{
	if (unw_depth++ == 0)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &unw_cancel_old);
	if (ls_unwind_count_in(in_handler) == 0)
		return 0;
	if (--unw_depth == 0)
		pthread_setcancelstate(unw_cancel_old, NULL);
	return -1;
}

/* The last unwind out closes libunwind's pipe, if it made one: nobody can
 * be using it (unw_users is -1 meanwhile), and the numbers are still the
 * pipe's, unless the program closed them during the unwind itself. */
static void ls_unwind_count_out(void)
{
	if (__atomic_sub_fetch(&unw_users, 1, __ATOMIC_RELEASE) != 0)
		return;
	int *p = __atomic_load_n(&unw_pipe, __ATOMIC_ACQUIRE);
	if (p == NULL || (__atomic_load_n(&p[0], __ATOMIC_RELAXED) < 0 &&
			  __atomic_load_n(&p[1], __ATOMIC_RELAXED) < 0))
		return;
	int idle = 0;
	if (!__atomic_compare_exchange_n(&unw_users, &idle, -1, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return;  /* a new unwind began: it closes the pipe when it ends */
	int rd = p[0], wr = p[1];
	__atomic_store_n(&p[0], -1, __ATOMIC_RELAXED);
	__atomic_store_n(&p[1], -1, __ATOMIC_RELAXED);
	if (rd >= 0)
		close(rd);
	if (wr >= 0)
		close(wr);
	__atomic_store_n(&unw_users, 0, __ATOMIC_RELEASE);
}

void ls_unwind_leave(void)
{
	ls_unwind_count_out();
	if (--unw_depth == 0)
		pthread_setcancelstate(unw_cancel_old, NULL);
}

/* A forked child has one thread: no unwind is in progress in it, whatever
 * the parent's threads were doing; a pipe libunwind had open is the
 * child's copy of the shim's pair, closed now. */
void ls_unwind_atfork_child(void)
{
	__atomic_store_n(&unw_users, 1, __ATOMIC_RELAXED);
	unw_depth = 0;
	ls_unwind_count_out();
}

int ls_backtrace(void **pcs, int max)
{
	if (ls_unwind_enter(0) != 0)
		return 0;
	int n = unw_backtrace(pcs, max);
	ls_unwind_leave();
	return n;
}

static void *ls_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int ls_tables(void)
{
	int r = __atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE);
	if (LS_LIKELY(r != 0))
		return r > 0;
	/* First use: several threads may race here; the loser unmaps. */
	ls_slot *a = ls_map(sizeof(ls_slot) * LS_SLOTS);
	ls_slot *b = ls_map(sizeof(ls_slot) * LS_SLOTS);
	static int once;
	if (a && b && __atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL) == 0) {
		stack_slots = a, site_slots = b;
		__atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
		return 1;
	}
	if (a) munmap(a, sizeof(ls_slot) * LS_SLOTS);
	if (b) munmap(b, sizeof(ls_slot) * LS_SLOTS);
	if (!(a && b)) {
		ls_trace_say_once("loopsan: cannot map the stack tables (RLIMIT_AS?); "
				  "recording goes on without creation stacks\n");
		__atomic_store_n(&tables_ready, -1, __ATOMIC_RELEASE);
		return 0;
	}
	while ((r = __atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)) == 0)
		sched_yield();
	return r > 0;
}

/* The segment that holds definition id of a table (n per segment, size
 * bytes each), mapped when make and not yet there; NULL when it cannot
 * be. Racing threads: the first to publish wins, the others unmap. */
static void *ls_seg_at(void **segs, uint32_t id, uint32_t n, size_t size, int make)
{
	void **slot = &segs[id / n];
	void *seg = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (LS_LIKELY(seg != NULL) || !make)
		return seg ? (char *)seg + (size_t)(id % n) * size : NULL;
	void *p = ls_map(n * size);
	if (p == NULL) {
		ls_trace_say_once("loopsan: cannot map more stack definitions (RLIMIT_AS?); "
				  "later creation stacks are left out\n");
		return NULL;
	}
	void *expect = NULL;
	if (!__atomic_compare_exchange_n(slot, &expect, p, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(p, n * size);
		p = expect;
	}
	return (char *)p + (size_t)(id % n) * size;
}

static struct ls_stack_def *ls_stack_def(uint32_t id, int make)
{
	return ls_seg_at((void **)stack_seg, id, LS_STACK_SEG, sizeof(struct ls_stack_def), make);
}

static struct ls_site_def *ls_site_def(uint32_t id, int make)
{
	return ls_seg_at((void **)site_seg, id, LS_SITE_SEG, sizeof(struct ls_site_def), make);
}

static void ls_emit_stack(uint32_t id)
{
	const struct ls_stack_def *d = ls_stack_def(id, 0);
	if (d == NULL)
		return;
	uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_stack) + d->depth * 8u;
	uint32_t py_bytes = d->npy * (uint32_t)sizeof(struct ls_py_frame);
	if (d->flags & LS_STACK_PY)
		size += (uint32_t)sizeof(struct ls_py_frames) + ((py_bytes + 7u) & ~7u);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_STACK;
	r->size = (uint16_t)size;
	r->arg = id;
	struct ls_rec_stack *s = (struct ls_rec_stack *)(r + 1);
	s->depth = d->depth;
	s->flags = d->flags;
	memcpy(s + 1, d->pcs, d->depth * 8u);
	if (d->flags & LS_STACK_PY) {
		struct ls_py_frames *pf = (struct ls_py_frames *)((char *)(s + 1) + d->depth * 8u);
		pf->n = d->npy;
		pf->reserved = 0;
		memcpy(pf + 1, d->py, py_bytes);
		memset((char *)(pf + 1) + py_bytes, 0, ((py_bytes + 7u) & ~7u) - py_bytes);
	}
	ls_rec_commit(size);
}

static void ls_emit_site(uint32_t id)
{
	const struct ls_site_def *d = ls_site_def(id, 0);
	if (d == NULL)
		return;
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_site);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_SITE;
	r->size = size;
	r->arg = id;
	struct ls_rec_site *s = (struct ls_rec_site *)(r + 1);
	s->api = d->api;
	s->stack = d->stack;
	s->callback = d->callback;
	ls_rec_commit(size);
}

/* Finds `hash` in `slots` or claims a slot for it. Returns the id, or 0
 * with *fresh set when the caller must fill definition `*fresh_id` and
 * then publish it (ls_publish). */
static uint32_t ls_intern(ls_slot *slots, uint32_t *count, uint64_t hash,
			  uint32_t *fresh_id, ls_slot **fresh_slot)
{
	uint64_t key = (hash | 1) << LS_SLOT_ID_BITS;  /* never 0 */
	const uint64_t id_mask = (1u << LS_SLOT_ID_BITS) - 1;
	uint32_t i = (uint32_t)(hash >> 7) & (LS_SLOTS - 1);
	for (uint32_t probes = 0; probes < LS_SLOTS; probes++, i = (i + 1) & (LS_SLOTS - 1)) {
		uint64_t w = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		if (w == 0) {
			uint64_t expect = 0;
			if (!__atomic_compare_exchange_n(&slots[i], &expect, key, 0,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				w = expect;
			} else {
				uint32_t id = __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
				if (id >= LS_MAX_IDS)
					return 0;  /* full: the slot stays claimed with id 0 */
				*fresh_id = id;
				*fresh_slot = &slots[i];
				return 0;
			}
		}
		if ((w & ~id_mask) == key) {
			uint32_t id;
			/* Another thread is writing the definition; it takes a few
			 * stores, or one new chunk. */
			for (int spins = 0;
			     (id = (uint32_t)(__atomic_load_n(&slots[i], __ATOMIC_ACQUIRE) & id_mask)) == 0;
			     spins++) {
				if (spins > 10000)
					return 0;
				sched_yield();
			}
			return id;
		}
	}
	return 0;
}

static void ls_publish(ls_slot *slot, uint32_t id)
{
	__atomic_fetch_or(slot, (uint64_t)id, __ATOMIC_RELEASE);
}

static uint32_t ls_stack_intern(const uint64_t *pcs, uint32_t depth, uint32_t flags,
				const struct ls_py_frame *py, uint32_t npy);

uint32_t ls_stack_capture(void)
{
	if (!ls_opt.stacks || ls_disabled || !ls_tables())
		return 0;
	/* The shim's own frames (interposer, helpers, a trampoline) are a
	 * few; unwinding further than needed is the main cost here. */
	void *raw[LS_MAX_STACK_DEPTH + 8];
	/* libunwind calls libc itself (a read() on its pipe to check that
	 * memory is readable, see ls_unwind_enter): those calls are the shim's, not the program's
	 * blocking calls, and must not capture a stack in turn. */
	ls_lt.in_shim++;
	int n = ls_backtrace(raw, (int)ls_opt.stack_depth + 8);
	ls_lt.in_shim--;
	/* The shim's frames go: the interposer on top, and the trampolines
	 * between a callback and the loop when it registers from a callback. */
	uint64_t pcs[LS_MAX_STACK_DEPTH];
	uint32_t depth = 0;
	for (int k = 0; k < n && depth < ls_opt.stack_depth; k++)
		if (!ls_module_is_self((uintptr_t)raw[k]))
			pcs[depth++] = (uint64_t)(uintptr_t)raw[k];
	if (depth == 0)
		return 0;
	/* The Python frames of this thread, read now that it is still in
	 * them: the viewer puts them in place of the eval loop's frames. */
	struct ls_py_frame py[LS_MAX_STACK_DEPTH];
	uint32_t npy = ls_trace_py_frames(py, LS_MAX_STACK_DEPTH);
	return ls_stack_intern(pcs, depth, npy ? LS_STACK_PY : 0, py, npy);
}

/* libunwind sets itself up at its first unwind (about 0.2 ms here: its
 * caches, a pipe to check addresses with); one unwind thrown away, from
 * ls_trace_prepare, keeps that out of the program's first registration.
 * Not at load: the pipe would be two descriptors in every process from its
 * start, loop or not, and a daemon that closes what it inherited would
 * leave libunwind writing into whatever it opens next at those numbers. */
void ls_stack_warm(void)
{
	static int warm;
	if (!ls_opt.stacks || ls_disabled || __atomic_exchange_n(&warm, 1, __ATOMIC_RELAXED))
		return;
	void *raw[LS_MAX_STACK_DEPTH + 8];
	ls_lt.in_shim++;
	ls_backtrace(raw, (int)ls_opt.stack_depth + 8);
	ls_lt.in_shim--;
	ls_tables();
}

/* A stack given as its pcs (innermost first), de-duplicated. */
uint32_t ls_stack_intern_pcs(const uintptr_t *given, uint32_t depth)
{
	return ls_stack_intern_pcs_flags(given, depth, 0);
}

static const struct ls_stack_def *ls_site_stack_def(uint32_t site)
{
	if (site == 0 || site >= LS_MAX_IDS || __atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE) <= 0 ||
	    site > __atomic_load_n(&site_count, __ATOMIC_ACQUIRE))
		return NULL;
	const struct ls_site_def *sd = ls_site_def(site, 0);
	uint32_t stack = sd != NULL ? sd->stack : 0;
	if (stack == 0 || stack >= LS_MAX_IDS)
		return NULL;
	return ls_stack_def(stack, 0);
}

uint32_t ls_site_stack(uint32_t site)
{
	const struct ls_site_def *d = site != 0 ? ls_site_def(site, 0) : NULL;
	return d != NULL ? d->stack : 0;
}

uint32_t ls_site_stack_pcs(uint32_t site, uintptr_t *out, uint32_t max)
{
	const struct ls_stack_def *d = ls_site_stack_def(site);
	if (d == NULL)
		return 0;
	uint32_t n = d->depth < max ? d->depth : max;
	for (uint32_t k = 0; k < n; k++)
		out[k] = (uintptr_t)d->pcs[k];
	return n;
}

uint32_t ls_site_stack_py(uint32_t site, struct ls_py_frame *out, uint32_t max)
{
	const struct ls_stack_def *d = ls_site_stack_def(site);
	if (d == NULL || !(d->flags & LS_STACK_PY))
		return 0;
	uint32_t n = d->npy < max ? d->npy : max;
	memcpy(out, d->py, n * sizeof(*out));
	return n;
}

uint32_t ls_stack_intern_pcs_flags(const uintptr_t *given, uint32_t depth, uint32_t flags)
{
	if (depth > LS_MAX_STACK_DEPTH)
		depth = LS_MAX_STACK_DEPTH;
	uint64_t pcs[LS_MAX_STACK_DEPTH];
	for (uint32_t k = 0; k < depth; k++)
		pcs[k] = (uint64_t)given[k];
	return ls_stack_intern(pcs, depth, flags, NULL, 0);
}

uint32_t ls_stack_intern_pcs_py(const uintptr_t *given, uint32_t depth, uint32_t flags,
				const struct ls_py_frame *py, uint32_t npy)
{
	if (depth > LS_MAX_STACK_DEPTH)
		depth = LS_MAX_STACK_DEPTH;
	uint64_t pcs[LS_MAX_STACK_DEPTH];
	for (uint32_t k = 0; k < depth; k++)
		pcs[k] = (uint64_t)given[k];
	return ls_stack_intern(pcs, depth, npy != 0 ? flags | LS_STACK_PY : flags, py, npy);
}

/* Two stacks alike in their pcs but not in their Python frames (one C
 * call reached from two lines of Python) are two stacks. */
static uint64_t ls_stack_hash(const uint64_t *pcs, uint32_t depth, uint32_t flags,
			      const struct ls_py_frame *py, uint32_t npy)
{
	uint64_t h = XXH3_64bits(pcs, depth * 8u) + depth + ((uint64_t)flags << 32);
	if (npy != 0)
		h ^= XXH3_64bits_withSeed(py, npy * sizeof(*py), npy) * 0x9e3779b97f4a7c15ull;
	return h;
}

static uint32_t ls_stack_intern(const uint64_t *pcs, uint32_t depth, uint32_t flags,
				const struct ls_py_frame *py, uint32_t npy)
{
	if ((depth == 0 && npy == 0) || ls_disabled || !ls_tables())
		return 0;
	if (npy > LS_MAX_STACK_DEPTH)
		npy = LS_MAX_STACK_DEPTH;
	uint32_t fresh = 0;
	ls_slot *slot = NULL;
	uint32_t id = ls_intern(stack_slots, &stack_count,
				ls_stack_hash(pcs, depth, flags, py, npy), &fresh, &slot);
	if (fresh == 0)
		return id;
	struct ls_stack_def *d = ls_stack_def(fresh, 1);
	if (d == NULL)
		return 0;  /* the slot stays claimed with id 0: this stack is left out */
	d->depth = depth;
	d->flags = flags;
	memcpy(d->pcs, pcs, depth * 8u);
	d->npy = npy;
	if (npy != 0)
		memcpy(d->py, py, npy * sizeof(*py));
	/* Code objects a signal handler met are written with the first
	 * stack that names them (before it). */
	for (uint32_t k = 0; k < npy; k++)
		ls_pycode_need(py[k].code);
	ls_modules_cover((const uintptr_t *)pcs, depth);
	ls_emit_stack(fresh);
	ls_publish(slot, fresh);
	return fresh;
}

uint32_t ls_site_intern(uint32_t api, uint32_t stack, uintptr_t callback)
{
	if (ls_disabled || !ls_tables())
		return 0;
	struct ls_site_def key = { .api = api, .stack = stack, .callback = callback };
	uint32_t fresh = 0;
	ls_slot *slot = NULL;
	uint32_t id = ls_intern(site_slots, &site_count, XXH3_64bits(&key, sizeof(key)),
				&fresh, &slot);
	if (fresh == 0)
		return id;
	struct ls_site_def *d = ls_site_def(fresh, 1);
	if (d == NULL)
		return 0;
	*d = key;
	if (callback != 0 && !ls_api_is_python(api))  /* a Python site's is a PYCODE id */
		ls_modules_cover(&callback, 1);
	ls_emit_site(fresh);
	ls_publish(slot, fresh);
	return fresh;
}

void ls_stack_replay(void)
{
	if (__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE) <= 0)
		return;
	uint32_t n = __atomic_load_n(&stack_count, __ATOMIC_ACQUIRE);
	for (uint32_t id = 1; id <= n && id < LS_MAX_IDS; id++) {
		const struct ls_stack_def *d = ls_stack_def(id, 0);
		if (d != NULL && d->depth != 0)
			ls_emit_stack(id);
	}
	n = __atomic_load_n(&site_count, __ATOMIC_ACQUIRE);
	for (uint32_t id = 1; id <= n && id < LS_MAX_IDS; id++) {
		const struct ls_site_def *d = ls_site_def(id, 0);
		if (d != NULL && d->api != 0)
			ls_emit_site(id);
	}
}
