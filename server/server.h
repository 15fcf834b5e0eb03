/* The acgs-server daemon: one poll loop that receives every agent's
 * stream from the broker and passes it through ingest (then storage,
 * scoring and the API as they land).
 *
 * MQTT: a persistent session (clean session off, client id
 * "acgs-server-<replica_id>") so that the broker holds messages while the
 * server restarts; metrics, events and cmd/result through the shared
 * subscription $share/<shared_group>/... so replicas split them; birth and
 * state through plain subscriptions, because every replica needs every
 * node's liveness and the broker sends no retained messages to shared
 * subscriptions. */
#ifndef ACGS_SERVER_H
#define ACGS_SERVER_H

#include "server_config.h"

struct server;

/* Takes ownership of cfg. Returns 0 or a negative errno (err says why). */
int server_new(struct server_config *cfg, struct server **ret, char *err,
	       size_t errlen);
struct server *server_free(struct server *s);

/* Run until SIGTERM/SIGINT (SIGHUP: log level and stats, more as the
 * server grows). sigfd_block() must have run before server_new. */
int server_run(struct server *s);

#endif
