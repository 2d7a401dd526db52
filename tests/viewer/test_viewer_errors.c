/* The viewer trusts nothing in a trace file: a missing, empty, foreign,
 * corrupt or hopelessly truncated file, and a usage error, give exit status 2
 * and one line on stderr naming the file (or the option); a trace merely cut
 * short is reported as incomplete. */
#include "tests/harness.h"
#include "tracer/format.h"

LS_SUITE(viewer_errors);

/* A real trace: slow_timer run under the shim in a fresh dir. */
static char *real_trace(void)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

static void write_all(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* `loopsan report --format json path` must exit 2 with one stderr line
 * naming path, and print nothing on stdout. */
static void assert_rejected(const char *path)
{
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", path, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "exit status for %s\nstderr:\n%s", path, r.err);
	ls_assert_one_line(&r, path);
	cr_assert_eq(r.out_len, 0, "nothing on stdout for a rejected file:\n%s", r.out);
	ls_run_free(&r);
}

/* For corruption the viewer may either reject (2, one line naming the file)
 * or report what it can (0, valid JSON); it must neither crash nor hang. */
static void assert_survives(const char *path)
{
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", path, NULL};

	ls_run_viewer(&r, NULL, args);
	int code = ls_exit_code(&r);
	cr_assert(code == 0 || code == 2, "exit status %d\nstderr:\n%s", code, r.err);
	if (code == 2)
		ls_assert_one_line(&r, path);
	else
		json_decref(ls_parse_report(&r));
	ls_run_free(&r);
}

/* Offset and header of the first chunk holding at least min_used bytes of
 * records and at least room free bytes after them. */
static size_t find_chunk(const char *buf, size_t len, uint32_t min_used, uint32_t room)
{
	const struct ls_file_header *h = (const void *)buf;
	size_t cs = h->chunk_size;

	cr_assert(len >= LS_HEADER_SIZE && !memcmp(h->magic, LS_FILE_MAGIC, 8));
	cr_assert(cs >= LS_CHUNK_SIZE_MIN && cs <= LS_CHUNK_SIZE_MAX, "chunk_size %zu", cs);
	for (size_t off = LS_HEADER_SIZE; off + cs <= len; off += cs) {
		const struct ls_chunk_header *c = (const void *)(buf + off);
		if (c->magic == LS_CHUNK_MAGIC && c->used >= min_used &&
		    sizeof(*c) + c->used + room <= cs)
			return off;
	}
	cr_assert_fail("no chunk with %u bytes used and %u free", min_used, room);
	return 0;
}

Test(viewer_errors, missing_file_is_rejected_naming_it)
{
	char *path = ls_fmt("%s/loopsan.4242.trace", ls_tmpdir());

	assert_rejected(path);
	free(path);
}

Test(viewer_errors, empty_file_is_rejected_naming_it)
{
	char *path = ls_fmt("%s/loopsan.4242.trace", ls_tmpdir());

	write_all(path, "", 0);
	assert_rejected(path);
	free(path);
}

Test(viewer_errors, foreign_file_is_rejected_naming_it)
{
	char *path = ls_fmt("%s/loopsan.4242.trace", ls_tmpdir());

	ls_copy_file("/bin/true", path, -1);
	assert_rejected(path);
	free(path);
}

Test(viewer_errors, trace_cut_inside_its_header_is_rejected_naming_it)
{
	char *trace = real_trace();
	const char *dir = ls_tmpdir();
	char *magic_only = ls_fmt("%s/loopsan.1.trace", dir);
	char *half = ls_fmt("%s/loopsan.2.trace", dir);

	ls_copy_file(trace, magic_only, 12);
	ls_copy_file(trace, half, LS_HEADER_SIZE / 2);
	assert_rejected(magic_only);
	assert_rejected(half);
	free(trace);
	free(magic_only);
	free(half);
}

Test(viewer_errors, unsupported_version_is_rejected_naming_it)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);

	((struct ls_file_header *)(void *)buf)->version = 99;
	write_all(trace, buf, len);
	assert_rejected(trace);
	free(buf);
	free(trace);
}

Test(viewer_errors, trace_cut_in_the_middle_of_a_chunk_is_reported_as_incomplete)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);
	size_t off = find_chunk(buf, len, 16, 0);
	const struct ls_chunk_header *c = (const void *)(buf + off);
	char *cut = ls_fmt("%s/loopsan.3.trace", ls_tmpdir());

	write_all(cut, buf, off + sizeof(*c) + c->used / 2);
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", cut, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "a cut trace is not an error:\n%s", r.err);
	json_t *rep = ls_parse_report(&r);
	cr_assert_not(ls_bool(ls_process(rep), "complete"), "the cut trace is incomplete");
	json_decref(rep);
	ls_run_free(&r);
	free(cut);
	free(buf);
	free(trace);
}

Test(viewer_errors, unknown_record_type_is_skipped_by_its_size)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);
	size_t off = find_chunk(buf, len, 8, 32);
	struct ls_chunk_header *c = (void *)(buf + off);
	struct ls_rec *rec = (void *)(buf + off + sizeof(*c) + c->used);

	/* A record from a future version, appended to a chunk: 32 bytes. */
	memset(rec, 0xab, 32);
	rec->type = 0x7ffe;
	rec->size = 32;
	rec->arg = 7;
	c->used += 32;
	write_all(trace, buf, len);

	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_once");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_eq(ls_int(ls_only_finding(rep, "slow-callback", "on_tick"), "count"), 3);
	json_decref(rep);
	free(buf);
	free(trace);
}

Test(viewer_errors, chunk_used_beyond_the_chunk_does_not_crash_the_viewer)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);
	size_t off = find_chunk(buf, len, 8, 0);

	((struct ls_chunk_header *)(void *)(buf + off))->used = 0xfffffff0u;
	write_all(trace, buf, len);
	assert_survives(trace);
	free(buf);
	free(trace);
}

Test(viewer_errors, zero_sized_record_does_not_hang_the_viewer)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);
	size_t off = find_chunk(buf, len, 8, 0);
	struct ls_rec *rec = (void *)(buf + off + sizeof(struct ls_chunk_header));

	rec->size = 0;
	write_all(trace, buf, len);
	assert_survives(trace);
	free(buf);
	free(trace);
}

Test(viewer_errors, oversized_record_does_not_crash_the_viewer)
{
	char *trace = real_trace();
	size_t len;
	char *buf = ls_read_file(trace, &len);
	size_t off = find_chunk(buf, len, 8, 0);
	struct ls_rec *rec = (void *)(buf + off + sizeof(struct ls_chunk_header));

	rec->size = 0xfff8;
	write_all(trace, buf, len);
	assert_survives(trace);
	free(buf);
	free(trace);
}

Test(viewer_errors, unknown_format_is_a_usage_error_naming_it)
{
	char *trace = real_trace();
	struct ls_run r;
	const char *args[] = {"report", "--format", "yaml", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "stderr:\n%s", r.err);
	ls_assert_one_line(&r, "yaml");
	cr_assert_eq(r.out_len, 0);
	ls_run_free(&r);
	free(trace);
}

Test(viewer_errors, unknown_option_is_a_usage_error_naming_it)
{
	char *trace = real_trace();
	struct ls_run r;
	const char *args[] = {"report", "--frobnicate", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 2, "stderr:\n%s", r.err);
	ls_assert_one_line(&r, "frobnicate");
	cr_assert_eq(r.out_len, 0);
	ls_run_free(&r);
	free(trace);
}

Test(viewer_errors, report_without_a_trace_is_a_usage_error)
{
	struct ls_run r;
	const char *args[] = {"report", NULL};

	ls_run_viewer(&r, ls_tmpdir(), args);
	cr_assert_eq(ls_exit_code(&r), 2, "stderr:\n%s", r.err);
	cr_assert_eq(ls_count_lines(r.err), 1, "one line on stderr:\n%s", r.err);
	ls_run_free(&r);
}
