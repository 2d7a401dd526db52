/* Thread names given after a thread's first record: memcached names its
 * workers ("mc-worker") from the main thread once they run their loops.
 * A rename that succeeded writes a THREAD_NAME record (tracer/format.h),
 * so the report shows a thread by the name it ended with. Only these
 * rare calls pay: no callback's path comes here. The shim's own renames
 * (the watchdog thread's) are not the program's. */
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "preload/sys/sys.h"

/* The kernel thread id of th, 0 when unknown. A thread's CPU-time clock
 * id is the kernel's encoding of its tid (~tid << 3, CPUCLOCK_PERTHREAD 4,
 * CPUCLOCK_SCHED 2), and glibc reads it from th without a system call. */
static uint32_t ls_tid_of(pthread_t th)
{
	clockid_t id;
	if (pthread_equal(th, pthread_self()))
		return ls_trace_tid();
	if (pthread_getcpuclockid(th, &id) != 0 || (id & 7) != 6)
		return 0;
	return (uint32_t)~(id >> 3);
}

LS_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	int rc = LS_LIBC(pthread_setname_np)(th, name);
	if (rc == 0 && !ls_module_is_self((uintptr_t)__builtin_return_address(0)))
		ls_trace_thread_renamed(ls_tid_of(th), name);
	return rc;
}

/* prctl's arguments beyond the option are read as glibc's own prctl
 * reads them: four unsigned longs, passed on as they came. */
LS_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	int rc = LS_LIBC(prctl)(option, a2, a3, a4, a5);
	if (option == PR_SET_NAME && rc == 0 &&
	    !ls_module_is_self((uintptr_t)__builtin_return_address(0)))
		ls_trace_thread_renamed(ls_trace_tid(), (const char *)a2);
	return rc;
}
