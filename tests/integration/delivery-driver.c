/* delivery-driver: the outbox and receivers outside the server, for
 * tests/integration/test_delivery.sh.
 *
 *   delivery-driver --conninfo CI --config FILE [options] COMMAND
 *     migrate                 apply the server's migrations
 *     enqueue --receiver R --event trigger|resolve --dedup-key K
 *             [--node N] [--summary S] [--severity S] [--idem KEY]
 *             [--api-base URL] [--grafana-base URL]
 *                             build the receiver's body and enqueue it
 *     enqueue-raw --receiver R --event E --dedup-key K --body JSON
 *                             enqueue a body as given
 *     send [--timeout S]      run the sender thread until no row is
 *                             pending (exit 0) or S seconds pass (exit 1),
 *                             then print the stats as key=value lines
 *   options: --backoff-initial S, --backoff-cap S (seconds)
 *
 * FILE holds [receiver.KIND NAME] sections, as the server's config does.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "conf.h"
#include "log.h"
#include "outbox.h"
#include "receiver.h"
#include "store.h"
#include "timeutil.h"

struct args {
	const char *conninfo, *config, *cmd;
	const char *receiver, *event, *dedup_key, *node, *summary, *severity,
	    *idem, *body, *api_base, *grafana_base;
	double timeout, backoff_initial, backoff_cap;
};

static int on_key(void *user, const char *section, const char *key,
		  const char *value, struct conf_error *err)
{
	if (!receiver_conf_section(section)) {
		snprintf(err->msg, sizeof(err->msg), "unknown section");
		return -ENOENT;
	}
	return receiver_conf_parse(user, section, key, value, err);
}

static int migrate(const char *conninfo)
{
	struct store *s = NULL;
	char err[512] = "";
	int applied = 0;
	int rc = store_open(conninfo, &s, err, sizeof(err));
	if (rc == 0)
		rc = store_migrate(s, &applied, err, sizeof(err));
	store_free(s);
	if (rc < 0) {
		fprintf(stderr, "delivery-driver: migrate: %s\n", err);
		return 1;
	}
	printf("migrations applied=%d\n", applied);
	return 0;
}

static long pending_rows(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT count(*) FROM notifications WHERE "
				"status = 'pending'");
	long n = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static void print_stats(struct outbox *o)
{
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	printf("enqueued=%" PRIu64 " enqueue_errors=%" PRIu64
	       " db_errors=%" PRIu64 " pending=%" PRIu64 "\n",
	       st.enqueued, st.enqueue_errors, st.db_errors, st.pending);
	for (size_t i = 0; i < st.n; i++)
		printf("receiver=%s kind=%s sent=%" PRIu64 " retried=%" PRIu64
		       " failed=%" PRIu64 " breaker=%s\n",
		       st.r[i].name, receiver_kind_name(st.r[i].kind),
		       st.r[i].sent, st.r[i].retried, st.r[i].failed,
		       breaker_state_name(st.r[i].breaker));
}

static int send_all(struct outbox *o, const struct args *a)
{
	PGconn *c = PQconnectdb(a->conninfo);
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	uint64_t end = time_mono_ns() + (uint64_t)(a->timeout * 1e9);
	int rc = 1;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "delivery-driver: %s", PQerrorMessage(c));
		goto out;
	}
	if (outbox_start(o) < 0)
		goto out;
	while (time_mono_ns() < end) {
		if (pending_rows(c) == 0) {
			rc = 0;
			break;
		}
		nanosleep(&pause, NULL);
	}
	print_stats(o);
out:
	PQfinish(c);
	return rc;
}

static int enqueue(struct outbox *o, const struct args *a, bool raw)
{
	int64_t id = 0;
	int rc;

	if (!a->receiver || !a->event || !a->dedup_key || (raw && !a->body)) {
		fprintf(stderr,
			"delivery-driver: enqueue needs --receiver, "
			"--event, --dedup-key%s\n",
			raw ? " and --body" : "");
		return 2;
	}
	if (raw) {
		struct outbox_item it = {
			.receiver = a->receiver,
			.dedup_key = a->dedup_key,
			.event = a->event,
			.body = a->body,
			.body_len = strlen(a->body),
			.idem_key = a->idem,
		};
		rc = outbox_enqueue(o, &it, &id);
	} else {
		struct receiver_label labels[] = { { "service", "api" },
						   { "zone", "it" } };
		struct receiver_component comps[] = { { "liveness", 0 },
						      { "resources", 0.9 } };
		struct receiver_alert al = {
			.rule = "node-down",
			.severity = a->severity ? a->severity : "critical",
			.resolved = strcmp(a->event, "resolve") == 0,
			.dedup_key = a->dedup_key,
			.summary = a->summary,
			.description = "The node stopped reporting.",
			.scope = "node",
			.key = a->node ? a->node : "web-1",
			.value = 0,
			.threshold = 1,
			.labels = labels,
			.nlabels = 2,
			.components = comps,
			.ncomponents = 2,
			.api_base = a->api_base,
			.grafana_base = a->grafana_base,
		};
		rc = outbox_enqueue_alert(o, a->receiver, &al, time_real_ms(),
					  a->idem, &id);
	}
	if (rc < 0) {
		fprintf(stderr, "delivery-driver: enqueue: %s\n",
			strerror(-rc));
		return 1;
	}
	printf("id=%" PRId64 " new=%d\n", id, rc);
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	struct {
		const char *name;
		const char **str;
		double *num;
	} opts[] = {
		{ "--conninfo", &a->conninfo, NULL },
		{ "--config", &a->config, NULL },
		{ "--receiver", &a->receiver, NULL },
		{ "--event", &a->event, NULL },
		{ "--dedup-key", &a->dedup_key, NULL },
		{ "--node", &a->node, NULL },
		{ "--summary", &a->summary, NULL },
		{ "--severity", &a->severity, NULL },
		{ "--idem", &a->idem, NULL },
		{ "--body", &a->body, NULL },
		{ "--api-base", &a->api_base, NULL },
		{ "--grafana-base", &a->grafana_base, NULL },
		{ "--timeout", NULL, &a->timeout },
		{ "--backoff-initial", NULL, &a->backoff_initial },
		{ "--backoff-cap", NULL, &a->backoff_cap },
	};
	for (int i = 1; i < argc; i++) {
		size_t k;
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (!strcmp(argv[i], opts[k].name))
				break;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			if (a->cmd || argv[i][0] == '-')
				return -EINVAL;
			a->cmd = argv[i];
			continue;
		}
		if (i + 1 >= argc)
			return -EINVAL;
		const char *v = argv[++i];
		if (opts[k].str)
			*opts[k].str = v;
		else if (conf_parse_seconds(v, opts[k].num) < 0)
			return -EINVAL;
	}
	return a->conninfo && a->config && a->cmd ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct args a = { .timeout = 60 };
	struct receiver_set set = { 0 };
	struct conf_error err = { "" };
	struct outbox *o = NULL;
	int rc;

	log_setup();
	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: delivery-driver --conninfo CI --config "
				"FILE COMMAND [options] (see the source)\n");
		return 2;
	}
	if (!strcmp(a.cmd, "migrate"))
		return migrate(a.conninfo);
	rc = conf_load(a.config, on_key, &set, &err);
	if (rc == 0)
		rc = receiver_conf_finish(&set, a.config, &err);
	if (rc < 0) {
		fprintf(stderr, "delivery-driver: %s\n", err.msg);
		rc = 1;
		goto out;
	}
	struct outbox_options oo = {
		.conninfo = a.conninfo,
		.receivers = &set,
		.replica = "driver",
		.backoff_initial = a.backoff_initial,
		.backoff_cap = a.backoff_cap,
		.poll_interval = 0.2,
	};
	rc = outbox_new(&oo, &o);
	if (rc < 0) {
		fprintf(stderr, "delivery-driver: outbox: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	if (!strcmp(a.cmd, "enqueue"))
		rc = enqueue(o, &a, false);
	else if (!strcmp(a.cmd, "enqueue-raw"))
		rc = enqueue(o, &a, true);
	else if (!strcmp(a.cmd, "send"))
		rc = send_all(o, &a);
	else
		rc = 2;
out:
	outbox_free(o);
	receiver_set_release(&set);
	return rc;
}
