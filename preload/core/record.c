/* The finding records that every loop library's interposers write alike:
 * a call from the wrong thread, a handle misused, a thread that runs a loop,
 * a loop closed with handles still open. The families only decide when. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/core/family.h"

void ls_note_wrong_thread(uint32_t api, const void *loop, const void *handle, uint32_t loop_tid)
{
	/* The same mistake, already reported where the program made it. */
	if (ls_lt.wrong_said && !ls_opt.halt_on_wrong_thread)
		return;
	int saved = errno;
	uint32_t stack = ls_stack_capture();
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_wrong_thread);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		memset(r, 0, size);
		r->type = LS_REC_WRONG_THREAD;
		r->size = size;
		r->arg = stack;
		struct ls_rec_wrong_thread *w = (struct ls_rec_wrong_thread *)(r + 1);
		w->api = api;
		w->loop_tid = loop_tid;
		w->loop = (uintptr_t)loop;
		w->handle = (uintptr_t)handle;
		w->time_ns = ls_now();
		ls_rec_commit(size);
	}
	ls_trace_note_wrong_thread();
	if (ls_opt.halt_on_wrong_thread) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "loopsan: wrong-thread: %s called from thread %u while thread %u runs "
			 "loop %p; halting (halt_on_wrong_thread=1)\n",
			 ls_api_name(api), ls_trace_tid(), loop_tid, loop);
		ls_trace_say(msg);
		ls_trace_finish();
		abort();
	}
	errno = saved;
}

void ls_note_misuse(uint32_t api, uint32_t what, const void *handle, uint32_t init_site)
{
	int saved = errno;
	uint32_t stack = ls_stack_capture();
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_misuse);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		memset(r, 0, size);
		r->type = LS_REC_MISUSE;
		r->size = size;
		r->arg = stack;
		struct ls_rec_misuse *m = (struct ls_rec_misuse *)(r + 1);
		m->api = api;
		m->what = what;
		m->handle = (uintptr_t)handle;
		m->init_site = init_site;
		m->time_ns = ls_now();
		ls_rec_commit(size);
	}
	ls_trace_note_misuse();
	errno = saved;
}

void ls_note_loop_run(const void *loop, uint32_t tid, uint32_t api)
{
	int saved = errno;
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_loop_run);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		memset(r, 0, size);
		r->type = LS_REC_LOOP_RUN;
		r->size = size;
		r->arg = tid;
		struct ls_rec_loop_run *lr = (struct ls_rec_loop_run *)(r + 1);
		lr->loop = (uintptr_t)loop;
		lr->api = api;
		ls_trace_thread_name(lr->name);
		ls_rec_commit(size);
	}
	errno = saved;
}

void ls_note_loop_close(const void *loop, int32_t result, uint32_t open, uint32_t api)
{
	int saved = errno;
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_loop_close);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		memset(r, 0, size);
		r->type = LS_REC_LOOP_CLOSE;
		r->size = (uint16_t)size;
		struct ls_rec_loop_close *c = (struct ls_rec_loop_close *)(r + 1);
		c->loop = (uintptr_t)loop;
		c->result = result;
		c->open_handles = open;
		c->time_ns = ls_now();
		c->api = api;
		ls_rec_commit(size);
	}
	errno = saved;
}

void ls_note_open(const struct ls_rec_open_handle *o)
{
	int saved = errno;
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_open_handle);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		r->type = LS_REC_OPEN_HANDLE;
		r->size = size;
		r->arg = 0;
		memcpy(r + 1, o, sizeof(*o));
		ls_rec_commit(size);
	}
	errno = saved;
}

int ls_thread_gone(uint32_t tid)
{
	int saved = errno;
	int gone = syscall(SYS_tgkill, (pid_t)getpid(), (pid_t)tid, 0) != 0 && errno == ESRCH;
	errno = saved;
	return gone;
}

/* The thread in the run call of e left it without returning: by longjmp
 * (it is in the run call again, and not from inside that run), or by dying
 * in it. It runs the loop no more. Table lock held. */
static int ls_run_stale(const struct ls_entry *e, uint32_t tid, uintptr_t frame)
{
	if (e->run_depth == 0)
		return 0;
	if (e->run_tid == tid)
		return frame >= e->run_frame;
	return ls_thread_gone(e->run_tid);
}

uint32_t ls_loop_run_enter(const void *loop, uint32_t api, uintptr_t frame)
{
	uint32_t tid = ls_trace_tid(), other = 0;
	int moved = 0;
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(loop);
	if (e != NULL) {
		e->flags |= LS_ENT_LOOP;
		if (frame != 0 && ls_run_stale(e, tid, frame)) {
			if (e->run_tid == tid)
				ls_lt.lib_loop = 0;
			e->run_depth = 0;
		}
		if (e->run_depth == 0 || e->run_tid == tid) {
			__atomic_store_n(&e->run_tid, tid, __ATOMIC_RELAXED);
			if (e->run_depth++ == 0)
				e->run_frame = frame;
		} else {
			other = e->run_tid;
		}
		/* After the loop is marked running (preload/uv/uv.c reads
		 * the two in the other order without the lock). */
		__atomic_store_n(&e->runs, e->runs + 1, __ATOMIC_RELEASE);
		moved = e->tid != tid;
		e->tid = tid;
	}
	ls_table_unlock();
	if (moved)
		ls_note_loop_run(loop, tid, api);
	ls_families_loop_thread();
	ls_lt.lib_loop++;
	ls_lt.fork_quiet = 0;
	errno = saved;
	return other;
}

void ls_loop_run_leave(const void *loop)
{
	uint32_t tid = ls_trace_tid();
	int saved = errno;
	if (ls_lt.lib_loop == 1)
		ls_families_loop_left();
	ls_lt.lib_loop--;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(loop);
	if (e != NULL && e->run_tid == tid && e->run_depth > 0 && --e->run_depth == 0)
		__atomic_store_n(&e->run_tid, 0, __ATOMIC_RELAXED);
	ls_table_unlock();
	errno = saved;
}
