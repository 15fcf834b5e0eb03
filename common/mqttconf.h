/* The [mqtt] section both daemons share: broker address, identity,
 * credentials, TLS and topic root, with one key table and one set of rules,
 * so that agent and server accept exactly the same keys and values. */
#ifndef ACGS_MQTTCONF_H
#define ACGS_MQTTCONF_H

#include <stdbool.h>

#include "conf.h"

struct mqtt_conf {
	char *host;
	unsigned port;
	char *client_id;
	char *username;
	char *password; /* from password or password_file */
	char *password_file;
	char *ca_file; /* TLS when set */
	char *cert_file;
	char *key_file;
	double keepalive; /* seconds */
	unsigned qos;
	char *topic_root;
};

/* host localhost, port 1883, keepalive 10, qos 1, topic_root acgs/v1. */
void mqtt_conf_init(struct mqtt_conf *m);

/* Apply one key of the section. Returns 0, -ENOENT for a key that is not
 * one of these (err says "unknown key": the caller may try its own), or
 * -EINVAL with err saying what is wrong with the value. */
int mqtt_conf_apply(struct mqtt_conf *m, const char *key, const char *value,
		    struct conf_error *err);

/* After the file: fill client_id (default_client_id when unset), check the
 * rules across keys and read password_file. path names the file in
 * messages. Returns 0 or a negative errno with err set. */
int mqtt_conf_finish(struct mqtt_conf *m, const char *path,
		     const char *default_client_id, struct conf_error *err);

void mqtt_conf_release(struct mqtt_conf *m);

/* A deep copy (release it with mqtt_conf_release). Returns 0 or -ENOMEM. */
int mqtt_conf_copy(struct mqtt_conf *dst, const struct mqtt_conf *src);

/* True when the connection settings differ (a reload must reconnect). */
bool mqtt_conf_changed(const struct mqtt_conf *a, const struct mqtt_conf *b);

#endif
