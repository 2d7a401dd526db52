/* libuv interposers for one-shot requests and the calls around them:
 * every async uv_fs_*, uv_getaddrinfo, uv_getnameinfo, uv_random,
 * uv_spawn (exit_cb) and uv_walk.
 *
 * A request with a callback is recorded in the side table (ls_uv_req_start)
 * and libuv gets a trampoline, which takes the entry back and runs the
 * user's callback timed. A NULL callback makes these calls synchronous:
 * nothing to time, so they go straight to libuv. The shim's own work never
 * changes errno or a return value.
 */
#include <string.h>

#include "preload/uv/uv_shim.h"

/* The real `fn`, resolved without touching errno (the first call dlsyms). */
#define LS_UV_QUIET(fn) ({                                                   \
	int e_ = errno;                                                      \
	__typeof__(&fn) f_ = LS_UV(fn);                                      \
	errno = e_;                                                          \
	f_; })

/* Records request `req` of `api`, made by the call that returns to `ret`,
 * with the user's callback `cb`. Returns 1 when libuv may get the
 * trampoline, 0 when the call must go through untouched: a synchronous
 * call (no callback), a call libuv makes itself, a NULL request (libuv
 * fails it with UV_EINVAL), or no room in the side table. */
static inline int ls_req_begin(const void *ret, void *req, uv_loop_t *loop,
			       uint32_t api, ls_fn cb)
{
	if (cb == NULL || req == NULL || ls_uv_skip(ret))
		return 0;
	ls_uv_check_thread(api, loop, req);
	uint32_t site = ls_register_site(api, cb, ret);
	return ls_uv_req_start(req, loop, cb, site, api) == 0;
}

/* After the real call: a request libuv refused never calls back. */
static inline int ls_req_end(void *req, int rc)
{
	if (rc != 0)
		ls_uv_req_forget(req);
	return rc;
}

/* The user's callback of `req` (its entry is gone once this returns: the
 * callback may free or reuse the request). */
#define LS_REQ_TRAMP(name, cb_type, PARAMS, ARGS)                               \
	static void name PARAMS                                                  \
	{                                                                        \
		struct ls_req_info r_;                                           \
		ls_uv_req_take(req, &r_);                                        \
		cb_type cb_ = (cb_type)r_.cb;                                    \
		LS_TIMED(r_.site, 1, cb_ ARGS);                                  \
	}

/* ---- file system -------------------------------------------------------- */

LS_REQ_TRAMP(ls_fs_tramp, uv_fs_cb, (uv_fs_t *req), (req))

/* uv_fs_NAME with the parameter list of uv.h; the callback is the last
 * parameter, `cb`, and the arguments before it follow PARAMS. */
#define LS_UV_FS(name, NAME, PARAMS, ...)                                        \
	LS_EXPORT int uv_fs_##name PARAMS                                        \
	{                                                                        \
		const void *ret = __builtin_return_address(0);                   \
		__typeof__(&uv_fs_##name) real = LS_UV_QUIET(uv_fs_##name);      \
		if (!ls_req_begin(ret, req, loop, LS_API_UV_FS_##NAME, (ls_fn)cb)) \
			return real(__VA_ARGS__, cb);                            \
		return ls_req_end(req, real(__VA_ARGS__, ls_fs_tramp));          \
	}

LS_UV_FS(close, CLOSE, (uv_loop_t *loop, uv_fs_t *req, uv_file file, uv_fs_cb cb), loop, req, file)
LS_UV_FS(open, OPEN, (uv_loop_t *loop, uv_fs_t *req, const char *path, int flags, int mode, uv_fs_cb cb), loop, req, path, flags, mode)
LS_UV_FS(read, READ, (uv_loop_t *loop, uv_fs_t *req, uv_file file, const uv_buf_t bufs[], unsigned int nbufs, int64_t offset, uv_fs_cb cb), loop, req, file, bufs, nbufs, offset)
LS_UV_FS(unlink, UNLINK, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(write, WRITE, (uv_loop_t *loop, uv_fs_t *req, uv_file file, const uv_buf_t bufs[], unsigned int nbufs, int64_t offset, uv_fs_cb cb), loop, req, file, bufs, nbufs, offset)
LS_UV_FS(copyfile, COPYFILE, (uv_loop_t *loop, uv_fs_t *req, const char *path, const char *new_path, int flags, uv_fs_cb cb), loop, req, path, new_path, flags)
LS_UV_FS(mkdir, MKDIR, (uv_loop_t *loop, uv_fs_t *req, const char *path, int mode, uv_fs_cb cb), loop, req, path, mode)
LS_UV_FS(mkdtemp, MKDTEMP, (uv_loop_t *loop, uv_fs_t *req, const char *tpl, uv_fs_cb cb), loop, req, tpl)
LS_UV_FS(mkstemp, MKSTEMP, (uv_loop_t *loop, uv_fs_t *req, const char *tpl, uv_fs_cb cb), loop, req, tpl)
LS_UV_FS(rmdir, RMDIR, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(scandir, SCANDIR, (uv_loop_t *loop, uv_fs_t *req, const char *path, int flags, uv_fs_cb cb), loop, req, path, flags)
LS_UV_FS(opendir, OPENDIR, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(readdir, READDIR, (uv_loop_t *loop, uv_fs_t *req, uv_dir_t *dir, uv_fs_cb cb), loop, req, dir)
LS_UV_FS(closedir, CLOSEDIR, (uv_loop_t *loop, uv_fs_t *req, uv_dir_t *dir, uv_fs_cb cb), loop, req, dir)
LS_UV_FS(stat, STAT, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(fstat, FSTAT, (uv_loop_t *loop, uv_fs_t *req, uv_file file, uv_fs_cb cb), loop, req, file)
LS_UV_FS(rename, RENAME, (uv_loop_t *loop, uv_fs_t *req, const char *path, const char *new_path, uv_fs_cb cb), loop, req, path, new_path)
LS_UV_FS(fsync, FSYNC, (uv_loop_t *loop, uv_fs_t *req, uv_file file, uv_fs_cb cb), loop, req, file)
LS_UV_FS(fdatasync, FDATASYNC, (uv_loop_t *loop, uv_fs_t *req, uv_file file, uv_fs_cb cb), loop, req, file)
LS_UV_FS(ftruncate, FTRUNCATE, (uv_loop_t *loop, uv_fs_t *req, uv_file file, int64_t offset, uv_fs_cb cb), loop, req, file, offset)
LS_UV_FS(sendfile, SENDFILE, (uv_loop_t *loop, uv_fs_t *req, uv_file out_fd, uv_file in_fd, int64_t in_offset, size_t length, uv_fs_cb cb), loop, req, out_fd, in_fd, in_offset, length)
LS_UV_FS(access, ACCESS, (uv_loop_t *loop, uv_fs_t *req, const char *path, int mode, uv_fs_cb cb), loop, req, path, mode)
LS_UV_FS(chmod, CHMOD, (uv_loop_t *loop, uv_fs_t *req, const char *path, int mode, uv_fs_cb cb), loop, req, path, mode)
LS_UV_FS(utime, UTIME, (uv_loop_t *loop, uv_fs_t *req, const char *path, double atime, double mtime, uv_fs_cb cb), loop, req, path, atime, mtime)
LS_UV_FS(futime, FUTIME, (uv_loop_t *loop, uv_fs_t *req, uv_file file, double atime, double mtime, uv_fs_cb cb), loop, req, file, atime, mtime)
LS_UV_FS(lutime, LUTIME, (uv_loop_t *loop, uv_fs_t *req, const char *path, double atime, double mtime, uv_fs_cb cb), loop, req, path, atime, mtime)
LS_UV_FS(lstat, LSTAT, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(link, LINK, (uv_loop_t *loop, uv_fs_t *req, const char *path, const char *new_path, uv_fs_cb cb), loop, req, path, new_path)
LS_UV_FS(symlink, SYMLINK, (uv_loop_t *loop, uv_fs_t *req, const char *path, const char *new_path, int flags, uv_fs_cb cb), loop, req, path, new_path, flags)
LS_UV_FS(readlink, READLINK, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(realpath, REALPATH, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)
LS_UV_FS(fchmod, FCHMOD, (uv_loop_t *loop, uv_fs_t *req, uv_file file, int mode, uv_fs_cb cb), loop, req, file, mode)
LS_UV_FS(chown, CHOWN, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), loop, req, path, uid, gid)
LS_UV_FS(fchown, FCHOWN, (uv_loop_t *loop, uv_fs_t *req, uv_file file, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), loop, req, file, uid, gid)
LS_UV_FS(lchown, LCHOWN, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), loop, req, path, uid, gid)
LS_UV_FS(statfs, STATFS, (uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb), loop, req, path)

/* ---- name resolution and random bytes ------------------------------------ */

LS_REQ_TRAMP(ls_getaddrinfo_tramp, uv_getaddrinfo_cb,
	     (uv_getaddrinfo_t *req, int status, struct addrinfo *res), (req, status, res))

LS_EXPORT int uv_getaddrinfo(uv_loop_t *loop, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb,
			     const char *node, const char *service, const struct addrinfo *hints)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_getaddrinfo) real = LS_UV_QUIET(uv_getaddrinfo);
	if (!ls_req_begin(ret, req, loop, LS_API_UV_GETADDRINFO, (ls_fn)cb))
		return real(loop, req, cb, node, service, hints);
	return ls_req_end(req, real(loop, req, ls_getaddrinfo_tramp, node, service, hints));
}

LS_REQ_TRAMP(ls_getnameinfo_tramp, uv_getnameinfo_cb,
	     (uv_getnameinfo_t *req, int status, const char *host, const char *service),
	     (req, status, host, service))

LS_EXPORT int uv_getnameinfo(uv_loop_t *loop, uv_getnameinfo_t *req, uv_getnameinfo_cb cb,
			     const struct sockaddr *addr, int flags)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_getnameinfo) real = LS_UV_QUIET(uv_getnameinfo);
	if (!ls_req_begin(ret, req, loop, LS_API_UV_GETNAMEINFO, (ls_fn)cb))
		return real(loop, req, cb, addr, flags);
	return ls_req_end(req, real(loop, req, ls_getnameinfo_tramp, addr, flags));
}

LS_REQ_TRAMP(ls_random_tramp, uv_random_cb,
	     (uv_random_t *req, int status, void *buf, size_t buflen), (req, status, buf, buflen))

LS_EXPORT int uv_random(uv_loop_t *loop, uv_random_t *req, void *buf, size_t buflen,
			unsigned flags, uv_random_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_random) real = LS_UV_QUIET(uv_random);
	if (!ls_req_begin(ret, req, loop, LS_API_UV_RANDOM, (ls_fn)cb))
		return real(loop, req, buf, buflen, flags, cb);
	return ls_req_end(req, real(loop, req, buf, buflen, flags, ls_random_tramp));
}

/* ---- processes ----------------------------------------------------------- */

static void ls_exit_tramp(uv_process_t *p, int64_t exit_status, int term_signal)
{
	uint32_t site;
	int saved = errno;
	uv_exit_cb cb = (uv_exit_cb)ls_uv_cb_of(p, LS_CB_MAIN, &site);
	errno = saved;
	LS_TIMED(site, 1, cb(p, exit_status, term_signal));
}

/* uv_spawn initializes the handle itself: a new handle at `p`, created at
 * this call, calling exit_cb. Returns 0 when the trampoline may go in. */
static int ls_process_born(uv_loop_t *loop, uv_process_t *p, uv_exit_cb exit_cb,
			   const void *ret)
{
	return ls_uv_handle_born(loop, (uv_handle_t *)p, UV_PROCESS, LS_API_UV_SPAWN,
				 (ls_fn)exit_cb, ret);
}

LS_EXPORT int uv_spawn(uv_loop_t *loop, uv_process_t *process, const uv_process_options_t *options)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_spawn) real = LS_UV_QUIET(uv_spawn);
	if (process == NULL || options == NULL || options->exit_cb == ls_exit_tramp ||
	    ls_uv_skip(ret))
		return real(loop, process, options);
	ls_uv_check_thread(LS_API_UV_SPAWN, loop, process);
	/* The entry stays whatever uv_spawn returns: on failure the handle is
	 * still initialized and must be closed, and when exec succeeded but a
	 * stdio stream failed, libuv returns the error yet reaps the child and
	 * calls exit_cb. */
	if (ls_process_born(loop, process, options->exit_cb, ret) != 0 || options->exit_cb == NULL)
		return real(loop, process, options);
	/* The caller's options are const and may be shared: change a copy. */
	uv_process_options_t copy = *options;
	copy.exit_cb = ls_exit_tramp;
	return real(loop, process, &copy);
}

/* ---- walking a loop's handles -------------------------------------------- */

/* uv_walk is synchronous: the user's callback and argument live on the
 * stack of the walking call. Calls the callback makes (often a tail call to
 * uv_close, which would return straight into libuv) return into the
 * trampoline, so they are the user's. */
struct ls_walk {
	uv_walk_cb cb;
	void *arg;
	uint32_t site;
};

static void ls_walk_tramp(uv_handle_t *h, void *arg)
{
	const struct ls_walk *w = arg;
	LS_TIMED(w->site, 1, w->cb(h, w->arg));
}

LS_EXPORT void uv_walk(uv_loop_t *loop, uv_walk_cb walk_cb, void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_walk) real = LS_UV_QUIET(uv_walk);
	if (walk_cb == NULL || walk_cb == ls_walk_tramp || ls_uv_skip(ret)) {
		real(loop, walk_cb, arg);
		return;
	}
	ls_uv_check_thread(LS_API_UV_WALK, loop, NULL);
	int saved = errno;
	struct ls_walk w = { walk_cb, arg, ls_register_site(LS_API_UV_WALK, (ls_fn)walk_cb, ret) };
	errno = saved;
	real(loop, ls_walk_tramp, &w);
}
