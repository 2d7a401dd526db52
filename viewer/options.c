/* The shim's option table (tracer/options.c), compiled into the viewer as
 * well: loopsan run checks each -O pair with the very code the shim will
 * parse it with. */
#include "tracer/options.c"
