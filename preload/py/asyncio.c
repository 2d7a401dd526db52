/* asyncio's own checks, made from inside the interpreter (CPython 3.11,
 * 3.12, 3.13).
 *
 * asyncio knows what went wrong in a program (a coroutine never awaited, a
 * task's exception nobody retrieved, a transport collected unclosed, a
 * handle that ran too long, call_soon from another thread) but says most of
 * it only in debug mode, at some 10-20x the cost. The shim asks the
 * interpreter instead, with no code change and no Python of its own:
 *
 *   - At load, an audit hook (PySys_AddAuditHook, allowed before the
 *     interpreter starts). It looks at one event, "import", which fires
 *     once per module, before the module is loaded. When the program first
 *     imports asyncio (or uvloop), the hook imports it itself, at once (the
 *     program's import then finds it done: the same modules end up in
 *     sys.modules), and puts its wrappers in.
 *   - The wrappers are C functions, set in place of a few Python-level
 *     functions and methods; each calls the original with the same
 *     arguments and hands back what it returned, so asyncio's own
 *     behaviour, warnings and log output are unchanged; no Python frame of
 *     the shim's appears in a traceback. They are:
 *       warnings.warn, warnings._warn_unawaited_coroutine: the unclosed
 *         ResourceWarnings of asyncio and uvloop, never-awaited coroutines;
 *       asyncio's _set_running_loop: which thread runs which loop;
 *       call_soon, call_later, call_at, create_task of BaseEventLoop and
 *         uvloop.Loop: the thread check, and where a handle was scheduled;
 *       call_exception_handler: "Task exception was never retrieved";
 *       Handle._run (the default loop runs every callback through it):
 *         each callback timed like a native one, under a site that names
 *         its Python function (slow-callback, stuck_at, stats);
 *       transports.BaseTransport.__init__: where a transport was made.
 *   uvloop runs its handles in C, inside libuv callbacks the uv family
 *   already times; there the Python function is named by the viewer from
 *   the frames that callback ran.
 *
 * Compiled against 3.11's headers (libpython3.11-dev) and run on 3.11 to
 * 3.13: what it reads of an object by layout is what those three share
 * (a type's name and dict, a tuple's items, a bound method's function and
 * self, a traceback's fields, a member descriptor's offset, a
 * TaskStepMethWrapper's task); reference counts and everything else go
 * through the runtime's own functions.
 *
 * Everything here runs with the GIL held (the hook and the wrappers are
 * called by the interpreter), which also guards this file's tables. An
 * error of the shim's own is cleared and never reaches the program: the
 * original is still called. */
#if !__has_include(<Python.h>)
/* Built without CPython's headers (libpython3.11-dev, which scripts/deps.sh
 * installs): Python frames still, asyncio's checks not. */
#include "preload/py/py_shim.h"

void ls_py_asyncio_init(uint32_t version)
{
	(void)version;
}
#else
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/py/py_shim.h"

/* The C API is resolved when the process has it, and never makes the shim
 * fail to load where it has not: every symbol this file uses is weak. */
#pragma weak PySys_AddAuditHook
#pragma weak PyImport_ImportModule
#pragma weak PyImport_GetModule
#pragma weak PyObject_GetAttrString
#pragma weak PyObject_SetAttrString
#pragma weak PyObject_GetAttr
#pragma weak PyDescr_NewMethod
#pragma weak PyCFunction_NewEx
#pragma weak PyObject_Vectorcall
#pragma weak PyObject_VectorcallDict
#pragma weak PyErr_Fetch
#pragma weak PyErr_Restore
#pragma weak PyErr_Clear
#pragma weak PyErr_Occurred
#pragma weak PyUnicode_AsUTF8AndSize
#pragma weak PyUnicode_FromString
#pragma weak PyUnicode_CompareWithASCIIString
#pragma weak PyUnicode_Type
#pragma weak PyTuple_Type
#pragma weak PyDict_Type
#pragma weak PyDict_GetItemString
#pragma weak PyFunction_Type
#pragma weak PyMethod_Type
#pragma weak PyCFunction_Type
#pragma weak PyMemberDescr_Type
#pragma weak PyCode_Type
#pragma weak PyType_Type
#pragma weak PyObject_IsSubclass
#pragma weak PyType_IsSubtype
#pragma weak PyObject_Str
#pragma weak PyExc_ResourceWarning
#pragma weak PyFrame_GetCode
#pragma weak PyLong_AsLong
#pragma weak _Py_Dealloc
#pragma weak _Py_NoneStruct
#pragma weak PyInterpreterState_Get
#pragma weak PyInterpreterState_Main
#pragma weak Py_IsInitialized
#pragma weak PyCMethod_New
#pragma weak PyThreadState_Get
#pragma weak PyErr_NoMemory
#pragma weak PyException_GetTraceback
#pragma weak PyMem_Free
#pragma weak PyMem_Malloc
#pragma weak PyObject_CallOneArg

/* Reference counts through the runtime's own functions, never 3.11's
 * inline ones: 3.12 and 3.13 keep immortal objects' counts apart. */
#pragma weak Py_IncRef
#pragma weak Py_DecRef
#pragma weak PyFunction_GetCode
#pragma weak PyObject_CallNoArgs
#undef Py_INCREF
#undef Py_DECREF
#undef Py_XDECREF
#define Py_INCREF(o) Py_IncRef((PyObject *)(o))
#define Py_DECREF(o) Py_DecRef((PyObject *)(o))
#define Py_XDECREF(o) Py_DecRef((PyObject *)(o))

static int busy;          /* the hook's own imports raise "import" too */
static int asyncio_done, uvloop_done;

/* ---- small helpers ---- */

/* What the program had pending (an exception being handled, set, ...) is
 * kept aside while the shim works, and put back after. */
struct ls_py_err {
	PyObject *type, *value, *tb;
};

static void ls_py_err_save(struct ls_py_err *e)
{
	PyErr_Fetch(&e->type, &e->value, &e->tb);
}

static void ls_py_err_restore(struct ls_py_err *e)
{
	PyErr_Clear();
	PyErr_Restore(e->type, e->value, e->tb);
}

/* A str's UTF-8, or "" (never an error). */
static const char *ls_py_utf8(PyObject *s, Py_ssize_t *len)
{
	if (s == NULL || !PyUnicode_Check(s)) {
		*len = 0;
		return "";
	}
	const char *u = PyUnicode_AsUTF8AndSize(s, len);
	if (u == NULL) {
		PyErr_Clear();
		*len = 0;
		return "";
	}
	return u;
}

/* The code object a callable runs: a function's, a bound method's
 * function's, a functools.partial's func's (a few levels); NULL for
 * anything else (a builtin, a callable object: never asked anything that
 * could run the program's code). */
static PyObject *ls_py_code_of(PyObject *cb)
{
	for (int depth = 0; cb != NULL && depth < 4; depth++) {
		PyTypeObject *t = Py_TYPE(cb);
		if (t == &PyFunction_Type)
			return PyFunction_GetCode(cb);
		if (t == &PyMethod_Type) {
			cb = PyMethod_GET_FUNCTION(cb);
			continue;
		}
		if (t == &PyCode_Type)
			return cb;
		if (t->tp_name[0] != 'f' || strcmp(t->tp_name, "functools.partial") != 0)
			return NULL;
		PyObject *f = PyObject_GetAttrString(cb, "func");   /* a member of partial's */
		if (f == NULL) {
			PyErr_Clear();
			return NULL;
		}
		Py_DECREF(f);  /* the partial holds it */
		cb = f;
	}
	return NULL;
}

static uint32_t ls_py_code_id_of(PyObject *cb)
{
	PyObject *code = ls_py_code_of(cb);
	return code != NULL ? ls_py_code_id((const char *)code, 0) : 0;
}

/* A coroutine's (or a generator-based one's) code, borrowed from it (it
 * holds it); NULL if none. */
static PyObject *ls_py_coro_code(PyObject *coro)
{
	static const char *const attrs[] = { "cr_code", "gi_code" };
	for (size_t i = 0; coro != NULL && i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		PyObject *c = PyObject_GetAttrString(coro, attrs[i]);
		if (c == NULL) {
			PyErr_Clear();
			continue;
		}
		Py_DECREF(c);
		return Py_IS_TYPE(c, &PyCode_Type) ? c : NULL;
	}
	return NULL;
}

/* A task's coroutine (task.get_coro()), a new reference; NULL if none. */
static PyObject *ls_py_task_coro(PyObject *task)
{
	PyObject *get = PyObject_GetAttrString(task, "get_coro");
	PyObject *coro = get != NULL ? PyObject_CallNoArgs(get) : NULL;
	Py_XDECREF(get);
	PyErr_Clear();
	return coro;
}

/* PY_EVENT: what, the stacks, and two strings. */
static void ls_py_event(uint32_t what, uint32_t where, uint32_t made_at, uint32_t raised_at,
			uint32_t loop_tid, uint32_t api, const char *name, size_t name_len,
			const char *text, size_t text_len)
{
	if (name_len > LS_PY_EVENT_TEXT_MAX)
		name_len = LS_PY_EVENT_TEXT_MAX;
	if (text_len > LS_PY_EVENT_TEXT_MAX)
		text_len = LS_PY_EVENT_TEXT_MAX;
	uint32_t size = (uint32_t)(sizeof(struct ls_rec) + sizeof(struct ls_rec_py_event) +
				   ((name_len + text_len + 7) & ~(size_t)7));
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	memset(r, 0, size);
	r->type = LS_REC_PY_EVENT;
	r->size = (uint16_t)size;
	r->arg = where;
	struct ls_rec_py_event *e = (struct ls_rec_py_event *)(r + 1);
	e->what = what;
	e->made_at = made_at;
	e->raised_at = raised_at;
	e->loop_tid = loop_tid;
	e->time_ns = ls_now();
	e->name_len = (uint16_t)name_len;
	e->text_len = (uint16_t)text_len;
	e->api = api;
	memcpy(e + 1, name, name_len);
	memcpy((char *)(e + 1) + name_len, text, text_len);
	ls_rec_commit(size);
}

/* ---- tables: handle, task and transport -> what the shim knows ----
 *
 * Direct-mapped by address, an entry overwritten by the next object that
 * maps there: a lookup that misses only loses a name or a stack. Each
 * entry also keeps a second word of its object (its callback) to tell a
 * new object at a freed one's address apart. */
#define LS_PY_TABLE 16384u   /* 3 x 384 KiB, touched as used */

struct ls_py_ent {
	PyObject *obj;
	PyObject *check;
	uint32_t site;    /* handles and tasks: their site */
	uint32_t stack;   /* transports: where made; tasks: where created */
};

static struct ls_py_ent handles[LS_PY_TABLE], tasks[LS_PY_TABLE], transports[LS_PY_TABLE];

static inline struct ls_py_ent *ls_py_ent(struct ls_py_ent *t, const void *obj)
{
	uintptr_t a = (uintptr_t)obj;
	return &t[((a >> 4) ^ (a >> 16)) & (LS_PY_TABLE - 1)];
}

/* ---- the wrapped originals ---- */

enum ls_py_loop_kind { LS_PY_BASE, LS_PY_UVLOOP, LS_PY_KINDS };

static struct ls_py_orig {
	PyObject *call_soon, *call_later, *call_at, *create_task, *exc_handler;
} orig[LS_PY_KINDS];

static PyObject *orig_run, *orig_set_running, *orig_warn, *orig_unawaited, *orig_transport_init;
static PyTypeObject *task_type, *step_type;
static Py_ssize_t callback_off;  /* Handle's _callback slot */

/* Calls f(self, args...) as the interpreter called the wrapper. */
static PyObject *ls_py_call_orig(PyObject *f, PyObject *self, PyObject *const *args,
				 Py_ssize_t nargs, PyObject *kwnames)
{
	Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
	PyObject *small[8], **buf = small;
	if (nargs + nkw + 1 > 8) {
		buf = PyMem_Malloc(sizeof(PyObject *) * (size_t)(nargs + nkw + 1));
		if (buf == NULL)
			return PyErr_NoMemory();
	}
	buf[0] = self;
	memcpy(buf + 1, args, sizeof(PyObject *) * (size_t)(nargs + nkw));
	PyObject *r = PyObject_Vectorcall(f, buf, (size_t)(nargs + 1), kwnames);
	if (buf != small)
		PyMem_Free(buf);
	return r;
}

/* ---- which thread runs which loop ---- */

#define LS_PY_LOOPS 64
static struct {
	PyObject *loop;   /* borrowed: 0 once that run ended */
	uint32_t tid;
} running[LS_PY_LOOPS];
static __thread PyObject *running_here;

static PyObject *ls_py_set_running(PyObject *self, PyObject *loop)
{
	(void)self;
	uint32_t tid = ls_trace_tid();
	for (int i = 0; i < LS_PY_LOOPS; i++)
		if (running[i].tid == tid)
			running[i].loop = NULL, running[i].tid = 0;
	running_here = NULL;
	if (loop != Py_None) {
		running_here = loop;
		for (int i = 0; i < LS_PY_LOOPS; i++)
			if (running[i].loop == NULL) {
				running[i].loop = loop, running[i].tid = tid;
				break;
			}
	}
	return PyObject_CallOneArg(orig_set_running, loop);
}

static PyMethodDef set_running_def = {
	"_set_running_loop", ls_py_set_running, METH_O,
	"_set_running_loop(loop, /)\n--\n\n"
	"Set the running event loop.\n\nThis is a low-level function intended to be used by event loops.\n"
	"This function is thread-specific.",
};

/* A non-threadsafe method of `loop` called here while another thread runs
 * it: asyncio checks that in debug mode only. 1 when it was. */
static int ls_py_thread_check(PyObject *loop, uint32_t api)
{
	if (LS_LIKELY(loop == running_here))
		return 0;
	for (int i = 0; i < LS_PY_LOOPS; i++) {
		if (running[i].loop != loop)
			continue;
		uint32_t loop_tid = running[i].tid;
		if (loop_tid == ls_trace_tid())
			return 0;
		const char *name = ls_api_name(api);
		ls_py_event(LS_PY_WRONG_THREAD, ls_stack_capture(), 0, 0, loop_tid, api, name,
			    strlen(name), "", 0);
		ls_trace_note_wrong_thread();
		if (ls_opt.halt_on_wrong_thread) {
			/* As asyncio's debug mode raises: here, the trace written. */
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "loopsan: wrong-thread: %s called from thread %u while thread %u "
				 "runs the loop; halting (halt_on_wrong_thread=1)\n",
				 name, ls_trace_tid(), loop_tid);
			ls_trace_say(msg);
			ls_trace_finish();
			abort();
		}
		return 1;
	}
	return 0;
}

/* ---- scheduling: where each handle was made ---- */

/* A TaskStepMethWrapper's task (its first field, sw_task), if it is one. */
static PyObject *ls_py_step_task(PyObject *cb)
{
	PyObject *task = ((PyObject **)cb)[2];
	return task != NULL && task_type != NULL && PyObject_TypeCheck(task, task_type) ? task : NULL;
}

/* Is cb a task's step (or wake-up) callback? Then its task. The C
 * Task's step callbacks are of a type of _asyncio's own that no module
 * names: known by its name at first sight. */
static PyObject *ls_py_task_of(PyObject *cb)
{
	PyTypeObject *t = Py_TYPE(cb);
	if (t == step_type)
		return ls_py_step_task(cb);
	if (step_type == NULL && (t->tp_name[0] == 'T' || t->tp_name[0] == '_') &&
	    (strcmp(t->tp_name, "TaskStepMethWrapper") == 0 ||             /* 3.11 */
	     strcmp(t->tp_name, "_asyncio.TaskStepMethWrapper") == 0)) {   /* 3.12, 3.13 */
		step_type = t;
		return ls_py_step_task(cb);
	}
	PyObject *self = NULL;
	if (t == &PyCFunction_Type)
		self = PyCFunction_GET_SELF(cb);   /* task_wakeup */
	else if (t == &PyMethod_Type)
		self = PyMethod_GET_SELF(cb);      /* a Python Task's __step */
	if (self != NULL && task_type != NULL && PyObject_TypeCheck(self, task_type))
		return self;
	return NULL;
}

/* Sites by Python call path: the innermost frames of the caller (asyncio's
 * own functions, such as asyncio.create_task or asyncio.sleep, are called
 * from everywhere: their callers tell the paths apart), the api, and the
 * code the handle runs. A path's stack is unwound once. */
#define LS_PY_PATHS 4096u
#define LS_PY_PATH_DEPTH 4u

static struct ls_py_path {
	uint64_t key;
	uint32_t site, stack;
} paths[LS_PY_PATHS];

static struct ls_py_path *ls_py_path(uint32_t api, PyObject *code)
{
	uint64_t key = ls_py_chain_key(PyThreadState_Get(), LS_PY_PATH_DEPTH);
	key ^= ((uint64_t)(uintptr_t)code * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)api << 56);
	key |= 1;
	struct ls_py_path *p = &paths[(key ^ (key >> 32)) & (LS_PY_PATHS - 1)];
	if (p->key == key)
		return p;
	p->key = 0;
	p->stack = ls_stack_capture();
	p->site = api != 0
		? ls_site_intern(api, p->stack, code != NULL ? ls_py_code_id((const char *)code, 0) : 0)
		: 0;
	p->key = key;
	return p;
}

/* call_later is call_at (asyncio's own call_later calls self.call_at):
 * the outer call names the site, the inner one keeps it. */
static __thread int sched_depth;
static __thread uint32_t sched_site;

static PyObject *ls_py_schedule(int kind, uint32_t api, PyObject *self, PyObject *const *args,
				Py_ssize_t nargs, PyObject *kwnames)
{
	struct ls_py_orig *o = &orig[kind];
	PyObject *f = api == LS_API_PY_CALL_SOON ? o->call_soon
		    : api == LS_API_PY_CALL_LATER ? o->call_later : o->call_at;
	int wrong = ls_py_thread_check(self, api);
	/* The callback is the first argument of call_soon, the second of
	 * call_later and call_at. */
	Py_ssize_t at = api == LS_API_PY_CALL_SOON ? 0 : 1;
	PyObject *cb = nargs > at ? args[at] : NULL;
	uint32_t site = 0;
	if (sched_depth > 0) {
		site = sched_site;
	} else if (kind == LS_PY_BASE && cb != NULL && ls_py_task_of(cb) == NULL) {
		site = ls_py_path(api, ls_py_code_of(cb))->site;
		if (PyErr_Occurred())
			PyErr_Clear();
	}
	sched_depth++;
	sched_site = site;
	/* uvloop's call_soon then starts its idle handle from this thread
	 * too: one mistake, reported once, here. */
	ls_lt.wrong_said += (uint32_t)wrong;
	PyObject *h = ls_py_call_orig(f, self, args, nargs, kwnames);
	ls_lt.wrong_said -= (uint32_t)wrong;
	sched_depth--;
	if (h != NULL && site != 0) {
		struct ls_py_ent *e = ls_py_ent(handles, h);
		e->obj = h, e->check = cb, e->site = site, e->stack = 0;
	}
	return h;
}

#define LS_PY_SCHED(fn, kind, api)                                             \
	static PyObject *fn(PyObject *self, PyObject *const *args, Py_ssize_t nargs, \
			    PyObject *kwnames)                                  \
	{                                                                      \
		return ls_py_schedule(kind, api, self, args, nargs, kwnames);   \
	}

LS_PY_SCHED(base_call_soon, LS_PY_BASE, LS_API_PY_CALL_SOON)
LS_PY_SCHED(base_call_later, LS_PY_BASE, LS_API_PY_CALL_LATER)
LS_PY_SCHED(base_call_at, LS_PY_BASE, LS_API_PY_CALL_AT)
LS_PY_SCHED(uv_call_soon, LS_PY_UVLOOP, LS_API_PY_CALL_SOON)
LS_PY_SCHED(uv_call_later, LS_PY_UVLOOP, LS_API_PY_CALL_LATER)
LS_PY_SCHED(uv_call_at, LS_PY_UVLOOP, LS_API_PY_CALL_AT)

/* create_task: the thread check, and the task's site (its coroutine's
 * code, where it was created) for its steps and its lost exception. */
static PyObject *ls_py_create_task(int kind, PyObject *self, PyObject *const *args,
				   Py_ssize_t nargs, PyObject *kwnames)
{
	int wrong = ls_py_thread_check(self, LS_API_PY_CREATE_TASK);
	ls_lt.wrong_said += (uint32_t)wrong;
	PyObject *t = ls_py_call_orig(orig[kind].create_task, self, args, nargs, kwnames);
	ls_lt.wrong_said -= (uint32_t)wrong;
	if (t == NULL || nargs < 1)
		return t;
	PyObject *coro = args[0];
	struct ls_py_path *p = ls_py_path(LS_API_PY_CREATE_TASK, ls_py_coro_code(coro));
	struct ls_py_ent *e = ls_py_ent(tasks, t);
	e->obj = t, e->check = coro, e->site = p->site, e->stack = p->stack;
	return t;
}

static PyObject *base_create_task(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
				  PyObject *kwnames)
{
	return ls_py_create_task(LS_PY_BASE, self, args, nargs, kwnames);
}

static PyObject *uv_create_task(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
				PyObject *kwnames)
{
	return ls_py_create_task(LS_PY_UVLOOP, self, args, nargs, kwnames);
}

/* ---- Handle._run: every callback of the default loop ---- */

static uint32_t ls_py_task_site(PyObject *task, struct ls_py_ent *e)
{
	PyObject *coro = ls_py_task_coro(task);
	PyObject *code = ls_py_coro_code(coro);
	uint32_t id = code != NULL ? ls_py_code_id((const char *)code, 0) : 0;
	uint32_t site = ls_site_intern(LS_API_PY_CREATE_TASK, 0, id);
	e->obj = task, e->check = coro, e->site = site, e->stack = 0;
	Py_XDECREF(coro);
	return site;
}

/* The site of a handle about to run: its task's, the one it was
 * scheduled under, or (made without call_soon: a reader, a writer) one
 * without a stack, kept for its next run. */
static uint32_t ls_py_run_site(PyObject *h)
{
	if (callback_off <= 0)
		return 0;
	PyObject *cb = *(PyObject **)((char *)h + callback_off);
	if (cb == NULL)
		return 0;
	PyObject *task = ls_py_task_of(cb);
	if (task != NULL) {
		struct ls_py_ent *e = ls_py_ent(tasks, task);
		if (e->obj == task)
			return e->site;
		/* A task made without create_task (asyncio.Task(...)), or
		 * whose entry another task took: named by its coroutine,
		 * where it was created unknown. */
		return ls_py_task_site(task, e);
	}
	struct ls_py_ent *e = ls_py_ent(handles, h);
	if (e->obj == h && e->check == cb)
		return e->site;
	uint32_t code = ls_py_code_id_of(cb);
	if (PyErr_Occurred())
		PyErr_Clear();
	uint32_t site = ls_site_intern(LS_API_PY_CALL_SOON, 0, code);
	e->obj = h, e->check = cb, e->site = site, e->stack = 0;
	return site;
}

static PyObject *ls_py_handle_run(PyObject *self, PyObject *unused)
{
	(void)unused;
	uint32_t site = ls_py_run_site(self);
	PyObject *r;
	if (site == 0)
		return PyObject_CallOneArg(orig_run, self);
	LS_TIMED(site, 1, r = PyObject_CallOneArg(orig_run, self));
	return r;
}

static PyMethodDef handle_run_def = { "_run", ls_py_handle_run, METH_NOARGS, NULL };

/* ---- lost exceptions ---- */

/* The traceback of exc as a stack of Python frames, innermost first. */
static uint32_t ls_py_traceback_stack(PyObject *exc)
{
	PyObject *tb = PyException_GetTraceback(exc);
	if (tb == NULL)
		return 0;
	struct ls_py_frame fr[LS_MAX_STACK_DEPTH];
	uint32_t n = 0;
	/* The chain runs outermost first: keep the innermost frames. */
	for (PyTracebackObject *t = (PyTracebackObject *)tb; t != NULL; t = t->tb_next) {
		PyCodeObject *code = PyFrame_GetCode(t->tb_frame);
		uint32_t id = ls_py_code_id((const char *)code, 0);
		Py_DECREF(code);
		if (n == LS_MAX_STACK_DEPTH) {
			memmove(fr, fr + 1, sizeof(fr[0]) * (n - 1));
			n--;
		}
		fr[n].code = id;
		fr[n].lasti = t->tb_lasti >= 0 ? (uint32_t)t->tb_lasti / 2u : 0;
		fr[n].flags = 0;
		n++;
	}
	Py_DECREF(tb);
	for (uint32_t i = 0; i < n / 2; i++) {
		struct ls_py_frame x = fr[i];
		fr[i] = fr[n - 1 - i];
		fr[n - 1 - i] = x;
	}
	return n ? ls_stack_intern_pcs_py(NULL, 0, 0, fr, n) : 0;
}

static void ls_py_dropped(PyObject *context)
{
	PyObject *msg = PyDict_GetItemString(context, "message");
	PyObject *exc = PyDict_GetItemString(context, "exception");
	PyObject *fut = PyDict_GetItemString(context, "future");
	if (msg == NULL || exc == NULL || !PyExceptionInstance_Check(exc) ||
	    (PyUnicode_CompareWithASCIIString(msg, "Task exception was never retrieved") != 0 &&
	     PyUnicode_CompareWithASCIIString(msg, "Future exception was never retrieved") != 0))
		return;
	char name[LS_PY_EVENT_TEXT_MAX], text[LS_PY_EVENT_TEXT_MAX];
	uint32_t made_at = 0;
	int is_task = fut != NULL && task_type != NULL && PyObject_TypeCheck(fut, task_type);
	snprintf(name, sizeof(name), is_task ? "Task" : "Future");
	if (is_task) {
		struct ls_py_ent *e = ls_py_ent(tasks, fut);
		if (e->obj == fut)
			made_at = e->stack;
		PyObject *coro = ls_py_task_coro(fut);
		PyObject *qn = coro != NULL ? PyObject_GetAttrString(coro, "__qualname__") : NULL;
		Py_ssize_t len;
		const char *q = ls_py_utf8(qn, &len);
		if (len > 0)
			snprintf(name, sizeof(name), "Task %.*s()", (int)len, q);
		Py_XDECREF(qn);
		Py_XDECREF(coro);
		PyErr_Clear();
	}
	/* Its type and message, as asyncio's log shows them. */
	PyObject *s = PyObject_Str(exc);
	Py_ssize_t len;
	const char *m = ls_py_utf8(s, &len);
	const char *tn = Py_TYPE(exc)->tp_name;
	const char *dot = strrchr(tn, '.');
	snprintf(text, sizeof(text), "%s%s%.*s", dot ? dot + 1 : tn, len ? ": " : "", (int)len, m);
	Py_XDECREF(s);
	PyErr_Clear();
	ls_py_event(LS_PY_DROPPED_ERROR, ls_stack_capture(), made_at, ls_py_traceback_stack(exc), 0,
		    0, name, strlen(name), text, strlen(text));
	ls_trace_note_dropped_error();
}

static PyObject *ls_py_exc_handler(int kind, PyObject *self, PyObject *const *args,
				   Py_ssize_t nargs, PyObject *kwnames)
{
	if (nargs >= 1 && PyDict_Check(args[0])) {
		struct ls_py_err err;
		ls_py_err_save(&err);
		ls_py_dropped(args[0]);
		ls_py_err_restore(&err);
	}
	return ls_py_call_orig(orig[kind].exc_handler, self, args, nargs, kwnames);
}

static PyObject *base_exc_handler(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
				  PyObject *kwnames)
{
	return ls_py_exc_handler(LS_PY_BASE, self, args, nargs, kwnames);
}

static PyObject *uv_exc_handler(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
				PyObject *kwnames)
{
	return ls_py_exc_handler(LS_PY_UVLOOP, self, args, nargs, kwnames);
}

/* ---- warnings: never awaited, unclosed ---- */

static PyObject *ls_py_unawaited(PyObject *self, PyObject *coro)
{
	(void)self;
	struct ls_py_err err;
	ls_py_err_save(&err);
	PyObject *qn = PyObject_GetAttrString(coro, "__qualname__");
	PyErr_Clear();
	PyObject *code = ls_py_coro_code(coro);
	Py_ssize_t nlen = 0, flen = 0;
	const char *name = ls_py_utf8(qn, &nlen);
	char text[LS_PY_EVENT_TEXT_MAX] = "";
	if (code != NULL) {
		PyObject *fn = PyObject_GetAttrString(code, "co_filename");
		PyObject *ln = PyObject_GetAttrString(code, "co_firstlineno");
		const char *file = ls_py_utf8(fn, &flen);
		long line = ln != NULL ? PyLong_AsLong(ln) : 0;
		snprintf(text, sizeof(text), "%.*s:%ld", (int)flen, file, line);
		Py_XDECREF(fn);
		Py_XDECREF(ln);
		PyErr_Clear();
	}
	ls_py_event(LS_PY_NEVER_AWAITED, ls_stack_capture(), 0, 0, 0, 0, name, (size_t)nlen, text,
		    strlen(text));
	ls_trace_note_never_awaited();
	Py_XDECREF(qn);
	ls_py_err_restore(&err);
	return PyObject_CallOneArg(orig_unawaited, coro);
}

static PyMethodDef unawaited_def = { "_warn_unawaited_coroutine", ls_py_unawaited, METH_O, NULL };

/* warnings.warn(message, category=None, stacklevel=1, source=None): an
 * asyncio (or uvloop) object's "unclosed ..." ResourceWarning, whether
 * or not the filters show it. */
static void ls_py_unclosed(PyObject *msg, PyObject *source)
{
	Py_ssize_t len;
	const char *m = ls_py_utf8(msg, &len);
	if (len < 9 || strncmp(m, "unclosed ", 9) != 0)
		return;
	static const char *const kinds[] = { "transport", "event loop", "server", "resource" };
	const char *what = "resource";
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strncmp(m + 9, kinds[k], strlen(kinds[k])) == 0)
			what = kinds[k];
	uint32_t made_at = 0;
	if (source != NULL) {
		struct ls_py_ent *e = ls_py_ent(transports, source);
		if (e->obj == source && e->check == (PyObject *)Py_TYPE(source))
			made_at = e->stack;
	}
	ls_py_event(LS_PY_UNCLOSED, ls_stack_capture(), made_at, 0, 0, 0, what, strlen(what), m,
		    (size_t)len);
	ls_trace_note_unclosed();
}

static PyObject *ls_py_warn(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
			    PyObject *kwnames)
{
	(void)self;
	PyObject *a[4] = { NULL, NULL, NULL, NULL };
	static const char *const names[4] = { "message", "category", "stacklevel", "source" };
	for (Py_ssize_t i = 0; i < nargs && i < 4; i++)
		a[i] = args[i];
	Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t k = 0; k < nkw; k++)
		for (int i = 0; i < 4; i++)
			if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, k), names[i]) == 0)
				a[i] = args[nargs + k];
	if (a[0] != NULL && PyUnicode_Check(a[0]) && a[1] != NULL && PyType_Check(a[1]) &&
	    PyType_IsSubtype((PyTypeObject *)a[1], (PyTypeObject *)PyExc_ResourceWarning)) {
		struct ls_py_err err;
		ls_py_err_save(&err);
		ls_py_unclosed(a[0], a[3]);
		ls_py_err_restore(&err);
	}
	return PyObject_Vectorcall(orig_warn, args, (size_t)nargs, kwnames);
}

static PyMethodDef warn_def = {
	"warn", (PyCFunction)(void (*)(void))ls_py_warn, METH_FASTCALL | METH_KEYWORDS,
	"warn(message, category=None, stacklevel=1, source=None)\n--\n\n"
	"Issue a warning, or maybe ignore it or raise an exception.",
};

/* BaseTransport.__init__(self, extra=None): where it was made. */
static PyObject *ls_py_transport_init(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
				      PyObject *kwnames)
{
	uint32_t stack = ls_py_path(0, NULL)->stack;
	if (stack != 0) {
		struct ls_py_ent *e = ls_py_ent(transports, self);
		e->obj = self, e->check = (PyObject *)Py_TYPE(self), e->site = 0, e->stack = stack;
	}
	return ls_py_call_orig(orig_transport_init, self, args, nargs, kwnames);
}

/* ---- putting the wrappers in ---- */

#define LS_PY_METH(n, f, doc) \
	{ n, (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS, doc }

static PyMethodDef base_defs[] = {
	LS_PY_METH("call_soon", base_call_soon, "call_soon($self, callback, *args, context=None)\n--\n\n"),
	LS_PY_METH("call_later", base_call_later, "call_later($self, delay, callback, *args, context=None)\n--\n\n"),
	LS_PY_METH("call_at", base_call_at, "call_at($self, when, callback, *args, context=None)\n--\n\n"),
	LS_PY_METH("create_task", base_create_task, "create_task($self, coro, *, name=None, context=None)\n--\n\n"),
	LS_PY_METH("call_exception_handler", base_exc_handler, "call_exception_handler($self, context)\n--\n\n"),
};

static PyMethodDef uv_defs[] = {
	LS_PY_METH("call_soon", uv_call_soon, NULL),
	LS_PY_METH("call_later", uv_call_later, NULL),
	LS_PY_METH("call_at", uv_call_at, NULL),
	LS_PY_METH("create_task", uv_create_task, NULL),
	LS_PY_METH("call_exception_handler", uv_exc_handler, NULL),
};

static PyMethodDef transport_init_def =
	LS_PY_METH("__init__", ls_py_transport_init, "__init__($self, extra=None)\n--\n\n");

/* cls.name = a method descriptor running def, the original kept in *keep.
 * Returns 0, or -1 (nothing changed). */
static int ls_py_patch_method(PyObject *cls, PyMethodDef *def, PyObject **keep)
{
	PyObject *o = PyObject_GetAttrString(cls, def->ml_name);
	if (o == NULL)
		return -1;
	PyObject *d = PyDescr_NewMethod((PyTypeObject *)cls, def);
	if (d == NULL || PyObject_SetAttrString(cls, def->ml_name, d) < 0) {
		Py_XDECREF(d);
		Py_DECREF(o);
		return -1;
	}
	Py_DECREF(d);
	*keep = o;   /* kept for good */
	return 0;
}

/* mod.name = a function running def, the original kept in *keep. */
static int ls_py_patch_function(PyObject *mod, PyMethodDef *def, PyObject **keep, const char *modname)
{
	PyObject *o = PyObject_GetAttrString(mod, def->ml_name);
	if (o == NULL)
		return -1;
	PyObject *mn = PyUnicode_FromString(modname);
	PyObject *f = mn != NULL ? PyCFunction_NewEx(def, NULL, mn) : NULL;
	Py_XDECREF(mn);
	if (f == NULL || PyObject_SetAttrString(mod, def->ml_name, f) < 0) {
		Py_XDECREF(f);
		Py_DECREF(o);
		return -1;
	}
	Py_DECREF(f);
	*keep = o;
	return 0;
}

static int ls_py_patch_loop(PyObject *cls, PyMethodDef *defs, struct ls_py_orig *o)
{
	PyObject **keep[5] = { &o->call_soon, &o->call_later, &o->call_at, &o->create_task,
			       &o->exc_handler };
	for (int i = 0; i < 5; i++)
		if (ls_py_patch_method(cls, &defs[i], keep[i]) < 0)
			return -1;
	return 0;
}

static PyObject *ls_py_attr(PyObject *o, const char *name)
{
	return o != NULL ? PyObject_GetAttrString(o, name) : NULL;
}

/* warnings, asyncio's modules, and the default loop's classes. */
static void ls_py_patch_asyncio(void)
{
	asyncio_done = 1;
	PyObject *warnings = PyImport_ImportModule("warnings");
	if (warnings != NULL) {
		ls_py_patch_function(warnings, &warn_def, &orig_warn, "_warnings");
		PyErr_Clear();
		if (orig_warn != NULL)   /* the C module's name of it too: uvloop's */
			ls_py_patch_function(warnings, &unawaited_def, &orig_unawaited, "warnings");
		PyErr_Clear();
		Py_DECREF(warnings);
	}
	PyErr_Clear();
	PyObject *asyncio = PyImport_ImportModule("asyncio");
	if (asyncio == NULL) {
		PyErr_Clear();
		return;
	}
	PyObject *events = ls_py_attr(asyncio, "events");
	PyObject *base = ls_py_attr(asyncio, "base_events");
	PyObject *transports = ls_py_attr(asyncio, "transports");
	PyObject *loop_cls = ls_py_attr(base, "BaseEventLoop");
	PyObject *handle_cls = ls_py_attr(events, "Handle");
	PyObject *transport_cls = ls_py_attr(transports, "BaseTransport");
	PyObject *task = ls_py_attr(asyncio, "Task");
	PyErr_Clear();
	if (task != NULL && PyType_Check(task))
		task_type = (PyTypeObject *)task;   /* kept */
	else
		Py_XDECREF(task);
	if (events != NULL && ls_py_patch_function(events, &set_running_def, &orig_set_running,
						    "_asyncio") == 0) {
		PyObject *f = PyObject_GetAttrString(events, "_set_running_loop");
		if (f != NULL)
			PyObject_SetAttrString(asyncio, "_set_running_loop", f);
		Py_XDECREF(f);
	}
	PyErr_Clear();
	if (loop_cls != NULL && PyType_Check(loop_cls))
		ls_py_patch_loop(loop_cls, base_defs, &orig[LS_PY_BASE]);
	PyErr_Clear();
	if (handle_cls != NULL && PyType_Check(handle_cls)) {
		PyObject *d = PyDict_GetItemString(((PyTypeObject *)handle_cls)->tp_dict, "_callback");
		if (d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
		    ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX)
			callback_off = ((PyMemberDescrObject *)d)->d_member->offset;
		if (callback_off > 0)
			ls_py_patch_method(handle_cls, &handle_run_def, &orig_run);
	}
	PyErr_Clear();
	if (transport_cls != NULL && PyType_Check(transport_cls))
		ls_py_patch_method(transport_cls, &transport_init_def, &orig_transport_init);
	PyErr_Clear();
	Py_XDECREF(transport_cls);
	Py_XDECREF(handle_cls);
	Py_XDECREF(loop_cls);
	Py_XDECREF(transports);
	Py_XDECREF(base);
	Py_XDECREF(events);
	Py_DECREF(asyncio);
}

static void ls_py_patch_uvloop(void)
{
	uvloop_done = 1;
	PyObject *uvloop = PyImport_ImportModule("uvloop");
	if (uvloop == NULL) {
		PyErr_Clear();
		return;
	}
	PyObject *loop_cls = PyObject_GetAttrString(uvloop, "Loop");
	if (loop_cls != NULL && PyType_Check(loop_cls))
		ls_py_patch_loop(loop_cls, uv_defs, &orig[LS_PY_UVLOOP]);
	PyErr_Clear();
	Py_XDECREF(loop_cls);
	Py_DECREF(uvloop);
}

static int ls_py_is(PyObject *name, const char *pkg)
{
	Py_ssize_t len, n = (Py_ssize_t)strlen(pkg);
	const char *s = ls_py_utf8(name, &len);
	return len >= n && strncmp(s, pkg, (size_t)n) == 0 && (len == n || s[n] == '.');
}

/* The hook's entry in the runtime's list was allocated before the
 * interpreter chose its allocators: under -X dev (or PYTHONMALLOC=debug)
 * the runtime's own free of it at exit, by the debug allocator, aborts.
 * Just before it frees the list it tells the hooks: the entry is taken
 * out of the list then, and left. The list's head in _PyRuntimeState
 * (internal/pycore_runtime.h, 64-bit; checked with offsetof against
 * 3.11.2, 3.11.7, 3.12.1 and 3.13.0); an entry is {next, function, data}.
 * Read through the kernel, and written only where this very hook is found:
 * an offset a later patch release moved can cost the abort, never a crash
 * of the shim's. */
#pragma weak _PyRuntime
extern char _PyRuntime[];
static size_t rt_audit_head;

struct ls_py_hook_entry {
	struct ls_py_hook_entry *next;
	void *fn, *data;
};

static int ls_py_audit(const char *event, PyObject *args, void *data);

static void ls_py_unlink_hook(void)
{
	if (_PyRuntime == NULL || rt_audit_head == 0)
		return;
	struct ls_py_hook_entry **at = (struct ls_py_hook_entry **)(_PyRuntime + rt_audit_head);
	struct ls_py_hook_entry *e, copy;
	for (int n = 0; n < 64; n++) {
		if (!ls_py_read_other(&e, at, sizeof(e)) || e == NULL || ((uintptr_t)e & 7) != 0 ||
		    !ls_py_read_other(&copy, e, sizeof(copy)))
			return;
		if (copy.fn == (void *)ls_py_audit) {
			*at = copy.next;
			return;
		}
		at = &e->next;
	}
}

static int ls_py_audit(const char *event, PyObject *args, void *data)
{
	(void)data;
	if (LS_UNLIKELY(event[0] == 'c') && strcmp(event, "cpython._PySys_ClearAuditHooks") == 0) {
		ls_py_unlink_hook();
		return 0;
	}
	if (LS_LIKELY(event[0] != 'i') || strcmp(event, "import") != 0 || busy ||
	    (asyncio_done && uvloop_done))
		return 0;
	if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1 ||
	    PyInterpreterState_Get() != PyInterpreterState_Main())
		return 0;
	PyObject *name = PyTuple_GET_ITEM(args, 0);
	int want_asyncio = !asyncio_done && (ls_py_is(name, "asyncio") || ls_py_is(name, "uvloop"));
	int want_uvloop = !uvloop_done && ls_py_is(name, "uvloop");
	if (!want_asyncio && !want_uvloop)
		return 0;
	busy = 1;
	struct ls_py_err err;
	ls_py_err_save(&err);
	if (want_asyncio)
		ls_py_patch_asyncio();
	if (want_uvloop)
		ls_py_patch_uvloop();
	ls_py_err_restore(&err);
	busy = 0;
	return 0;
}

void ls_py_asyncio_init(uint32_t version)
{
	rt_audit_head = version == 311 ? 656 : version == 312 ? 3064 : version == 313 ? 10424 : 0;
	if (&PySys_AddAuditHook == NULL || &PyDescr_NewMethod == NULL || !ls_opt.python)
		return;
	PySys_AddAuditHook(ls_py_audit, NULL);
}
#endif
