/* Notification receivers: configuration and payloads; see receiver.h.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include "receiver.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "cleanup.h"
#include "jsonw.h"
#include "timeutil.h"
#include "utf8.h"

#define PREFIX		"receiver."
#define SECRET_FILE_MAX (64 * 1024)
#define URL_MAX		2048
/* Caps on what one alert puts in a body (characters, see cut_units). */
#define FIELD_MAX      255
#define DESC_MAX       (64 * 1024)
#define DESC_TRIMMED   1024
#define LABEL_MAX      1024
#define LABELS_MAX     64
#define COMPONENTS_MAX 64
#define SLACK_DESC_MAX 1000
/* Room left in a PagerDuty event for "routing_key":"<32>", at send time. */
#define PD_KEY_ROOM 64
/* Of a response body, what is parsed for a description. */
#define RESPONSE_PARSE_MAX (64 * 1024)

static const char *const kind_names[] = {
	[RECEIVER_PAGERDUTY] = "pagerduty",
	[RECEIVER_SLACK] = "slack",
	[RECEIVER_WEBHOOK] = "webhook",
	[RECEIVER_ALERTMANAGER] = "alertmanager",
};

const char *receiver_kind_name(enum receiver_kind k)
{
	if ((size_t)k >= ARRAY_SIZE(kind_names))
		return "unknown";
	return kind_names[k];
}

/* ---- configuration ---- */

#define KEY(n, t, f, lo, hi)                                                   \
	{                                                                      \
		n, t, offsetof(struct receiver, f), lo, hi                     \
	}

static const struct conf_key pagerduty_keys[] = {
	KEY("url", CONF_STRING, url, 0, 0),
	KEY("timeout", CONF_SECONDS, timeout, 0.1, 300),
	KEY("routing_key_file", CONF_STRING, routing_key_file, 0, 0),
	KEY("routing_key_env", CONF_STRING, routing_key_env, 0, 0),
};

static const struct conf_key slack_keys[] = {
	KEY("url", CONF_STRING, url, 0, 0),
	KEY("timeout", CONF_SECONDS, timeout, 0.1, 300),
};

static const struct conf_key webhook_keys[] = {
	KEY("url", CONF_STRING, url, 0, 0),
	KEY("timeout", CONF_SECONDS, timeout, 0.1, 300),
	KEY("bearer_token_file", CONF_STRING, bearer_token_file, 0, 0),
};

static const struct {
	const struct conf_key *keys;
	size_t n;
	const char *list; /* for "unknown key" messages */
} kind_keys[] = {
	[RECEIVER_PAGERDUTY] = { pagerduty_keys, ARRAY_SIZE(pagerduty_keys),
				 "url, timeout, routing_key_file, "
				 "routing_key_env" },
	[RECEIVER_SLACK] = { slack_keys, ARRAY_SIZE(slack_keys),
			     "url, timeout" },
	[RECEIVER_WEBHOOK] = { webhook_keys, ARRAY_SIZE(webhook_keys),
			       "url, timeout, bearer_token_file" },
	[RECEIVER_ALERTMANAGER] = { slack_keys, ARRAY_SIZE(slack_keys),
				    "url, timeout" },
};

bool receiver_conf_section(const char *section)
{
	return strncmp(section, PREFIX, strlen(PREFIX)) == 0;
}

static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || n > RECEIVER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* "receiver.KIND NAME" into *ret_kind and name. */
static int parse_section(const char *section, enum receiver_kind *ret_kind,
			 char name[RECEIVER_NAME_MAX + 1],
			 struct conf_error *err)
{
	const char *p = section + strlen(PREFIX);
	size_t kl = strcspn(p, " \t");
	size_t k;

	for (k = 0; k < ARRAY_SIZE(kind_names); k++)
		if (strlen(kind_names[k]) == kl &&
		    strncmp(p, kind_names[k], kl) == 0)
			break;
	if (k == ARRAY_SIZE(kind_names))
		return conf_fail(
		    err, -EINVAL,
		    "receiver kind '%.*s' is not pagerduty, slack, "
		    "webhook or alertmanager (write [receiver.KIND "
		    "NAME])",
		    (int)(kl > 32 ? 32 : kl), p);
	p += kl;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t nl = strlen(p);
	if (!name_valid(p, nl))
		return conf_fail(err, -EINVAL,
				 "receiver name '%.*s' must be 1-%d of "
				 "[A-Za-z0-9._-] (write [receiver.%s NAME])",
				 (int)(nl > 40 ? 40 : nl), p, RECEIVER_NAME_MAX,
				 kind_names[k]);
	*ret_kind = (enum receiver_kind)k;
	memcpy(name, p, nl + 1);
	return 0;
}

const struct receiver *receiver_set_find(const struct receiver_set *set,
					 const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

int receiver_conf_parse(struct receiver_set *set, const char *section,
			const char *key, const char *value,
			struct conf_error *err)
{
	enum receiver_kind kind = RECEIVER_PAGERDUTY; /* set by parse_section */
	char name[RECEIVER_NAME_MAX + 1];
	struct receiver *r;
	int rc;

	rc = parse_section(section, &kind, name, err);
	if (rc < 0)
		return rc;
	r = (struct receiver *)receiver_set_find(set, name);
	bool same = strcmp(set->last_section, section) == 0;
	if (r && (!same || r->kind != kind))
		return conf_fail(err, -EEXIST,
				 "a receiver named '%s' is already configured "
				 "(names are unique across kinds)",
				 name);
	if (!r) {
		if (set->n >= RECEIVER_MAX)
			return conf_fail(err, -ENOSPC, "more than %d receivers",
					 RECEIVER_MAX);
		r = &set->v[set->n++];
		memset(r, 0, sizeof(*r));
		r->kind = kind;
		memcpy(r->name, name, sizeof(r->name));
		snprintf(set->last_section, sizeof(set->last_section), "%s",
			 section);
	}
	if (strcmp(key, "routing_key") == 0 && kind == RECEIVER_PAGERDUTY)
		return conf_fail(
		    err, -EINVAL,
		    "the routing key does not go in the config file "
		    "(copied, templated, backed up): use "
		    "routing_key_file or routing_key_env");
	rc = conf_apply(kind_keys[kind].keys, kind_keys[kind].n, r, key, value,
			err);
	if (rc == -ENOENT)
		return conf_fail(err, -ENOENT,
				 "unknown key (%s receivers take %s)",
				 kind_names[kind], kind_keys[kind].list);
	return rc;
}

static bool url_valid(const char *u)
{
	size_t n = strlen(u);
	if (n > URL_MAX)
		return false;
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	const char *host = u + (u[4] == 's' ? 8 : 7);
	if (*host == '\0' || *host == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* Whole printable ASCII without spaces: what goes into a JSON string or an
 * HTTP header without escaping trouble. */
static bool token_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A secret from a file, surrounding white space trimmed, into a fresh
 * string (*ret). The content never reaches a message. */
static int read_secret(const char *file, char **ret, const char *path,
		       const struct receiver *r, const char *key,
		       struct conf_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		return conf_fail(err, rc, "%s: [receiver.%s %s] %s: %s: %s",
				 path, kind_names[r->kind], r->name, key, file,
				 strerror(-rc));
	}
	buf = malloc(SECRET_FILE_MAX + 1);
	if (!buf)
		return conf_fail(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			conf_fail(err, rc, "%s: [receiver.%s %s] %s: %s: %s",
				  path, kind_names[r->kind], r->name, key, file,
				  strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_FILE_MAX) {
			rc = conf_fail(
			    err, -EFBIG,
			    "%s: [receiver.%s %s] %s: %s is larger than "
			    "%d bytes",
			    path, kind_names[r->kind], r->name, key, file,
			    SECRET_FILE_MAX);
			goto out;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		rc = conf_fail(err, -EINVAL,
			       "%s: [receiver.%s %s] %s: %s holds a "
			       "NUL byte",
			       path, kind_names[r->kind], r->name, key, file);
		goto out;
	}
	size_t start = 0;
	while (start < len && isspace((unsigned char)buf[start]))
		start++;
	while (len > start && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	*ret = strdup(buf + start);
	if (!*ret)
		rc = conf_fail(err, -ENOMEM, "out of memory");
out:
	sodium_memzero(buf, SECRET_FILE_MAX + 1);
	return rc;
}

static int load_routing_key(struct receiver *r, const char *path,
			    struct conf_error *err)
{
	const char *key =
	    r->routing_key_file ? "routing_key_file" : "routing_key_env";
	char *secret = NULL;
	int rc = 0;

	if (!!r->routing_key_file == !!r->routing_key_env)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [receiver.pagerduty %s] set exactly one of "
		    "routing_key_file and routing_key_env",
		    path, r->name);
	if (r->routing_key_file) {
		rc = read_secret(r->routing_key_file, &secret, path, r, key,
				 err);
		if (rc < 0)
			return rc;
	} else {
		const char *v = getenv(r->routing_key_env);
		if (!v || !*v)
			return conf_fail(err, -ENOENT,
					 "%s: [receiver.pagerduty %s] %s: the "
					 "environment variable %s is not set",
					 path, r->name, key,
					 r->routing_key_env);
		size_t a = 0, b = strlen(v);
		while (a < b && isspace((unsigned char)v[a]))
			a++;
		while (b > a && isspace((unsigned char)v[b - 1]))
			b--;
		secret = strndup(v + a, b - a);
		if (!secret)
			return conf_fail(err, -ENOMEM, "out of memory");
	}
	size_t n = strlen(secret);
	if (n != RECEIVER_ROUTING_KEY_LEN || !token_chars(secret))
		rc = conf_fail(
		    err, -EINVAL,
		    "%s: [receiver.pagerduty %s] %s: the routing key "
		    "must be %d printable characters without spaces "
		    "(it has %zu characters%s)",
		    path, r->name, key, RECEIVER_ROUTING_KEY_LEN, n,
		    token_chars(secret) ? "" : ", some not printable");
	else
		memcpy(r->routing_key, secret, n + 1);
	sodium_memzero(secret, n);
	free(secret);
	return rc;
}

static int load_bearer_token(struct receiver *r, const char *path,
			     struct conf_error *err)
{
	int rc = read_secret(r->bearer_token_file, &r->bearer_token, path, r,
			     "bearer_token_file", err);
	if (rc < 0)
		return rc;
	size_t n = strlen(r->bearer_token);
	if (n == 0 || n > RECEIVER_TOKEN_MAX || !token_chars(r->bearer_token))
		return conf_fail(
		    err, -EINVAL,
		    "%s: [receiver.webhook %s] bearer_token_file: %s "
		    "must hold 1-%d printable characters without "
		    "spaces (it holds %zu)",
		    path, r->name, r->bearer_token_file, RECEIVER_TOKEN_MAX, n);
	return 0;
}

static int finish_one(struct receiver *r, const char *path,
		      struct conf_error *err)
{
	const char *kn = kind_names[r->kind];

	if (!r->url && r->kind == RECEIVER_PAGERDUTY &&
	    conf_set_string(&r->url, RECEIVER_PD_DEFAULT_URL) < 0)
		return conf_fail(err, -ENOMEM, "out of memory");
	if (!r->url)
		return conf_fail(err, -EINVAL,
				 "%s: [receiver.%s %s] url is required", path,
				 kn, r->name);
	/* The URL is not echoed: a Slack webhook URL is itself a secret. */
	if (!url_valid(r->url))
		return conf_fail(
		    err, -EINVAL,
		    "%s: [receiver.%s %s] url: not an http:// or "
		    "https:// URL of at most %d characters without "
		    "spaces",
		    path, kn, r->name, URL_MAX);
	if (r->kind == RECEIVER_ALERTMANAGER) {
		static const char api[] = "/api/v2/alerts";
		size_t n = strlen(r->url);
		while (n > 0 && r->url[n - 1] == '/')
			n--;
		bool has = n >= strlen(api) && strncmp(r->url + n - strlen(api),
						       api, strlen(api)) == 0;
		char *full = NULL;
		if (asprintf(&full, "%.*s%s", (int)n, r->url, has ? "" : api) <
		    0)
			return conf_fail(err, -ENOMEM, "out of memory");
		free(r->url);
		r->url = full;
	}
	if (r->timeout <= 0)
		r->timeout = RECEIVER_DEFAULT_TIMEOUT;
	if (r->kind == RECEIVER_PAGERDUTY)
		return load_routing_key(r, path, err);
	if (r->kind == RECEIVER_WEBHOOK && r->bearer_token_file)
		return load_bearer_token(r, path, err);
	return 0;
}

int receiver_conf_finish(struct receiver_set *set, const char *path,
			 struct conf_error *err)
{
	for (size_t i = 0; i < set->n; i++) {
		int rc = finish_one(&set->v[i], path, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void receiver_set_release(struct receiver_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct receiver *r = &set->v[i];
		free(r->url);
		free(r->routing_key_file);
		free(r->routing_key_env);
		free(r->bearer_token_file);
		if (r->bearer_token)
			sodium_memzero(r->bearer_token,
				       strlen(r->bearer_token));
		free(r->bearer_token);
		sodium_memzero(r->routing_key, sizeof(r->routing_key));
	}
	memset(set, 0, sizeof(*set));
}

/* ---- payload helpers ---- */

/* Bytes of s (n bytes) that hold its first max characters, counting each
 * invalid byte as the one character jsonw makes of it; never splits a
 * sequence. Sets *ret_cut when s is longer. */
static size_t cut_units(const char *s, size_t n, size_t max, bool *ret_cut)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, units = 0;

	while (i < n && units < max) {
		size_t seq = utf8_decode(p + i, n - i, NULL);
		i += seq ? seq : 1;
		units++;
	}
	*ret_cut = i < n;
	return i;
}

/* A string value of at most max characters; a longer one keeps max - 1
 * and ends with an ellipsis, as Alertmanager's PagerDuty notifier does. */
static void put_str_max(struct jsonw *w, const char *s, size_t max)
{
	bool cut;
	size_t n = strlen(s);
	size_t keep = cut_units(s, n, max, &cut);

	if (!cut) {
		jsonw_strn(w, s, n);
		return;
	}
	keep = cut_units(s, n, max - 1, &cut);
	_cleanup_free_ char *tmp = malloc(keep + 4);
	if (!tmp) {
		/* jsonw's errors are sticky: jsonw_finish() reports it. */
		w->err = -ENOMEM;
		return;
	}
	memcpy(tmp, s, keep);
	memcpy(tmp + keep, "\xe2\x80\xa6", 4); /* U+2026 and NUL */
	jsonw_strn(w, tmp, keep + 3);
}

static void kv_str_max(struct jsonw *w, const char *key, const char *s,
		       size_t max)
{
	jsonw_key(w, key);
	put_str_max(w, s, max);
}

static void kv_time(struct jsonw *w, const char *key, int64_t ms)
{
	char ts[RFC3339_LEN];
	time_format_rfc3339_ms(ms, ts);
	jsonw_kv_str(w, key, ts);
}

static const char *severity_of(const struct receiver_alert *a)
{
	static const char *const ok[] = { "critical", "error", "warning",
					  "info" };
	for (size_t i = 0; a->severity && i < ARRAY_SIZE(ok); i++)
		if (strcmp(a->severity, ok[i]) == 0)
			return ok[i];
	return "error";
}

static const char *scope_of(const struct receiver_alert *a)
{
	return a->scope && *a->scope ? a->scope : "node";
}

static bool is_fleet(const struct receiver_alert *a)
{
	return strcmp(scope_of(a), "fleet") == 0;
}

/* The affected thing: a node id, a service name, or "fleet". */
static const char *source_of(const struct receiver_alert *a)
{
	return !is_fleet(a) && a->key && *a->key ? a->key : "fleet";
}

static const char *label_value(const struct receiver_alert *a, const char *name)
{
	for (size_t i = 0; i < a->nlabels; i++)
		if (a->labels[i].name && a->labels[i].value &&
		    strcmp(a->labels[i].name, name) == 0)
			return a->labels[i].value;
	return NULL;
}

static int64_t or_now(int64_t ms, int64_t now_ms)
{
	return ms > 0 ? ms : now_ms;
}

static void hex_sha256(const char *s, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

/* PagerDuty takes dedup keys of up to 255 characters; a longer key is
 * replaced by its hash, which trigger and resolve compute alike. */
static void dedup_of(const struct receiver_alert *a,
		     char out[RECEIVER_PD_DEDUP_MAX + 1])
{
	if (strlen(a->dedup_key) <= RECEIVER_PD_DEDUP_MAX) {
		snprintf(out, RECEIVER_PD_DEDUP_MAX + 1, "%s", a->dedup_key);
		return;
	}
	char hex[65];
	hex_sha256(a->dedup_key, hex);
	snprintf(out, RECEIVER_PD_DEDUP_MAX + 1, "sha256:%s", hex);
}

static bool has(const char *s)
{
	return s && *s;
}

/* Append s percent-encoded (RFC 3986 unreserved characters kept). */
static int url_escape(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~", c))
			rc = buf_append(b, s, 1);
		else
			rc = buf_printf(b, "%%%02X", c);
	}
	return rc;
}

/* Base URL without trailing slashes. */
static int put_base(struct buf *b, const char *base)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	return buf_append(b, base, n);
}

/* The link to the alert's subject in the server's API, into b. */
static int api_link(const struct receiver_alert *a, struct buf *b)
{
	int rc = put_base(b, a->api_base);
	if (rc == 0 && is_fleet(a))
		return buf_puts(b, "/api/v1/fleet");
	if (rc == 0)
		rc = buf_puts(b, strcmp(scope_of(a), "service") == 0
				     ? "/api/v1/services/"
				     : "/api/v1/nodes/");
	return rc ? rc : url_escape(b, source_of(a));
}

static int grafana_link(const struct receiver_alert *a, struct buf *b)
{
	int rc = buf_puts(b, a->grafana_base);
	if (rc || is_fleet(a))
		return rc;
	rc = buf_puts(b, strchr(a->grafana_base, '?') ? "&" : "?");
	if (rc == 0)
		rc = buf_puts(b, strcmp(scope_of(a), "service") == 0
				     ? "var-service="
				     : "var-node=");
	return rc ? rc : url_escape(b, source_of(a));
}

static int generator_url(const struct receiver_alert *a, struct buf *b)
{
	int rc = put_base(b, a->api_base);
	if (rc == 0)
		rc = buf_puts(b, "/api/v1/alerts?rule=");
	return rc ? rc : url_escape(b, a->rule);
}

/* Alertmanager label names: [a-zA-Z_][a-zA-Z0-9_]*; other characters
 * become '_'. out holds at least 64 bytes; longer names are cut. */
static void label_name(const char *s, char *out, size_t outlen)
{
	size_t i = 0;
	if (isdigit((unsigned char)*s) && outlen > 1)
		out[i++] = '_';
	for (; *s && i + 1 < outlen; s++)
		out[i++] = isalnum((unsigned char)*s) || *s == '_' ? *s : '_';
	out[i] = '\0';
}

/* The label that names the alert's subject: "node" or "service" (none
 * for the fleet). */
static const char *key_label(const struct receiver_alert *a)
{
	if (is_fleet(a) || !has(a->key))
		return NULL;
	return strcmp(scope_of(a), "service") == 0 ? "service" : "node";
}

static bool reserved_label(const struct receiver_alert *a, const char *n)
{
	const char *k = key_label(a);
	return !strcmp(n, "alertname") || !strcmp(n, "severity") ||
	       !strcmp(n, "scope") || (k && !strcmp(n, k));
}

/* The label set of the alert as Alertmanager sees it: alertname,
 * severity, scope, node or service, then the rule's own labels (which
 * cannot override those). Empty values are left out (Alertmanager drops
 * them anyway). */
static void put_am_labels(struct jsonw *w, const struct receiver_alert *a)
{
	char name[128];

	jsonw_obj_begin(w);
	kv_str_max(w, "alertname", a->rule, LABEL_MAX);
	jsonw_kv_str(w, "severity", severity_of(a));
	kv_str_max(w, "scope", scope_of(a), FIELD_MAX);
	if (key_label(a))
		kv_str_max(w, key_label(a), a->key, LABEL_MAX);
	for (size_t i = 0; i < a->nlabels && i < LABELS_MAX; i++) {
		const struct receiver_label *l = &a->labels[i];
		if (!has(l->name) || !has(l->value))
			continue;
		label_name(l->name, name, sizeof(name));
		if (reserved_label(a, name))
			continue;
		/* A sanitized name may repeat an earlier one: keep the
		 * first, as a JSON object must not have duplicates. */
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++) {
			char other[128];
			if (!has(a->labels[j].name) || !has(a->labels[j].value))
				continue;
			label_name(a->labels[j].name, other, sizeof(other));
			dup = strcmp(other, name) == 0;
		}
		if (!dup)
			kv_str_max(w, name, l->value, LABEL_MAX);
	}
	jsonw_obj_end(w);
}

static void fmt_num(double v, char out[32])
{
	if (isfinite(v))
		snprintf(out, 32, "%g", v);
	else
		snprintf(out, 32, "n/a");
}

static void put_am_annotations(struct jsonw *w, const struct receiver_alert *a,
			       const char *summary)
{
	char num[32];

	jsonw_obj_begin(w);
	kv_str_max(w, "summary", summary, RECEIVER_PD_SUMMARY_MAX);
	if (has(a->description))
		kv_str_max(w, "description", a->description, DESC_MAX);
	if (isfinite(a->value)) {
		fmt_num(a->value, num);
		jsonw_kv_str(w, "value", num);
	}
	if (isfinite(a->threshold)) {
		fmt_num(a->threshold, num);
		jsonw_kv_str(w, "threshold", num);
	}
	jsonw_obj_end(w);
}

/* "RULE on SOURCE" when the rule gave no summary (PagerDuty needs one). */
static char *summary_of(const struct receiver_alert *a)
{
	char *s = NULL;
	if (has(a->summary))
		return strdup(a->summary);
	if (asprintf(&s, "%s on %s", a->rule, source_of(a)) < 0)
		return NULL;
	return s;
}

static int check_alert(const struct receiver_alert *a)
{
	return has(a->rule) && has(a->dedup_key) ? 0 : -EINVAL;
}

/* Run jsonw over out from its current end; on failure out is as it was. */
static int finish_json(struct jsonw *w, struct buf *out, size_t start)
{
	int rc = jsonw_finish(w);
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

/* ---- PagerDuty ---- */

enum pd_trim { PD_FULL, PD_SHORT, PD_MINIMAL };

static void pd_links(struct jsonw *w, const struct receiver_alert *a,
		     struct buf *tmp)
{
	if (!has(a->api_base) && !has(a->grafana_base))
		return;
	jsonw_key(w, "links");
	jsonw_arr_begin(w);
	/* A link that would be longer than URL_MAX (an absurd node id) is
	 * left out rather than failing the page. */
	buf_reset(tmp);
	if (has(a->api_base) && api_link(a, tmp) == 0) {
		jsonw_obj_begin(w);
		jsonw_kv_str(w, "href", tmp->data);
		jsonw_kv_str(w, "text",
			     is_fleet(a) ? "Fleet in ACGS"
			     : strcmp(scope_of(a), "service") == 0
				 ? "Service in ACGS"
				 : "Node in ACGS");
		jsonw_obj_end(w);
	}
	buf_reset(tmp);
	if (has(a->grafana_base) && grafana_link(a, tmp) == 0) {
		jsonw_obj_begin(w);
		jsonw_kv_str(w, "href", tmp->data);
		jsonw_kv_str(w, "text", "Grafana dashboard");
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void pd_details(struct jsonw *w, const struct receiver_alert *a,
		       int64_t now_ms, enum pd_trim trim)
{
	jsonw_key(w, "custom_details");
	jsonw_obj_begin(w);
	kv_str_max(w, "rule", a->rule, LABEL_MAX);
	kv_str_max(w, "scope", scope_of(a), FIELD_MAX);
	if (has(a->key))
		kv_str_max(w, "key", a->key, LABEL_MAX);
	jsonw_kv_double(w, "value", a->value);
	jsonw_kv_double(w, "threshold", a->threshold);
	kv_time(w, "started_at", or_now(a->started_ms, now_ms));
	if (trim == PD_MINIMAL) {
		jsonw_kv_bool(w, "truncated", true);
		jsonw_obj_end(w);
		return;
	}
	if (has(a->description))
		kv_str_max(w, "description", a->description,
			   trim == PD_FULL ? DESC_MAX : DESC_TRIMMED);
	if (trim == PD_SHORT) {
		jsonw_kv_bool(w, "truncated", true);
		jsonw_obj_end(w);
		return;
	}
	if (a->ncomponents) {
		jsonw_key(w, "components");
		jsonw_obj_begin(w);
		for (size_t i = 0; i < a->ncomponents && i < COMPONENTS_MAX;
		     i++) {
			const struct receiver_component *c = &a->components[i];
			if (!has(c->name))
				continue;
			bool dup = false;
			for (size_t j = 0; j < i && !dup; j++)
				dup = has(a->components[j].name) &&
				      !strcmp(a->components[j].name, c->name);
			if (dup)
				continue;
			jsonw_key(w, c->name);
			jsonw_double(w, c->value);
		}
		jsonw_obj_end(w);
	}
	if (a->nlabels) {
		jsonw_key(w, "labels");
		jsonw_obj_begin(w);
		for (size_t i = 0; i < a->nlabels && i < LABELS_MAX; i++) {
			const struct receiver_label *l = &a->labels[i];
			if (!has(l->name) || !l->value)
				continue;
			bool dup = false;
			for (size_t j = 0; j < i && !dup; j++)
				dup = has(a->labels[j].name) &&
				      a->labels[j].value &&
				      !strcmp(a->labels[j].name, l->name);
			if (dup)
				continue;
			jsonw_key(w, l->name);
			put_str_max(w, l->value, LABEL_MAX);
		}
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static int pd_trigger(const struct receiver_alert *a, int64_t now_ms,
		      const char *dedup, const char *summary, enum pd_trim trim,
		      struct buf *out, struct buf *tmp)
{
	struct jsonw w;
	size_t start = out->len;
	const char *group =
	    has(a->group) ? a->group : label_value(a, "service");

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "event_action", "trigger");
	jsonw_kv_str(&w, "dedup_key", dedup);
	jsonw_kv_str(&w, "client", "acgs-server");
	if (has(a->api_base))
		kv_str_max(&w, "client_url", a->api_base, URL_MAX);
	jsonw_key(&w, "payload");
	jsonw_obj_begin(&w);
	kv_str_max(&w, "summary", summary, RECEIVER_PD_SUMMARY_MAX);
	kv_str_max(&w, "source", source_of(a), FIELD_MAX);
	jsonw_kv_str(&w, "severity", severity_of(a));
	kv_time(&w, "timestamp", or_now(a->started_ms, now_ms));
	kv_str_max(&w, "component",
		   has(a->component) ? a->component : scope_of(a), FIELD_MAX);
	if (has(group))
		kv_str_max(&w, "group", group, FIELD_MAX);
	kv_str_max(&w, "class", a->rule, FIELD_MAX);
	pd_details(&w, a, now_ms, trim);
	jsonw_obj_end(&w);
	pd_links(&w, a, tmp);
	jsonw_obj_end(&w);
	return finish_json(&w, out, start);
}

int receiver_pagerduty_body(const struct receiver_alert *a, int64_t now_ms,
			    struct buf *out)
{
	char dedup[RECEIVER_PD_DEDUP_MAX + 1];
	struct buf tmp;
	size_t start = out->len;
	_cleanup_free_ char *summary = NULL;
	int rc = check_alert(a);

	if (rc < 0)
		return rc;
	dedup_of(a, dedup);
	if (a->resolved) {
		struct jsonw w;
		jsonw_init(&w, out);
		jsonw_obj_begin(&w);
		jsonw_kv_str(&w, "event_action", "resolve");
		jsonw_kv_str(&w, "dedup_key", dedup);
		jsonw_obj_end(&w);
		return finish_json(&w, out, start);
	}
	summary = summary_of(a);
	if (!summary)
		return -ENOMEM;
	buf_init(&tmp, URL_MAX + 1);
	/* Build, and trim custom_details until the event fits: a page that
	 * arrives without its details beats one PagerDuty refuses. */
	for (enum pd_trim t = PD_FULL; t <= PD_MINIMAL; t++) {
		buf_truncate(out, start);
		rc = pd_trigger(a, now_ms, dedup, summary, t, out, &tmp);
		if (rc == 0 &&
		    out->len - start > RECEIVER_PD_EVENT_MAX - PD_KEY_ROOM)
			rc = -E2BIG;
		if (rc != -E2BIG)
			break;
	}
	if (rc < 0)
		buf_truncate(out, start);
	buf_release(&tmp);
	return rc;
}

/* ---- Slack ---- */

/* Slack's mrkdwn gives &, < and > a meaning: escape them as it asks. */
static int slack_escape(struct buf *b, const char *s, size_t max)
{
	bool cut;
	size_t n = strlen(s);
	size_t keep = cut_units(s, n, max, &cut);
	int rc = 0;

	for (size_t i = 0; i < keep && rc == 0; i++) {
		if (s[i] == '&')
			rc = buf_puts(b, "&amp;");
		else if (s[i] == '<')
			rc = buf_puts(b, "&lt;");
		else if (s[i] == '>')
			rc = buf_puts(b, "&gt;");
		else
			rc = buf_append(b, s + i, 1);
	}
	if (rc == 0 && cut)
		rc = buf_puts(b, "\xe2\x80\xa6");
	return rc;
}

static const char *slack_icon(const struct receiver_alert *a)
{
	const char *sev = severity_of(a);
	if (a->resolved)
		return ":white_check_mark:";
	if (!strcmp(sev, "critical") || !strcmp(sev, "error"))
		return ":red_circle:";
	if (!strcmp(sev, "warning"))
		return ":warning:";
	return ":information_source:";
}

/* The mrkdwn text of the message into b. */
static int slack_text(const struct receiver_alert *a, const char *summary,
		      struct buf *b, struct buf *tmp)
{
	char num[32];
	const char *scope = scope_of(a);
	int rc = buf_printf(b, "%s *[%s] ", slack_icon(a),
			    a->resolved ? "RESOLVED" : "FIRING");

	if (rc == 0)
		rc = slack_escape(b, a->rule, FIELD_MAX);
	if (rc == 0)
		rc = buf_printf(b, "* (%s)\n", severity_of(a));
	if (rc == 0)
		rc = slack_escape(b, summary, RECEIVER_PD_SUMMARY_MAX);
	if (rc == 0)
		rc = buf_printf(b, "\n*%s:* `",
				is_fleet(a)			? "Scope"
				: strcmp(scope, "service") == 0 ? "Service"
								: "Node");
	if (rc == 0)
		rc = slack_escape(b, source_of(a), FIELD_MAX);
	if (rc == 0 && isfinite(a->value)) {
		fmt_num(a->value, num);
		rc = buf_printf(b, "`   *Value:* %s", num);
		if (rc == 0 && isfinite(a->threshold)) {
			fmt_num(a->threshold, num);
			rc = buf_printf(b, " (threshold %s)", num);
		}
	} else if (rc == 0) {
		rc = buf_puts(b, "`");
	}
	if (rc == 0 && has(a->description)) {
		rc = buf_puts(b, "\n");
		if (rc == 0)
			rc = slack_escape(b, a->description, SLACK_DESC_MAX);
	}
	/* Links are <url|text>: a URL with | or > would break out of it, and
	 * ours are percent-encoded apart from what the operator configured. */
	bool linked = false;
	buf_reset(tmp);
	if (rc == 0 && has(a->grafana_base) && grafana_link(a, tmp) == 0 &&
	    !strpbrk(tmp->data, "|<> ")) {
		rc = buf_printf(b, "\n<%s|Grafana dashboard>", tmp->data);
		linked = true;
	}
	buf_reset(tmp);
	if (rc == 0 && has(a->api_base) && api_link(a, tmp) == 0 &&
	    !strpbrk(tmp->data, "|<> "))
		rc = buf_printf(b, "%s<%s|ACGS API>", linked ? " · " : "\n",
				tmp->data);
	return rc;
}

int receiver_slack_body(const struct receiver_alert *a, int64_t now_ms,
			struct buf *out)
{
	struct buf text, tmp;
	struct jsonw w;
	size_t start = out->len;
	_cleanup_free_ char *summary = NULL;
	int rc = check_alert(a);

	(void)now_ms;
	if (rc < 0)
		return rc;
	summary = summary_of(a);
	if (!summary)
		return -ENOMEM;
	buf_init(&text, 64 * 1024);
	buf_init(&tmp, URL_MAX + 1);
	rc = slack_text(a, summary, &text, &tmp);
	if (rc < 0)
		goto out;
	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	/* "text" is what notifications and old clients show. */
	jsonw_key(&w, "text");
	jsonw_strn(&w, text.data, text.len);
	jsonw_key(&w, "blocks");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "type", "section");
	jsonw_key(&w, "text");
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "type", "mrkdwn");
	jsonw_key(&w, "text");
	jsonw_strn(&w, text.data, text.len);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	rc = finish_json(&w, out, start);
out:
	buf_release(&text);
	buf_release(&tmp);
	return rc;
}

/* ---- generic webhook (Alertmanager's webhook format) ---- */

int receiver_webhook_body(const struct receiver_alert *a, int64_t now_ms,
			  const char *receiver_name, struct buf *out)
{
	struct jsonw w;
	struct buf tmp;
	char fp[65];
	size_t start = out->len;
	_cleanup_free_ char *summary = NULL;
	const char *status = a->resolved ? "resolved" : "firing";
	int rc = check_alert(a);

	if (rc < 0)
		return rc;
	summary = summary_of(a);
	if (!summary)
		return -ENOMEM;
	hex_sha256(a->dedup_key, fp);
	fp[16] = '\0';
	buf_init(&tmp, URL_MAX + 1);
	/* Left out when longer than URL_MAX (an absurd rule name). */
	if (has(a->api_base) && generator_url(a, &tmp) < 0)
		buf_reset(&tmp);

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "version", "4");
	kv_str_max(&w, "groupKey", a->dedup_key, DESC_TRIMMED);
	jsonw_kv_u64(&w, "truncatedAlerts", 0);
	jsonw_kv_str(&w, "status", status);
	jsonw_kv_str(&w, "receiver", receiver_name ? receiver_name : "");
	jsonw_key(&w, "groupLabels");
	jsonw_obj_begin(&w);
	kv_str_max(&w, "alertname", a->rule, LABEL_MAX);
	jsonw_obj_end(&w);
	/* One alert per notification: its labels are the common ones. */
	jsonw_key(&w, "commonLabels");
	put_am_labels(&w, a);
	jsonw_key(&w, "commonAnnotations");
	put_am_annotations(&w, a, summary);
	jsonw_kv_str(&w, "externalURL", has(a->api_base) ? a->api_base : "");
	jsonw_key(&w, "alerts");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "status", status);
	jsonw_key(&w, "labels");
	put_am_labels(&w, a);
	jsonw_key(&w, "annotations");
	put_am_annotations(&w, a, summary);
	kv_time(&w, "startsAt", or_now(a->started_ms, now_ms));
	if (a->resolved)
		kv_time(&w, "endsAt", or_now(a->ended_ms, now_ms));
	else
		jsonw_kv_str(&w, "endsAt", "0001-01-01T00:00:00Z");
	jsonw_kv_str(&w, "generatorURL", tmp.len ? tmp.data : "");
	jsonw_kv_str(&w, "fingerprint", fp);
	kv_str_max(&w, "dedupKey", a->dedup_key, DESC_TRIMMED);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	rc = finish_json(&w, out, start);
	buf_release(&tmp);
	return rc;
}

/* ---- Alertmanager POST /api/v2/alerts ---- */

int receiver_alertmanager_body(const struct receiver_alert *a, int64_t now_ms,
			       struct buf *out)
{
	struct jsonw w;
	struct buf tmp;
	size_t start = out->len;
	_cleanup_free_ char *summary = NULL;
	int rc = check_alert(a);

	if (rc < 0)
		return rc;
	summary = summary_of(a);
	if (!summary)
		return -ENOMEM;
	buf_init(&tmp, URL_MAX + 1);
	/* Left out when longer than URL_MAX (an absurd rule name). */
	if (has(a->api_base) && generator_url(a, &tmp) < 0)
		buf_reset(&tmp);
	jsonw_init(&w, out);
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "labels");
	put_am_labels(&w, a);
	jsonw_key(&w, "annotations");
	put_am_annotations(&w, a, summary);
	kv_time(&w, "startsAt", or_now(a->started_ms, now_ms));
	/* Firing: no endsAt, so Alertmanager applies its resolve_timeout and
	 * the engine re-sends while the alert fires. Resolved: endsAt in the
	 * past resolves it. */
	if (a->resolved)
		kv_time(&w, "endsAt", or_now(a->ended_ms, now_ms));
	if (tmp.len)
		jsonw_kv_str(&w, "generatorURL", tmp.data);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	rc = finish_json(&w, out, start);
	buf_release(&tmp);
	return rc;
}

const char *receiver_alert_event(const struct receiver_alert *a)
{
	return a->resolved ? "resolve" : "trigger";
}

int receiver_build(enum receiver_kind k, const struct receiver_alert *a,
		   int64_t now_ms, const char *receiver_name, struct buf *out)
{
	switch (k) {
	case RECEIVER_PAGERDUTY:
		return receiver_pagerduty_body(a, now_ms, out);
	case RECEIVER_SLACK:
		return receiver_slack_body(a, now_ms, out);
	case RECEIVER_WEBHOOK:
		return receiver_webhook_body(a, now_ms, receiver_name, out);
	case RECEIVER_ALERTMANAGER:
		return receiver_alertmanager_body(a, now_ms, out);
	}
	return -EINVAL;
}

/* ---- sending ---- */

int receiver_finish_body(const struct receiver *r, const char *body, size_t len,
			 struct buf *out)
{
	size_t i = 0;

	if (r->kind != RECEIVER_PAGERDUTY)
		return buf_append(out, body, len);
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len || body[i] != '{')
		return -EINVAL;
	i++;
	size_t j = i;
	while (j < len && isspace((unsigned char)body[j]))
		j++;
	if (j == len)
		return -EINVAL;
	/* The key is printable ASCII without spaces (receiver_conf_finish):
	 * only a quote or a backslash needs escaping. */
	int rc = buf_puts(out, "{\"routing_key\":\"");
	for (const char *k = r->routing_key; *k && rc == 0; k++) {
		if (*k == '"' || *k == '\\')
			rc = buf_append(out, "\\", 1);
		if (rc == 0)
			rc = buf_append(out, k, 1);
	}
	if (rc == 0)
		rc = buf_puts(out, body[j] == '}' ? "\"" : "\",");
	if (rc == 0)
		rc = buf_append(out, body + i, len - i);
	return rc;
}

int receiver_auth_header(const struct receiver *r, char *out, size_t outlen)
{
	int n;
	if (r->kind != RECEIVER_WEBHOOK || !has(r->bearer_token))
		n = snprintf(out, outlen, "%s", "");
	else
		n = snprintf(out, outlen, "Authorization: Bearer %s",
			     r->bearer_token);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -E2BIG;
	}
	return 0;
}

enum receiver_verdict receiver_verdict(long http_status)
{
	if (http_status >= 200 && http_status <= 299)
		return RECEIVER_DELIVERED;
	if (http_status == 0 || http_status == 429 ||
	    (http_status >= 500 && http_status <= 599))
		return RECEIVER_RETRY;
	return RECEIVER_REJECTED;
}

/* Append s (n bytes) as printable ASCII, other bytes as \xNN, while it
 * fits in out (outlen, NUL included); *pos is the write position. */
static void put_clean(char *out, size_t outlen, size_t *pos, const char *s,
		      size_t n)
{
	for (size_t i = 0; i < n && *pos + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f) {
			out[(*pos)++] = (char)c;
		} else if (*pos + 5 < outlen) {
			snprintf(out + *pos, 5, "\\x%02x", c);
			*pos += 4;
		} else {
			break;
		}
	}
	out[*pos] = '\0';
}

static void put_json_string(char *out, size_t outlen, size_t *pos,
			    const char *label, const cJSON *v)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return;
	put_clean(out, outlen, pos, label, strlen(label));
	put_clean(out, outlen, pos, v->valuestring, strlen(v->valuestring));
}

void receiver_describe_response(long http_status, const char *body, size_t len,
				char *out, size_t outlen)
{
	char head[48];
	size_t pos = 0;
	cJSON *doc = NULL;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (http_status > 0)
		snprintf(head, sizeof(head), "HTTP %ld", http_status);
	else
		snprintf(head, sizeof(head), "no response");
	put_clean(out, outlen, &pos, head, strlen(head));
	if (!body || len == 0)
		return;
	if (len <= RESPONSE_PARSE_MAX)
		doc = cJSON_ParseWithLength(body, len);
	if (cJSON_IsObject(doc)) {
		put_json_string(
		    out, outlen, &pos, ": ",
		    cJSON_GetObjectItemCaseSensitive(doc, "status"));
		put_json_string(
		    out, outlen, &pos, ": ",
		    cJSON_GetObjectItemCaseSensitive(doc, "message"));
		const cJSON *errs =
		    cJSON_GetObjectItemCaseSensitive(doc, "errors");
		const cJSON *e;
		bool first = true;
		cJSON_ArrayForEach(e, errs)
		{
			if (!cJSON_IsString(e))
				continue;
			put_json_string(out, outlen, &pos,
					first ? ": errors: " : "; ", e);
			first = false;
		}
		/* An object we know nothing of: show it as it came. */
		if (pos == strlen(head)) {
			put_clean(out, outlen, &pos, ": ", 2);
			put_clean(out, outlen, &pos, body, len);
		}
	} else {
		put_clean(out, outlen, &pos, ": ", 2);
		put_clean(out, outlen, &pos, body, len);
	}
	cJSON_Delete(doc);
}
