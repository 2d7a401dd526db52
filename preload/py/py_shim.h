/* What the py family's files share (preload/py/): the frame reader
 * (py.c) and asyncio's hooks (asyncio.c). */
#ifndef LOOPSAN_PY_SHIM_H
#define LOOPSAN_PY_SHIM_H

#include <stdint.h>

#include "preload/core/family.h"

/* The PYCODE id of code object `code` (a PyCodeObject *), its record
 * written the first time; 0 when it cannot be. keep: from a signal
 * handler or of another thread (the record is kept, not written). */
uint32_t ls_py_code_id(const char *code, int keep);

/* n bytes at src into dst, copied by the kernel: 0 (and nothing read)
 * where src is not mapped, never a fault. */
int ls_py_read_other(void *dst, const void *src, size_t n);

/* A hash of where this thread's innermost `depth` Python frames are
 * (each frame's next instruction), 0 when it runs none. tstate: this
 * thread's PyThreadState when the caller has it (it holds the GIL), else
 * NULL. */
uint64_t ls_py_chain_key(const void *tstate, uint32_t depth);

/* asyncio.c: called once from the family's init when the interpreter's
 * frames can be read (CPython 3.11, 3.12, 3.13, 64-bit): version 311, ... */
void ls_py_asyncio_init(uint32_t version);

#endif
