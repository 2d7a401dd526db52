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
 * it is in a call). The struct offsets are CPython 3.11's, on LP64
 * (Include/internal/pycore_frame.h, Include/cpython/code.h,
 * Include/cpython/pystate.h; checked with offsetof against Debian's 3.11
 * headers, and end to end by tests/py/test_python.c); any other version gets no Python frames at all, and
 * its trace says so (LS_NOTE_PY_UNSUPPORTED). */
#include <dlfcn.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/py/py_shim.h"

/* CPython 3.11, 64-bit. */
enum {
	TS_CFRAME = 56,          /* PyThreadState.cframe */
	TS_NATIVE_THREAD_ID = 160, /* .native_thread_id */
	CF_CURRENT_FRAME = 8,    /* _PyCFrame.current_frame */
	FR_CODE = 32,            /* _PyInterpreterFrame.f_code */
	FR_PREVIOUS = 48,        /* .previous */
	FR_PREV_INSTR = 56,      /* .prev_instr */
	FR_IS_ENTRY = 68,        /* .is_entry */
	OB_TYPE = 8,             /* PyObject.ob_type */
	CO_FIRSTLINENO = 72,     /* PyCodeObject.co_firstlineno */
	CO_FILENAME = 112,
	CO_QUALNAME = 128,
	CO_LINETABLE = 136,
	CO_CODE_ADAPTIVE = 184,  /* the instructions, 2-byte code units */
	BYTES_SIZE = 16,         /* PyVarObject.ob_size */
	BYTES_DATA = 32,         /* PyBytesObject.ob_sval */
	STR_LENGTH = 16,         /* PyASCIIObject.length (code points) */
	STR_STATE = 32,          /* its bit fields: interned:2 kind:3 compact:1 ascii:1 */
	STR_ASCII_DATA = 48,     /* a compact ASCII string's characters */
	STR_UTF8_LENGTH = 48,    /* PyCompactUnicodeObject.utf8_length */
	STR_UTF8 = 56,           /* its cached UTF-8, or NULL */
	STR_DATA = 72,           /* a compact non-ASCII string's code units */
};

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
	memcpy(&state, u + STR_STATE, sizeof(state));
	memcpy(&n, u + STR_LENGTH, sizeof(n));
	unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
	if (!compact || n < 0)
		return 0;
	const char *utf8 = ascii ? u + STR_ASCII_DATA : ls_py_ptr(u, STR_UTF8);
	if (utf8 != NULL) {
		if (!ascii)
			memcpy(&n, u + STR_UTF8_LENGTH, sizeof(n));
		*cut = n > (int64_t)max;
		uint32_t len = *cut ? max : (uint32_t)n;
		memcpy(buf, utf8, len);
		return len;
	}
	uint32_t len = 0;
	for (int64_t i = 0; i < n; i++) {
		uint32_t c = kind == 1 ? ((const uint8_t *)u)[STR_DATA + i]
			   : kind == 2 ? ((const uint16_t *)(u + STR_DATA))[i]
				       : ((const uint32_t *)(u + STR_DATA))[i];
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
	struct ls_rec_pycode h = { .firstlineno = k->firstlineno, .version = 311 };
	h.file_len = (uint16_t)ls_py_str(k->file, file, sizeof(file), &cut_file);
	h.name_len = (uint16_t)ls_py_str(k->name, name, sizeof(name), &cut_name);
	h.flags = (uint16_t)((cut_file ? LS_PYCODE_CUT_FILE : 0) | (cut_name ? LS_PYCODE_CUT_NAME : 0));
	const uint8_t *lines = NULL;
	if (k->lines != NULL) {
		int64_t n;
		memcpy(&n, k->lines + BYTES_SIZE, sizeof(n));
		if (n > 0) {
			h.lines_len = n > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
			lines = (const uint8_t *)k->lines + BYTES_DATA;
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
		.code = code, .file = ls_py_ptr(code, CO_FILENAME),
		.name = ls_py_ptr(code, CO_QUALNAME), .lines = ls_py_ptr(code, CO_LINETABLE),
	};
	memcpy(&k.firstlineno, code + CO_FIRSTLINENO, sizeof(k.firstlineno));
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

static const char *ls_py_current_frame(void)
{
	const char *ts = get_tstate();
	if (ts == NULL)
		return NULL;
	const char *cf = ls_py_ptr(ts, TS_CFRAME);
	return cf != NULL ? ls_py_ptr(cf, CF_CURRENT_FRAME) : NULL;
}

/* Could p be an object's address (the frame chain a signal handler
 * interrupted may be half-made)? */
static int ls_py_plausible(const char *p)
{
	return (uintptr_t)p >= 4096 && ((uintptr_t)p & 7) == 0;
}

/* n bytes at src into dst. other: src is another thread's, which may come
 * out of its system call and unmap it (a frame in a data-stack chunk it
 * pops) while this reads: copied by the kernel, which fails instead. */
static int ls_py_copy(void *dst, const char *src, size_t n, int other)
{
	if (!other) {
		memcpy(dst, src, n);
		return 1;
	}
	struct iovec local = { dst, n }, remote = { (void *)(uintptr_t)src, n };
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

/* The frames from f outward, at most max. Every step is checked before
 * it is followed (a code object is one: its type is PyCode_Type, the
 * instruction inside it), and the walk ends at the first that is not:
 * frames so far are kept. keep: in a signal handler or of another thread
 * (ls_py_code_id); other: of another thread (ls_py_copy). */
static uint32_t ls_py_walk(const char *f, struct ls_py_frame *out, uint32_t max, int keep,
			   int other)
{
	uint32_t n = 0;
	char fr[FR_IS_ENTRY + 1], co[CO_CODE_ADAPTIVE];
	while (n < max && ls_py_plausible(f) && ls_py_copy(fr, f, sizeof(fr), other)) {
		const char *code = ls_py_ptr(fr, FR_CODE);
		const char *prev = ls_py_ptr(fr, FR_PREV_INSTR);
		if (!ls_py_plausible(code) || !ls_py_copy(co, code, sizeof(co), other) ||
		    ls_py_ptr(co, OB_TYPE) != code_type)
			break;
		int64_t units;
		memcpy(&units, co + BYTES_SIZE, sizeof(units));   /* Py_SIZE: code units */
		/* A frame that has not run its first instruction yet points
		 * one unit before its code: its first line. */
		const char *start = code + CO_CODE_ADAPTIVE;
		if (units <= 0 || prev < start - 2 || prev >= start + units * 2)
			break;
		out[n].code = ls_py_code_id(code, keep);
		out[n].lasti = prev >= start ? (uint32_t)((prev - start) / 2) : 0;
		out[n].flags = fr[FR_IS_ENTRY] ? LS_PY_ENTRY : 0;
		n++;
		const char *next = ls_py_ptr(fr, FR_PREVIOUS);
		if (next == f)
			break;
		f = next;
	}
	return n;
}

static uint32_t ls_py_frames(struct ls_py_frame *out, uint32_t max)
{
	return ls_py_walk(ls_py_current_frame(), out, max, 0, 0);
}

/* The frames of thread state ts (kept, not written: see py_sample). */
static uint32_t ls_py_walk_state(const char *ts, struct ls_py_frame *out, uint32_t max, int other)
{
	const char *cf, *f;
	if (!ls_py_plausible(ts) || !ls_py_copy(&cf, ts + TS_CFRAME, sizeof(cf), other) ||
	    !ls_py_plausible(cf) || !ls_py_copy(&f, cf + CF_CURRENT_FRAME, sizeof(f), other))
		return 0;
	return ls_py_walk(f, out, max, 1, other);
}

/* In the watchdog's signal handler, on the thread it interrupted: its
 * own thread state (a thread-specific read), its own frames, which stay
 * put while the handler runs. */
static uint32_t ls_py_sample(struct ls_py_frame *out, uint32_t max)
{
	return ls_py_walk_state(get_tstate(), out, max, 0);
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
	if (!ls_py_plausible(ts) || !ls_py_copy(&native, ts + TS_NATIVE_THREAD_ID, sizeof(native), 1))
		return 0;
	return native == tid ? ls_py_walk_state(ts, out, max, 1) : 0;
}

/* Where this thread's innermost Python frame is: its next instruction's
 * address tells its code object and instruction apart. */
static uintptr_t ls_py_where(void)
{
	const char *f = ls_py_current_frame();
	return f != NULL ? (uintptr_t)ls_py_ptr(f, FR_PREV_INSTR) : 0;
}

/* A word for where this thread's Python frames are, the innermost
 * `depth` of them (code and instruction each), 0 when it runs none: a
 * cache key that tells apart two calls of one asyncio function (its
 * caller's caller and further out differ). Loads only. */
uint64_t ls_py_chain_key(uint32_t depth)
{
	const char *f = ls_py_current_frame();
	uint64_t h = 0;
	for (uint32_t n = 0; n < depth && ls_py_plausible(f); n++) {
		h = (h ^ (uint64_t)(uintptr_t)ls_py_ptr(f, FR_PREV_INSTR)) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		const char *next = ls_py_ptr(f, FR_PREVIOUS);
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

/* Is this process CPython (the executable or a libpython it links
 * exports the runtime), and which version? */
static void ls_py_init(void)
{
	const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	void *tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
	if (version == NULL || tstate == NULL || dlsym(RTLD_DEFAULT, "_PyRuntime") == NULL)
		return;
	const char *v = version();
	if (sizeof(void *) != 8 || strncmp(v, "3.11.", 5) != 0) {
		ls_trace_hooks_add(&ls_py_unsupported_hooks);
		return;
	}
	code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
	if (code_type == NULL)
		return;
	get_tstate = (void *(*)(void))tstate;
	ls_trace_hooks_add(&ls_py_hooks);
	ls_py_asyncio_init();
}

LS_FAMILY(py) = {
	.name = "py",
	.init = ls_py_init,
};
