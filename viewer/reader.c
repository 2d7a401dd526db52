/* Reads a trace file into the in-memory model of reader.h.
 *
 * The file is hostile: it may be empty, foreign, cut anywhere (the traced
 * process was killed), or corrupt. Every length is checked before use and
 * payloads are copied out with memcpy, never cast in place. Records of
 * unknown types are skipped by their size so that newer shims that add
 * records stay readable. */
#include "viewer/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_HDR ((uint32_t)sizeof(struct ls_chunk_header))
#define REC_HDR ((uint32_t)sizeof(struct ls_rec))

/* One thread's run of records in a chunk: the whole chunk, or, in a chunk
 * passed on from thread to thread, one owner's part of it. */
struct chunk_ref {
	uint32_t magic, tid, seq;
	uint64_t ticks, mono_ns; /* the run's clock pair: its time base */
	uint32_t start; /* where the run starts, in bytes after the chunk header */
	uint32_t used;  /* where it ends: bytes of records present (clamped when cut) */
	int cut;        /* the file ends inside this run */
	size_t index;   /* position in the file */
	size_t off;     /* file offset of the chunk header */
};

/* A thread name seen in the stream. Of the names THREAD and THREAD_NAME
 * records give, the latest (by ticks, then in stream order) wins; LOOP_RUN
 * names are used only for threads that have none. */
struct name_event {
	uint32_t tid;
	int from_thread_rec; /* THREAD or THREAD_NAME */
	uint64_t ticks;      /* when the name was read or given; 0: unknown */
	size_t ord;
	char name[LS_THREAD_NAME_MAX + 1];
};

struct reader {
	const uint8_t *buf;      /* the mapped file, owned by the trace */
	size_t len;
	struct ls_trace *t;
	struct ls_vec chunks;
	struct ls_vec names;
	uint32_t cur_tid;   /* the thread whose chunks are being walked */
	uint64_t base;      /* the time base of CALLBACK16 records (ticks) */
	uint64_t pair_ticks, pair_ns; /* the latest (ticks, ns) clock pair seen */
	uint64_t keep_ticks; /* keep callbacks at least this long (a generous guess) */
	double keep_ns;      /* ... and, once the rate is known, this long */
	int progress;        /* report progress on stderr */
	size_t done, next_note;
	int cur_has_close;  /* it has had a LOOP_CLOSE so far */
	size_t last_close_of_tid_index;
	char *err;
	size_t errlen;
};

static int fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copies a possibly unterminated fixed-size field into dst[n + 1]. */
static void copy_cstr(char *dst, const char *src, size_t n)
{
	size_t len = strnlen(src, n);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* The string of at most n bytes at src, NUL-terminated, in new memory. */
static char *dup_cstr(const char *src, size_t n)
{
	char *d = ls_xmalloc(n + 1);
	copy_cstr(d, src, n);
	return d;
}

static int check_header(struct reader *r, struct ls_file_header *h)
{
	if (r->len == 0)
		return fail(r, "empty file, not a loopsan trace");
	if (r->len < sizeof(h->magic) || memcmp(r->buf, LS_FILE_MAGIC, 8) != 0)
		return fail(r, "not a loopsan trace (bad magic)");
	if (r->len < LS_HEADER_SIZE)
		return fail(r, "truncated trace header (%zu of %u bytes)", r->len,
			    LS_HEADER_SIZE);
	memcpy(h, r->buf, sizeof(*h));
	if (h->version > LS_FORMAT_VERSION && LS_FORMAT_VERSION == 1)
		return fail(r, "unsupported trace version %u (a newer loopsan wrote it; this "
			    "one reads trace version 1)", h->version);
	if (h->version > LS_FORMAT_VERSION)
		return fail(r, "unsupported trace version %u (a newer loopsan wrote it; this "
			    "one reads trace versions 1 to %u)", h->version, LS_FORMAT_VERSION);
	if (h->version == 0)
		return fail(r, "corrupt trace (version 0)");
	if (h->header_size != LS_HEADER_SIZE)
		return fail(r, "corrupt trace (header size %u)", h->header_size);
	if (h->chunk_size < LS_CHUNK_SIZE_MIN || h->chunk_size > LS_CHUNK_SIZE_MAX ||
	    h->chunk_size % 4096 != 0)
		return fail(r, "corrupt trace (chunk size %u)", h->chunk_size);
	if (h->state != LS_STATE_RUNNING && h->state != LS_STATE_EXITED)
		return fail(r, "corrupt trace (state %u)", h->state);
	/* A kernel pid fits 22 bits; reports print it as a JSON integer. */
	if (h->pid == 0 || h->pid > INT32_MAX || h->ppid > INT32_MAX)
		return fail(r, "corrupt trace (pid %" PRIu64 ")", h->pid);
	return 0;
}

static void take_header(struct ls_trace *t, const struct ls_file_header *h)
{
	t->pid = h->pid;
	t->ppid = h->ppid;
	t->mode = h->mode;
	t->slow_callback_ms = h->slow_callback_ms;
	t->slow_selector_ms = h->slow_selector_ms;
	t->stack_depth = h->stack_depth;
	t->dropped = h->dropped;
	t->notes = h->notes;
	t->exited = h->state == LS_STATE_EXITED;
	copy_cstr(t->session, h->session, sizeof(h->session));
	copy_cstr(t->exe, h->exe, sizeof(h->exe));
}

/* Clock pairs: the latest one, with the header's start pair, gives the
 * tick rate over the longest span. */
static void note_pair(struct reader *r, uint64_t ticks, uint64_t ns)
{
	if (ns > r->pair_ns) {
		r->pair_ns = ns;
		r->pair_ticks = ticks;
	}
}

#define THREAD_EXT_SIZE \
	(REC_HDR + (uint32_t)(sizeof(struct ls_rec_thread) + sizeof(struct ls_rec_thread_ext)))

/* The THREAD record at `at` of chunk c, with the fields that link owners
 * (ls_rec_thread_ext); 0 when there is none whole below c->used. */
static int thread_ext_at(const struct reader *r, const struct chunk_ref *c, uint32_t at,
			 struct ls_rec *rec, struct ls_rec_thread_ext *ext)
{
	if (at > c->used || c->used - at < THREAD_EXT_SIZE)
		return 0;
	const uint8_t *p = r->buf + c->off + CHUNK_HDR + at;
	memcpy(rec, p, REC_HDR);
	if (rec->type != LS_REC_THREAD || rec->size < THREAD_EXT_SIZE ||
	    rec->size > c->used - at)
		return 0;
	memcpy(ext, p + REC_HDR + sizeof(struct ls_rec_thread), sizeof(*ext));
	return 1;
}

/* A record chunk whose owner exited passed to another thread, which wrote
 * its records after a THREAD record of its own, linked from the one before
 * (format.h, ls_rec_thread_ext). Splits the last chunk_ref into one run per
 * owner. A link at or past `used` is not published yet. */
static int split_owners(struct reader *r, size_t k)
{
	struct ls_rec rec;
	struct ls_rec_thread_ext ext, nx;
	uint32_t at = 0;
	while (thread_ext_at(r, LS_VEC_AT(&r->chunks, struct chunk_ref, k), at, &rec, &ext) &&
	       ext.next != 0) {
		struct chunk_ref *c = LS_VEC_AT(&r->chunks, struct chunk_ref, k);
		if (ext.next >= c->used)
			return 0;
		if (ext.next % 8 != 0 || ext.next < at + THREAD_EXT_SIZE)
			return fail(r, "corrupt trace (chunk %zu: owner link %u at %u)", c->index,
				    ext.next, at);
		if (!thread_ext_at(r, c, ext.next, &rec, &nx)) {
			if (c->cut)
				return 0; /* cut inside the next owner's THREAD record */
			return fail(r, "corrupt trace (chunk %zu: owner link %u is not a THREAD record)",
				    c->index, ext.next);
		}
		struct chunk_ref next = *c;
		c->used = ext.next;
		c->cut = 0;
		next.tid = rec.arg;
		next.seq = nx.seq;
		next.ticks = nx.ticks;
		next.mono_ns = nx.mono_ns;
		next.start = ext.next;
		note_pair(r, nx.ticks, nx.mono_ns);
		*(struct chunk_ref *)ls_vec_push(&r->chunks) = next;
		k = r->chunks.len - 1;
		at = ext.next;
	}
	return 0;
}

static int add_chunk(struct reader *r, size_t i, size_t off, size_t avail,
		     uint32_t chunk_size)
{
	struct ls_chunk_header ch;
	if (avail < CHUNK_HDR)
		return 0;
	memcpy(&ch, r->buf + off, CHUNK_HDR);
	if (ch.magic == 0)
		return 0;
	if (ch.magic != LS_CHUNK_MAGIC && ch.magic != LS_STATS_MAGIC)
		return fail(r, "corrupt trace (chunk %zu: bad magic 0x%08x)", i,
			    ch.magic);
	if (ch.used > chunk_size - CHUNK_HDR)
		return fail(r, "corrupt trace (chunk %zu: used %u > %u)", i,
			    ch.used, chunk_size - CHUNK_HDR);
	if (ch.magic == LS_STATS_MAGIC && ch.used % sizeof(struct ls_site_stats) != 0)
		return fail(r, "corrupt trace (chunk %zu: stats size %u)", i, ch.used);
	note_pair(r, ch.ticks, ch.mono_ns);
	struct chunk_ref *c = ls_vec_push(&r->chunks);
	c->magic = ch.magic;
	c->ticks = ch.ticks;
	c->mono_ns = ch.mono_ns;
	c->tid = ch.tid;
	c->seq = ch.seq;
	c->index = i;
	c->off = off;
	c->used = ch.used;
	if (avail < (size_t)CHUNK_HDR + ch.used) {
		c->used = (uint32_t)(avail - CHUNK_HDR);
		c->cut = 1;
	}
	if (ch.magic == LS_CHUNK_MAGIC)
		return split_owners(r, r->chunks.len - 1);
	return 0;
}

static int collect_chunks(struct reader *r, uint32_t chunk_size)
{
	size_t body = r->len - LS_HEADER_SIZE;
	size_t whole = body / chunk_size;
	size_t rest = body % chunk_size;
	for (size_t i = 0; i < whole; i++) {
		size_t off = LS_HEADER_SIZE + i * (size_t)chunk_size;
		if (add_chunk(r, i, off, chunk_size, chunk_size))
			return -1;
		/* Reading a header faults in its neighbours too: let them go. */
		if (i % 64 == 63)
			madvise((void *)(r->buf + off - 63 * (size_t)chunk_size),
				64 * (size_t)chunk_size, MADV_DONTNEED);
	}
	if (rest == 0)
		return 0;
	r->t->cut_bytes = chunk_size - rest;
	return add_chunk(r, whole, LS_HEADER_SIZE + whole * (size_t)chunk_size,
			 rest, chunk_size);
}

static int chunk_order(const void *a, const void *b)
{
	const struct chunk_ref *x = a, *y = b;
	if (x->magic != y->magic)
		return x->magic < y->magic ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int take_thread(struct reader *r, const struct ls_rec *rec,
		       const uint8_t *p, size_t n)
{
	struct ls_rec_thread th;
	if (n < sizeof(th))
		return fail(r, "corrupt trace (THREAD record too short)");
	memcpy(&th, p, sizeof(th));
	struct name_event *e = ls_vec_push(&r->names);
	e->tid = rec->arg;
	e->from_thread_rec = 1;
	e->ord = r->names.len;
	copy_cstr(e->name, th.name, sizeof(th.name));
	if (n >= sizeof(th) + sizeof(struct ls_rec_thread_ext)) {
		struct ls_rec_thread_ext ext;
		memcpy(&ext, p + sizeof(th), sizeof(ext));
		e->ticks = ext.ticks;
	}
	return 0;
}

static int take_thread_name(struct reader *r, const struct ls_rec *rec,
			    const uint8_t *p, size_t n)
{
	struct ls_rec_thread_name tn;
	if (n < sizeof(tn))
		return fail(r, "corrupt trace (THREAD_NAME record too short)");
	memcpy(&tn, p, sizeof(tn));
	struct name_event *e = ls_vec_push(&r->names);
	e->tid = rec->arg;
	e->from_thread_rec = 1;
	e->ticks = tn.ticks;
	e->ord = r->names.len;
	copy_cstr(e->name, tn.name, sizeof(tn.name));
	return 0;
}

static int take_module(struct reader *r, const struct ls_rec *rec,
		       const uint8_t *p, size_t n)
{
	struct ls_rec_module m;
	if (n < sizeof(m))
		return fail(r, "corrupt trace (MODULE record too short)");
	memcpy(&m, p, sizeof(m));
	if (m.path_len > n - sizeof(m))
		return fail(r, "corrupt trace (MODULE path length %u)", m.path_len);
	if (m.build_id_len > LS_BUILD_ID_MAX)
		return fail(r, "corrupt trace (MODULE build-id length %u)",
			    m.build_id_len);
	struct ls_module *mod = ls_vec_push(&r->t->modules);
	mod->id = rec->arg;
	mod->bias = m.bias;
	mod->lo = m.lo;
	mod->hi = m.hi;
	mod->build_id_len = m.build_id_len;
	memcpy(mod->build_id, m.build_id, m.build_id_len);
	mod->path = dup_cstr((const char *)p + sizeof(m), m.path_len);
	return 0;
}

/* The Python frames after a stack's pcs: as many as the payload holds. */
static int take_py_frames(struct reader *r, struct ls_stack *st, const uint8_t *p, size_t n)
{
	struct ls_py_frames h;
	if (n < sizeof(h))
		return fail(r, "corrupt trace (STACK %u: no Python frames)", st->id);
	memcpy(&h, p, sizeof(h));
	if (h.n > LS_MAX_STACK_DEPTH || h.n * sizeof(struct ls_py_frame) > n - sizeof(h))
		return fail(r, "corrupt trace (STACK %u: %u Python frames)", st->id, h.n);
	st->npy = h.n;
	st->py = ls_xcalloc(h.n + 1u, sizeof(struct ls_py_frame));
	memcpy(st->py, p + sizeof(h), h.n * sizeof(struct ls_py_frame));
	return 0;
}

static int take_stack(struct reader *r, const struct ls_rec *rec,
		      const uint8_t *p, size_t n)
{
	struct ls_rec_stack s;
	if (n < sizeof(s))
		return fail(r, "corrupt trace (STACK record too short)");
	memcpy(&s, p, sizeof(s));
	if (s.depth > LS_MAX_STACK_DEPTH || s.depth * 8u > n - sizeof(s))
		return fail(r, "corrupt trace (STACK depth %u)", s.depth);
	struct ls_stack *st = ls_vec_push(&r->t->stacks);
	st->id = rec->arg;
	st->flags = s.flags;
	st->depth = s.depth;
	st->pcs = ls_xcalloc(s.depth, sizeof(uint64_t));
	memcpy(st->pcs, p + sizeof(s), s.depth * sizeof(uint64_t));
	if (s.flags & LS_STACK_PY)
		return take_py_frames(r, st, p + sizeof(s) + s.depth * 8u,
				      n - sizeof(s) - s.depth * 8u);
	return 0;
}

static int take_pycode(struct reader *r, const struct ls_rec *rec,
		       const uint8_t *p, size_t n)
{
	struct ls_rec_pycode c;
	if (n < sizeof(c))
		return fail(r, "corrupt trace (PYCODE record too short)");
	memcpy(&c, p, sizeof(c));
	size_t body = (size_t)c.file_len + c.name_len + c.lines_len;
	if (c.file_len > LS_PYCODE_FILE_MAX || c.name_len > LS_PYCODE_NAME_MAX ||
	    c.lines_len > LS_PYCODE_LINES_MAX || body > n - sizeof(c))
		return fail(r, "corrupt trace (PYCODE lengths %u, %u, %u)", c.file_len,
			    c.name_len, c.lines_len);
	struct ls_pycode *pc = ls_vec_push(&r->t->pycodes);
	const char *q = (const char *)p + sizeof(c);
	pc->id = rec->arg;
	pc->firstlineno = c.firstlineno;
	pc->version = c.version;
	pc->flags = c.flags;
	pc->file = dup_cstr(q, c.file_len);
	pc->name = dup_cstr(q + c.file_len, c.name_len);
	pc->lines_len = c.lines_len;
	pc->lines = ls_xcalloc(c.lines_len + 1u, 1);
	memcpy(pc->lines, q + c.file_len + c.name_len, c.lines_len);
	return 0;
}

static int take_site(struct reader *r, const struct ls_rec *rec,
		     const uint8_t *p, size_t n)
{
	struct ls_rec_site s;
	if (n < sizeof(s))
		return fail(r, "corrupt trace (SITE record too short)");
	memcpy(&s, p, sizeof(s));
	struct ls_site *site = ls_vec_push(&r->t->sites);
	site->id = rec->arg;
	site->api = s.api;
	site->stack = s.stack;
	site->callback = s.callback;
	return 0;
}

/* Callbacks are kept in ticks until the tick rate is known. */
static void push_callback(struct reader *r, uint32_t site, uint64_t begin, uint64_t dur,
			  int slow)
{
	r->base = begin + dur;
	if (dur < r->keep_ticks && !slow)
		return;
	struct ls_callback *c = ls_vec_push(&r->t->callbacks);
	c->tid = r->cur_tid;
	c->site = site;
	c->begin_ticks = begin;
	c->dur_ticks = dur;
	c->slow = slow;
}

static int take_callback(struct reader *r, const struct ls_rec *rec,
			 const uint8_t *p, size_t n)
{
	struct ls_rec_callback cb;
	if (n < sizeof(cb))
		return fail(r, "corrupt trace (CALLBACK record too short)");
	memcpy(&cb, p, sizeof(cb));
	push_callback(r, rec->arg, cb.begin_ticks, cb.dur_ticks, 0);
	return 0;
}

static int take_callback16(struct reader *r, const struct ls_rec *rec,
			   const uint8_t *p, size_t n)
{
	struct ls_rec_callback16 cb;
	if (n < sizeof(cb))
		return fail(r, "corrupt trace (CALLBACK16 record too short)");
	memcpy(&cb, p, sizeof(cb));
	uint64_t end = r->base + (uint64_t)(int64_t)cb.end_delta;
	push_callback(r, rec->arg, end - cb.dur_ticks, cb.dur_ticks, 0);
	return 0;
}

static int take_slow(struct reader *r, const struct ls_rec *rec, const uint8_t *p, size_t n)
{
	struct ls_rec_slow sl;
	if (n < sizeof(sl))
		return fail(r, "corrupt trace (SLOW record too short)");
	memcpy(&sl, p, sizeof(sl));
	push_callback(r, rec->arg, sl.begin_ticks, sl.dur_ticks, 1);
	note_pair(r, sl.begin_ticks + sl.dur_ticks, sl.end_mono_ns);
	return 0;
}

static int take_loop_run(struct reader *r, const struct ls_rec *rec,
			 const uint8_t *p, size_t n)
{
	struct ls_rec_loop_run lr;
	if (n < sizeof(lr))
		return fail(r, "corrupt trace (LOOP_RUN record too short)");
	memcpy(&lr, p, sizeof(lr));
	struct ls_loop_run *run = ls_vec_push(&r->t->loop_runs);
	run->tid = rec->arg;
	run->api = lr.api;
	run->loop = lr.loop;
	struct name_event *e = ls_vec_push(&r->names);
	e->tid = rec->arg;
	e->ord = r->names.len;
	copy_cstr(e->name, lr.name, sizeof(lr.name));
	if (e->name[0] == '\0')
		r->names.len--; /* nothing to learn from it */
	return 0;
}

static int take_loop_close(struct reader *r, const uint8_t *p, size_t n)
{
	struct ls_rec_loop_close lc;
	if (n < sizeof(lc))
		return fail(r, "corrupt trace (LOOP_CLOSE record too short)");
	memcpy(&lc, p, sizeof(lc));
	struct ls_loop_close *c = ls_vec_push(&r->t->closes);
	c->tid = r->cur_tid;
	c->result = lc.result;
	c->api = lc.api;
	c->loop = lc.loop;
	c->time_ns = lc.time_ns;
	r->cur_has_close = 1;
	r->last_close_of_tid_index = r->t->closes.len - 1;
	return 0;
}

static int take_open_handle(struct reader *r, const uint8_t *p, size_t n)
{
	struct ls_rec_open_handle oh;
	if (n < sizeof(oh))
		return fail(r, "corrupt trace (OPEN_HANDLE record too short)");
	memcpy(&oh, p, sizeof(oh));
	struct ls_open_handle *h = ls_vec_push(&r->t->open_handles);
	h->tid = r->cur_tid;
	h->loop = oh.loop;
	h->handle = oh.handle;
	h->handle_type = oh.handle_type;
	h->flags = oh.flags;
	h->init_site = oh.init_site;
	h->site = oh.site;
	h->close_index = r->cur_has_close && !(oh.flags & LS_HANDLE_AT_EXIT)
				 ? r->last_close_of_tid_index : SIZE_MAX;
	copy_cstr(h->type_name, oh.type_name, sizeof(oh.type_name));
	return 0;
}

static int take_dropped_error(struct reader *r, const struct ls_rec *rec,
			      const uint8_t *p, size_t n)
{
	struct ls_rec_dropped_error de;
	if (n < sizeof(de))
		return fail(r, "corrupt trace (DROPPED_ERROR record too short)");
	memcpy(&de, p, sizeof(de));
	struct ls_dropped *d = ls_vec_push(&r->t->dropped_errors);
	d->tid = r->cur_tid;
	d->site = rec->arg;
	d->api = de.api;
	d->error = de.error;
	d->time_ns = de.time_ns;
	copy_cstr(d->name, de.name, sizeof(de.name));
	return 0;
}

static int take_wrong_thread(struct reader *r, const struct ls_rec *rec,
			     const uint8_t *p, size_t n)
{
	struct ls_rec_wrong_thread wt;
	if (n < sizeof(wt))
		return fail(r, "corrupt trace (WRONG_THREAD record too short)");
	memcpy(&wt, p, sizeof(wt));
	struct ls_wrong_thread *w = ls_vec_push(&r->t->wrong_threads);
	w->tid = r->cur_tid;
	w->stack = rec->arg;
	w->api = wt.api;
	w->loop_tid = wt.loop_tid;
	w->loop = wt.loop;
	w->handle = wt.handle;
	w->time_ns = wt.time_ns;
	return 0;
}

static int take_lost_wakeup(struct reader *r, const struct ls_rec *rec,
			    const uint8_t *p, size_t n)
{
	struct ls_rec_lost_wakeup lw;
	if (n < sizeof(lw))
		return fail(r, "corrupt trace (LOST_WAKEUP record too short)");
	memcpy(&lw, p, sizeof(lw));
	struct ls_lost *l = ls_vec_push(&r->t->lost_wakeups);
	l->tid = r->cur_tid;
	l->init_site = rec->arg;
	l->lost = lw.lost;
	l->when = lw.when;
	l->send_stack = lw.send_stack;
	l->handle = lw.handle;
	return 0;
}

static int take_misuse(struct reader *r, const struct ls_rec *rec, const uint8_t *p, size_t n)
{
	struct ls_rec_misuse mu;
	if (n < sizeof(mu))
		return fail(r, "corrupt trace (MISUSE record too short)");
	memcpy(&mu, p, sizeof(mu));
	struct ls_misuse_rec *m = ls_vec_push(&r->t->misuses);
	m->tid = r->cur_tid;
	m->stack = rec->arg;
	m->api = mu.api;
	m->what = mu.what;
	m->init_site = mu.init_site;
	m->handle = mu.handle;
	return 0;
}

static int take_selector_late(struct reader *r, const struct ls_rec *rec,
			      const uint8_t *p, size_t n)
{
	struct ls_rec_selector_late sl;
	if (n < sizeof(sl))
		return fail(r, "corrupt trace (SELECTOR_LATE record too short)");
	memcpy(&sl, p, sizeof(sl));
	struct ls_selector_late *l = ls_vec_push(&r->t->selector_lates);
	l->tid = r->cur_tid;
	l->site = rec->arg;
	l->api = sl.api;
	l->result = sl.result;
	l->timeout_ns = sl.timeout_ns < -1 ? -1 : sl.timeout_ns;
	l->dur_ticks = sl.dur_ticks;
	note_pair(r, sl.begin_ticks + sl.dur_ticks, sl.end_mono_ns);
	return 0;
}

static int take_blocking(struct reader *r, const struct ls_rec *rec, const uint8_t *p,
			 size_t n)
{
	struct ls_rec_blocking bl;
	if (n < sizeof(bl))
		return fail(r, "corrupt trace (BLOCKING record too short)");
	memcpy(&bl, p, sizeof(bl));
	struct ls_blocking *b = ls_vec_push(&r->t->blockings);
	b->tid = r->cur_tid;
	b->site = rec->arg;
	b->api = bl.api;
	b->in_site = bl.in_site;
	b->dur_ticks = bl.dur_ticks;
	note_pair(r, bl.begin_ticks + bl.dur_ticks, bl.end_mono_ns);
	return 0;
}

static int take_stuck(struct reader *r, const struct ls_rec *rec, const uint8_t *p, size_t n)
{
	struct ls_rec_stuck st;
	if (n < sizeof(st))
		return fail(r, "corrupt trace (STUCK record too short)");
	memcpy(&st, p, sizeof(st));
	struct ls_stuck *s = ls_vec_push(&r->t->stucks);
	s->tid = st.tid;
	s->site = st.site;
	s->stack = rec->arg;
	s->how = st.how;
	s->syscall_nr = st.syscall_nr;
	s->begin_ticks = st.begin_ticks;
	return 0;
}

static int take_crash(struct reader *r, const struct ls_rec *rec, const uint8_t *p, size_t n)
{
	struct ls_rec_crash cr = { 0 };
	if (n < LS_REC_CRASH_V1_SIZE)
		return fail(r, "corrupt trace (CRASH record too short)");
	memcpy(&cr, p, n < sizeof(cr) ? LS_REC_CRASH_V1_SIZE : sizeof(cr));
	struct ls_crash *c = ls_vec_push(&r->t->crashes);
	c->tid = r->cur_tid;
	c->site = rec->arg;
	c->signo = cr.signo;
	c->code = cr.code;
	c->addr = cr.addr;
	c->crashed_at = cr.crashed_at;
	return 0;
}

/* The lengths are the writer's, so both strings must lie within the
 * record; an event this reader does not know (a newer shim's) is skipped
 * like an unknown record. Stack ids are resolved later, as any record's. */
static int take_py_event(struct reader *r, const struct ls_rec *rec, const uint8_t *p, size_t n)
{
	struct ls_rec_py_event ev;
	if (n < sizeof(ev))
		return fail(r, "corrupt trace (PY_EVENT record too short)");
	memcpy(&ev, p, sizeof(ev));
	if (ev.name_len > LS_PY_EVENT_TEXT_MAX || ev.text_len > LS_PY_EVENT_TEXT_MAX ||
	    (size_t)ev.name_len + ev.text_len > n - sizeof(ev))
		return fail(r, "corrupt trace (PY_EVENT lengths %u, %u)", ev.name_len, ev.text_len);
	if (ev.what < LS_PY_NEVER_AWAITED || ev.what > LS_PY_WRONG_THREAD)
		return 0;
	const char *q = (const char *)p + sizeof(ev);
	struct ls_pyevent *e = ls_vec_push(&r->t->py_events);
	e->tid = r->cur_tid;
	e->what = ev.what;
	e->stack = rec->arg;
	e->made_at = ev.made_at;
	e->raised_at = ev.raised_at;
	e->loop_tid = ev.loop_tid;
	e->api = ev.api;
	e->time_ns = ev.time_ns;
	e->name = dup_cstr(q, ev.name_len);
	e->text = dup_cstr(q + ev.name_len, ev.text_len);
	return 0;
}

static int take_record(struct reader *r, const struct ls_rec *rec,
		       const uint8_t *p, size_t n)
{
	switch (rec->type) {
	case LS_REC_THREAD: return take_thread(r, rec, p, n);
	case LS_REC_THREAD_NAME: return take_thread_name(r, rec, p, n);
	case LS_REC_MODULE: return take_module(r, rec, p, n);
	case LS_REC_STACK: return take_stack(r, rec, p, n);
	case LS_REC_PYCODE: return take_pycode(r, rec, p, n);
	case LS_REC_SITE: return take_site(r, rec, p, n);
	case LS_REC_CALLBACK: return take_callback(r, rec, p, n);
	case LS_REC_CALLBACK16: return take_callback16(r, rec, p, n);
	case LS_REC_SLOW: return take_slow(r, rec, p, n);
	case LS_REC_DROPPED_ERROR: return take_dropped_error(r, rec, p, n);
	case LS_REC_WRONG_THREAD: return take_wrong_thread(r, rec, p, n);
	case LS_REC_LOST_WAKEUP: return take_lost_wakeup(r, rec, p, n);
	case LS_REC_MISUSE: return take_misuse(r, rec, p, n);
	case LS_REC_CRASH: return take_crash(r, rec, p, n);
	case LS_REC_SELECTOR_LATE: return take_selector_late(r, rec, p, n);
	case LS_REC_BLOCKING: return take_blocking(r, rec, p, n);
	case LS_REC_STUCK: return take_stuck(r, rec, p, n);
	case LS_REC_PY_EVENT: return take_py_event(r, rec, p, n);
	case LS_REC_LOOP_RUN: return take_loop_run(r, rec, p, n);
	case LS_REC_LOOP_CLOSE: return take_loop_close(r, p, n);
	case LS_REC_OPEN_HANDLE: return take_open_handle(r, p, n);
	}
	return 0; /* a newer record type: skipped by its size */
}

static void walk_stats(struct reader *r, const struct chunk_ref *c)
{
	const uint8_t *p = r->buf + c->off + CHUNK_HDR;
	for (size_t pos = 0; c->used - pos >= sizeof(struct ls_site_stats);
	     pos += sizeof(struct ls_site_stats)) {
		struct ls_site_stats st;
		memcpy(&st, p + pos, sizeof(st));
		if (st.site == 0)
			continue;
		struct ls_stat *o = ls_vec_push(&r->t->stats);
		o->tid = c->tid;
		o->site = st.site;
		o->threads = st.threads ? st.threads : 1;
		o->count = st.count;
		o->total_ns = (double)st.total_ticks;
		o->max_ns = (double)st.max_ticks;
		memcpy(o->hist, st.hist, sizeof(o->hist));
	}
}

static int walk_chunk(struct reader *r, const struct chunk_ref *c)
{
	const uint8_t *p = r->buf + c->off + CHUNK_HDR;
	size_t pos = c->start;
	if (c->magic == LS_STATS_MAGIC) {
		walk_stats(r, c);
		return 0;
	}
	r->base = c->ticks;
	while (c->used - pos >= REC_HDR) {
		struct ls_rec rec;
		memcpy(&rec, p + pos, REC_HDR);
		if (rec.size < REC_HDR || rec.size % 8 != 0)
			return fail(r, "corrupt trace (chunk %zu: record size %u at %zu)",
				    c->index, rec.size, pos);
		if (rec.size > c->used - pos) {
			if (c->cut)
				return 0; /* the rest was cut off */
			return fail(r, "corrupt trace (chunk %zu: record at %zu overruns used %u)",
				    c->index, pos, c->used);
		}
		if (take_record(r, &rec, p + pos + REC_HDR, rec.size - REC_HDR))
			return -1;
		pos += rec.size;
	}
	if (pos != c->used && !c->cut)
		return fail(r, "corrupt trace (chunk %zu: used %u is not a whole number of records)",
			    c->index, c->used);
	return 0;
}

/* Drops a walked chunk's pages from this process (they stay in the page
 * cache): memory stays flat however long the trace. */
static void release_chunk(const uint8_t *map, const struct chunk_ref *c)
{
	size_t from = (CHUNK_HDR + (size_t)c->start) & ~(size_t)4095;
	size_t len = CHUNK_HDR + (size_t)c->used - from;
	madvise((void *)(map + c->off + from), len, MADV_DONTNEED);
}

/* A line on stderr, rewritten every 5 %, while a large trace is read. */
static void note_progress(struct reader *r, size_t bytes)
{
	if (!r->progress)
		return;
	r->done += bytes;
	size_t step = r->len / 20;
	if (r->done < r->next_note || step == 0)
		return;
	fprintf(stderr, "\rloopsan: reading %s: %3zu%%", r->t->path,
		(size_t)(100.0 * (double)r->done / (double)r->len));
	fflush(stderr);
	r->next_note = r->done + step;
}

static int walk_chunks(struct reader *r)
{
	struct chunk_ref *cs = r->chunks.items;
	if (r->chunks.len > 1)
		qsort(cs, r->chunks.len, sizeof(*cs), chunk_order);
	for (size_t i = 0; i < r->chunks.len; i++) {
		if (i == 0 || cs[i].tid != cs[i - 1].tid) {
			r->cur_tid = cs[i].tid;
			r->cur_has_close = 0;
		}
		if (walk_chunk(r, &cs[i]))
			return -1;
		release_chunk(r->buf, &cs[i]);
		note_progress(r, cs[i].used - cs[i].start);
	}
	if (r->progress && r->next_note > 0)
		fprintf(stderr, "\rloopsan: reading %s: done%-10s\n", r->t->path, "");
	return 0;
}

static int name_order(const void *a, const void *b)
{
	const struct name_event *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->from_thread_rec != y->from_thread_rec)
		return x->from_thread_rec - y->from_thread_rec;
	if (x->from_thread_rec && x->ticks != y->ticks)
		return x->ticks < y->ticks ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Keeps, per tid, the last name of the best kind (sorted last), and the
 * first name that kind gave it when it was renamed since. */
static void settle_names(struct reader *r)
{
	struct name_event *e = r->names.items;
	if (r->names.len > 1)
		qsort(e, r->names.len, sizeof(*e), name_order);
	size_t first = 0;
	for (size_t i = 0; i < r->names.len; i++) {
		if (i == 0 || e[i - 1].tid != e[i].tid ||
		    e[i - 1].from_thread_rec != e[i].from_thread_rec)
			first = i;
		if (i + 1 < r->names.len && e[i + 1].tid == e[i].tid)
			continue;
		struct ls_thread *th = ls_vec_push(&r->t->threads);
		th->tid = e[i].tid;
		th->from_thread_rec = e[i].from_thread_rec;
		memcpy(th->name, e[i].name, sizeof(th->name));
		if (e[i].from_thread_rec && strcmp(e[first].name, e[i].name) != 0)
			memcpy(th->was, e[first].name, sizeof(th->was));
	}
}

/* All definition tables start with a uint32_t id: sort them for bsearch. */
static int id_order(const void *a, const void *b)
{
	uint32_t x, y;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return x < y ? -1 : x > y;
}

static void sort_by_id(struct ls_vec *v)
{
	if (v->len > 1)
		qsort(v->items, v->len, v->item_size, id_order);
}

static const void *find_id(const struct ls_vec *v, uint32_t id)
{
	if (v->len == 0)
		return NULL;
	return bsearch(&id, v->items, v->len, v->item_size, id_order);
}

/* Maps PATH read-only. Only regular files: opening a FIFO or a device
 * must neither block nor read forever. */
static int map_file(const char *path, const uint8_t **out, size_t *outlen,
		    char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -1;
	}
	*outlen = (size_t)st.st_size;
	*out = NULL;
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errlen, "%s", strerror(errno));
			close(fd);
			return -1;
		}
		madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
		*out = p;
	}
	close(fd);
	return 0;
}

/* ns per tick over the widest span of clock pairs; the shim's own estimate
 * when the run was too short to measure. */
static void settle_clock(struct reader *r, const struct ls_file_header *h)
{
	struct ls_trace *t = r->t;
	t->ns_per_tick = 1.0;
	t->start_ticks = h->start_ticks;
	t->start_ns = h->start_mono_ns;
	if (h->clock != LS_CLOCK_TSC)
		return;
	if (h->state == LS_STATE_EXITED)
		note_pair(r, h->end_ticks, h->end_mono_ns);
	if (r->pair_ns > h->start_mono_ns + 10000000 && r->pair_ticks > h->start_ticks)
		t->ns_per_tick = (double)(r->pair_ns - h->start_mono_ns) /
				 (double)(r->pair_ticks - h->start_ticks);
	else if (h->tick_hz > 0)
		t->ns_per_tick = 1e9 / (double)h->tick_hz;
	/* A rate no CPU has means a corrupt header; read durations as ns. */
	if (!(t->ns_per_tick > 1e-3 && t->ns_per_tick < 1e3))
		t->ns_per_tick = 1.0;
}

static void ticks_to_ns(struct ls_trace *t, double keep_ns)
{
	size_t kept = 0;
	for (size_t i = 0; i < t->callbacks.len; i++) {
		struct ls_callback *c = LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		c->begin_ns = ls_trace_ns(t, c->begin_ticks);
		c->dur_ns = (double)c->dur_ticks * t->ns_per_tick;
		if (c->dur_ns >= keep_ns || c->slow)
			*LS_VEC_AT(&t->callbacks, struct ls_callback, kept++) = *c;
	}
	t->callbacks.len = kept;
	for (size_t i = 0; i < t->stats.len; i++) {
		struct ls_stat *s = LS_VEC_AT(&t->stats, struct ls_stat, i);
		s->total_ns *= t->ns_per_tick;
		s->max_ns *= t->ns_per_tick;
	}
}

double ls_trace_ns(const struct ls_trace *t, uint64_t ticks)
{
	double d = ticks >= t->start_ticks ? (double)(ticks - t->start_ticks)
					   : -(double)(t->start_ticks - ticks);
	return (double)t->start_ns + d * t->ns_per_tick;
}

/* Which callbacks to keep in memory: those a report can show. The tick
 * rate is not known before the end, so the first cut is generous (half the
 * shim's own estimate), the exact one comes after conversion. */
static void settle_keep(struct reader *r, const struct ls_file_header *h)
{
	if (r->keep_ns < 0)
		return; /* keep everything */
	if (r->keep_ns == 0 || r->keep_ns > h->slow_callback_ms * 1e6)
		r->keep_ns = h->slow_callback_ms * 1e6;
	double hz = h->clock == LS_CLOCK_TSC && h->tick_hz > 0 ? (double)h->tick_hz : 1e9;
	double ticks = r->keep_ns / 1e9 * hz * 0.5;
	/* A rate no CPU has (a corrupt header): keep everything slow-marked. */
	r->keep_ticks = ticks < 1.8e19 ? (uint64_t)ticks : UINT64_MAX;
}

static int parse(struct reader *r)
{
	struct ls_file_header h;
	if (check_header(r, &h))
		return -1;
	take_header(r->t, &h);
	if (h.clock != LS_CLOCK_NS && h.clock != LS_CLOCK_TSC)
		return fail(r, "corrupt trace (clock %u)", h.clock);
	settle_keep(r, &h);
	if (collect_chunks(r, h.chunk_size) || walk_chunks(r))
		return -1;
	settle_clock(r, &h);
	ticks_to_ns(r->t, r->keep_ns);
	r->t->chunks = r->chunks;
	memset(&r->chunks, 0, sizeof(r->chunks));
	settle_names(r);
	sort_by_id(&r->t->modules);
	sort_by_id(&r->t->stacks);
	sort_by_id(&r->t->sites);
	sort_by_id(&r->t->pycodes);
	return 0;
}

static struct ls_trace *trace_new(const char *path)
{
	struct ls_trace *t = ls_xcalloc(1, sizeof(*t));
	t->path = ls_xstrdup(path);
	t->modules.item_size = sizeof(struct ls_module);
	t->stacks.item_size = sizeof(struct ls_stack);
	t->pycodes.item_size = sizeof(struct ls_pycode);
	t->sites.item_size = sizeof(struct ls_site);
	t->threads.item_size = sizeof(struct ls_thread);
	t->callbacks.item_size = sizeof(struct ls_callback);
	t->stats.item_size = sizeof(struct ls_stat);
	t->dropped_errors.item_size = sizeof(struct ls_dropped);
	t->wrong_threads.item_size = sizeof(struct ls_wrong_thread);
	t->lost_wakeups.item_size = sizeof(struct ls_lost);
	t->misuses.item_size = sizeof(struct ls_misuse_rec);
	t->crashes.item_size = sizeof(struct ls_crash);
	t->loop_runs.item_size = sizeof(struct ls_loop_run);
	t->selector_lates.item_size = sizeof(struct ls_selector_late);
	t->blockings.item_size = sizeof(struct ls_blocking);
	t->stucks.item_size = sizeof(struct ls_stuck);
	t->py_events.item_size = sizeof(struct ls_pyevent);
	t->closes.item_size = sizeof(struct ls_loop_close);
	t->open_handles.item_size = sizeof(struct ls_open_handle);
	return t;
}

struct ls_trace *ls_trace_read_ex(const char *path, const struct ls_read_options *opt,
				  char *err, size_t errlen)
{
	struct reader r = { .err = err, .errlen = errlen };
	if (map_file(path, &r.buf, &r.len, err, errlen))
		return NULL;
	r.t = trace_new(path);
	r.t->map = r.buf;
	r.t->map_len = r.len;
	r.keep_ns = opt ? opt->keep_callbacks_ms * 1e6 : 0;
	r.progress = opt && opt->progress && r.len >= ((size_t)64 << 20);
	r.chunks.item_size = sizeof(struct chunk_ref);
	r.names.item_size = sizeof(struct name_event);
	int rc = parse(&r);
	ls_vec_free(&r.chunks);
	ls_vec_free(&r.names);
	if (rc) {
		ls_trace_free(r.t);
		return NULL;
	}
	return r.t;
}

void ls_trace_free(struct ls_trace *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->modules.len; i++)
		free(LS_VEC_AT(&t->modules, struct ls_module, i)->path);
	for (size_t i = 0; i < t->stacks.len; i++) {
		free(LS_VEC_AT(&t->stacks, struct ls_stack, i)->pcs);
		free(LS_VEC_AT(&t->stacks, struct ls_stack, i)->py);
	}
	for (size_t i = 0; i < t->pycodes.len; i++) {
		struct ls_pycode *c = LS_VEC_AT(&t->pycodes, struct ls_pycode, i);
		free(c->file);
		free(c->name);
		free(c->lines);
	}
	for (size_t i = 0; i < t->py_events.len; i++) {
		struct ls_pyevent *e = LS_VEC_AT(&t->py_events, struct ls_pyevent, i);
		free(e->name);
		free(e->text);
	}
	ls_vec_free(&t->py_events);
	ls_vec_free(&t->pycodes);
	ls_vec_free(&t->modules);
	ls_vec_free(&t->stacks);
	ls_vec_free(&t->sites);
	ls_vec_free(&t->threads);
	ls_vec_free(&t->callbacks);
	ls_vec_free(&t->stats);
	ls_vec_free(&t->dropped_errors);
	ls_vec_free(&t->wrong_threads);
	ls_vec_free(&t->lost_wakeups);
	ls_vec_free(&t->misuses);
	ls_vec_free(&t->crashes);
	ls_vec_free(&t->loop_runs);
	ls_vec_free(&t->selector_lates);
	ls_vec_free(&t->blockings);
	ls_vec_free(&t->stucks);
	ls_vec_free(&t->closes);
	ls_vec_free(&t->open_handles);
	ls_vec_free(&t->chunks);
	if (t->map != NULL)
		munmap((void *)t->map, t->map_len);
	free(t->path);
	free(t);
}

struct ls_trace *ls_trace_read(const char *path, char *err, size_t errlen)
{
	return ls_trace_read_ex(path, NULL, err, errlen);
}

/* Walks the record chunks again, in each thread's order, and hands every
 * callback to fn; only the bytes the first pass checked are read. */
int ls_trace_each_callback(const struct ls_trace *t,
			   int (*fn)(void *arg, const struct ls_callback *c), void *arg)
{
	const struct chunk_ref *cs = t->chunks.items;
	for (size_t i = 0; i < t->chunks.len; i++) {
		if (cs[i].magic != LS_CHUNK_MAGIC)
			continue;
		const uint8_t *p = t->map + cs[i].off + CHUNK_HDR;
		uint64_t base = cs[i].ticks;
		for (size_t pos = cs[i].start; cs[i].used - pos >= REC_HDR;) {
			struct ls_rec rec;
			memcpy(&rec, p + pos, REC_HDR);
			if (rec.size < REC_HDR || rec.size > cs[i].used - pos)
				break;
			const uint8_t *q = p + pos + REC_HDR;
			size_t n = rec.size - REC_HDR;
			uint64_t begin = 0, dur = 0;
			int is_cb = 1, slow = 0;
			if (rec.type == LS_REC_CALLBACK16 && n >= sizeof(struct ls_rec_callback16)) {
				struct ls_rec_callback16 c;
				memcpy(&c, q, sizeof(c));
				uint64_t end = base + (uint64_t)(int64_t)c.end_delta;
				begin = end - c.dur_ticks;
				dur = c.dur_ticks;
			} else if (rec.type == LS_REC_CALLBACK && n >= sizeof(struct ls_rec_callback)) {
				struct ls_rec_callback c;
				memcpy(&c, q, sizeof(c));
				begin = c.begin_ticks;
				dur = c.dur_ticks;
			} else if (rec.type == LS_REC_SLOW && n >= sizeof(struct ls_rec_slow)) {
				struct ls_rec_slow c;
				memcpy(&c, q, sizeof(c));
				begin = c.begin_ticks;
				dur = c.dur_ticks;
				slow = 1;
			} else {
				is_cb = 0;
			}
			pos += rec.size;
			if (!is_cb)
				continue;
			base = begin + dur;
			struct ls_callback cb = {
				.tid = cs[i].tid, .site = rec.arg, .slow = slow,
				.begin_ns = ls_trace_ns(t, begin),
				.dur_ns = (double)dur * t->ns_per_tick,
				.begin_ticks = begin, .dur_ticks = dur,
			};
			int rc = fn(arg, &cb);
			if (rc)
				return rc;
		}
		release_chunk(t->map, &cs[i]);
	}
	return 0;
}

int ls_trace_complete(const struct ls_trace *t)
{
	return t->exited && t->cut_bytes == 0;
}

const struct ls_module *ls_trace_module(const struct ls_trace *t, uint32_t id)
{
	return find_id(&t->modules, id);
}

const struct ls_stack *ls_trace_stack(const struct ls_trace *t, uint32_t id)
{
	return find_id(&t->stacks, id);
}

const struct ls_pycode *ls_trace_pycode(const struct ls_trace *t, uint32_t id)
{
	return find_id(&t->pycodes, id);
}

const struct ls_site *ls_trace_site(const struct ls_trace *t, uint32_t id)
{
	return find_id(&t->sites, id);
}

const struct ls_thread *ls_trace_thread(const struct ls_trace *t, uint32_t tid)
{
	return find_id(&t->threads, tid); /* settle_names pushes them sorted */
}

const struct ls_module *ls_trace_module_at(const struct ls_trace *t, uint64_t pc)
{
	for (size_t i = 0; i < t->modules.len; i++) {
		const struct ls_module *m = LS_VEC_AT(&t->modules, struct ls_module, i);
		if (pc >= m->lo && pc < m->hi)
			return m;
	}
	return NULL;
}
