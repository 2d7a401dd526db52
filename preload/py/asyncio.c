/* asyncio's own checks, from inside the interpreter (being written). */
#include "preload/py/py_shim.h"

void ls_py_asyncio_init(void)
{
}
