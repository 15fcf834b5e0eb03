/* Alert routes: which receivers an alert goes to, and when (INI sections
 * "[route NAME]"; docs/alerts.md, "Routes").
 *
 *   [route pages]
 *   match = severity=critical, team=~ops|sre
 *   receivers = pd, slack
 *   continue = false
 *   group_wait = 0s
 *   group_interval = 5m
 *   repeat_interval = 4h
 *
 * Routes are tried in file order; an alert goes to the receivers of the
 * first route whose matchers all match its labels, and of later matching
 * routes too while the matched route has continue = true. An alert no route
 * matches goes nowhere; with no route configured at all, every alert goes to
 * every receiver with the default timings.
 *
 * Timings are per alert instance and receiver (PagerDuty's dedup_key is per
 * instance, so there is no grouping of several alerts into one
 * notification): group_wait delays the first trigger (an alert that
 * resolves meanwhile is never sent); group_interval is the least time
 * between a resolve and the next trigger of the same instance (a flapping
 * alert pages once per group_interval, not on every flap); repeat_interval
 * re-sends the trigger of an alert that is still firing and not acked. */
#ifndef ACGS_ALERTROUTE_H
#define ACGS_ALERTROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "matcher.h"
#include "receiver.h"

#define ALERTROUTE_MAX	    64
#define ALERTROUTE_NAME_MAX 24

#define ALERTROUTE_DEFAULT_GROUP_WAIT	   0.0
#define ALERTROUTE_DEFAULT_GROUP_INTERVAL  300.0
#define ALERTROUTE_DEFAULT_REPEAT_INTERVAL 14400.0

/* When notifications to one receiver go out (seconds). */
struct alertroute_timing {
	double group_wait, group_interval, repeat_interval;
};

struct alertroute {
	char name[ALERTROUTE_NAME_MAX + 1];
	char *match;	 /* as written; NULL: matches every alert */
	char *receivers; /* as written: comma-separated names */
	bool cont;
	struct alertroute_timing timing;
	/* Set by alertroute_conf_finish: */
	struct matchers matchers;
	unsigned rx[RECEIVER_MAX]; /* indexes into the receiver set */
	size_t nrx;
};

/* Every route, in the order of their sections; embedded in the server's
 * config, emptied by alertroute_set_release(). */
struct alertroute_set {
	struct alertroute v[ALERTROUTE_MAX];
	size_t n;
	char last_section[64];
};

/* Whether section is a route section ("route " prefix). */
bool alertroute_conf_section(const char *section);

/* Apply one key of "[route NAME]" to set. Returns 0 or a negative errno
 * with err->msg set: -EINVAL (bad name or value), -ENOENT (unknown key),
 * -EEXIST (a second section of the same name), -ENOSPC, -ENOMEM. */
int alertroute_conf_parse(struct alertroute_set *set, const char *section,
			  const char *key, const char *value,
			  struct conf_error *err);

/* Once the file is read: compile the matchers and resolve the receiver
 * names against rs (every route needs at least one receiver, each one
 * configured). Returns 0 or -EINVAL with err->msg naming the route. */
int alertroute_conf_finish(struct alertroute_set *set,
			   const struct receiver_set *rs,
			   struct conf_error *err);

void alertroute_set_release(struct alertroute_set *set);

/* One receiver an alert goes to, with the timing of the route that chose
 * it (the first such route when several do). */
struct alertroute_pick {
	unsigned rx;
	struct alertroute_timing timing;
};

/* The receivers for an alert with these labels: written to out (room for
 * RECEIVER_MAX), each receiver once. nreceivers is the size of the
 * receiver set (used when no route is configured). Returns how many. */
size_t alertroute_select(const struct alertroute_set *set, size_t nreceivers,
			 const struct label *labels, size_t nlabels,
			 struct alertroute_pick out[RECEIVER_MAX]);

#endif
