#include "config.h"

#include "server_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "hotstate.h"
#include "log.h"
#include "wire.h"

static const struct conf_key server_keys[] = {
	{ "listen", CONF_STRING, offsetof(struct server_config, listen), 0, 0 },
	{ "state_dir", CONF_STRING, offsetof(struct server_config, state_dir),
	  0, 0 },
	{ "log_level", CONF_STRING, offsetof(struct server_config, log_level),
	  0, 0 },
	{ "constitutional_hash", CONF_STRING,
	  offsetof(struct server_config, constitutional_hash), 0, 0 },
	{ "replica_id", CONF_STRING, offsetof(struct server_config, replica_id),
	  0, 0 },
	{ "api_rate_limit", CONF_DOUBLE,
	  offsetof(struct server_config, api_rate_limit), 0.01, 1e9 },
	{ "api_rate_burst", CONF_DOUBLE,
	  offsetof(struct server_config, api_rate_burst), 1, 1e9 },
};

static const struct conf_key mqtt_server_keys[] = {
	{ "shared_group", CONF_STRING,
	  offsetof(struct server_config, shared_group), 0, 0 },
};

static const struct conf_key postgres_keys[] = {
	{ "conninfo", CONF_STRING, offsetof(struct server_config, conninfo), 0,
	  0 },
	{ "batch_max", CONF_UINT, offsetof(struct server_config, batch_max), 1,
	  100000 },
	{ "flush_interval", CONF_SECONDS,
	  offsetof(struct server_config, flush_interval), 0.001, 60 },
	{ "rollup_interval", CONF_SECONDS,
	  offsetof(struct server_config, rollup_interval), 0.1, 3600 },
	{ "retention_raw_days", CONF_UINT,
	  offsetof(struct server_config, retention_raw_days), 1, 36500 },
	{ "retention_1m_days", CONF_UINT,
	  offsetof(struct server_config, retention_1m_days), 1, 36500 },
	{ "retention_1h_days", CONF_UINT,
	  offsetof(struct server_config, retention_1h_days), 1, 36500 },
	{ "breaker_fail_max", CONF_UINT,
	  offsetof(struct server_config, pg_breaker.fail_max), 1, 1000 },
	{ "breaker_reset_timeout", CONF_SECONDS,
	  offsetof(struct server_config, pg_breaker.reset_timeout), 0.1, 3600 },
};

static const struct conf_key redis_keys[] = {
	{ "url", CONF_STRING, offsetof(struct server_config, redis_url), 0, 0 },
	{ "timeout", CONF_SECONDS,
	  offsetof(struct server_config, redis_timeout), 0.01, 60 },
	{ "sample_interval", CONF_SECONDS,
	  offsetof(struct server_config, redis_sample_interval), 0, 3600 },
	{ "breaker_fail_max", CONF_UINT,
	  offsetof(struct server_config, redis_breaker.fail_max), 1, 1000 },
	{ "breaker_reset_timeout", CONF_SECONDS,
	  offsetof(struct server_config, redis_breaker.reset_timeout), 0.1,
	  3600 },
};

static const struct conf_key scoring_keys[] = {
	{ "policy", CONF_STRING, offsetof(struct server_config, policy), 0, 0 },
};

static const struct conf_key auth_keys[] = {
	{ "anonymous_viewer", CONF_BOOL,
	  offsetof(struct server_config, anonymous_viewer), 0, 0 },
};

static const struct conf_key alerts_keys[] = {
	{ "rules_dir", CONF_STRING, offsetof(struct server_config, rules_dir),
	  0, 0 },
	{ "eval_interval", CONF_SECONDS,
	  offsetof(struct server_config, eval_interval), 0.05, 3600 },
	{ "lease_ttl", CONF_SECONDS, offsetof(struct server_config, lease_ttl),
	  0.5, 3600 },
	{ "api_url", CONF_STRING, offsetof(struct server_config, api_url), 0,
	  0 },
	{ "grafana_url", CONF_STRING,
	  offsetof(struct server_config, grafana_url), 0, 0 },
	{ "backoff_initial", CONF_SECONDS,
	  offsetof(struct server_config, backoff_initial), 0.01, 3600 },
	{ "backoff_cap", CONF_SECONDS,
	  offsetof(struct server_config, backoff_cap), 0.01, 86400 },
};

static const struct {
	const char *name;
	const struct conf_key *keys;
	size_t nkeys;
} sections[] = {
	{ "alerts", alerts_keys, ARRAY_SIZE(alerts_keys) },
	{ "server", server_keys, ARRAY_SIZE(server_keys) },
	{ "postgres", postgres_keys, ARRAY_SIZE(postgres_keys) },
	{ "redis", redis_keys, ARRAY_SIZE(redis_keys) },
	{ "scoring", scoring_keys, ARRAY_SIZE(scoring_keys) },
	{ "auth", auth_keys, ARRAY_SIZE(auth_keys) },
};

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

static int handler(void *user, const char *section, const char *key,
		   const char *value, struct conf_error *err)
{
	struct server_config *c = user;

	if (strcmp(section, "mqtt") == 0) {
		int r = mqtt_conf_apply(&c->mqtt, key, value, err);
		if (r != -ENOENT)
			return r;
		return conf_apply(mqtt_server_keys,
				  ARRAY_SIZE(mqtt_server_keys), c, key, value,
				  err);
	}
	if (receiver_conf_section(section))
		return receiver_conf_parse(&c->receivers, section, key, value,
					   err);
	if (alertroute_conf_section(section))
		return alertroute_conf_parse(&c->routes, section, key, value,
					     err);
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strcmp(section, sections[i].name) == 0)
			return conf_apply(sections[i].keys, sections[i].nkeys,
					  c, key, value, err);
	return fail(err, -ENOENT,
		    "unknown section (expected server, mqtt, postgres, redis, "
		    "scoring, auth, alerts, receiver.KIND NAME or route "
		    "NAME)");
}

static int set_default(char **field, const char *value)
{
	return *field ? 0 : conf_set_string(field, value);
}

/* "host:port", "[v6]:port" or ":port" (all addresses). */
static int parse_listen(struct server_config *c, struct conf_error *err)
{
	const char *s = c->listen;
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t hl;

	if (!colon || conf_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return fail(err, -EINVAL,
			    "%s: [server] listen: '%s' is not host:port (e.g. "
			    "127.0.0.1:8080)",
			    c->path, s);
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	free(c->listen_host);
	c->listen_host = strndup(s, hl);
	if (!c->listen_host)
		return fail(err, -ENOMEM, "out of memory");
	c->listen_port = (unsigned)port;
	return 0;
}

static int finish(struct server_config *c, struct conf_error *err)
{
	char host[256];
	int r;

	if (!c->replica_id) {
		if (gethostname(host, sizeof(host)) < 0)
			return fail(err, -errno, "%s: cannot get the hostname",
				    c->path);
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		if (conf_set_string(&c->replica_id, host) < 0)
			return fail(err, -ENOMEM, "out of memory");
	}
	if (set_default(&c->listen, "127.0.0.1:8080") < 0 ||
	    set_default(&c->state_dir, "/var/lib/acgs-server") < 0 ||
	    set_default(&c->log_level, "info") < 0 ||
	    set_default(&c->constitutional_hash, ACGS_CONSTITUTIONAL_HASH) <
		0 ||
	    set_default(&c->shared_group, "acgs-server") < 0)
		return fail(err, -ENOMEM, "out of memory");
	if ((r = parse_listen(c, err)) < 0)
		return r;
	if (strcmp(c->constitutional_hash, ACGS_CONSTITUTIONAL_HASH) != 0)
		return fail(err, -EINVAL,
			    "%s: [server] constitutional_hash: '%s' differs "
			    "from the compiled-in %s; refusing to start",
			    c->path, c->constitutional_hash,
			    ACGS_CONSTITUTIONAL_HASH);
	if (log_level_from_string(c->log_level) < 0)
		return fail(err, -EINVAL,
			    "%s: [server] log_level: '%s' is not error, "
			    "warning, info or debug",
			    c->path, c->log_level);
	if (!wire_node_valid(c->replica_id))
		return fail(err, -EINVAL,
			    "%s: [server] replica_id: '%s' must be 1-64 of "
			    "[A-Za-z0-9._-]",
			    c->path, c->replica_id);
	if (!wire_node_valid(c->shared_group))
		return fail(err, -EINVAL,
			    "%s: [mqtt] shared_group: '%s' must be 1-64 of "
			    "[A-Za-z0-9._-]",
			    c->path, c->shared_group);
	if (!c->conninfo)
		return fail(err, -EINVAL,
			    "%s: [postgres] conninfo is required (e.g. "
			    "host=127.0.0.1 dbname=acgs user=acgs)",
			    c->path);
	struct hot_url u;
	if (c->redis_url && c->redis_url[0] &&
	    hotstate_parse_url(c->redis_url, &u) < 0)
		return fail(err, -EINVAL,
			    "%s: [redis] url: '%s' is not "
			    "redis://[:password@]host[:port][/db] or "
			    "unix:///path",
			    c->path, c->redis_url);
	if ((r = receiver_conf_finish(&c->receivers, c->path, err)) < 0)
		return r;
	if ((r = alertroute_conf_finish(&c->routes, &c->receivers, err)) < 0) {
		char m[CONF_ERR_LEN];
		snprintf(m, sizeof(m), "%s", err->msg);
		return fail(err, r, "%s: %s", c->path, m);
	}
	if (c->routes.n && !c->rules_dir)
		return fail(err, -EINVAL,
			    "%s: [route ...] sections need [alerts] rules_dir",
			    c->path);
	char cid[128];
	if (server_config_client_id(c, cid, sizeof(cid)) < 0)
		return fail(err, -EINVAL, "%s: [server] replica_id too long",
			    c->path);
	return mqtt_conf_finish(&c->mqtt, c->path, cid, err);
}

static int load(const char *path, const char *text, size_t len,
		struct server_config **ret, struct conf_error *err)
{
	struct server_config *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return fail(err, -ENOMEM, "out of memory");
	mqtt_conf_init(&c->mqtt);
	c->batch_max = 1000;
	c->flush_interval = 0.2;
	c->redis_sample_interval = 10;
	c->eval_interval = 1;
	c->lease_ttl = 10;
	c->path = strdup(path);
	if (!c->path) {
		r = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = text ? conf_load_string(path, text, len, handler, c, err)
		 : conf_load(path, handler, c, err);
	if (r >= 0)
		r = finish(c, err);
out:
	if (r < 0) {
		server_config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int server_config_load(const char *path, struct server_config **ret,
		       struct conf_error *err)
{
	return load(path, NULL, 0, ret, err);
}

int server_config_load_string(const char *name, const char *text, size_t len,
			      struct server_config **ret,
			      struct conf_error *err)
{
	return load(name, text, len, ret, err);
}

struct server_config *server_config_free(struct server_config *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->listen);
	free(c->listen_host);
	free(c->state_dir);
	free(c->log_level);
	free(c->constitutional_hash);
	free(c->replica_id);
	mqtt_conf_release(&c->mqtt);
	free(c->shared_group);
	free(c->conninfo);
	free(c->redis_url);
	free(c->policy);
	free(c->rules_dir);
	free(c->api_url);
	free(c->grafana_url);
	receiver_set_release(&c->receivers);
	alertroute_set_release(&c->routes);
	free(c);
	return NULL;
}

int server_config_client_id(const struct server_config *c, char *out,
			    size_t outlen)
{
	int n = snprintf(out, outlen, "acgs-server-%s", c->replica_id);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}
