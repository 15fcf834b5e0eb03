#include "config.h"

#include "agent_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>

#include "cleanup.h"
#include "log.h"

struct parse_state {
	struct agent_config *cfg;
	/* Which probe the current [probe.* NAME] section fills. */
	struct probe_spec *probe;
	char probe_section[128];
};

static void defaults(struct agent_config *c)
{
	c->interval = 10;
	c->per_core = false;
	mqtt_conf_init(&c->mqtt);
	c->buffer_max_bytes = 64ull << 20;
	c->max_inflight = 16;
	c->reconnect_min = 2;
	c->reconnect_max = 60;
}

static const struct conf_key agent_keys[] = {
	{ "node_id", CONF_STRING, offsetof(struct agent_config, node_id), 0,
	  0 },
	{ "interval", CONF_SECONDS, offsetof(struct agent_config, interval),
	  0.1, 86400 },
	{ "state_dir", CONF_STRING, offsetof(struct agent_config, state_dir), 0,
	  0 },
	{ "constitutional_hash", CONF_STRING,
	  offsetof(struct agent_config, constitutional_hash), 0, 0 },
	{ "log_level", CONF_STRING, offsetof(struct agent_config, log_level), 0,
	  0 },
	{ "per_core", CONF_BOOL, offsetof(struct agent_config, per_core), 0,
	  0 },
	{ "proc_root", CONF_STRING, offsetof(struct agent_config, proc_root), 0,
	  0 },
	{ "sys_root", CONF_STRING, offsetof(struct agent_config, sys_root), 0,
	  0 },
};

/* The agent's own [mqtt] keys, beside the shared ones of mqttconf. */
static const struct conf_key mqtt_agent_keys[] = {
	{ "buffer_max_bytes", CONF_SIZE,
	  offsetof(struct agent_config, buffer_max_bytes), 64 * 1024,
	  1099511627776.0 },
	{ "max_inflight", CONF_UINT,
	  offsetof(struct agent_config, max_inflight), 1, 1024 },
	{ "reconnect_min", CONF_SECONDS,
	  offsetof(struct agent_config, reconnect_min), 0.1, 3600 },
	{ "reconnect_max", CONF_SECONDS,
	  offsetof(struct agent_config, reconnect_max), 0.1, 3600 },
};

static const struct conf_key probe_keys[] = {
	{ "url", CONF_STRING, offsetof(struct probe_spec, url), 0, 0 },
	{ "host", CONF_STRING, offsetof(struct probe_spec, host), 0, 0 },
	{ "port", CONF_UINT, offsetof(struct probe_spec, port), 1, 65535 },
	{ "interval", CONF_SECONDS, offsetof(struct probe_spec, interval), 0.1,
	  86400 },
	{ "timeout", CONF_SECONDS, offsetof(struct probe_spec, timeout), 0.01,
	  300 },
	{ "expect_status", CONF_UINT,
	  offsetof(struct probe_spec, expect_status), 100, 599 },
	{ "service", CONF_STRING, offsetof(struct probe_spec, service), 0, 0 },
	{ "slo_ms", CONF_DOUBLE, offsetof(struct probe_spec, slo_ms), 0,
	  3600000 },
};

static bool label_key_valid(const char *k, size_t n)
{
	if (n == 0 || n > 64 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return false;
	return true;
}

static char *strndup_trim(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/* "k=v,k=v": keys like Prometheus label names, values any text but ','. */
static int parse_labels(struct agent_config *c, const char *value,
			struct conf_error *err)
{
	const char *p = value;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		_cleanup_free_ char *key = NULL, *val = NULL;

		if (!eq)
			return conf_fail(err, -EINVAL,
					 "'%.*s' is not key=value", (int)n, p);
		key = strndup_trim(p, (size_t)(eq - p));
		val = strndup_trim(eq + 1, n - (size_t)(eq - p) - 1);
		if (!key || !val)
			return conf_fail(err, -ENOMEM, "out of memory");
		if (!label_key_valid(key, strlen(key)))
			return conf_fail(
			    err, -EINVAL,
			    "label name '%s' must match [A-Za-z_][A-Za-z0-9_]*",
			    key);
		if (!*val)
			return conf_fail(err, -EINVAL,
					 "label '%s' has no value", key);
		for (size_t i = 0; i < c->nlabels; i++)
			if (strcmp(c->labels[i].key, key) == 0)
				return conf_fail(err, -EINVAL,
						 "label '%s' given twice", key);
		if (c->nlabels == AGENT_MAX_LABELS)
			return conf_fail(err, -EINVAL, "more than %d labels",
					 AGENT_MAX_LABELS);
		c->labels[c->nlabels].key = TAKE_PTR(key);
		c->labels[c->nlabels].value = TAKE_PTR(val);
		c->nlabels++;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Whitespace-separated globs; the key may repeat (or continue on indented
 * lines) to add more. */
static int parse_globs(struct agent_config *c, const char *value,
		       struct conf_error *err)
{
	const char *p = value;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		size_t n = 0;
		while (p[n] && !isspace((unsigned char)p[n]))
			n++;
		if (n == 0)
			break;
		if (c->ncompliance_globs == AGENT_MAX_GLOBS)
			return conf_fail(err, -EINVAL, "more than %d paths",
					 AGENT_MAX_GLOBS);
		char *g = strndup(p, n);
		if (!g)
			return conf_fail(err, -ENOMEM, "out of memory");
		c->compliance_globs[c->ncompliance_globs++] = g;
		p += n;
	}
	return 0;
}

static int probe_section(struct parse_state *st, const char *section,
			 struct conf_error *err)
{
	struct agent_config *c = st->cfg;
	enum probe_type type;
	const char *name;

	if (st->probe && strcmp(st->probe_section, section) == 0)
		return 0;
	if (strncmp(section, "probe.http ", 11) == 0) {
		type = PROBE_HTTP;
		name = section + 11;
	} else if (strncmp(section, "probe.tcp ", 10) == 0) {
		type = PROBE_TCP;
		name = section + 10;
	} else {
		return conf_fail(
		    err, -ENOENT,
		    "unknown section (expected [probe.http NAME] or "
		    "[probe.tcp NAME])");
	}
	while (*name == ' ')
		name++;
	if (!wire_node_valid(name))
		return conf_fail(
		    err, -EINVAL,
		    "probe name '%s' must be 1-64 of [A-Za-z0-9._-]", name);
	for (size_t i = 0; i < c->nprobes; i++)
		if (strcmp(c->probes[i].name, name) == 0)
			return conf_fail(err, -EINVAL,
					 "probe '%s' is defined twice", name);
	if (c->nprobes == AGENT_MAX_PROBES)
		return conf_fail(err, -EINVAL, "more than %d probes",
				 AGENT_MAX_PROBES);
	st->probe = &c->probes[c->nprobes++];
	memset(st->probe, 0, sizeof(*st->probe));
	st->probe->type = type;
	st->probe->name = strdup(name);
	if (!st->probe->name)
		return conf_fail(err, -ENOMEM, "out of memory");
	snprintf(st->probe_section, sizeof(st->probe_section), "%s", section);
	return 0;
}

static int handler(void *user, const char *section, const char *key,
		   const char *value, struct conf_error *err)
{
	struct parse_state *st = user;
	struct agent_config *c = st->cfg;
	int r;

	if (strcmp(section, "agent") == 0) {
		if (strcmp(key, "labels") == 0)
			return parse_labels(c, value, err);
		return conf_apply(agent_keys, ARRAY_SIZE(agent_keys), c, key,
				  value, err);
	}
	if (strcmp(section, "mqtt") == 0) {
		r = mqtt_conf_apply(&c->mqtt, key, value, err);
		if (r != -ENOENT)
			return r;
		return conf_apply(mqtt_agent_keys, ARRAY_SIZE(mqtt_agent_keys),
				  c, key, value, err);
	}
	if (strcmp(section, "compliance") == 0) {
		if (strcmp(key, "paths") == 0)
			return parse_globs(c, value, err);
		if (strcmp(key, "manifest") == 0)
			return conf_set_string(&c->manifest, value);
		if (strcmp(key, "require_hash_marker") == 0) {
			r = conf_parse_bool(value, &c->require_hash_marker);
			if (r < 0)
				return conf_fail(
				    err, r,
				    "'%s' is not a boolean (use yes or no)",
				    value);
			return 0;
		}
		return conf_fail(err, -ENOENT, "unknown key");
	}
	if (strncmp(section, "probe.", 6) == 0) {
		r = probe_section(st, section, err);
		if (r < 0)
			return r;
		return conf_apply(probe_keys, ARRAY_SIZE(probe_keys), st->probe,
				  key, value, err);
	}
	return conf_fail(err, -ENOENT,
			 "unknown section (expected agent, mqtt, compliance, "
			 "probe.http NAME or probe.tcp NAME)");
}

static int default_string(char **field, const char *value)
{
	if (*field)
		return 0;
	return conf_set_string(field, value);
}

/* Rules across keys, and defaults that depend on other keys. */
static int finish(struct agent_config *c, struct conf_error *err)
{
	char host[256];
	int r = 0;

	if (!c->node_id) {
		if (gethostname(host, sizeof(host)) < 0)
			return conf_fail(err, -errno,
					 "%s: cannot get the hostname",
					 c->path);
		host[sizeof(host) - 1] = '\0';
		/* A short hostname is the natural node id. */
		char *dot = strchr(host, '.');
		if (dot && dot != host)
			*dot = '\0';
		r = conf_set_string(&c->node_id, host);
	}
	if (r < 0 ||
	    (r = default_string(&c->state_dir, "/var/lib/acgs-agent")) < 0 ||
	    (r = default_string(&c->constitutional_hash,
				ACGS_CONSTITUTIONAL_HASH)) < 0 ||
	    (r = default_string(&c->log_level, "info")) < 0 ||
	    (r = default_string(&c->proc_root, "/proc")) < 0 ||
	    (r = default_string(&c->sys_root, "/sys")) < 0)
		return conf_fail(err, -ENOMEM, "out of memory");

	if (!wire_node_valid(c->node_id))
		return conf_fail(
		    err, -EINVAL,
		    "%s: [agent] node_id: '%s' must be 1-64 of [A-Za-z0-9._-]",
		    c->path, c->node_id);
	if (strcmp(c->constitutional_hash, ACGS_CONSTITUTIONAL_HASH) != 0)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [agent] constitutional_hash: '%s' differs "
		    "from the compiled-in %s; refusing to start",
		    c->path, c->constitutional_hash, ACGS_CONSTITUTIONAL_HASH);
	if (log_level_from_string(c->log_level) < 0)
		return conf_fail(err, -EINVAL,
				 "%s: [agent] log_level: '%s' is not error, "
				 "warning, info or debug",
				 c->path, c->log_level);
	if (c->reconnect_min > c->reconnect_max)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [mqtt] reconnect_min is above reconnect_max", c->path);
	if ((r = mqtt_conf_finish(&c->mqtt, c->path, c->node_id, err)) < 0)
		return r;
	if (c->require_hash_marker == false && !c->manifest &&
	    c->ncompliance_globs > 0)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [compliance] paths are set but neither manifest nor "
		    "require_hash_marker says what to check",
		    c->path);

	for (size_t i = 0; i < c->nprobes; i++) {
		struct probe_spec *p = &c->probes[i];
		if (p->type == PROBE_HTTP && (!p->url || p->host || p->port))
			return conf_fail(
			    err, -EINVAL,
			    "%s: [probe.http %s] needs url (and no "
			    "host or port)",
			    c->path, p->name);
		if (p->type == PROBE_TCP &&
		    (!p->host || !p->port || p->url || p->expect_status))
			return conf_fail(
			    err, -EINVAL,
			    "%s: [probe.tcp %s] needs host and port "
			    "(and no url or expect_status)",
			    c->path, p->name);
		if (p->type == PROBE_HTTP &&
		    strncmp(p->url, "http://", 7) != 0 &&
		    strncmp(p->url, "https://", 8) != 0)
			return conf_fail(err, -EINVAL,
					 "%s: [probe.http %s] url: '%s' is not "
					 "http:// or https://",
					 c->path, p->name, p->url);
		if (p->interval == 0)
			p->interval = c->interval;
		if (p->timeout == 0)
			p->timeout = p->interval < 5 ? p->interval : 5;
	}
	return 0;
}

static int load(const char *path, const char *text, size_t len,
		struct agent_config **ret, struct conf_error *err)
{
	struct agent_config *c = calloc(1, sizeof(*c));
	struct parse_state st = { .cfg = c };
	int r;

	if (!c)
		return conf_fail(err, -ENOMEM, "out of memory");
	defaults(c);
	c->path = strdup(path);
	if (!c->path) {
		r = conf_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (text)
		r = conf_load_string(path, text, len, handler, &st, err);
	else
		r = conf_load(path, handler, &st, err);
	if (r >= 0)
		r = finish(c, err);
out:
	if (r < 0) {
		agent_config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int agent_config_load(const char *path, struct agent_config **ret,
		      struct conf_error *err)
{
	return load(path, NULL, 0, ret, err);
}

int agent_config_load_string(const char *name, const char *text, size_t len,
			     struct agent_config **ret, struct conf_error *err)
{
	return load(name, text, len, ret, err);
}

struct agent_config *agent_config_free(struct agent_config *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->node_id);
	for (size_t i = 0; i < c->nlabels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->state_dir);
	free(c->constitutional_hash);
	free(c->log_level);
	free(c->proc_root);
	free(c->sys_root);
	mqtt_conf_release(&c->mqtt);
	for (size_t i = 0; i < c->nprobes; i++)
		probe_spec_release(&c->probes[i]);
	for (size_t i = 0; i < c->ncompliance_globs; i++)
		free(c->compliance_globs[i]);
	free(c->manifest);
	free(c);
	return NULL;
}

static bool str_differs(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

bool agent_config_mqtt_changed(const struct agent_config *a,
			       const struct agent_config *b)
{
	return mqtt_conf_changed(&a->mqtt, &b->mqtt) ||
	       str_differs(a->node_id, b->node_id) ||
	       str_differs(a->state_dir, b->state_dir) ||
	       a->buffer_max_bytes != b->buffer_max_bytes;
}
