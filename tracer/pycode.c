/* Python code objects in the trace (PYCODE records).
 *
 * The py family interns code objects and hands each new one's bytes here
 * once. Its record is built in an arena that the tracer keeps, so that a
 * forked child's trace gets every code object again (ls_pycode_replay),
 * as it gets every stack: the child's stacks name the same ids, and the
 * code objects themselves may be gone by then. The arena is one mapping
 * of address space, touched as used, never freed: no lock, no malloc (a
 * capture may run inside the allocator's caller, or a signal handler). */
#include <string.h>
#include <sys/mman.h>

#include "tracer/trace.h"

#define LS_PYCODE_ARENA (64u << 20)   /* about 60000 code objects of 1 KiB */

static char *arena;
static int arena_state;               /* 0 not yet, 1 mapped, -1 unavailable */
static uint32_t arena_used;
static uint32_t rec_at[LS_MAX_IDS];   /* id -> arena offset + 1; 0: none */
/* id -> ls_gen + 1 of the trace its record went into; 0: none yet. A code
 * object kept by a signal handler (ls_pycode_keep) goes into the trace
 * with the first stack that names it (ls_pycode_need). */
static uint32_t emitted[LS_MAX_IDS];

static char *ls_pycode_arena(void)
{
	char *a = __atomic_load_n(&arena, __ATOMIC_ACQUIRE);
	if (LS_LIKELY(a != NULL) || __atomic_load_n(&arena_state, __ATOMIC_RELAXED) < 0)
		return a;
	void *p = mmap(NULL, LS_PYCODE_ARENA, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		__atomic_store_n(&arena_state, -1, __ATOMIC_RELAXED);
		return NULL;
	}
	char *expect = NULL;
	if (!__atomic_compare_exchange_n(&arena, &expect, (char *)p, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(p, LS_PYCODE_ARENA);
		return expect;
	}
	__atomic_store_n(&arena_state, 1, __ATOMIC_RELAXED);
	return p;
}

static void ls_pycode_emit(const struct ls_rec *copy)
{
	uint32_t gen = __atomic_load_n(&ls_gen, __ATOMIC_RELAXED) + 1;
	if (__atomic_exchange_n(&emitted[copy->arg], gen, __ATOMIC_ACQ_REL) == gen)
		return;  /* written already, by this thread or another */
	struct ls_rec *r = ls_rec_reserve(copy->size);
	if (r == NULL)
		return;
	memcpy(r, copy, copy->size);
	ls_rec_commit(copy->size);
}

static uint32_t ls_cut(uint32_t len, uint32_t max, uint16_t flag, uint16_t *flags)
{
	if (len <= max)
		return len;
	*flags |= flag;
	return max;
}

/* The record of code object `id` into the arena: no system call but the
 * arena's first mmap, no lock (ls_pycode_keep runs in signal handlers). */
static const struct ls_rec *ls_pycode_store(uint32_t id, const struct ls_rec_pycode *h,
					    const char *file, const char *name,
					    const uint8_t *lines)
{
	if (id == 0 || id >= LS_MAX_IDS || ls_disabled)
		return NULL;
	struct ls_rec_pycode p = *h;
	p.file_len = (uint16_t)ls_cut(h->file_len, LS_PYCODE_FILE_MAX, LS_PYCODE_CUT_FILE, &p.flags);
	p.name_len = (uint16_t)ls_cut(h->name_len, LS_PYCODE_NAME_MAX, LS_PYCODE_CUT_NAME, &p.flags);
	p.lines_len = ls_cut(h->lines_len, LS_PYCODE_LINES_MAX, LS_PYCODE_CUT_LINES, &p.flags);
	uint32_t body = (uint32_t)sizeof(p) + p.file_len + p.name_len + p.lines_len;
	uint32_t size = ((uint32_t)sizeof(struct ls_rec) + body + 7u) & ~7u;
	char *a = ls_pycode_arena();
	if (a == NULL)
		return NULL;
	uint32_t off = __atomic_fetch_add(&arena_used, size, __ATOMIC_RELAXED);
	if (off > LS_PYCODE_ARENA - size)
		return NULL;
	struct ls_rec *r = (struct ls_rec *)(a + off);   /* zero: a fresh mapping */
	r->type = LS_REC_PYCODE;
	r->size = (uint16_t)size;
	r->arg = id;
	char *q = (char *)(r + 1);
	memcpy(q, &p, sizeof(p));
	q += sizeof(p);
	if (p.file_len != 0)
		memcpy(q, file, p.file_len);
	q += p.file_len;
	if (p.name_len != 0)
		memcpy(q, name, p.name_len);
	q += p.name_len;
	if (p.lines_len != 0)
		memcpy(q, lines, p.lines_len);
	__atomic_store_n(&rec_at[id], off + 1, __ATOMIC_RELEASE);
	return r;
}

void ls_pycode_write(uint32_t id, const struct ls_rec_pycode *h, const char *file,
		     const char *name, const uint8_t *lines)
{
	const struct ls_rec *r = ls_pycode_store(id, h, file, name, lines);
	if (r != NULL)
		ls_pycode_emit(r);
	else if (id != 0 && id < LS_MAX_IDS && !ls_disabled &&
		 __atomic_load_n(&arena, __ATOMIC_ACQUIRE) != NULL)
		ls_trace_say_once("loopsan: too many Python code objects; "
				  "later Python frames are left unnamed\n");
}

void ls_pycode_keep(uint32_t id, const struct ls_rec_pycode *h, const char *file,
		    const char *name, const uint8_t *lines)
{
	ls_pycode_store(id, h, file, name, lines);
}

void ls_pycode_need(uint32_t id)
{
	if (id == 0 || id >= LS_MAX_IDS)
		return;
	uint32_t gen = __atomic_load_n(&ls_gen, __ATOMIC_RELAXED) + 1;
	uint32_t at = __atomic_load_n(&rec_at[id], __ATOMIC_ACQUIRE);
	char *a = __atomic_load_n(&arena, __ATOMIC_ACQUIRE);
	if (at != 0 && a != NULL && __atomic_load_n(&emitted[id], __ATOMIC_RELAXED) != gen)
		ls_pycode_emit((const struct ls_rec *)(a + at - 1));
}

void ls_pycode_replay(void)
{
	char *a = __atomic_load_n(&arena, __ATOMIC_ACQUIRE);
	if (a == NULL)
		return;
	for (uint32_t id = 1; id < LS_MAX_IDS; id++) {
		uint32_t at = __atomic_load_n(&rec_at[id], __ATOMIC_ACQUIRE);
		if (at != 0)
			ls_pycode_emit((const struct ls_rec *)(a + at - 1));
	}
}
