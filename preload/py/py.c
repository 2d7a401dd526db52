/* The py family: Python frames in every captured stack.
 *
 * In a CPython process, a stack that passes through the interpreter shows
 * its eval loop's C frames, not the user's Python. At every capture the
 * tracer asks this family (the py_frames hook) for the Python frames the
 * thread runs: CPython keeps them as a chain of _PyInterpreterFrame, from
 * the thread state's current frame back through `previous`. Each is
 * recorded as (code object, instruction offset, entry flag); a code object
 * is written once (a PYCODE record: file, qualified name, first line and
 * location table), and the viewer turns the offset into a line and puts
 * the frames in place of the eval loop's (pystack's native mode).
 *
 * Reads only, as echion and py-spy do: no Python API that allocates or
 * takes a lock, no GIL (a thread's own frames cannot change under it while
 * it is in a call). CPython 3.11, 3.12 and 3.13, on LP64, each through a
 * struct ls_py_layout chosen at init (one walk for all three):
 * - 3.11 and 3.12: offsets written here, checked with offsetof against
 *   their headers (Include/internal/pycore_frame.h, Include/cpython/code.h,
 *   Include/cpython/pystate.h, Include/cpython/unicodeobject.h: Debian's
 *   3.11.2 and pyenv's 3.11.7 and 3.12.1). 3.12 marks an eval loop's first
 *   frame by a shim frame behind it instead of is_entry;
 * - 3.13: the offsets its runtime publishes (_Py_DebugOffsets, at the
 *   start of _PyRuntime: cookie and version checked, every offset checked
 *   to fall within its struct); its instr_ptr is the instruction itself.
 * The location table is the same in all three (the PYCODE record's
 * version says which wrote it). Any other version, a free-threaded 3.13
 * or a 32-bit process gets no Python frames at all, and its trace says so
 * (LS_NOTE_PY_UNSUPPORTED). */
#include <dlfcn.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/py/py_shim.h"

/* Where CPython keeps what the walk reads: one layout per version, chosen
 * at init, so that the walk is one code path. Offsets on LP64. */
struct ls_py_layout {
	uint16_t version;          /* 311, 312, 313: PYCODE's version */
	int16_t ts_cframe;         /* PyThreadState.cframe; -1: none (3.13) */
	uint16_t ts_frame;         /* current_frame: in the cframe, or else in the state */
	uint16_t ts_native_thread_id;
	uint16_t fr_code;          /* _PyInterpreterFrame.f_code (3.13: f_executable) */
	uint16_t fr_previous;
	uint16_t fr_instr;         /* .prev_instr (3.13: instr_ptr) */
	int16_t fr_is_entry;       /* .is_entry (3.11); -1: none */
	int16_t fr_owner;          /* .owner (3.12+); -1: not read */
	uint16_t fr_size;          /* bytes of a frame read: past every field above */
	uint8_t instr_current;     /* fr_instr is the instruction, never the unit before the code */
	uint8_t owner_cstack;      /* FRAME_OWNED_BY_CSTACK: an eval loop's entry shim */
	uint16_t ob_type;          /* PyObject.ob_type */
	uint16_t var_size;         /* PyVarObject.ob_size (a code's units, a bytes' length) */
	uint16_t co_firstlineno, co_filename, co_qualname, co_linetable;
	uint16_t co_code_adaptive; /* the instructions, 2-byte code units */
	uint16_t bytes_data;       /* PyBytesObject.ob_sval */
	uint16_t str_length;       /* PyASCIIObject.length (code points) */
	uint16_t str_state;        /* its bit fields: interned:2 kind:3 compact:1 ascii:1 */
	uint16_t str_ascii_data;   /* a compact ASCII string's characters */
	uint16_t str_utf8_length;  /* PyCompactUnicodeObject.utf8_length */
	uint16_t str_utf8;         /* its cached UTF-8, or NULL */
	uint16_t str_data;         /* a compact non-ASCII string's code units */
};

/* What the walk copies of a frame and of a code object, at most. */
#define LS_PY_FRAME_BUF 128
#define LS_PY_CODE_BUF 256

static const struct ls_py_layout ls_py_311 = {
	.version = 311, .ts_cframe = 56, .ts_frame = 8, .ts_native_thread_id = 160,
	.fr_code = 32, .fr_previous = 48, .fr_instr = 56, .fr_is_entry = 68, .fr_owner = -1,
	.fr_size = 69, .ob_type = 8, .var_size = 16,
	.co_firstlineno = 72, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	.co_code_adaptive = 184, .bytes_data = 32,
	.str_length = 16, .str_state = 32, .str_ascii_data = 48, .str_utf8_length = 48,
	.str_utf8 = 56, .str_data = 72,
};

/* No is_entry: each C call of the eval loop links a frame of its own (on
 * the C stack, owner FRAME_OWNED_BY_CSTACK) behind the first it runs.
 * A str has no wstr any more. */
static const struct ls_py_layout ls_py_312 = {
	.version = 312, .ts_cframe = 56, .ts_frame = 0, .ts_native_thread_id = 144,
	.fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_is_entry = -1, .fr_owner = 70,
	.fr_size = 71, .owner_cstack = 3, .ob_type = 8, .var_size = 16,
	.co_firstlineno = 68, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	.co_code_adaptive = 192, .bytes_data = 32,
	.str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_utf8_length = 40,
	.str_utf8 = 48, .str_data = 56,
};

static struct ls_py_layout layout;   /* the process's, set at init */

static void *(*get_tstate)(void);    /* PyGILState_GetThisThreadState */
static const char *code_type;        /* &PyCode_Type */

static inline const char *ls_py_ptr(const char *p, int off)
{
	const char *v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* ---- code objects, interned ---- */

/* Keyed by the code object's address and what the record says of it: a
 * code object freed and another made at its address is a new id. */
struct ls_py_code_slot {
	uint64_t tag;            /* hash | 1; 0: free, claimed by CAS */
	const char *code, *file, *name, *lines;
	int32_t firstlineno;
	uint32_t id;             /* 0 until its record is written */
};

#define LS_PY_CODE_SLOTS (1u << 17)   /* 2 x LS_MAX_IDS: 6 MiB, touched as used */

static void *code_table;
static int code_table_state;
static uint32_t code_count;

struct ls_py_key {
	const char *code, *file, *name, *lines;
	int32_t firstlineno;
};

static uint64_t ls_py_hash(const struct ls_py_key *k)
{
	uint64_t h = (uint64_t)(uintptr_t)k->code * 0x9e3779b97f4a7c15ull;
	h ^= ((uint64_t)(uintptr_t)k->file + ((uint64_t)(uintptr_t)k->name << 1)) * 0xc2b2ae3d27d4eb4full;
	h ^= ((uint64_t)(uintptr_t)k->lines + (uint64_t)(uint32_t)k->firstlineno) * 0x165667b19e3779f9ull;
	return (h ^ (h >> 29)) | 1;
}

/* A str's characters as UTF-8 into buf (at most max bytes; *cut set when
 * longer): ASCII and cached UTF-8 as they are, other compact strings
 * encoded here. */
static uint32_t ls_py_str(const char *u, char *buf, uint32_t max, int *cut)
{
	if (u == NULL)
		return 0;
	uint32_t state;
	int64_t n;
	memcpy(&state, u + layout.str_state, sizeof(state));
	memcpy(&n, u + layout.str_length, sizeof(n));
	unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
	if (!compact || n < 0)
		return 0;
	const char *utf8 = ascii ? u + layout.str_ascii_data : ls_py_ptr(u, layout.str_utf8);
	if (utf8 != NULL) {
		if (!ascii)
			memcpy(&n, u + layout.str_utf8_length, sizeof(n));
		*cut = n > (int64_t)max;
		uint32_t len = *cut ? max : (uint32_t)n;
		memcpy(buf, utf8, len);
		return len;
	}
	uint32_t len = 0;
	for (int64_t i = 0; i < n; i++) {
		uint32_t c = kind == 1 ? ((const uint8_t *)u)[layout.str_data + i]
			   : kind == 2 ? ((const uint16_t *)(u + layout.str_data))[i]
				       : ((const uint32_t *)(u + layout.str_data))[i];
		uint32_t w = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
		if (len + w > max) {
			*cut = 1;
			break;
		}
		if (w == 1) {
			buf[len++] = (char)c;
			continue;
		}
		buf[len++] = (char)(w == 2 ? 0xc0 | (c >> 6) : w == 3 ? 0xe0 | (c >> 12) : 0xf0 | (c >> 18));
		if (w == 4)
			buf[len++] = (char)(0x80 | ((c >> 12) & 0x3f));
		if (w >= 3)
			buf[len++] = (char)(0x80 | ((c >> 6) & 0x3f));
		buf[len++] = (char)(0x80 | (c & 0x3f));
	}
	return len;
}

static void ls_py_code_write(uint32_t id, const struct ls_py_key *k, int keep)
{
	char file[LS_PYCODE_FILE_MAX], name[LS_PYCODE_NAME_MAX];
	int cut_file = 0, cut_name = 0;
	struct ls_rec_pycode h = { .firstlineno = k->firstlineno, .version = layout.version };
	h.file_len = (uint16_t)ls_py_str(k->file, file, sizeof(file), &cut_file);
	h.name_len = (uint16_t)ls_py_str(k->name, name, sizeof(name), &cut_name);
	h.flags = (uint16_t)((cut_file ? LS_PYCODE_CUT_FILE : 0) | (cut_name ? LS_PYCODE_CUT_NAME : 0));
	const uint8_t *lines = NULL;
	if (k->lines != NULL) {
		int64_t n;
		memcpy(&n, k->lines + layout.var_size, sizeof(n));
		if (n > 0) {
			h.lines_len = n > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
			lines = (const uint8_t *)k->lines + layout.bytes_data;
		}
	}
	if (keep)
		ls_pycode_keep(id, &h, file, name, lines);
	else
		ls_pycode_write(id, &h, file, name, lines);
}

/* The id of code object `code`, its PYCODE record written the first time
 * (kept, from a signal handler); 0 when the table is full or cannot be
 * made. */
uint32_t ls_py_code_id(const char *code, int keep)
{
	struct ls_py_code_slot *t =
		ls_map_once(&code_table, &code_table_state,
			    sizeof(struct ls_py_code_slot) * LS_PY_CODE_SLOTS);
	if (t == NULL)
		return 0;
	struct ls_py_key k = {
		.code = code, .file = ls_py_ptr(code, layout.co_filename),
		.name = ls_py_ptr(code, layout.co_qualname),
		.lines = ls_py_ptr(code, layout.co_linetable),
	};
	memcpy(&k.firstlineno, code + layout.co_firstlineno, sizeof(k.firstlineno));
	uint64_t tag = ls_py_hash(&k);
	uint32_t i = (uint32_t)(tag >> 20) & (LS_PY_CODE_SLOTS - 1);
	for (uint32_t probes = 0; probes < 64; probes++, i = (i + 1) & (LS_PY_CODE_SLOTS - 1)) {
		struct ls_py_code_slot *s = &t[i];
		uint64_t have = __atomic_load_n(&s->tag, __ATOMIC_ACQUIRE);
		if (have == 0 && __atomic_compare_exchange_n(&s->tag, &have, tag, 0, __ATOMIC_ACQ_REL,
							     __ATOMIC_ACQUIRE)) {
			uint32_t id = __atomic_add_fetch(&code_count, 1, __ATOMIC_RELAXED);
			if (id >= LS_MAX_IDS)
				return 0;  /* full: the slot stays claimed, never published */
			s->code = k.code, s->file = k.file, s->name = k.name, s->lines = k.lines;
			s->firstlineno = k.firstlineno;
			ls_py_code_write(id, &k, keep);
			__atomic_store_n(&s->id, id, __ATOMIC_RELEASE);
			return id;
		}
		if (have != tag)
			continue;
		/* Being written by another thread (or by the code this signal
		 * handler interrupted): a few stores and one record. */
		uint32_t id;
		for (int spins = 0; (id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE)) == 0; spins++)
			if (spins > 10000)
				return 0;
		if (s->code == k.code && s->file == k.file && s->name == k.name &&
		    s->lines == k.lines && s->firstlineno == k.firstlineno)
			return id;
	}
	return 0;
}

/* ---- the frame chain ---- */

/* Could p be an object's address (the frame chain a signal handler
 * interrupted may be half-made)? */
static int ls_py_plausible(const char *p)
{
	return (uintptr_t)p >= 4096 && ((uintptr_t)p & 7) == 0;
}

/* n bytes at src into dst. other: src is another thread's, which may come
 * out of its system call and unmap it (a frame in a data-stack chunk it
 * pops) while this reads: copied by the kernel, which fails instead. */
int ls_py_read_other(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)(uintptr_t)src, n };
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

static inline int ls_py_copy(void *dst, const char *src, size_t n, int other)
{
	if (LS_LIKELY(!other)) {
		memcpy(dst, src, n);
		return 1;
	}
	return ls_py_read_other(dst, src, n);
}

/* The current frame of thread state ts (through its cframe before 3.13),
 * NULL when there is none or a step is implausible. */
static const char *ls_py_state_frame(const char *ts, int other)
{
	const char *at = ts, *f;
	if (layout.ts_cframe >= 0 &&
	    (!ls_py_plausible(ts) || !ls_py_copy(&at, ts + layout.ts_cframe, sizeof(at), other)))
		return NULL;
	if (!ls_py_plausible(at) || !ls_py_copy(&f, at + layout.ts_frame, sizeof(f), other))
		return NULL;
	return f;
}

/* The frame's instruction, in code units from start, the code of `units`
 * units; -1 if it is not inside. Before 3.13 the pointer is the unit
 * before the next instruction, one before the code in a frame that has
 * not run yet (its first line); 3.13's is the instruction itself. */
static int64_t ls_py_lasti(const char *instr, const char *start, int64_t units)
{
	const char *lo = layout.instr_current ? start : start - 2;
	if (units <= 0 || instr < lo || instr >= start + units * 2)
		return -1;
	return instr >= start ? (instr - start) / 2 : 0;
}

/* The Python frame of the frame copied into fr, into *out: 0 when a step
 * is implausible (a code object is one: its type is PyCode_Type, the
 * instruction inside it). */
static int ls_py_frame(const char *fr, struct ls_py_frame *out, int keep, int other)
{
	char co[LS_PY_CODE_BUF];
	const char *code = ls_py_ptr(fr, layout.fr_code);
	if (!ls_py_plausible(code) || !ls_py_copy(co, code, layout.co_code_adaptive, other) ||
	    ls_py_ptr(co, layout.ob_type) != code_type)
		return 0;
	int64_t units;   /* Py_SIZE: code units */
	memcpy(&units, co + layout.var_size, sizeof(units));
	const char *start = code + layout.co_code_adaptive;
	int64_t lasti = ls_py_lasti(ls_py_ptr(fr, layout.fr_instr), start, units);
	if (lasti < 0)
		return 0;
	out->code = ls_py_code_id(code, keep);
	out->lasti = (uint32_t)lasti;
	out->flags = layout.fr_is_entry >= 0 && fr[layout.fr_is_entry] ? LS_PY_ENTRY : 0;
	return 1;
}

/* The frames from f outward, at most max. Every step is checked before
 * it is followed, and the walk ends at the first that is not: frames so
 * far are kept. An eval loop's entry shim (3.12+) is no Python frame: it
 * marks the one before it as its run's first. keep: in a signal handler
 * or of another thread (ls_py_code_id); other: of another thread
 * (ls_py_copy). */
static uint32_t ls_py_walk(const char *f, struct ls_py_frame *out, uint32_t max, int keep,
			   int other)
{
	uint32_t n = 0;
	char fr[LS_PY_FRAME_BUF];
	for (uint32_t steps = 0; steps < 2 * max + 2 && ls_py_plausible(f) &&
				 ls_py_copy(fr, f, layout.fr_size, other); steps++) {
		if (layout.fr_owner >= 0 && fr[layout.fr_owner] == layout.owner_cstack) {
			if (n > 0)
				out[n - 1].flags |= LS_PY_ENTRY;
		} else if (n == max || !ls_py_frame(fr, &out[n], keep, other)) {
			break;
		} else {
			n++;
		}
		const char *next = ls_py_ptr(fr, layout.fr_previous);
		if (next == f)
			break;
		f = next;
	}
	return n;
}

static uint32_t ls_py_frames(struct ls_py_frame *out, uint32_t max)
{
	return ls_py_walk(ls_py_state_frame(get_tstate(), 0), out, max, 0, 0);
}

/* In the watchdog's signal handler, on the thread it interrupted: its
 * own thread state (a thread-specific read), its own frames, which stay
 * put while the handler runs; kept, not written (see py_sample). */
static uint32_t ls_py_sample(struct ls_py_frame *out, uint32_t max)
{
	return ls_py_walk(ls_py_state_frame(get_tstate(), 0), out, max, 1, 0);
}

static uintptr_t ls_py_thread(void)
{
	return (uintptr_t)get_tstate();
}

/* From the watchdog, of loop thread tid blocked in a system call: the
 * state it had when its iteration began, still its own. Its frames (in
 * data-stack chunks the thread unmaps as it pops them) are read through
 * the kernel, in case it wakes meanwhile; a code object, once read so, is
 * read as it is (objects live in the heap, never unmapped under it), its
 * record kept before the watchdog checks the thread is still in the call. */
static uint32_t ls_py_frames_of(uintptr_t thread, uint32_t tid, struct ls_py_frame *out,
				uint32_t max)
{
	const char *ts = (const char *)thread;
	unsigned long native;
	if (!ls_py_plausible(ts) ||
	    !ls_py_copy(&native, ts + layout.ts_native_thread_id, sizeof(native), 1) ||
	    native != tid)
		return 0;
	return ls_py_walk(ls_py_state_frame(ts, 1), out, max, 1, 1);
}

/* Where this thread's innermost Python frame is: its instruction's
 * address tells its code object and instruction apart. */
static uintptr_t ls_py_where(void)
{
	const char *f = ls_py_state_frame(get_tstate(), 0);
	return ls_py_plausible(f) ? (uintptr_t)ls_py_ptr(f, layout.fr_instr) : 0;
}

/* A word for where this thread's Python frames are, the innermost
 * `depth` of them (code and instruction each), 0 when it runs none
 * (tstate: the thread's state, when the caller has it; NULL: found): a
 * cache key that tells apart two calls of one asyncio function (its
 * caller's caller and further out differ). Loads only. */
uint64_t ls_py_chain_key(const void *tstate, uint32_t depth)
{
	const char *f = ls_py_state_frame(tstate != NULL ? tstate : get_tstate(), 0);
	uint64_t h = 0;
	for (uint32_t n = 0; n < depth && ls_py_plausible(f); n++) {
		h = (h ^ (uint64_t)(uintptr_t)ls_py_ptr(f, layout.fr_instr)) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		const char *next = ls_py_ptr(f, layout.fr_previous);
		if (next == f)
			break;
		f = next;
	}
	return h;
}

static void ls_py_note_unsupported(void)
{
	ls_trace_note(LS_NOTE_PY_UNSUPPORTED);
}

static const struct ls_trace_hooks ls_py_hooks = {
	.py_frames = ls_py_frames,
	.py_where = ls_py_where,
	.py_sample = ls_py_sample,
	.py_thread = ls_py_thread,
	.py_frames_of = ls_py_frames_of,
};

static const struct ls_trace_hooks ls_py_unsupported_hooks = {
	.opened = ls_py_note_unsupported,
};

/* ---- which version ---- */

/* The start of CPython 3.13's _Py_DebugOffsets, the first member of
 * _PyRuntime (Include/internal/pycore_runtime.h): what a debugger needs
 * of the runtime's structs, published by the runtime itself. */
struct ls_py_debug_offsets {
	char cookie[8];            /* "xdebugpy" */
	uint64_t version;          /* PY_VERSION_HEX */
	uint64_t free_threaded;
	uint64_t runtime_state[3], interpreter_state[13];
	struct { uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
		 datastack_chunk, status; } thread_state;
	struct { uint64_t size, previous, executable, instr_ptr, localsplus, owner; } frame;
	struct { uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
		 localsplusnames, localspluskinds, co_code_adaptive; } code;
	struct { uint64_t size, ob_type; } object;
	uint64_t type_object[4], tuple_object[3], list_object[3], dict_object[3], float_object[2],
		long_object[3];
	struct { uint64_t size, ob_size, ob_sval; } bytes;
	struct { uint64_t size, state, length, asciiobject_size; } unicode;
};

/* *out = off, if a field of `width` bytes there, aligned, ends within
 * `limit`; the end kept in *end when it is further. */
static int ls_py_field(uint64_t off, uint64_t width, uint64_t limit, uint16_t *out,
		       uint16_t *end)
{
	if (off % width != 0 || off > limit || width > limit - off)
		return 0;
	*out = (uint16_t)off;
	if (end != NULL && off + width > *end)
		*end = (uint16_t)(off + width);
	return 1;
}

/* 3.13's layout, from the offsets its runtime publishes: each checked to
 * lie within its struct and the walk's copies. The bit fields of a str's
 * state are not published (as 3.12's), nor the tail of a compact str
 * (utf8_length, utf8, then the characters: as 3.12's, after the ASCII
 * header). Free-threaded builds lay objects out otherwise: not read. */
static int ls_py_layout_313(const void *runtime, struct ls_py_layout *l)
{
	struct ls_py_debug_offsets d;
	memcpy(&d, runtime, sizeof(d));
	if (memcmp(d.cookie, "xdebugpy", 8) != 0 || (d.version >> 16) != 0x030d ||
	    d.free_threaded != 0)
		return 0;
	*l = (struct ls_py_layout){ .version = 313, .ts_cframe = -1, .instr_current = 1,
				    .owner_cstack = 3, .fr_is_entry = -1 };
	uint16_t owner = 0;
	uint64_t ts = d.thread_state.size, fr = d.frame.size, co = d.code.size;
	uint64_t str = d.unicode.asciiobject_size;
	/* A PyUnicodeObject is the compact str's 16 bytes more, then 8. */
	int ok = ts <= 4096 && fr <= 4096 && co <= 4096 && str <= 256 && str % 8 == 0 &&
		 d.unicode.size == str + 24;
	ok = ok && ls_py_field(d.thread_state.current_frame, 8, ts, &l->ts_frame, NULL) &&
	     ls_py_field(d.thread_state.native_thread_id, 8, ts, &l->ts_native_thread_id, NULL);
	ok = ok && ls_py_field(d.frame.executable, 8, fr, &l->fr_code, &l->fr_size) &&
	     ls_py_field(d.frame.previous, 8, fr, &l->fr_previous, &l->fr_size) &&
	     ls_py_field(d.frame.instr_ptr, 8, fr, &l->fr_instr, &l->fr_size) &&
	     ls_py_field(d.frame.owner, 1, fr, &owner, &l->fr_size) &&
	     l->fr_size <= LS_PY_FRAME_BUF;
	ok = ok && ls_py_field(d.code.co_code_adaptive, 2, co, &l->co_code_adaptive, NULL) &&
	     l->co_code_adaptive <= LS_PY_CODE_BUF &&
	     ls_py_field(d.object.ob_type, 8, l->co_code_adaptive, &l->ob_type, NULL) &&
	     ls_py_field(d.bytes.ob_size, 8, l->co_code_adaptive, &l->var_size, NULL) &&
	     ls_py_field(d.code.filename, 8, l->co_code_adaptive, &l->co_filename, NULL) &&
	     ls_py_field(d.code.qualname, 8, l->co_code_adaptive, &l->co_qualname, NULL) &&
	     ls_py_field(d.code.linetable, 8, l->co_code_adaptive, &l->co_linetable, NULL) &&
	     ls_py_field(d.code.firstlineno, 4, l->co_code_adaptive, &l->co_firstlineno, NULL);
	ok = ok && ls_py_field(d.bytes.ob_sval, 1, d.bytes.size, &l->bytes_data, NULL) &&
	     ls_py_field(d.unicode.length, 8, str, &l->str_length, NULL) &&
	     ls_py_field(d.unicode.state, 4, str, &l->str_state, NULL);
	l->fr_owner = (int16_t)owner;
	l->str_ascii_data = l->str_utf8_length = (uint16_t)str;
	l->str_utf8 = (uint16_t)(str + 8), l->str_data = (uint16_t)(str + 16);
	return ok;
}

/* The layout of CPython version v ("3.12.1 (main, ...)"), 0 if none. */
static int ls_py_layout(const char *v, const void *runtime, struct ls_py_layout *l)
{
	if (sizeof(void *) != 8)
		return 0;
	if (strncmp(v, "3.11.", 5) == 0)
		*l = ls_py_311;
	else if (strncmp(v, "3.12.", 5) == 0)
		*l = ls_py_312;
	else
		return strncmp(v, "3.13.", 5) == 0 && ls_py_layout_313(runtime, l);
	return 1;
}

/* Is this process CPython (the executable or a libpython it links
 * exports the runtime), and which version? */
static void ls_py_init(void)
{
	const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	void *tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
	void *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
	if (version == NULL || tstate == NULL || runtime == NULL)
		return;
	if (!ls_py_layout(version(), runtime, &layout)) {
		ls_trace_hooks_add(&ls_py_unsupported_hooks);
		return;
	}
	code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
	if (code_type == NULL)
		return;
	get_tstate = (void *(*)(void))tstate;
	ls_trace_hooks_add(&ls_py_hooks);
	ls_py_asyncio_init(layout.version);
}

LS_FAMILY(py) = {
	.name = "py",
	.init = ls_py_init,
};
