/* Creation stacks with the per-call-site cache (stack_cache=1) and without
 * it: every registration's created_at is the stack of that registration's
 * own thread, callback and call instruction, frame for frame, for a
 * program built with frame pointers and one built without. The reference
 * is the fixture's own backtrace() (libgcc's unwinder, not the shim's). */
#include "tests/harness.h"
#include "tracer/format.h"

LS_SUITE(site_cache);

#define SITES 48     /* reg_sites.c */
#define MAX_OUTER 8  /* "outer" lines a fixture prints */
#define MAX_PCS 64

struct outer {
	long tid;
	size_t n;
	unsigned long long pc[MAX_PCS];
};

/* The fixture's "outer TID PC..." lines: the callers of arm_all per thread. */
static size_t parse_outer(const char *out, struct outer *o)
{
	size_t k = 0;
	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, "outer ", 6) != 0)
			continue;
		cr_assert_lt(k, MAX_OUTER, "too many outer lines:\n%s", out);
		char *end;
		o[k].tid = strtol(l + 6, &end, 10);
		o[k].n = 0;
		while (*end == ' ' && o[k].n < MAX_PCS)
			o[k].pc[o[k].n++] = strtoull(end + 1, &end, 16);
		k++;
	}
	return k;
}

static unsigned long long frame_pc(json_t *stack, size_t i)
{
	return strtoull(ls_str(json_array_get(stack, i), "pc"), NULL, 16);
}

/* created_at[skip...] is one of the thread's outer stacks, to the end. */
static bool outer_matches(json_t *f, size_t skip, const struct outer *o, size_t no)
{
	json_t *st = json_object_get(f, "created_at");
	long tid = ls_int(json_object_get(f, "thread"), "tid");
	for (size_t k = 0; k < no; k++) {
		if (o[k].tid != tid || json_array_size(st) != skip + o[k].n)
			continue;
		size_t i = 0;
		while (i < o[k].n && frame_pc(st, skip + i) == o[k].pc[i])
			i++;
		if (i == o[k].n)
			return true;
	}
	return false;
}

static const char *frame_fn(json_t *f, size_t i)
{
	json_t *fr = json_array_get(json_object_get(f, "created_at"), i);
	cr_assert(fr, "no created_at[%zu] in %s", i, json_dumps(f, JSON_COMPACT));
	json_t *fn = json_object_get(fr, "function");
	return json_is_string(fn) ? json_string_value(fn) : "?";
}

static void check_stacks(const char *fixture, const char *options)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	char *opt = ls_fmt("slow_callback_ms=1:%s", options);
	ls_run_fixture(&r, fixture, dir, opt);
	cr_assert_eq(ls_exit_code(&r), 0, "%s %s:\n%s", fixture, opt, r.err);
	struct outer o[MAX_OUTER];
	size_t no = parse_outer(r.out, o);
	cr_assert_geq(no, 3, "%s printed no outer stacks:\n%s", fixture, r.out);
	/* main, reg-worker, and reg-later (started when reg-worker is gone) */
	long tids[3];
	size_t nt = 0;
	for (size_t k = 0; k < no; k++) {
		size_t j = 0;
		while (j < nt && tids[j] != o[k].tid)
			j++;
		if (j == nt && nt < 3)
			tids[nt++] = o[k].tid;
	}
	cr_assert_eq(nt, 3, "not three threads:\n%s", r.out);

	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	int first = ls_marker_line("reg_sites", "site_first");
	int last = ls_marker_line("reg_sites", "site_last");
	for (size_t t = 0; t < nt; t++) {
		/* 48 call sites: 48 distinct call instructions in arm_all, each
		 * with its thread's own callers behind it. */
		json_t *all = ls_findings(rep, "slow-callback", "on_slow"), *f;
		unsigned long long pcs[4 * SITES];
		size_t npcs = 0, i;
		json_array_foreach(all, i, f) {
			if (ls_int(json_object_get(f, "thread"), "tid") != tids[t])
				continue;
			cr_assert_str_eq(frame_fn(f, 0), "arm_all", "%s %s: %s", fixture, opt,
					 json_dumps(f, JSON_COMPACT));
			json_t *f0 = json_array_get(json_object_get(f, "created_at"), 0);
			int line = (int)ls_int(f0, "line");
			cr_assert(line >= first && line <= last, "%s %s: created_at[0] line %d",
				  fixture, opt, line);
			cr_assert(outer_matches(f, 1, o, no),
				  "%s %s: thread %ld: created_at is not arm_all's own stack:\n%s\n"
				  "fixture's stacks:\n%s", fixture, opt, tids[t],
				  json_dumps(f, JSON_INDENT(1)), r.out);
			unsigned long long pc = frame_pc(json_object_get(f, "created_at"), 0);
			size_t j = 0;
			while (j < npcs && pcs[j] != pc)
				j++;
			if (j == npcs && npcs < sizeof(pcs) / sizeof(pcs[0]))
				pcs[npcs++] = pc;
		}
		cr_assert_eq(npcs, SITES, "%s %s: thread %ld: %zu call sites, not %d", fixture,
			     opt, tids[t], npcs, SITES);
		json_decref(all);

		/* One call instruction, two callbacks, two callers. */
		const char *cbs[2] = { "on_slow_a", "on_slow_b" };
		const char *lines[2] = { "with_a", "with_b" };
		unsigned long long with_pc[2] = { 0, 0 };
		for (int c = 0; c < 2; c++) {
			json_t *fs = ls_findings(rep, "slow-callback", cbs[c]);
			size_t seen = 0;
			json_array_foreach(fs, i, f) {
				if (ls_int(json_object_get(f, "thread"), "tid") != tids[t])
					continue;
				seen++;
				cr_assert_str_eq(frame_fn(f, 0), "arm_with");
				cr_assert_str_eq(frame_fn(f, 1), "arm_all");
				json_t *f1 = json_array_get(json_object_get(f, "created_at"), 1);
				cr_assert_eq(ls_int(f1, "line"), ls_marker_line("reg_sites", lines[c]),
					     "%s %s: %s registered from the wrong caller:\n%s", fixture,
					     opt, cbs[c], json_dumps(f, JSON_INDENT(1)));
				cr_assert(outer_matches(f, 2, o, no),
					  "%s %s: %s: not its thread's stack:\n%s\n%s", fixture, opt,
					  cbs[c], json_dumps(f, JSON_INDENT(1)), r.out);
				with_pc[c] = frame_pc(json_object_get(f, "created_at"), 0);
			}
			cr_assert_geq(seen, 1, "%s %s: no %s on thread %ld", fixture, opt, cbs[c],
				      tids[t]);
			json_decref(fs);
		}
		cr_assert_eq(with_pc[0], with_pc[1], "arm_with has one call instruction");
	}
	json_decref(rep);
	free(trace);
	free(opt);
	ls_run_free(&r);
}

Test(site_cache, many_call_sites_callbacks_and_threads_keep_their_own_stacks)
{
	check_stacks("reg_sites", "stack_cache=1");
}

Test(site_cache, many_call_sites_keep_their_stacks_without_frame_pointers)
{
	check_stacks("reg_sites_nofp", "stack_cache=1");
}

Test(site_cache, every_registration_unwound_gives_the_same_stacks)
{
	check_stacks("reg_sites", "stack_cache=0");
	check_stacks("reg_sites_nofp", "stack_cache=0");
}

/* How many SITE records of the trace name api. */
static int sites_of_api(const char *trace, uint32_t api)
{
	size_t len;
	char *buf = ls_read_file(trace, &len);
	const struct ls_file_header *h = (const void *)buf;
	cr_assert(len >= LS_HEADER_SIZE && !memcmp(h->magic, LS_FILE_MAGIC, 8), "%s", trace);
	size_t cs = h->chunk_size;
	int n = 0;
	for (size_t off = LS_HEADER_SIZE; off + cs <= len; off += cs) {
		const struct ls_chunk_header *c = (const void *)(buf + off);
		if (c->magic != LS_CHUNK_MAGIC)
			continue;
		for (size_t p = sizeof(*c); p + sizeof(struct ls_rec) <= sizeof(*c) + c->used;) {
			const struct ls_rec *r = (const void *)(buf + off + p);
			if (r->size < sizeof(*r))
				break;
			if (r->type == LS_REC_SITE && r->size >= sizeof(*r) + sizeof(struct ls_rec_site) &&
			    ((const struct ls_rec_site *)(r + 1))->api == api)
				n++;
			p += r->size;
		}
	}
	free(buf);
	return n;
}

/* libunwind calls read() on a pipe of its own to check that memory is
 * mapped. Those calls, made while the shim unwinds a registration (or the
 * watchdog's signal handler unwinds a stuck thread), are the shim's: the
 * blocking-call interposer once took them for the program's, inside its
 * callbacks, and captured a stack for each, from within the unwinder (and,
 * from the signal handler, from within the trace writer the signal had
 * interrupted: a crash). stress (16 threads, each with a loop) never calls
 * read() itself; under the old shim its trace had 6 to 12 such sites. */
Test(site_cache, the_unwinders_own_reads_are_not_the_programs)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run_fixture_arg(&r, "stress", dir, true, "stack_cache=0:slow_callback_ms=1", "16");
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	cr_assert_gt(sites_of_api(trace, LS_API_UV_IDLE_START), 0, "the walk finds sites at all");
	cr_assert_eq(sites_of_api(trace, LS_API_READ), 0,
		     "a read() site in a program that calls no read(): libunwind's");
	free(trace);
}
