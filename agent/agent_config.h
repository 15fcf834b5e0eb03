/* The agent's configuration: the INI file parsed once into typed fields.
 *
 * Every key is documented in docs/agent.md. Loading validates everything
 * (types, ranges, cross-key rules, the constitutional hash, readable
 * password file) so that a config that loads is one the agent can run. */
#ifndef ACGS_AGENT_CONFIG_H
#define ACGS_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "mqttconf.h"
#include "probe.h"
#include "wire.h"

#define AGENT_MAX_LABELS 32
#define AGENT_MAX_PROBES 64
#define AGENT_MAX_GLOBS	 64

struct agent_label {
	char *key;
	char *value;
};

struct agent_config {
	char *path;

	/* [agent] */
	char *node_id;
	struct agent_label labels[AGENT_MAX_LABELS];
	size_t nlabels;
	double interval; /* seconds */
	char *state_dir;
	char *constitutional_hash;
	char *log_level;
	bool per_core;
	char *proc_root;
	char *sys_root;

	/* [mqtt]: the shared keys, then the agent's own */
	struct mqtt_conf mqtt;
	uint64_t buffer_max_bytes;
	unsigned max_inflight;
	double reconnect_min;
	double reconnect_max;

	/* [probe.http NAME], [probe.tcp NAME] */
	struct probe_spec probes[AGENT_MAX_PROBES];
	size_t nprobes;

	/* [compliance] */
	char *compliance_globs[AGENT_MAX_GLOBS];
	size_t ncompliance_globs;
	char *manifest;
	bool require_hash_marker;
};

/* Load and validate path into a new config. Returns 0 and *ret (free with
 * agent_config_free), or a negative errno with err->msg naming file:line,
 * section and key. */
int agent_config_load(const char *path, struct agent_config **ret,
		      struct conf_error *err);

/* The same for config text in memory (tests, fuzzing); name is only used in
 * messages. */
int agent_config_load_string(const char *name, const char *text, size_t len,
			     struct agent_config **ret, struct conf_error *err);

struct agent_config *agent_config_free(struct agent_config *c);

/* True when the settings of the MQTT connection differ, so that a reload
 * must reconnect. */
bool agent_config_mqtt_changed(const struct agent_config *a,
			       const struct agent_config *b);

#endif
