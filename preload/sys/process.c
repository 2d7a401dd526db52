/* exec: a process image that is replaced runs no destructors, so the shim
 * finishes its trace just before the real exec (and takes that back when
 * the exec fails). The new image, with the shim still preloaded, starts a
 * trace of its own (loopsan.<pid>.<n>.trace). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/sys/sys.h"

struct ls_lib ls_libc = { .soname = "libc.so.6" };

/* _exit and _Exit run no destructors either: the trace is finished here
 * (tracer/trace.c: ls_trace_quick_exit), else it would read as a killed
 * process's. They are called from fork children and signal handlers, where
 * resolving a symbol could wait on a lock another thread held: the real
 * one is resolved at load, and until then the system call is made as
 * glibc makes it. */
static void (*ls_real_exit)(int);

__attribute__((constructor)) static void ls_process_init(void)
{
	ls_real_exit = LS_LIBC(_exit);
}

static _Noreturn void ls_quick_exit(int status)
{
	ls_trace_quick_exit();
	void (*real)(int) = __atomic_load_n(&ls_real_exit, __ATOMIC_RELAXED);
	if (real != NULL)
		real(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

LS_EXPORT void _exit(int status)
{
	ls_quick_exit(status);
}

LS_EXPORT void _Exit(int status)
{
	ls_quick_exit(status);
}


/* Calls the real exec `call` between finishing the trace and taking that
 * back when it returns (it failed); errno is the exec's. */
#define LS_EXEC(call)                                                    \
	do {                                                             \
		int done_ = ls_trace_exec_begin();                       \
		if (done_)                                               \
			ls_watch_exec(1);                                \
		int rc_ = (call);                                        \
		int err_ = errno;                                        \
		if (done_) {                                             \
			ls_trace_exec_failed();                          \
			ls_watch_exec(0);                                \
		}                                                        \
		errno = err_;                                            \
		return rc_;                                              \
	} while (0)

LS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	LS_EXEC(LS_LIBC(execve)(path, argv, envp));
}

LS_EXPORT int execv(const char *path, char *const argv[])
{
	LS_EXEC(LS_LIBC(execv)(path, argv));
}

LS_EXPORT int execvp(const char *file, char *const argv[])
{
	LS_EXEC(LS_LIBC(execvp)(file, argv));
}

LS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	LS_EXEC(LS_LIBC(execvpe)(file, argv, envp));
}

LS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	LS_EXEC(LS_LIBC(fexecve)(fd, argv, envp));
}

/* The execl family takes its arguments as a list: gather them into an
 * array on the stack, as glibc itself does, and hand them to the v forms.
 * The list ends with NULL; it is left open (ap) after it, for execle's
 * envp. */
#define LS_GATHER(arg0, ap, argv)                                        \
	size_t n_ = 1;                                                   \
	va_start(ap, arg0);                                              \
	while (va_arg(ap, const char *) != NULL)                         \
		n_++;                                                    \
	va_end(ap);                                                      \
	char *argv[n_ + 1];                                              \
	argv[0] = (char *)arg0;                                          \
	va_start(ap, arg0);                                              \
	for (size_t i_ = 1; i_ <= n_; i_++)                              \
		argv[i_] = va_arg(ap, char *)

LS_EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	LS_GATHER(arg0, ap, argv);
	va_end(ap);
	LS_EXEC(LS_LIBC(execv)(path, argv));
}

LS_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	LS_GATHER(arg0, ap, argv);
	va_end(ap);
	LS_EXEC(LS_LIBC(execvp)(file, argv));
}

LS_EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	LS_GATHER(arg0, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	LS_EXEC(LS_LIBC(execve)(path, argv, envp));
}
