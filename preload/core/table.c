/* The side table: handle, request or loop address -> what the shim knows.
 *
 * Trampolines look entries up on every callback, so lookups take no lock:
 * open addressing with linear probing over an array that is replaced, never
 * changed in size, when it fills. Changes (registrations, closes) take one
 * mutex. A replaced array is kept (readers may still be in it), so memory
 * is bounded by twice the peak of live entries. Removed entries leave a
 * tombstone that the next insert on the same probe path reuses; one at the
 * end of its run is emptied at once (ls_trim_tombs), and a rebuild drops
 * the rest.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload/core/shim.h"

#define LS_MIN_BITS 10

struct ls_table *ls_table_cur;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct ls_table *ls_table_new(uint32_t bits)
{
	size_t size = sizeof(struct ls_table) + sizeof(struct ls_entry) * ((size_t)1 << bits);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct ls_table *t = p;
	t->bits = bits;
	return t;
}

static void ls_insert_copy(struct ls_table *t, const struct ls_entry *e)
{
	uint32_t mask = (1u << t->bits) - 1;
	uint32_t i = ls_hash(e->key, t->bits);
	while (t->slot[i].key != LS_EMPTY)
		i = (i + 1) & mask;
	t->slot[i] = *e;
	t->used++;
	t->live++;
}

/* Called with the lock held when an insert would pass half full. */
static struct ls_table *ls_rebuild(struct ls_table *old)
{
	uint32_t live = old ? old->live : 0;
	uint32_t bits = LS_MIN_BITS;
	while ((1u << bits) < 4 * (live + 1))
		bits++;
	struct ls_table *t = ls_table_new(bits);
	if (t == NULL)
		return NULL;
	if (old != NULL)
		for (uint32_t i = 0; i < (1u << old->bits); i++)
			if (old->slot[i].key > LS_TOMB)
				ls_insert_copy(t, &old->slot[i]);
	__atomic_store_n(&ls_table_cur, t, __ATOMIC_RELEASE);
	return t;
}

/* With the lock held: the entry for `key`, added empty if new (*added
 * says which). Fill it before unlocking: a rebuild copies entries under
 * the same lock. */
static struct ls_entry *ls_get_locked(const void *key, int *added)
{
	uintptr_t k = (uintptr_t)key;
	if (k <= LS_TOMB)
		return NULL; /* a NULL handle or request: libuv's to refuse */
	struct ls_table *t = ls_table_cur;
	if (t == NULL || 2 * (t->used + 1) > (1u << t->bits))
		t = ls_rebuild(t);
	if (t == NULL)
		return NULL;
	uint32_t mask = (1u << t->bits) - 1;
	struct ls_entry *tomb = NULL;
	for (uint32_t i = ls_hash(k, t->bits);; i = (i + 1) & mask) {
		uintptr_t s = t->slot[i].key;
		if (s == k)
			return &t->slot[i];
		if (s == LS_TOMB && tomb == NULL)
			tomb = &t->slot[i];
		if (s == LS_EMPTY) {
			struct ls_entry *e = tomb ? tomb : &t->slot[i];
			if (tomb == NULL)
				t->used++;
			t->live++;
			ls_entry_reset(e);
			__atomic_store_n(&e->key, k, __ATOMIC_RELEASE);
			*added = 1;
			return e;
		}
	}
}

struct ls_entry *ls_table_get_locked(const void *key)
{
	int added = 0;
	return ls_get_locked(key, &added);
}

struct ls_entry *ls_table_get_new_locked(const void *key)
{
	int added = 0;
	struct ls_entry *e = ls_get_locked(key, &added);
	if (e != NULL && !added)
		ls_entry_reset(e);
	return e;
}

/* With the lock held, the lock-free lookup serves as well. */
static struct ls_entry *ls_find_locked(uintptr_t k)
{
	return ls_table_find((const void *)k);
}

/* With the lock held: slot i of the table was just removed. A tombstone followed
 * by an empty slot ends its run: no key lies past it, so no reader's probe
 * needs it, and it becomes empty again, with the tombstones before it.
 * Without this, keys that come and go at ever new addresses (requests
 * from a bump allocator) fill the array with tombstones, and every rebuild
 * they cause leaves a replaced array behind. */
static void ls_trim_tombs(struct ls_table *t, uint32_t i)
{
	uint32_t mask = (1u << t->bits) - 1;
	if (t->slot[(i + 1) & mask].key != LS_EMPTY)
		return;
	while (t->slot[i].key == LS_TOMB) {
		__atomic_store_n(&t->slot[i].key, LS_EMPTY, __ATOMIC_RELEASE);
		t->used--;
		i = (i - 1) & mask;
	}
}

/* Copies the entry for `key` into *out and removes it. Returns 0 if none. */
int ls_table_take(const void *key, struct ls_entry *out)
{
	pthread_mutex_lock(&lock);
	struct ls_entry *e = ls_find_locked((uintptr_t)key);
	if (e != NULL) {
		*out = *e;
		__atomic_store_n(&e->key, LS_TOMB, __ATOMIC_RELEASE);
		ls_table_cur->live--;
		ls_trim_tombs(ls_table_cur, (uint32_t)(e - ls_table_cur->slot));
	}
	pthread_mutex_unlock(&lock);
	return e != NULL;
}

/* fn on every live entry of the current array. */
static void ls_table_walk(void (*fn)(struct ls_entry *e, void *arg), void *arg)
{
	struct ls_table *t = __atomic_load_n(&ls_table_cur, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; t != NULL && i < (1u << t->bits); i++)
		if (__atomic_load_n(&t->slot[i].key, __ATOMIC_ACQUIRE) > LS_TOMB)
			fn(&t->slot[i], arg);
}

void ls_table_foreach(void (*fn)(struct ls_entry *e, void *arg), void *arg)
{
	pthread_mutex_lock(&lock);
	ls_table_walk(fn, arg);
	pthread_mutex_unlock(&lock);
}

/* Another thread holds the lock for a few hundred instructions at most:
 * ask again for about a millisecond, then walk without it. A walk without
 * the lock reads only the shim's own arrays, which are never unmapped, so
 * an entry being changed at that moment may read half old, half new, and
 * nothing worse. */
void ls_table_foreach_at_exit(void (*fn)(struct ls_entry *e, void *arg), void *arg)
{
	for (int i = 0; i < 100; i++) {
		if (pthread_mutex_trylock(&lock) == 0) {
			ls_table_walk(fn, arg);
			pthread_mutex_unlock(&lock);
			return;
		}
		/* The system call itself: nanosleep is interposed (sys/). */
		struct timespec ts = { 0, 10000 };
		syscall(SYS_nanosleep, &ts, NULL);
	}
	ls_trace_note(LS_NOTE_EXIT_UNLOCKED);
	ls_table_walk(fn, arg);
}

void ls_table_lock(void)
{
	pthread_mutex_lock(&lock);
}

void ls_table_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* fork copies the handles of every loop, but only the forking thread goes
 * on in the child: the loops other threads ran are frozen there, and their
 * handles are the parent's to close, not the child's to leave open. */
static uint32_t fork_tid;

static void ls_table_atfork_prepare(void)
{
	fork_tid = ls_trace_tid();
}

/* A request of a loop the child does not run: the parent's to finish. */
static void ls_table_atfork_request(const void *req, struct ls_req_info *r, int *reported,
				    void *arg)
{
	(void)req;
	(void)arg;
	struct ls_entry *l = ls_find_locked((uintptr_t)r->loop);
	if (l != NULL && l->tid != 0 && l->tid != fork_tid)
		*reported = 1;
}

static void ls_table_atfork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	struct ls_table *t = ls_table_cur;
	for (uint32_t i = 0; t != NULL && i < (1u << t->bits); i++) {
		struct ls_entry *e = &t->slot[i];
		if (e->key <= LS_TOMB || (e->flags & LS_ENT_LOOP) || e->loop == NULL)
			continue;
		struct ls_entry *l = ls_find_locked((uintptr_t)e->loop);
		if (l != NULL && l->tid != 0 && l->tid != fork_tid)
			e->flags |= LS_ENT_REPORTED;
	}
	ls_req_foreach(ls_table_atfork_request, NULL);
}

__attribute__((constructor)) static void ls_table_init(void)
{
	pthread_atfork(ls_table_atfork_prepare, NULL, ls_table_atfork_child);
}
