#include "config.h"

#include "request.h"

#include <errno.h>
#include <stdio.h>

#include "url.h"

static int query_u64(struct buf *b, const char *key, unsigned long long v)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", v);
	return url_append_query(b, key, text);
}

/* A history bound: durations go as seconds ("5400s", which the server
 * reads like "1h30m" and needs no parser for sums), times as given. */
static int query_time(struct buf *b, const char *key, const struct args_time *t)
{
	char text[32];

	if (!t->text)
		return 0;
	if (!t->is_duration)
		return url_append_query(b, key, t->text);
	snprintf(text, sizeof(text), "%llds", (long long)t->value);
	return url_append_query(b, key, text);
}

static int nodes_path(const struct args *a, size_t offset, size_t limit,
		      struct buf *out)
{
	int r = buf_puts(out, "/api/v1/nodes");

	if (!r && a->state)
		r = url_append_query(out, "state", a->state);
	if (!r && a->has_below) {
		char text[32];
		snprintf(text, sizeof(text), "%.6g", a->below);
		r = url_append_query(out, "below", text);
	}
	if (!r && a->label)
		r = url_append_query(out, "label", a->label);
	if (!r && a->service)
		r = url_append_query(out, "service", a->service);
	if (!r)
		r = query_u64(out, "limit", limit);
	if (!r && offset)
		r = query_u64(out, "offset", offset);
	return r;
}

int request_path(const struct args *a, size_t offset, size_t limit,
		 struct buf *out)
{
	int r;

	switch (a->cmd) {
	case CMD_FLEET:
		return buf_puts(out, "/api/v1/fleet");
	case CMD_NODES:
		return nodes_path(a, offset, limit, out);
	case CMD_NODE:
		r = buf_puts(out, "/api/v1/nodes");
		return r ? r : url_append_segment(out, a->name);
	case CMD_HISTORY:
		r = buf_puts(out, "/api/v1/nodes");
		if (!r)
			r = url_append_segment(out, a->name);
		if (!r)
			r = buf_puts(out, "/history");
		if (!r)
			r = url_append_query(out, "metric", a->metric);
		if (!r)
			r = query_time(out, "from", &a->since);
		if (!r)
			r = query_time(out, "to", &a->until);
		if (!r && a->step_s)
			r = query_u64(out, "step",
				      (unsigned long long)a->step_s);
		return r;
	case CMD_SERVICES:
		r = buf_puts(out, "/api/v1/services");
		return r || !a->name ? r : url_append_segment(out, a->name);
	case CMD_COMPLIANCE:
		return buf_puts(out, "/api/v1/compliance");
	default:
		return -EINVAL;
	}
}
