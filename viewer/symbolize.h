/* Offline symbolization of a trace's addresses with elfutils' libdwfl. */
#ifndef LOOPSAN_VIEWER_SYMBOLIZE_H
#define LOOPSAN_VIEWER_SYMBOLIZE_H

#include <stdint.h>

#include "viewer/reader.h"

/* One symbolized address. Strings belong to the symbolizer. */
struct ls_frame {
	uint64_t pc;          /* absolute address in the traced process */
	const char *function; /* symbol (C++ demangled, with its parameters);
			       * "module+0xoffset" when no symbol source names
			       * it (unnamed); NULL only outside every module */
	const char *plain;    /* C++: function without its parameters, else NULL */
	int unnamed;          /* function is "module+0xoffset" */
	const char *module_path; /* the module's path as traced, or NULL */
	const char *file;     /* source path as in DWARF, or NULL */
	int line;             /* 0 when unknown */
	const char *module;   /* basename of the module's path, or NULL */
	uint64_t offset;      /* pc - module bias, when module is set */
	int python;           /* a Python frame: function, file, line; no pc, no module */
	int def_line;         /* a Python frame: its function's first line (the def), 0 if unknown */
};

struct ls_symbolizer;

struct ls_symbolizer *ls_symbolizer_new(const struct ls_trace *t);
void ls_symbolizer_free(struct ls_symbolizer *s);

/* exact: pc is a function's own address (a callback) rather than a return
 * address, whose call instruction ends just before it. */
const struct ls_frame *ls_symbolize(struct ls_symbolizer *s, uint64_t pc,
				    int exact);

/* The frames of a stack as reports show them, innermost first: each
 * native frame of CPython's eval loop (_PyEval_EvalFrameDefault) stands
 * for the Python frames it ran, which take its place. */
struct ls_stack_view {
	uint32_t n;
	const struct ls_frame **frames;
};
const struct ls_stack_view *ls_stack_view(struct ls_symbolizer *s, const struct ls_stack *st);

/* A Python function as a frame: the code object `code` (a PYCODE id) with
 * its definition's file and first line as file and line; NULL when the
 * trace has no such code object. */
const struct ls_frame *ls_symbolize_code(struct ls_symbolizer *s, uint32_t code);

/* Whether native frame f of a stack is in the function that starts at fn
 * (a callback's address): its return address lies in fn's range as the
 * module's unwind tables (or, without them, its symbols) give it. */
int ls_frame_in_function(struct ls_symbolizer *s, const struct ls_frame *f, uint64_t fn);

/* A native frame of the interpreter itself: its module is the Python
 * executable (python3.11) or libpython3.*.so. */
int ls_frame_is_interpreter(const struct ls_frame *f);

/* The module part of a path, as shown in reports. */
const char *ls_basename(const char *path);

#endif
