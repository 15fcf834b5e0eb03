#include "config.h"

#include "view.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct node_view *view_new(void)
{
	return calloc(1, sizeof(struct node_view));
}

void view_free(void *p)
{
	struct node_view *v = p;
	if (!v)
		return;
	free(v->sample);
	free(v->probe_text);
	free(v->label_text);
	free(v->m_probe);
	free(v);
}

/* Copy s (may be NULL) into the arena at *pos; returns the copy. */
static const char *arena_put(char *arena, size_t *pos, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = arena + *pos;
	memcpy(d, s, n);
	*pos += n;
	return d;
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

int view_set_sample(struct node_view *v, const cJSON *sample,
		    const void *payload, size_t len)
{
	struct score_probe_input probes[VIEW_MAX_PROBES];
	struct score_node_input in;
	size_t text = 1, pos = 0;
	char *copy = NULL, *arena = NULL;
	int r = -ENOMEM;

	if (score_input_from_sample(sample, probes, VIEW_MAX_PROBES, &in) < 0)
		return -EINVAL;
	for (size_t i = 0; i < in.nprobes; i++)
		text += str_size(probes[i].name) + str_size(probes[i].service);
	copy = malloc(len + 1);
	arena = malloc(text);
	if (!copy || !arena)
		goto out;
	memcpy(copy, payload, len);
	copy[len] = '\0';
	for (size_t i = 0; i < in.nprobes; i++) {
		probes[i].name = arena_put(arena, &pos, probes[i].name);
		probes[i].service = arena_put(arena, &pos, probes[i].service);
		v->probes[i] = probes[i];
	}
	/* The same walk as score_input_from_sample: objects, in order. */
	const cJSON *pj;
	size_t i = 0;
	cJSON_ArrayForEach(pj,
			   cJSON_GetObjectItemCaseSensitive(sample, "probes"))
	{
		if (!cJSON_IsObject(pj) || i >= in.nprobes)
			continue;
		const cJSON *p50 =
		    cJSON_GetObjectItemCaseSensitive(pj, "p50_ms");
		const cJSON *ok =
		    cJSON_GetObjectItemCaseSensitive(pj, "slo_ok");
		v->probe_extra[i++] = (struct view_probe_extra){
			.p50_ms = cJSON_IsNumber(p50) ? p50->valuedouble : NAN,
			.has_slo_ok = cJSON_IsBool(ok),
			.slo_ok = cJSON_IsTrue(ok),
		};
	}
	in.probes = v->probes;
	free(v->sample);
	free(v->probe_text);
	v->sample = copy;
	v->len = len;
	v->probe_text = arena;
	v->in = in;
	v->has_input = true;
	copy = arena = NULL;
	r = 0;
out:
	free(copy);
	free(arena);
	return r;
}

int view_set_labels(struct node_view *v, const cJSON *labels)
{
	const cJSON *it;
	size_t text = 1, n = 0, pos = 0;
	char *arena;

	if (!cJSON_IsObject(labels))
		labels = NULL;
	cJSON_ArrayForEach(it, labels)
	{
		if (cJSON_IsString(it) && n < VIEW_MAX_LABELS) {
			text +=
			    strlen(it->string) + strlen(it->valuestring) + 2;
			n++;
		}
	}
	arena = malloc(text);
	if (!arena)
		return -ENOMEM;
	n = 0;
	cJSON_ArrayForEach(it, labels)
	{
		if (cJSON_IsString(it) && n < VIEW_MAX_LABELS) {
			v->labels[n].key = arena_put(arena, &pos, it->string);
			v->labels[n].value =
			    arena_put(arena, &pos, it->valuestring);
			n++;
		}
	}
	free(v->label_text);
	v->label_text = arena;
	v->nlabels = n;
	return 0;
}

const char *view_label(const struct node_view *v, const char *key)
{
	for (size_t i = 0; v && i < v->nlabels; i++)
		if (strcmp(v->labels[i].key, key) == 0)
			return v->labels[i].value;
	return NULL;
}

size_t view_services(const struct node_view *v, const char **names, size_t max)
{
	size_t n = 0;

	if (max == 0)
		return 0;
	for (size_t i = 0; v && v->has_input && i < v->in.nprobes; i++) {
		const char *svc = v->probes[i].service;
		size_t k;
		if (!svc)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(names[k], svc) == 0)
				break;
		if (k == n && n < max)
			names[n++] = svc;
	}
	if (n == 0)
		names[n++] = "unassigned";
	return n;
}

bool view_in_service(const struct node_view *v, const char *service)
{
	const char *names[VIEW_MAX_PROBES];
	size_t n = view_services(v, names, VIEW_MAX_PROBES);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], service) == 0)
			return true;
	return false;
}
