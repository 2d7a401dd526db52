/* Python frames: the line of an instruction of a code object. */
#ifndef LOOPSAN_VIEWER_PYCODE_H
#define LOOPSAN_VIEWER_PYCODE_H

#include "viewer/reader.h"

/* The line of the instruction at lasti (in 2-byte code units), 0 when the
 * table says none or does not reach it. */
int ls_pycode_line(const struct ls_pycode *c, uint32_t lasti);

#endif
