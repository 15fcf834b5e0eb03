/* Label matchers, as Alertmanager writes them: `name=value`, `name!=value`,
 * `name=~regex`, `name!~regex` (POSIX extended regular expressions, anchored
 * at both ends; at most 16 repetition operators, none applied to another,
 * and one {m,n} with bounds up to 100, because glibc compiles repetition by
 * copying and a hostile pattern could take gigabytes). Silences and alert
 * routes select alerts with a list of them; an alert matches the list when it
 * matches every matcher. A label the alert does not have has the empty value,
 * so `team!=ops` matches an alert without `team`, and `team=` matches only
 * those. */
#ifndef ACGS_MATCHER_H
#define ACGS_MATCHER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define MATCHER_NAME_MAX  64
#define MATCHER_VALUE_MAX 256
#define MATCHERS_MAX	  32

enum matcher_op { MATCH_EQ, MATCH_NE, MATCH_RE, MATCH_NRE };

struct matcher {
	char name[MATCHER_NAME_MAX + 1];
	char value[MATCHER_VALUE_MAX + 1];
	enum matcher_op op;
	regex_t re; /* compiled for MATCH_RE and MATCH_NRE */
};

struct matchers {
	struct matcher m[MATCHERS_MAX];
	size_t n;
};

/* One label of an alert. */
struct label {
	const char *name, *value;
};

/* Parse a comma-separated list ("severity=critical, node=~web-.*"); a value
 * may be double-quoted to hold commas or spaces ("summary=\"a, b\"", with
 * \" and \\ escapes). Names are [A-Za-z_][A-Za-z0-9_]*. Returns 0 with *ret
 * filled (release with matchers_release), or -EINVAL with err saying which
 * matcher and why. An empty list is valid and matches everything. */
int matchers_parse(const char *text, struct matchers *ret, char *err,
		   size_t errlen);

/* The same from a JSON array of strings ("node=web-1") or of Alertmanager
 * objects ({"name": ..., "value": ..., "isRegex": bool, "isEqual": bool}).
 */
int matchers_from_json(const cJSON *arr, struct matchers *ret, char *err,
		       size_t errlen);

/* Write the list back as text (the form matchers_parse reads); returns the
 * length written (truncated to outlen - 1). */
size_t matchers_format(const struct matchers *ms, char *out, size_t outlen);

/* Whether labels[0..n) satisfy every matcher. */
bool matchers_match(const struct matchers *ms, const struct label *labels,
		    size_t n);

void matchers_release(struct matchers *ms);

#endif
