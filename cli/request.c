#include "config.h"

#include "request.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "url.h"

static int query_u64(struct buf *b, const char *key, unsigned long long v)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", v);
	return url_append_query(b, key, text);
}

static int query_segment_u64(struct buf *b, unsigned long long v)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", v);
	return url_append_segment(b, text);
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
	case CMD_ALERTS:
		r = buf_puts(out, "/api/v1/alerts");
		if (!r && a->state)
			r = url_append_query(out, "state", a->state);
		/* Always sent: the server's default (20) would make every
		 * listing read PostgreSQL for a table not shown. */
		if (!r)
			r = query_u64(out, "history", a->history);
		return r;
	case CMD_ACK:
		r = buf_puts(out, "/api/v1/alerts");
		if (!r)
			r = url_append_segment(out, a->alert_id);
		return r ? r : buf_puts(out, "/ack");
	case CMD_SILENCE_ADD:
		return buf_puts(out, "/api/v1/silences");
	case CMD_SILENCE_LIST:
		r = buf_puts(out, "/api/v1/silences");
		return r || !a->all ? r : url_append_query(out, "state", "all");
	case CMD_SILENCE_EXPIRE:
		r = buf_puts(out, "/api/v1/silences");
		return r ? r : query_segment_u64(out, a->silence_id);
	default:
		return -EINVAL;
	}
}

const char *request_method(const struct args *a)
{
	switch (a->cmd) {
	case CMD_ACK:
	case CMD_SILENCE_ADD:
		return "POST";
	case CMD_SILENCE_EXPIRE:
		return "DELETE";
	default:
		return "GET";
	}
}

static int silence_body(const struct args *a, cJSON *o)
{
	cJSON *m = cJSON_AddArrayToObject(o, "matchers");
	char text[32];

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < a->nmatch; i++)
		if (!cJSON_AddItemToArray(m, cJSON_CreateString(a->match[i])))
			return -ENOMEM;
	if (a->start && !cJSON_AddStringToObject(o, "starts_at", a->start))
		return -ENOMEM;
	/* Seconds, like history's bounds: any reader of durations takes
	 * them, whatever sums it knows. */
	snprintf(text, sizeof(text), "%llds", (long long)a->for_s);
	if (a->for_s ? !cJSON_AddStringToObject(o, "duration", text)
		     : !cJSON_AddStringToObject(o, "ends_at", a->until.text))
		return -ENOMEM;
	if (!cJSON_AddStringToObject(o, "comment", a->comment))
		return -ENOMEM;
	if (a->author && !cJSON_AddStringToObject(o, "author", a->author))
		return -ENOMEM;
	return 0;
}

int request_body(const struct args *a, char **ret)
{
	cJSON *o = NULL;
	int r = -ENOMEM;

	*ret = NULL;
	if (a->cmd != CMD_SILENCE_ADD && (a->cmd != CMD_ACK || !a->comment))
		return 0;
	o = cJSON_CreateObject();
	if (!o)
		goto out;
	if (a->cmd == CMD_ACK)
		r = cJSON_AddStringToObject(o, "comment", a->comment) ? 0
								      : -ENOMEM;
	else
		r = silence_body(a, o);
	if (r < 0)
		goto out;
	*ret = cJSON_PrintUnformatted(o);
	r = *ret ? 0 : -ENOMEM;
out:
	cJSON_Delete(o);
	return r;
}
