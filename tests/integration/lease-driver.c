/* lease-driver: one replica's leader lease outside the server, for
 * tests/integration/test_lease.sh.
 *
 *   lease-driver --conninfo CI --name NAME --holder ID [--redis URL]
 *                [--ttl S] [--timeout S] [--seconds N]
 *
 * Refreshes the lease when lease_next_refresh_ms() says, checks
 * lease_held() every 10 ms like a leader before each unit of work, and
 * prints one line per event on stdout, each starting with the wall clock
 * in ms (comparable between drivers and with `date +%s%3N`):
 *   <ms> start holder=ID key=PGKEY redis=yes|no
 *   <ms> leader backend=B             began leading (time: after the
 *                                     refresh that returned 1)
 *   <ms> follower backend=B holder=H  not leading (time: when the refresh
 *                                     that said so began, or the check
 *                                     that found the lease lapsed); also
 *                                     printed once after the first refresh
 *   <ms> backend B                    what leadership rests on changed
 *   <ms> error MESSAGE                a new failure message
 *   <ms> released                     SIGTERM/SIGINT or --seconds: the
 *                                     time lease_release was called
 *   <ms> exit acquired=N lost=N released=N errors=N max_refresh_ms=N
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "lease.h"
#include "sigfd.h"
#include "timeutil.h"

#define TICK_MS 10

struct args {
	struct lease_options opt;
	double seconds;
};

/* The longest lease_refresh call, for the exit line. */
struct run_stats {
	int64_t max_refresh_ms;
};

static int64_t mono_ms(void)
{
	return (int64_t)(time_mono_ns() / 1000000);
}

static int usage(void)
{
	fprintf(stderr, "usage: lease-driver --conninfo CI --name NAME "
			"--holder ID [--redis URL] [--ttl S] [--timeout S] "
			"[--seconds N]\n");
	return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;
		if (!v)
			return -EINVAL;
		if (!strcmp(k, "--conninfo"))
			a->opt.conninfo = v;
		else if (!strcmp(k, "--name"))
			a->opt.name = v;
		else if (!strcmp(k, "--holder"))
			a->opt.holder = v;
		else if (!strcmp(k, "--redis"))
			a->opt.redis_url = v;
		else if (!strcmp(k, "--ttl"))
			rc = conf_parse_double(v, 0.1, 86400, &a->opt.ttl);
		else if (!strcmp(k, "--timeout"))
			rc = conf_parse_double(v, 0.001, 60, &a->opt.timeout);
		else if (!strcmp(k, "--seconds"))
			rc = conf_parse_double(v, 0, 86400, &a->seconds);
		else
			return -EINVAL;
		if (rc < 0)
			return rc;
		i++;
	}
	return a->opt.conninfo && a->opt.name && a->opt.holder ? 0 : -EINVAL;
}

/* Print what changed since the last call: leadership, backend, error. */
struct view {
	bool known, leading;
	const char *backend;
	char err[512];
};

static void report(struct lease *l, struct view *v, bool leading, int64_t at_ms)
{
	const char *backend = lease_backend(l);
	const char *err = lease_last_error(l);
	char holder[LEASE_HOLDER_MAX + 1];

	if (*err && strcmp(err, v->err) != 0) {
		printf("%" PRId64 " error %s\n", time_real_ms(), err);
		snprintf(v->err, sizeof(v->err), "%s", err);
	}
	if (!v->known || leading != v->leading) {
		lease_holder(l, holder, sizeof(holder));
		if (leading)
			printf("%" PRId64 " leader backend=%s\n", at_ms,
			       backend);
		else
			printf("%" PRId64 " follower backend=%s holder=%s\n",
			       at_ms, backend, holder);
	} else if (strcmp(backend, v->backend) != 0) {
		printf("%" PRId64 " backend %s\n", time_real_ms(), backend);
	}
	v->known = true;
	v->leading = leading;
	v->backend = backend;
}

static void run(struct lease *l, const struct args *a, int sfd,
		struct run_stats *rs)
{
	struct view v = { 0 };
	int64_t end = a->seconds > 0 ? mono_ms() + (int64_t)(a->seconds * 1e3)
				     : INT64_MAX;

	for (;;) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		if (poll(&p, 1, TICK_MS) > 0)
			break; /* SIGTERM or SIGINT */
		int64_t now = mono_ms();
		if (now >= end)
			break;
		if (now >= lease_next_refresh_ms(l)) {
			/* The leader does no work while it refreshes: if the
			 * refresh says no, leadership ended when it began. */
			int64_t began = time_real_ms();
			int led = lease_refresh(l, now);
			if (mono_ms() - now > rs->max_refresh_ms)
				rs->max_refresh_ms = mono_ms() - now;
			report(l, &v, led == 1, led ? time_real_ms() : began);
		} else if (v.leading && !lease_held(l, mono_ms())) {
			report(l, &v, false, time_real_ms());
		}
		fflush(stdout);
	}
	printf("%" PRId64 " released\n", time_real_ms());
	lease_release(l);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct lease *l = NULL;
	struct lease_stats st;
	struct run_stats rs = { 0 };
	int sfd, rc;

	if (parse_args(argc, argv, &a) < 0)
		return usage();
	sigfd_block();
	sfd = sigfd_open();
	if (sfd < 0) {
		fprintf(stderr, "lease-driver: signalfd: %s\n", strerror(-sfd));
		return 1;
	}
	rc = lease_new(&a.opt, &l);
	if (rc < 0) {
		fprintf(stderr, "lease-driver: %s\n", strerror(-rc));
		close(sfd);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%" PRId64 " start holder=%s key=%" PRId64 " redis=%s\n",
	       time_real_ms(), a.opt.holder, lease_pg_key(a.opt.name),
	       a.opt.redis_url && *a.opt.redis_url ? "yes" : "no");
	run(l, &a, sfd, &rs);
	lease_get_stats(l, &st);
	printf("%" PRId64 " exit acquired=%" PRIu64 " lost=%" PRIu64
	       " released=%" PRIu64 " errors=%" PRIu64
	       " max_refresh_ms=%" PRId64 "\n",
	       time_real_ms(), st.acquired, st.lost, st.released, st.errors,
	       rs.max_refresh_ms);
	lease_free(l);
	close(sfd);
	return 0;
}
