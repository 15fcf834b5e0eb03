/* The agent daemon: one poll loop that samples on a fixed interval, spools
 * every sample to disk and publishes it over MQTT.
 *
 * collect -> encode -> spool -> publish; probes run in their own thread and
 * hand their results over at sample time. */
#ifndef ACGS_AGENT_H
#define ACGS_AGENT_H

#include "agent_config.h"

struct agent;

/* Build every part from cfg (the agent takes ownership of cfg). Opens the
 * spool, primes the collectors, starts the probes. Nothing connects yet.
 * Returns 0 or a negative errno; err names the part that failed. */
int agent_new(struct agent_config *cfg, struct agent **ret, char *err,
	      size_t errlen);

struct agent *agent_free(struct agent *a);

/* Run until SIGTERM or SIGINT (SIGHUP reloads the config file). The caller
 * must have called sigfd_block() before agent_new (the probe thread
 * inherits the mask). Returns 0 after a clean shutdown. */
int agent_run(struct agent *a);

/* Collect one full sample (waiting up to a second for rates and the first
 * probe results) and write it as the metrics payload to fd. */
int agent_once(struct agent *a, int fd);

#endif
