/* regstack_fp N [sites]: regstack built with frame pointers, for the
 * shim's frame-pointer fast path (the other programs are plain -O2). */
#pragma GCC optimize("no-omit-frame-pointer")
#include "regstack.c"
