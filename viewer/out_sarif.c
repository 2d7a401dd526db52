/* loopsan report --format sarif: SARIF 2.1.0, so that code-scanning UIs
 * show findings at the line of the user's code where the callback or
 * handle was created. One rule per finding kind. */
#include "viewer/commands.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"

static json_t *text(const char *s)
{
	json_t *t = json_string(s);
	return json_pack("{s:o}", "text", t ? t : json_string("?"));
}

/* "slow-callback" -> "SlowCallback", SARIF's style for rule names. */
static json_t *rule_name(const char *kind)
{
	char buf[64];
	size_t n = 0;
	int up = 1;
	for (const char *p = kind; *p && n + 1 < sizeof(buf); p++) {
		if (*p == '-') {
			up = 1;
			continue;
		}
		buf[n++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = 0;
	}
	buf[n] = '\0';
	return json_string(buf);
}

static json_t *rules(void)
{
	json_t *a = json_array();
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		const struct ls_finding_kind_info *info = ls_finding_kind_info(k);
		json_array_append_new(a, json_pack(
			"{s:s, s:o, s:o, s:o, s:o, s:{s:s}}",
			"id", info->name, "name", rule_name(info->name),
			"shortDescription", text(info->title),
			"fullDescription", text(info->description),
			"help", text(info->help),
			"defaultConfiguration", "level",
			info->is_warning ? "warning" : "error"));
	}
	return a;
}

/* A file path as a URI reference: characters that may not appear in one
 * are percent-encoded. */
static json_t *uri(const char *path)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *buf = ls_xmalloc(3 * n + 1), *o = buf;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (isalnum(*p) || strchr("/-._~!$&'()*+,;=:@", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hexd[*p >> 4];
			*o++ = hexd[*p & 15];
		}
	}
	*o = '\0';
	json_t *j = json_string(buf);
	free(buf);
	return j;
}

/* A frame without a line (a stripped program's): the module's file, the
 * address in it, and the function (module+0xoffset) as a logical
 * location. */
static json_t *physical(const struct ls_frame *f)
{
	if (!f->file || f->line <= 0)
		return json_pack("{s:{s:{s:o}, s:{s:I, s:s}}, s:[{s:s, s:s}]}",
				 "physicalLocation", "artifactLocation", "uri",
				 uri(f->module_path ? f->module_path : f->module ? f->module : "?"),
				 "address", "relativeAddress", (json_int_t)f->offset,
				 "kind", "function", "logicalLocations",
				 "fullyQualifiedName", f->function ? f->function : "?",
				 "kind", "function");
	return json_pack("{s:{s:{s:o}, s:{s:i}}}", "physicalLocation",
			 "artifactLocation", "uri", uri(f->file),
			 "region", "startLine", f->line);
}

static json_t *frame_location(const struct ls_frame *f, unsigned n)
{
	json_t *loc = physical(f);
	char msg[512];
	snprintf(msg, sizeof(msg), "created at #%u %s", n,
		 f->function ? f->function : "?");
	json_object_set_new(loc, "message", text(msg));
	return loc;
}

/* The frames of created_at in the user's code, other than the result's
 * own location. */
static json_t *related(const struct ls_report *r, const struct ls_finding *fi,
		       const struct ls_frame *main)
{
	json_t *a = json_array();
	struct ls_symbolizer *s = ls_report_symbolizer(r, fi->trace);
	const struct ls_stack *st = fi->created_at;
	if (!st)
		return a;
	uint32_t first = ls_stack_first_frame(s, st);
	for (uint32_t i = first; i < ls_stack_nframes(s, st); i++) {
		const struct ls_frame *f = ls_stack_frame(s, st, i);
		if (f != main && f->file && f->line > 0 && ls_frame_is_user(f))
			json_array_append_new(a, frame_location(f, i - first));
	}
	return a;
}

static char *message(const struct ls_report *r, const struct ls_finding *fi)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return ls_xstrdup(ls_finding_kind_name(fi->kind));
	ls_report_print_headline(m, r, fi);
	fprintf(m, " in process %" PRIu64 " (%s).", fi->trace->pid,
		ls_basename(fi->trace->exe));
	fclose(m);
	return buf;
}

static json_t *result(const struct ls_report *r, const struct ls_finding *fi)
{
	const struct ls_finding_kind_info *info = ls_finding_kind_info(fi->kind);
	char *msg = message(r, fi), cb[256];
	json_t *o = json_pack("{s:s, s:i, s:s, s:o}", "ruleId", info->name,
			      "ruleIndex", (int)fi->kind,
			      "level", info->is_warning ? "warning" : "error",
			      "message", text(msg));
	free(msg);
	const struct ls_frame *loc = ls_finding_location(r, fi);
	json_t *locs = json_array();
	if (loc)
		json_array_append_new(locs, physical(loc));
	json_object_set_new(o, "locations", locs);
	json_t *rel = related(r, fi, loc);
	if (json_array_size(rel))
		json_object_set_new(o, "relatedLocations", rel);
	else
		json_decref(rel);
	ls_finding_callback(cb, sizeof(cb), ls_report_symbolizer(r, fi->trace), fi);
	json_t *props = json_pack("{s:I, s:I}", "pid", (json_int_t)fi->trace->pid,
				  "tid", (json_int_t)fi->tid);
	if (cb[0])
		json_object_set_new(props, "callback", text(cb));
	if (fi->has_api)
		json_object_set_new(props, "api", json_string(ls_api_name(fi->api)));
	json_object_set_new(o, "properties", props);
	return o;
}

int ls_report_print_sarif(FILE *out, const struct ls_report *r)
{
	ls_color_set(0);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_report_print_notes(stderr, r->traces[i]);
	json_t *results = json_array();
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++)
		json_array_append_new(results, result(r, ls_finding_at(&r->findings, i)));
	json_t *doc = json_pack(
		"{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o}]}",
		"$schema", SARIF_SCHEMA, "version", "2.1.0",
		"runs", "tool", "driver", "name", "loopsan",
		"version", LOOPSAN_VERSION, "informationUri", LOOPSAN_URI,
		"rules", rules(), "results", results);
	int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(doc);
	return rc;
}
