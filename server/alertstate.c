/* Alert instance state machine and identity (see alertstate.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "alertstate.h"

void alertstate_init(struct alertstate *s)
{
	*s = (struct alertstate){ .state = ALERTSTATE_INACTIVE };
}

/* now - since without overflow: a wild clock must not turn a long wait
 * into a negative one. */
static int64_t elapsed(int64_t now, int64_t since)
{
	int64_t d;

	if (__builtin_sub_overflow(now, since, &d))
		return now > since ? INT64_MAX : INT64_MIN;
	return d;
}

/* A new episode starts at now: pending, or firing at once when the rule
 * has no `for`. */
static enum alertstate_transition start(struct alertstate *s,
					const struct alertstate_timing *t,
					int64_t now_ms, double value)
{
	s->active_since_ms = now_ms;
	s->fired_at_ms = 0;
	s->resolved_at_ms = 0;
	s->last_true_ms = now_ms;
	if (t->for_ms <= 0) {
		s->state = ALERTSTATE_FIRING;
		s->fired_at_ms = now_ms;
		s->firing_value = value;
		return ALERTSTATE_TO_FIRING;
	}
	s->state = ALERTSTATE_PENDING;
	return ALERTSTATE_TO_PENDING;
}

static enum alertstate_transition step_true(struct alertstate *s,
					    const struct alertstate_timing *t,
					    int64_t now_ms, double value)
{
	switch (s->state) {
	case ALERTSTATE_INACTIVE:
	case ALERTSTATE_RESOLVED:
		return start(s, t, now_ms, value);
	case ALERTSTATE_PENDING:
		s->last_true_ms = now_ms;
		if (elapsed(now_ms, s->active_since_ms) < t->for_ms)
			return ALERTSTATE_NONE;
		s->state = ALERTSTATE_FIRING;
		s->fired_at_ms = now_ms;
		s->firing_value = value;
		return ALERTSTATE_TO_FIRING;
	case ALERTSTATE_FIRING:
		s->last_true_ms = now_ms;
		return ALERTSTATE_NONE;
	}
	return ALERTSTATE_NONE;
}

static enum alertstate_transition step_false(struct alertstate *s,
					     const struct alertstate_timing *t,
					     int64_t now_ms)
{
	switch (s->state) {
	case ALERTSTATE_INACTIVE:
		return ALERTSTATE_NONE;
	case ALERTSTATE_PENDING:
		/* the condition did not hold for the whole `for`: this
		 * episode never notifies */
		s->state = ALERTSTATE_INACTIVE;
		s->active_since_ms = 0;
		return ALERTSTATE_PENDING_CLEARED;
	case ALERTSTATE_FIRING:
		if (t->keep_firing_for_ms > 0 &&
		    elapsed(now_ms, s->last_true_ms) < t->keep_firing_for_ms)
			return ALERTSTATE_NONE;
		s->state = ALERTSTATE_RESOLVED;
		s->resolved_at_ms = now_ms;
		return ALERTSTATE_TO_RESOLVED;
	case ALERTSTATE_RESOLVED:
		if (elapsed(now_ms, s->resolved_at_ms) >=
		    ALERTSTATE_RESOLVED_RETENTION_MS) {
			/* nothing left to tell anyone: the caller may drop
			 * the instance */
			alertstate_init(s);
			s->last_eval_ms = now_ms;
		}
		return ALERTSTATE_NONE;
	}
	return ALERTSTATE_NONE;
}

enum alertstate_transition alertstate_step(struct alertstate *s,
					   const struct alertstate_timing *t,
					   int64_t now_ms, bool condition_true,
					   double value)
{
	enum alertstate_transition tr;

	if (condition_true)
		tr = step_true(s, t, now_ms, value);
	else
		tr = step_false(s, t, now_ms);
	s->last_eval_ms = now_ms;
	s->value = value;
	return tr;
}

const char *alertstate_state_name(enum alertstate_state st)
{
	switch (st) {
	case ALERTSTATE_INACTIVE:
		return "inactive";
	case ALERTSTATE_PENDING:
		return "pending";
	case ALERTSTATE_FIRING:
		return "firing";
	case ALERTSTATE_RESOLVED:
		return "resolved";
	}
	return "unknown";
}

const char *alertstate_transition_name(enum alertstate_transition tr)
{
	switch (tr) {
	case ALERTSTATE_NONE:
		return "none";
	case ALERTSTATE_TO_PENDING:
		return "to_pending";
	case ALERTSTATE_TO_FIRING:
		return "to_firing";
	case ALERTSTATE_TO_RESOLVED:
		return "to_resolved";
	case ALERTSTATE_PENDING_CLEARED:
		return "pending_cleared";
	}
	return "unknown";
}

/* Append s to out[*len..] with '%' and '/' escaped. Returns 0 or -E2BIG. */
static int put_escaped(char *out, size_t outlen, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = (c == '%' || c == '/') ? 3 : 1;
		if (outlen - *len <= need)
			return -E2BIG;
		if (need == 3) {
			out[(*len)++] = '%';
			out[(*len)++] = hex[c >> 4];
			out[(*len)++] = hex[c & 15];
		} else {
			out[(*len)++] = (char)c;
		}
	}
	return 0;
}

static int put_char(char *out, size_t outlen, size_t *len, char c)
{
	if (outlen - *len <= 1)
		return -E2BIG;
	out[(*len)++] = c;
	return 0;
}

int alertstate_key(const char *rule, const char *scope_key, const char *extra,
		   char *out, size_t outlen)
{
	size_t len = 0;
	int r;

	if (outlen == 0)
		return -E2BIG;
	out[0] = '\0';
	if (!rule || !*rule || !scope_key)
		return -EINVAL;
	r = put_escaped(out, outlen, &len, rule);
	if (r == 0)
		r = put_char(out, outlen, &len, '/');
	if (r == 0)
		r = put_escaped(out, outlen, &len, scope_key);
	if (r == 0 && extra && *extra) {
		r = put_char(out, outlen, &len, '/');
		if (r == 0)
			r = put_escaped(out, outlen, &len, extra);
	}
	if (r < 0) {
		out[0] = '\0';
		return r;
	}
	out[len] = '\0';
	return 0;
}

static int label_cmp(const void *a, const void *b)
{
	const struct alertstate_label *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);
}

int alertstate_dedup_key(const char *rule,
			 const struct alertstate_label *labels, size_t n,
			 char out[ALERTSTATE_DEDUP_KEY_LEN])
{
	const struct alertstate_label *sorted[ALERTSTATE_MAX_LABELS];
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;

	out[0] = '\0';
	if (!rule || !*rule || n > ALERTSTATE_MAX_LABELS || (n && !labels))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!labels[i].key || !labels[i].value)
			return -EINVAL;
		sorted[i] = &labels[i];
	}
	if (n > 1)
		qsort(sorted, n, sizeof(sorted[0]), label_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
			return -EINVAL;

	/* C strings hold no NUL, so NUL separators make the encoding
	 * unambiguous: no two label sets hash the same input. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)rule,
				  strlen(rule) + 1);
	for (size_t i = 0; i < n; i++) {
		crypto_hash_sha256_update(&st,
					  (const unsigned char *)sorted[i]->key,
					  strlen(sorted[i]->key) + 1);
		crypto_hash_sha256_update(
		    &st, (const unsigned char *)sorted[i]->value,
		    strlen(sorted[i]->value) + 1);
	}
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(out, ALERTSTATE_DEDUP_KEY_LEN, digest, sizeof(digest));
	return 0;
}
