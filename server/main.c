#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apibody.h"
#include "log.h"
#include "sigfd.h"
#include "server.h"
#include "alertrule.h"
#include "score.h"
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

	/* "+": stop at the first word, which may be a subcommand. */
	while ((c = getopt_long(argc, argv, "+c:Vh", opts, NULL)) != -1) {
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
	return 1;
}

/* acgs-server --config FILE token create --role ROLE --name NAME: make a
 * token, store its SHA-256, print the token once, alone on the last line. */
static int token_create(struct server_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ 0 },
	};
	const char *role = NULL, *name = NULL;
	unsigned char digest[crypto_hash_sha256_BYTES];
	char token[APIBODY_TOKEN_LEN + 1], err[512];
	struct store *st = NULL;
	int64_t id = 0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:n:", opts, NULL)) != -1) {
		if (c == 'r')
			role = optarg;
		else if (c == 'n')
			name = optarg;
		else
			return -EINVAL;
	}
	if (!role || !name ||
	    (strcmp(role, "viewer") && strcmp(role, "operator") &&
	     strcmp(role, "admin"))) {
		fprintf(stderr, "usage: acgs-server --config FILE token create "
				"--role viewer|operator|admin --name NAME\n");
		return -EINVAL;
	}
	apibody_token_generate(token, digest);
	r = store_open(cfg->conninfo, &st, err, sizeof(err));
	if (r == 0)
		r = store_migrate(st, NULL, err, sizeof(err));
	if (r == 0) {
		r = store_token_insert(st, name, role, digest, &id);
		if (r < 0)
			snprintf(err, sizeof(err), "%s", store_last_error(st));
	}
	store_free(st);
	if (r < 0) {
		fprintf(stderr, "acgs-server: token create: %s\n", err);
		return r;
	}
	fprintf(
	    stderr,
	    "token %lld created for %s with role %s; it is shown only now:\n",
	    (long long)id, name, role);
	printf("%s\n", token);
	sodium_memzero(token, sizeof(token));
	return 0;
}

/* --check-config: the files the configuration names (scoring policy,
 * alert rules) are read and validated as a start would. */
static int check_files(const struct server_config *cfg)
{
	struct score_policy p;
	struct alertrule_set *rules = NULL;
	char err[ALERTRULE_ERR_LEN];
	int r = 0;

	score_policy_default(&p);
	if (cfg->policy &&
	    (r = score_policy_load(cfg->policy, &p, err, sizeof(err))) < 0)
		fprintf(stderr, "acgs-server: %s\n", err);
	score_policy_release(&p);
	if (r == 0 && cfg->rules_dir &&
	    (r = alertrule_load_dir(cfg->rules_dir, &rules, err, sizeof(err))) <
		0)
		fprintf(stderr, "acgs-server: %s\n", err);
	if (r < 0)
		return r;
	printf("%s: configuration is valid (replica %s, broker %s:%u)\n",
	       cfg->path, cfg->replica_id, cfg->mqtt.host, cfg->mqtt.port);
	if (rules)
		printf("alerts: %zu rules from %s, %zu receivers, %zu routes\n",
		       rules->n, cfg->rules_dir, cfg->receivers.n,
		       cfg->routes.n);
	alertrule_set_free(rules);
	return 0;
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
		r = check_files(cfg);
		server_config_free(cfg);
		return r < 0 ? EXIT_CONFIG : EXIT_SUCCESS;
	}
	if (optind < argc) {
		if (strcmp(argv[optind], "token") == 0 && optind + 1 < argc &&
		    strcmp(argv[optind + 1], "create") == 0) {
			r = token_create(cfg, argc - optind - 1,
					 argv + optind + 1);
			server_config_free(cfg);
			return r == -EINVAL ? EXIT_CONFIG
			       : r < 0	    ? EXIT_FAILURE
					    : EXIT_SUCCESS;
		}
		fprintf(stderr, "acgs-server: unexpected argument '%s'\n",
			argv[optind]);
		server_config_free(cfg);
		return EXIT_CONFIG;
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
	sigfd_block();
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
