/* Dropping privileges: a daemon started as root that switches to its own
 * user (memcached -u nobody, named -u bind, unbound, nginx's workers) could
 * no longer create its trace in a directory only root may write, and its
 * first loop call usually comes after the switch. So the trace is made just
 * before the program gives up an identity, while it still has the rights
 * it started with: the file is then the starting user's, created with the
 * same O_TMPFILE/linkat (or O_EXCL|O_NOFOLLOW) and 0600 as always.
 *
 * Whether the process will run a loop is not known yet: nginx's workers
 * link no loop library (their loop is their own epoll loop), and the tools
 * that only switch users (su, setpriv, runuser) never run one. So every
 * process that changes ids with rights to lose gets its trace here, but
 * only the file and its header (tracer/trace.c): a trace with no chunk
 * recorded nothing. At exit or exec such a trace is removed where the
 * process still may; where it may not (it is no longer root), loopsan run
 * removes it, and a reader sees a process with no loop.
 *
 * Why not an unnamed file (O_TMPFILE) made now and linked into place at the
 * first loop call, so that a process that never loops leaves no name: the
 * kernel checks the link against the caller's ids at the time of the link,
 * and after setuid(65534) linkat of a root-owned 0600 file into a root-only
 * 0755 directory fails (EPERM: protected_hardlinks, and the directory is
 * not writable either), by /proc/self/fd or AT_EMPTY_PATH alike.
 *
 * Why not at load: a process that never makes a loop call leaves no trace,
 * and the shim holds no descriptor the program did not ask for (a daemon
 * that closes every descriptor, or counts them, must see none of ours).
 *
 * After the switch the descriptor stays the trace's; only a program that
 * closes it as well leaves recording stopped (the file, 0600 and root's,
 * cannot be opened again by the new user). */
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/sys/sys.h"

/* The trace, made now if it is not yet and the process still has rights
 * to lose: root, or any other user who changes ids through a capability. */
static void ls_before_id_change(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2] = { { 0 }, { 0 } };
	if (geteuid() == 0 || (syscall(SYS_capget, &hdr, caps) == 0 &&
			       (caps[0].effective | caps[1].effective) != 0))
		ls_trace_before_id_change();
}

#define LS_ID_CHANGE(ret, name, params, args)                            \
	LS_EXPORT ret name params                                        \
	{                                                                \
		ls_before_id_change();                                   \
		return LS_LIBC(name) args;                               \
	}

LS_ID_CHANGE(int, setuid, (uid_t uid), (uid))
LS_ID_CHANGE(int, seteuid, (uid_t uid), (uid))
LS_ID_CHANGE(int, setreuid, (uid_t r, uid_t e), (r, e))
LS_ID_CHANGE(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
LS_ID_CHANGE(int, setgid, (gid_t gid), (gid))
LS_ID_CHANGE(int, setegid, (gid_t gid), (gid))
LS_ID_CHANGE(int, setregid, (gid_t r, gid_t e), (r, e))
LS_ID_CHANGE(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
LS_ID_CHANGE(int, setfsuid, (uid_t uid), (uid))
LS_ID_CHANGE(int, setfsgid, (gid_t gid), (gid))
