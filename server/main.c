#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "server_config.h"
#include "store.h"

#define EXIT_CONFIG 2

/* The parsed command line: one of the globals we allow ourselves. */
static struct {
	const char *config;
	bool check_config;
	bool migrate;
} arg = { .config = "/etc/acgs/acgs-server.conf" };

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: acgs-server [--config FILE] [--check-config | --migrate]\n"
	    "\n"
	    "The ACGS Resilience server: ingests every agent's stream from "
	    "MQTT,\n"
	    "validates it, scores each node 0.0-1.0 and stores the history in "
	    "PostgreSQL.\n"
	    "\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "      --check-config  validate the configuration and exit (0 "
	    "valid, 2 not)\n"
	    "      --migrate       apply database migrations and exit\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n"
	    "\n"
	    "Constitutional hash %s.\n",
	    arg.config, ACGS_CONSTITUTIONAL_HASH);
}

static int parse_args(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_MIGRATE };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "migrate", no_argument, NULL, OPT_MIGRATE },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			arg.config = optarg;
			break;
		case OPT_CHECK:
			arg.check_config = true;
			break;
		case OPT_MIGRATE:
			arg.migrate = true;
			break;
		case 'V':
			printf("acgs-server %s (constitutional hash %s)\n",
			       PACKAGE_VERSION, ACGS_CONSTITUTIONAL_HASH);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "acgs-server: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct server_config *cfg = NULL;
	struct server *s = NULL;
	struct conf_error cerr;
	char err[512];
	int r, rc;

	r = parse_args(argc, argv);
	if (r <= 0)
		return r == 0 ? EXIT_SUCCESS : EXIT_CONFIG;
	log_setup();
	if (sodium_init() < 0)
		return EXIT_FAILURE;
	r = server_config_load(arg.config, &cfg, &cerr);
	if (r < 0) {
		fprintf(stderr, "acgs-server: %s\n", cerr.msg);
		return EXIT_CONFIG;
	}
	log_max_level = log_level_from_string(cfg->log_level);
	if (arg.check_config) {
		printf(
		    "%s: configuration is valid (replica %s, broker %s:%u)\n",
		    cfg->path, cfg->replica_id, cfg->mqtt.host, cfg->mqtt.port);
		server_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (arg.migrate) {
		struct store *st = NULL;
		int applied = 0;
		r = store_open(cfg->conninfo, &st, err, sizeof(err));
		if (r == 0)
			r = store_migrate(st, &applied, err, sizeof(err));
		if (r == 0 && store_ensure_partitions(st, 3) < 0) {
			snprintf(err, sizeof(err), "%s", store_last_error(st));
			r = -EIO;
		}
		if (r < 0)
			fprintf(stderr, "acgs-server: migrate: %s\n", err);
		else
			printf("migrations applied: %d\n", applied);
		store_free(st);
		server_config_free(cfg);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	server_block_signals();
	mosquitto_lib_init();
	r = server_new(cfg, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "acgs-server: %s\n", err);
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = server_run(s) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	server_free(s);
	mosquitto_lib_cleanup();
	return rc;
}
