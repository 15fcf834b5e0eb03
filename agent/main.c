#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_config.h"
#include "compliance.h"
#include "log.h"
#include "sigfd.h"

#define EXIT_CONFIG 2

/* The parsed command line: one of the globals we allow ourselves. */
static struct {
	const char *config;
	bool check_config;
	bool once;
} arg = { .config = "/etc/acgs/acgs-agent.conf" };

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: acgs-agent [--config FILE] [--check-config | --once]\n"
	    "\n"
	    "The ACGS Resilience node agent: collects health, latency and "
	    "hash\n"
	    "compliance, and publishes them over MQTT with store-and-forward.\n"
	    "\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "      --check-config  validate the configuration and exit (0 "
	    "valid, 2 not)\n"
	    "      --once          collect one full sample, print it as JSON, "
	    "exit\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n"
	    "\n"
	    "Signals: SIGHUP reloads the configuration (a bad one is rejected "
	    "and the\n"
	    "running one kept); SIGTERM publishes offline, flushes and exits "
	    "0.\n"
	    "Documentation: docs/agent.md. Constitutional hash %s.\n",
	    arg.config, ACGS_CONSTITUTIONAL_HASH);
}

static int parse_args(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_ONCE };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "once", no_argument, NULL, OPT_ONCE },
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
		case OPT_ONCE:
			arg.once = true;
			break;
		case 'V':
			printf("acgs-agent %s (constitutional hash %s)\n",
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
		fprintf(stderr, "acgs-agent: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (arg.check_config && arg.once) {
		fprintf(stderr, "acgs-agent: --check-config and --once exclude "
				"each other\n");
		return -EINVAL;
	}
	return 1;
}

/* --check-config also loads the manifest, which agent_new would refuse. */
static int check_manifest(const struct agent_config *cfg)
{
	struct compliance *c = NULL;
	char err[512] = "";
	if (!cfg->ncompliance_globs && !cfg->manifest)
		return 0;
	int r = compliance_new((const char *const *)cfg->compliance_globs,
			       cfg->ncompliance_globs, cfg->manifest,
			       cfg->require_hash_marker,
			       cfg->constitutional_hash, &c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "acgs-agent: %s: [compliance] %s\n", cfg->path,
			err[0] ? err : strerror(-r));
	compliance_free(c);
	return r;
}

int main(int argc, char **argv)
{
	struct agent_config *cfg = NULL;
	struct agent *a = NULL;
	struct conf_error cerr;
	char err[600];
	int r, rc = EXIT_FAILURE;

	r = parse_args(argc, argv);
	if (r <= 0)
		return r == 0 ? EXIT_SUCCESS : EXIT_CONFIG;

	log_setup();
	if (sodium_init() < 0) {
		log_err("agent", "libsodium failed to initialise");
		return EXIT_FAILURE;
	}
	r = agent_config_load(arg.config, &cfg, &cerr);
	if (r < 0) {
		fprintf(stderr, "acgs-agent: %s\n", cerr.msg);
		return EXIT_CONFIG;
	}
	log_max_level = log_level_from_string(cfg->log_level);
	if (arg.check_config) {
		r = check_manifest(cfg);
		if (r == 0)
			printf("%s: configuration is valid (node %s, %zu "
			       "probes)\n",
			       cfg->path, cfg->node_id, cfg->nprobes);
		agent_config_free(cfg);
		return r == 0 ? EXIT_SUCCESS : EXIT_CONFIG;
	}

	/* Before any thread exists, so every thread inherits the mask. */
	sigfd_block();
	mosquitto_lib_init();

	r = agent_new(cfg, &a, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "acgs-agent: %s\n", err);
		rc = r == -EINVAL ? EXIT_CONFIG : EXIT_FAILURE;
		goto out;
	}
	r = arg.once ? agent_once(a, STDOUT_FILENO) : agent_run(a);
	rc = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	agent_free(a);
	mosquitto_lib_cleanup();
	return rc;
}
