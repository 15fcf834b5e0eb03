/* Alert routes: configuration and selection; see alertroute.h.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include "alertroute.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define PREFIX "route "

static int fail(struct conf_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct conf_error *err, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

#define KEY(n, t, f, lo, hi)                                                   \
	{                                                                      \
		n, t, offsetof(struct alertroute, f), lo, hi                   \
	}

static const struct conf_key route_keys[] = {
	KEY("match", CONF_STRING, match, 0, 0),
	KEY("receivers", CONF_STRING, receivers, 0, 0),
	KEY("continue", CONF_BOOL, cont, 0, 0),
	KEY("group_wait", CONF_SECONDS, timing.group_wait, 0, 86400),
	KEY("group_interval", CONF_SECONDS, timing.group_interval, 0, 86400),
	KEY("repeat_interval", CONF_SECONDS, timing.repeat_interval, 60,
	    30 * 86400),
};

bool alertroute_conf_section(const char *section)
{
	return strncmp(section, PREFIX, strlen(PREFIX)) == 0 ||
	       strcmp(section, "route") == 0;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ALERTROUTE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static struct alertroute *route_find(struct alertroute_set *set,
				     const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

int alertroute_conf_parse(struct alertroute_set *set, const char *section,
			  const char *key, const char *value,
			  struct conf_error *err)
{
	const char *name = section + strlen("route");
	struct alertroute *r;

	while (*name == ' ' || *name == '\t')
		name++;
	if (!name_valid(name))
		return fail(err, -EINVAL,
			    "route name '%.*s' must be 1-%d of [A-Za-z0-9._-] "
			    "(write [route NAME])",
			    32, name, ALERTROUTE_NAME_MAX);
	r = route_find(set, name);
	if (r && strcmp(set->last_section, section) != 0)
		return fail(err, -EEXIST,
			    "a route named '%s' is already configured", name);
	if (!r) {
		if (set->n >= ALERTROUTE_MAX)
			return fail(err, -ENOSPC, "more than %d routes",
				    ALERTROUTE_MAX);
		r = &set->v[set->n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", name);
		r->timing = (struct alertroute_timing){
			ALERTROUTE_DEFAULT_GROUP_WAIT,
			ALERTROUTE_DEFAULT_GROUP_INTERVAL,
			ALERTROUTE_DEFAULT_REPEAT_INTERVAL,
		};
		snprintf(set->last_section, sizeof(set->last_section), "%s",
			 section);
	}
	int rc =
	    conf_apply(route_keys, ARRAY_SIZE(route_keys), r, key, value, err);
	if (rc == -ENOENT)
		return fail(err, -ENOENT,
			    "unknown key (routes take match, receivers, "
			    "continue, group_wait, group_interval, "
			    "repeat_interval)");
	return rc;
}

static int resolve_receivers(struct alertroute *r,
			     const struct receiver_set *rs,
			     struct conf_error *err)
{
	const char *p = r->receivers ? r->receivers : "";

	r->nrx = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		char name[RECEIVER_NAME_MAX + 1];
		if (n > RECEIVER_NAME_MAX)
			return fail(err, -EINVAL,
				    "[route %s] receivers: '%.*s' is not a "
				    "configured receiver",
				    r->name, 32, p);
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		const struct receiver *x = receiver_set_find(rs, name);
		if (!x)
			return fail(err, -EINVAL,
				    "[route %s] receivers: '%s' is not a "
				    "configured receiver ([receiver.KIND %s])",
				    r->name, name, name);
		unsigned idx = (unsigned)(x - rs->v);
		bool dup = false;
		for (size_t i = 0; i < r->nrx; i++)
			dup |= r->rx[i] == idx;
		if (!dup)
			r->rx[r->nrx++] = idx;
	}
	if (r->nrx == 0)
		return fail(err, -EINVAL,
			    "[route %s] receivers: at least one receiver is "
			    "required",
			    r->name);
	return 0;
}

int alertroute_conf_finish(struct alertroute_set *set,
			   const struct receiver_set *rs,
			   struct conf_error *err)
{
	for (size_t i = 0; i < set->n; i++) {
		struct alertroute *r = &set->v[i];
		char why[256];
		matchers_release(&r->matchers);
		if (matchers_parse(r->match ? r->match : "", &r->matchers, why,
				   sizeof(why)) < 0)
			return fail(err, -EINVAL, "[route %s] match: %s",
				    r->name, why);
		int rc = resolve_receivers(r, rs, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void alertroute_set_release(struct alertroute_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].match);
		free(set->v[i].receivers);
		matchers_release(&set->v[i].matchers);
	}
	memset(set, 0, sizeof(*set));
}

size_t alertroute_select(const struct alertroute_set *set, size_t nreceivers,
			 const struct label *labels, size_t nlabels,
			 struct alertroute_pick out[RECEIVER_MAX])
{
	size_t n = 0;

	if (set->n == 0) {
		for (size_t i = 0; i < nreceivers && i < RECEIVER_MAX; i++)
			out[n++] = (struct alertroute_pick){
				(unsigned)i,
				{ ALERTROUTE_DEFAULT_GROUP_WAIT,
				  ALERTROUTE_DEFAULT_GROUP_INTERVAL,
				  ALERTROUTE_DEFAULT_REPEAT_INTERVAL },
			};
		return n;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct alertroute *r = &set->v[i];
		if (!matchers_match(&r->matchers, labels, nlabels))
			continue;
		for (size_t k = 0; k < r->nrx; k++) {
			bool have = false;
			for (size_t j = 0; j < n; j++)
				have |= out[j].rx == r->rx[k];
			if (!have && n < RECEIVER_MAX)
				out[n++] =
				    (struct alertroute_pick){ r->rx[k],
							      r->timing };
		}
		if (!r->cont)
			break;
	}
	return n;
}
