/* acgs-server's configuration: the INI file parsed once into typed fields,
 * validated as a whole (docs/server.md lists every key). */
#ifndef ACGS_SERVER_CONFIG_H
#define ACGS_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "alertroute.h"
#include "mqttconf.h"
#include "receiver.h"

struct server_config {
	char *path;

	/* [server] */
	char *listen;	   /* "host:port" as written */
	char *listen_host; /* parsed from listen */
	unsigned listen_port;
	char *state_dir;
	char *log_level;
	char *constitutional_hash;
	char *replica_id; /* stable per replica: the MQTT client id suffix */
	double api_rate_limit; /* requests/s per client IP; 0: api.c default */
	double api_rate_burst; /* token bucket size; 0: api.c default */

	/* [mqtt]: the shared keys, then the server's own */
	struct mqtt_conf mqtt;
	char *shared_group;

	/* [postgres] */
	char *conninfo;
	unsigned batch_max;    /* samples per COPY batch */
	double flush_interval; /* seconds a partial batch may wait */
	/* days kept: raw samples, probes, scores, rejects; 1m and 1h
	 * rollups (0: 14, 90, 730) */
	unsigned retention_raw_days, retention_1m_days, retention_1h_days;
	double rollup_interval; /* seconds; 0 = 60 */
	/* The breakers around the API's PostgreSQL reads and around Redis
	 * (0 = the breaker's defaults: 5 failures, 30 s). */
	struct {
		unsigned fail_max;
		double reset_timeout;
	} pg_breaker, redis_breaker;

	/* [redis]: empty url means no Redis */
	char *redis_url;
	double redis_timeout; /* seconds per connect or reply; 0 = 1 */
	/* seconds between pushes of a node's whole sample; default 10 */
	double redis_sample_interval;

	/* [scoring] */
	char *policy; /* YAML file; NULL: compiled-in defaults */

	/* [auth] */
	bool anonymous_viewer; /* read endpoints without a token */

	/* [alerts]: no rules_dir, no alerting */
	char *rules_dir;
	double eval_interval; /* seconds; default 1 */
	double lease_ttl;     /* seconds; default 10 */
	/* Base URLs for links in notifications; may be NULL. */
	char *api_url, *grafana_url;
	/* Outbox retries: first backoff and cap, seconds (0: 1 and 300). */
	double backoff_initial, backoff_cap;

	/* [receiver.KIND NAME] and [route NAME] sections */
	struct receiver_set receivers;
	struct alertroute_set routes;
};

/* Load and validate path. Returns 0 and *ret (free with
 * server_config_free), or a negative errno with err->msg naming file:line,
 * section and key. */
int server_config_load(const char *path, struct server_config **ret,
		       struct conf_error *err);
int server_config_load_string(const char *name, const char *text, size_t len,
			      struct server_config **ret,
			      struct conf_error *err);
struct server_config *server_config_free(struct server_config *c);

/* The MQTT client id of this replica: "acgs-server-<replica_id>". Stable
 * across restarts, so that the broker keeps the persistent session. */
int server_config_client_id(const struct server_config *c, char *out,
			    size_t outlen);

#endif
