/* loadgen: N simulated nodes in one process, each its own MQTT client id
 * publishing realistic metrics samples, for benchmarking the broker and
 * acgs-server (docs/bench-ingest.md).
 *
 * Every node speaks the wire protocol like acgs-agent (agent/publisher.c):
 * a will (`state` offline, with its connect counter) set in CONNECT, the
 * retained birth and `state` online after each CONNACK, QoS 1 samples with
 * a bounded window of unacknowledged ones, counted down on PUBACK, and on
 * exit a retained offline and a clean DISCONNECT. The N connections are
 * loadgen_mqtt.h clients (see there why not libmosquitto) in one epoll
 * loop; publishes follow loadgen_sched.h (evenly spread), payloads
 * loadgen_payload.h (a real agent sample as the template). Nothing is
 * dropped silently: a sample that could not be handed to the broker is
 * counted by why. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "conf.h"
#include "jsonw.h"
#include "log.h"
#include "loadgen_fault.h"
#include "loadgen_mqtt.h"
#include "loadgen_payload.h"
#include "loadgen_sched.h"
#include "sigfd.h"
#include "stats.h"
#include "timeutil.h"
#include "wire.h"

#define NS_PER_SEC  1000000000ull
#define NS_PER_MS   1000000ull
#define BOOT_ID_LEN 36
#define STATE_MAX   512
/* PUBACK round trips kept for the percentiles; past that, a reservoir. */
#define RTT_MAX (1u << 21)
/* A publish later than this behind its schedule is counted as late. */
#define LATE_NS	    (10 * NS_PER_MS)
#define EPOLL_BATCH 256
#define EXIT_USAGE  2
/* A CONNECT unanswered this long is abandoned and retried. */
#define CONNECT_TIMEOUT_NS (10 * NS_PER_SEC)
/* Room in front of a rendered payload for the PUBLISH header. */
#define HEADER_ROOM (1 + 4 + 2 + WIRE_TOPIC_MAX + 2)

/* The parsed command line: one of the globals we allow ourselves. */
static struct {
	const char *host;
	unsigned port;
	uint64_t nodes;
	double rate;
	double duration;
	const char *prefix;
	const char *username;
	const char *password;
	bool no_auth;
	unsigned qos;
	double connect_rate;
	const char *boot_id;
	const char *report;
	const char *template_path;
	const char *topic_root;
	unsigned max_inflight;
	double keepalive;
	double drain;
	double connect_timeout;
	double settle;
	const char *start_file;
	bool no_offline;
	bool verbose;
	struct loadgen_fault_options fault;
	double flap_cpu_high, flap_cpu_low;
	const char *events;
} arg = {
	.host = "127.0.0.1",
	.port = 1883,
	.nodes = 100,
	.rate = 1,
	.duration = 60,
	.prefix = "lg",
	.qos = 1,
	.connect_rate = 500,
	.topic_root = WIRE_DEFAULT_ROOT,
	.max_inflight = 32,
	.keepalive = 30,
	.drain = 15,
	.flap_cpu_high = 0.97,
	.flap_cpu_low = 0.2,
};

struct inflight {
	uint16_t id;
	uint64_t sent_ns;
};

struct loadgen;

struct node {
	struct loadgen *lg;
	struct loadgen_mqtt mq;
	char id[WIRE_NODE_MAX + 1];
	char boot_id[BOOT_ID_LEN + 1];
	struct loadgen_walk walk;
	uint64_t attempts, conn_number;
	uint64_t sent, acked;
	struct inflight *ring;
	unsigned ring_head, ring_count;
	uint16_t offline_id;
	bool started, ready, offline_pending;
	enum loadgen_role role;
	uint64_t rank;	    /* among the nodes of its role */
	int64_t will_ts_ms; /* the ts in the will of the current CONNECT */
	bool down;	    /* a down node in its down time: silent */
	int flap_phase;	    /* last published: -1 none, 0 low, 1 high */
	uint64_t retry_ns;
	int reg_fd;
	uint32_t reg_events;
};

struct loadgen {
	struct node *nodes;
	uint64_t n;
	struct loadgen_payload *payload;
	char *birth_probes;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int epfd, sigfd;
	bool stop, closing;
	uint64_t start_ns;
	uint64_t conn_base;
	uint64_t rng;
	char config_hash[65];

	uint64_t ready;
	/* Why samples were not handed to the broker (never silently). */
	uint64_t sent, acked, not_connected, window_full, buffer_full,
	    publish_errors, render_errors, unacked_lost;
	uint64_t disconnects, connect_failures, control_sent, control_acked,
	    offline_pending;
	uint64_t late, lag_max_ns;
	uint64_t bytes;
	uint64_t warnings;

	double *rtt;
	size_t nrtt;
	uint64_t rtt_seen;

	uint8_t *packet; /* HEADER_ROOM + LOADGEN_PAYLOAD_MAX */
	struct buf ctl;	 /* control packets */
	double connect_s, run_s, drain_s;
	int64_t run_start_ms, run_end_ms;

	struct loadgen_fault fault;
	FILE *events;
	bool downs_done, ups_done;
	/* Down and up states published, samples a down node did not send,
	 * fault messages that could not be sent (never silently), events
	 * whose PUBLISH the socket did not take whole at once (their time is
	 * when it was queued), flapper phase changes. */
	uint64_t down_sent, up_sent, down_skipped, fault_errors, events_queued,
	    flap_switches, event_write_errors;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: loadgen [options]\n"
	    "\n"
	    "Simulate N acgs-agent nodes publishing metrics over MQTT.\n"
	    "\n"
	    "  --host H            broker address (default 127.0.0.1)\n"
	    "  --port P            broker port (default 1883)\n"
	    "  --nodes N           simulated nodes (default 100)\n"
	    "  --rate R            samples per second per node (default 1)\n"
	    "  --duration S        seconds of publishing (default 60)\n"
	    "  --prefix P          node ids and client ids are P-0 .. P-(N-1) "
	    "(default lg)\n"
	    "  --username U        user name for every node\n"
	    "  --password W        its password\n"
	    "  --no-auth           connect without credentials (the default)\n"
	    "  --qos Q             0 or 1 (default 1)\n"
	    "  --connect-rate C    new connections per second (default 500)\n"
	    "  --connect-timeout S give up waiting for all nodes after S "
	    "seconds\n"
	    "                      (default 30 + N / C)\n"
	    "  --boot-id ID        boot id of every node (default: a random "
	    "UUID per node)\n"
	    "  --template FILE     sample to imitate, e.g. `acgs-agent --once` "
	    "output\n"
	    "                      (default: a built-in one)\n"
	    "  --topic-root T      topic root (default acgs/v1)\n"
	    "  --max-inflight M    unacknowledged samples per node (default "
	    "32)\n"
	    "  --keepalive S       MQTT keepalive seconds (default 30)\n"
	    "  --drain S           seconds to wait for the last PUBACKs "
	    "(default 15)\n"
	    "  --settle S          seconds between all connected and the first "
	    "sample\n"
	    "                      (default 0)\n"
	    "  --start-file FILE   after connecting (and --settle), wait until "
	    "FILE exists\n"
	    "  --no-offline        at the end only DISCONNECT, without the "
	    "retained offline\n"
	    "  --report FILE       write a JSON report with per-node figures\n"
	    "\n"
	    "Faults (bench/alerts, docs/bench-alerts.md); times are seconds "
	    "after the first\n"
	    "sample:\n"
	    "  --down-fraction F   share of the nodes that go down (default "
	    "0)\n"
	    "  --down-at S         they publish their will (retained state "
	    "offline) and stop\n"
	    "                      sampling at S\n"
	    "  --up-at S           they publish state online and sample again "
	    "at S\n"
	    "                      (default: down until the end)\n"
	    "  --flap-fraction F   share of the nodes whose CPU flaps (default "
	    "0)\n"
	    "  --flap-high S       seconds of each high phase\n"
	    "  --flap-low S        seconds of each low phase\n"
	    "  --flap-cpu-high V   cpu.usage in the high phase (default 0.97)\n"
	    "  --flap-cpu-low V    cpu.usage in the low phase (default 0.2)\n"
	    "  --events FILE       log the plan, every down and up and every "
	    "flap phase\n"
	    "                      change: \"EVENT NODE REALTIME_MS\" per "
	    "line\n"
	    "  -v, --verbose       log every connection\n"
	    "  -h, --help          this help\n"
	    "\n"
	    "Prints one summary line of key=value pairs. Documentation: "
	    "docs/bench-ingest.md.\n"
	    "Constitutional hash %s.\n",
	    ACGS_CONSTITUTIONAL_HASH);
}

static int bad(const char *opt, const char *value, const char *want)
{
	fprintf(stderr, "loadgen: --%s '%s': %s\n", opt, value, want);
	return -EINVAL;
}

static bool boot_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

/* The fault options together: each needs its partners, and every time
 * must fall inside the run. */
static int check_fault_args(void)
{
	const struct loadgen_fault_options *f = &arg.fault;
	struct loadgen_fault plan;

	if (f->down_fraction > 0 && !(f->down_at_s > 0)) {
		fprintf(stderr, "loadgen: --down-fraction needs --down-at\n");
		return -EINVAL;
	}
	if ((f->down_at_s > 0 || f->up_at_s > 0) && !(f->down_fraction > 0)) {
		fprintf(
		    stderr,
		    "loadgen: --down-at and --up-at need --down-fraction\n");
		return -EINVAL;
	}
	if (f->up_at_s > 0 && f->up_at_s <= f->down_at_s) {
		fprintf(stderr, "loadgen: --up-at must be after --down-at\n");
		return -EINVAL;
	}
	if (f->down_at_s >= arg.duration || f->up_at_s >= arg.duration) {
		fprintf(stderr, "loadgen: --down-at and --up-at must be "
				"within --duration\n");
		return -EINVAL;
	}
	if (f->flap_fraction > 0 &&
	    (!(f->flap_high_s > 0) || !(f->flap_low_s > 0))) {
		fprintf(stderr, "loadgen: --flap-fraction needs --flap-high "
				"and --flap-low\n");
		return -EINVAL;
	}
	if (f->down_fraction + f->flap_fraction > 1) {
		fprintf(stderr, "loadgen: --down-fraction and --flap-fraction "
				"together pass 1\n");
		return -EINVAL;
	}
	if (loadgen_fault_init(&plan, arg.nodes, f) < 0) {
		fprintf(stderr, "loadgen: inconsistent fault options\n");
		return -EINVAL;
	}
	return 1;
}

static int parse_args(int argc, char **argv)
{
	enum {
		O_HOST = 256,
		O_PORT,
		O_NODES,
		O_RATE,
		O_DURATION,
		O_PREFIX,
		O_USER,
		O_PASS,
		O_NOAUTH,
		O_QOS,
		O_CRATE,
		O_CTIMEOUT,
		O_BOOT,
		O_REPORT,
		O_TEMPLATE,
		O_ROOT,
		O_INFLIGHT,
		O_KEEPALIVE,
		O_DRAIN,
		O_SETTLE,
		O_NO_OFFLINE,
		O_START_FILE,
		O_DOWN_FRACTION,
		O_DOWN_AT,
		O_UP_AT,
		O_FLAP_FRACTION,
		O_FLAP_HIGH,
		O_FLAP_LOW,
		O_FLAP_CPU_HIGH,
		O_FLAP_CPU_LOW,
		O_EVENTS,
	};
	static const struct option opts[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "nodes", required_argument, NULL, O_NODES },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "username", required_argument, NULL, O_USER },
		{ "password", required_argument, NULL, O_PASS },
		{ "no-auth", no_argument, NULL, O_NOAUTH },
		{ "qos", required_argument, NULL, O_QOS },
		{ "connect-rate", required_argument, NULL, O_CRATE },
		{ "connect-timeout", required_argument, NULL, O_CTIMEOUT },
		{ "boot-id", required_argument, NULL, O_BOOT },
		{ "report", required_argument, NULL, O_REPORT },
		{ "template", required_argument, NULL, O_TEMPLATE },
		{ "topic-root", required_argument, NULL, O_ROOT },
		{ "max-inflight", required_argument, NULL, O_INFLIGHT },
		{ "keepalive", required_argument, NULL, O_KEEPALIVE },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "no-offline", no_argument, NULL, O_NO_OFFLINE },
		{ "start-file", required_argument, NULL, O_START_FILE },
		{ "down-fraction", required_argument, NULL, O_DOWN_FRACTION },
		{ "down-at", required_argument, NULL, O_DOWN_AT },
		{ "up-at", required_argument, NULL, O_UP_AT },
		{ "flap-fraction", required_argument, NULL, O_FLAP_FRACTION },
		{ "flap-high", required_argument, NULL, O_FLAP_HIGH },
		{ "flap-low", required_argument, NULL, O_FLAP_LOW },
		{ "flap-cpu-high", required_argument, NULL, O_FLAP_CPU_HIGH },
		{ "flap-cpu-low", required_argument, NULL, O_FLAP_CPU_LOW },
		{ "events", required_argument, NULL, O_EVENTS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t u;
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		const char *o = optarg;
		switch (c) {
		case O_HOST:
			arg.host = o;
			break;
		case O_PORT:
			if (conf_parse_u64(o, 1, 65535, &u) < 0)
				return bad("port", o, "not a port");
			arg.port = (unsigned)u;
			break;
		case O_NODES:
			if (conf_parse_u64(o, 1, 1000000, &arg.nodes) < 0)
				return bad("nodes", o, "not from 1 to 1000000");
			break;
		case O_RATE:
			if (conf_parse_double(o, 0.001, 1000, &arg.rate) < 0)
				return bad("rate", o, "not from 0.001 to 1000");
			break;
		case O_DURATION:
			if (conf_parse_double(o, 0.001, 86400, &arg.duration) <
			    0)
				return bad("duration", o,
					   "not from 0.001 to 86400 seconds");
			break;
		case O_PREFIX:
			arg.prefix = o;
			break;
		case O_USER:
			arg.username = o;
			break;
		case O_PASS:
			arg.password = o;
			break;
		case O_NOAUTH:
			arg.no_auth = true;
			break;
		case O_QOS:
			if (conf_parse_u64(o, 0, 1, &u) < 0)
				return bad("qos", o, "not 0 or 1");
			arg.qos = (unsigned)u;
			break;
		case O_CRATE:
			if (conf_parse_double(o, 1, 1e6, &arg.connect_rate) < 0)
				return bad("connect-rate", o,
					   "not from 1 to 1000000");
			break;
		case O_CTIMEOUT:
			if (conf_parse_double(o, 1, 86400,
					      &arg.connect_timeout) < 0)
				return bad("connect-timeout", o,
					   "not from 1 to 86400 seconds");
			break;
		case O_BOOT:
			if (!boot_id_valid(o))
				return bad("boot-id", o,
					   "not 1-63 of A-Z a-z 0-9 . _ -");
			arg.boot_id = o;
			break;
		case O_REPORT:
			arg.report = o;
			break;
		case O_TEMPLATE:
			arg.template_path = o;
			break;
		case O_ROOT:
			arg.topic_root = o;
			break;
		case O_INFLIGHT:
			if (conf_parse_u64(o, 1, 65000, &u) < 0)
				return bad("max-inflight", o,
					   "not from 1 to 65000");
			arg.max_inflight = (unsigned)u;
			break;
		case O_KEEPALIVE:
			if (conf_parse_double(o, 5, 65535, &arg.keepalive) < 0)
				return bad("keepalive", o,
					   "not from 5 to 65535 seconds");
			break;
		case O_DRAIN:
			if (conf_parse_double(o, 0, 3600, &arg.drain) < 0)
				return bad("drain", o,
					   "not from 0 to 3600 seconds");
			break;
		case O_SETTLE:
			if (conf_parse_double(o, 0, 3600, &arg.settle) < 0)
				return bad("settle", o,
					   "not from 0 to 3600 seconds");
			break;
		case O_NO_OFFLINE:
			arg.no_offline = true;
			break;
		case O_START_FILE:
			arg.start_file = o;
			break;
		case O_DOWN_FRACTION:
			if (conf_parse_double(o, 0, 1,
					      &arg.fault.down_fraction) < 0)
				return bad("down-fraction", o,
					   "not from 0 to 1");
			break;
		case O_DOWN_AT:
			if (conf_parse_double(o, 0, 86400,
					      &arg.fault.down_at_s) < 0)
				return bad("down-at", o,
					   "not from 0 to 86400 seconds");
			break;
		case O_UP_AT:
			if (conf_parse_double(o, 0.001, 86400,
					      &arg.fault.up_at_s) < 0)
				return bad("up-at", o,
					   "not from 0.001 to 86400 seconds");
			break;
		case O_FLAP_FRACTION:
			if (conf_parse_double(o, 0, 1,
					      &arg.fault.flap_fraction) < 0)
				return bad("flap-fraction", o,
					   "not from 0 to 1");
			break;
		case O_FLAP_HIGH:
			if (conf_parse_double(o, 0.001, 86400,
					      &arg.fault.flap_high_s) < 0)
				return bad("flap-high", o,
					   "not from 0.001 to 86400 seconds");
			break;
		case O_FLAP_LOW:
			if (conf_parse_double(o, 0.001, 86400,
					      &arg.fault.flap_low_s) < 0)
				return bad("flap-low", o,
					   "not from 0.001 to 86400 seconds");
			break;
		case O_FLAP_CPU_HIGH:
			if (conf_parse_double(o, 0, 1, &arg.flap_cpu_high) < 0)
				return bad("flap-cpu-high", o,
					   "not from 0 to 1");
			break;
		case O_FLAP_CPU_LOW:
			if (conf_parse_double(o, 0, 1, &arg.flap_cpu_low) < 0)
				return bad("flap-cpu-low", o,
					   "not from 0 to 1");
			break;
		case O_EVENTS:
			arg.events = o;
			break;
		case 'v':
			arg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "loadgen: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (arg.no_auth && (arg.username || arg.password)) {
		fprintf(stderr, "loadgen: --no-auth excludes --username and "
				"--password\n");
		return -EINVAL;
	}
	if (arg.password && !arg.username) {
		fprintf(stderr, "loadgen: --password needs --username\n");
		return -EINVAL;
	}
	/* The longest node id must still be a valid one. */
	char probe[WIRE_NODE_MAX + 32];
	snprintf(probe, sizeof(probe), "%s-%" PRIu64, arg.prefix,
		 arg.nodes - 1);
	if (!wire_node_valid(probe))
		return bad("prefix", arg.prefix,
			   "node ids <prefix>-<i> must be 1-64 of A-Z a-z "
			   "0-9 . _ -");
	if (!arg.connect_timeout)
		arg.connect_timeout = 30 + (double)arg.nodes / arg.connect_rate;
	return check_fault_args();
}

/* Enough descriptors for every node; as root the hard limit is raised
 * too, up to what the kernel allows (fs.nr_open). */
static int raise_nofile(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static void make_boot_id(char out[BOOT_ID_LEN + 1])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* UUID version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, BOOT_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
		 "02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

static uint64_t rng_next(struct loadgen *lg)
{
	lg->rng = lg->rng * 6364136223846793005ull + 1442695040888963407ull;
	return lg->rng >> 11;
}

static int state_payload(struct node *n, bool online, struct buf *b)
{
	return loadgen_payload_state(b, n->id, n->boot_id, online,
				     n->conn_number, time_real_ms());
}

/* What acgs-agent's birth says (agent/agent.c encode_birth), with labels
 * that mark the node as simulated. */
static int birth_payload(struct node *n, struct buf *b)
{
	struct loadgen *lg = n->lg;
	struct jsonw w;
	char zone[16];

	buf_reset(b);
	jsonw_init(&w, b);
	wire_begin(&w, n->id, time_real_ms(), ACGS_CONSTITUTIONAL_HASH);
	jsonw_kv_str(&w, "boot_id", n->boot_id);
	jsonw_kv_str(&w, "version", PACKAGE_VERSION);
	jsonw_kv_double(&w, "interval", 1 / arg.rate);
	jsonw_kv_str(&w, "config_hash", lg->config_hash);
	jsonw_key(&w, "labels");
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "role", "loadgen");
	snprintf(zone, sizeof(zone), "z%u",
		 (unsigned)((size_t)(n - lg->nodes) % 4));
	jsonw_kv_str(&w, "zone", zone);
	jsonw_obj_end(&w);
	jsonw_key(&w, "capabilities");
	jsonw_arr_begin(&w);
	jsonw_str(&w, "metrics");
	jsonw_str(&w, "probes");
	jsonw_arr_end(&w);
	jsonw_key(&w, "probes");
	jsonw_raw(&w, lg->birth_probes, strlen(lg->birth_probes));
	jsonw_obj_end(&w);
	return jsonw_finish(&w);
}

static uint32_t want_events(const struct node *n)
{
	return EPOLLIN | (loadgen_mqtt_want_write(&n->mq) ? EPOLLOUT : 0);
}

/* Keep the epoll registration in step with the node's socket. A closed
 * socket left the epoll set by itself, and its number may already be
 * another node's, so an old number is never deleted, only the new one
 * added. */
static void sync_fd(struct node *n)
{
	int fd = n->mq.fd;
	uint32_t ev = want_events(n);
	struct epoll_event e = { .events = ev, .data.ptr = n };

	if (fd != n->reg_fd) {
		n->reg_fd = fd;
		n->reg_events = ev;
		if (fd >= 0 &&
		    epoll_ctl(n->lg->epfd, EPOLL_CTL_ADD, fd, &e) < 0 &&
		    errno == EEXIST)
			epoll_ctl(n->lg->epfd, EPOLL_CTL_MOD, fd, &e);
		return;
	}
	if (fd < 0 || ev == n->reg_events)
		return;
	n->reg_events = ev;
	if (epoll_ctl(n->lg->epfd, EPOLL_CTL_MOD, fd, &e) < 0 &&
	    errno == ENOENT)
		epoll_ctl(n->lg->epfd, EPOLL_CTL_ADD, fd, &e);
}

/* The first few problems are logged; all are counted. */
static void warn_node(struct node *n, const char *what, int err)
{
	if (n->lg->warnings++ < 20)
		log_warn("loadgen", "%s node=%s error=%s%s", what, n->id,
			 strerror(-err),
			 n->lg->warnings == 20 ? " (further ones not logged)"
					       : "");
}

/* Samples in flight when a connection dies may or may not have reached
 * the broker; unlike the agent, which resends them from its disk queue,
 * we count them. The node reconnects after about a second. */
static void node_lost(struct node *n, int err, uint64_t now)
{
	struct loadgen *lg = n->lg;

	if (n->ready) {
		lg->ready--;
		lg->disconnects++;
		warn_node(n, "connection lost", err);
	} else {
		lg->connect_failures++;
		warn_node(n, "connect failed", err);
	}
	n->ready = false;
	lg->unacked_lost += n->ring_count;
	n->ring_head = 0;
	n->ring_count = 0;
	if (n->offline_pending) {
		n->offline_pending = false;
		lg->offline_pending--;
	}
	loadgen_mqtt_close(&n->mq);
	n->retry_ns = now + NS_PER_SEC / 2 + rng_next(lg) % NS_PER_SEC;
	sync_fd(n);
}

static void node_connect(struct node *n, uint64_t now)
{
	struct loadgen *lg = n->lg;
	char topic[WIRE_TOPIC_MAX];
	struct buf will, pkt;
	int r;

	/* Growing across runs, as the agent's saved counter does: a
	 * restarted load generator must not look like a stale connection. */
	n->attempts++;
	n->conn_number = lg->conn_base + n->attempts;
	buf_init(&will, STATE_MAX);
	buf_init(&pkt, STATE_MAX + 1024);
	r = wire_topic(topic, sizeof(topic), arg.topic_root, n->id, WIRE_STATE);
	n->will_ts_ms = time_real_ms();
	if (r == 0)
		r = loadgen_payload_state(&will, n->id, n->boot_id, false,
					  n->conn_number, n->will_ts_ms);
	if (r == 0) {
		struct loadgen_mqtt_connect c = {
			.client_id = n->id,
			.username = arg.username,
			.password = arg.password,
			.keepalive = (unsigned)(arg.keepalive + 0.5),
			.will_topic = topic,
			.will_payload = will.data,
			.will_len = will.len,
			.will_qos = 1,
			.will_retain = true,
		};
		r = loadgen_mqtt_encode_connect(&pkt, &c);
	}
	if (r == 0)
		r = loadgen_mqtt_open(&n->mq, (struct sockaddr *)&lg->addr,
				      lg->addrlen, pkt.data, pkt.len, now);
	buf_release(&will);
	buf_release(&pkt);
	if (r < 0) {
		node_lost(n, r, now);
		return;
	}
	sync_fd(n);
}

/* A retained QoS 1 birth or state message. The state carries ts_ms, or
 * the time now when ts_ms is 0. */
static int publish_control_at(struct node *n, enum wire_kind kind, bool online,
			      int64_t ts_ms, uint16_t *ret_id, uint64_t now)
{
	struct loadgen *lg = n->lg;
	char topic[WIRE_TOPIC_MAX];
	struct buf payload;
	uint16_t id = loadgen_mqtt_next_id(&n->mq);
	int r;

	buf_init(&payload, WIRE_MAX_PAYLOAD);
	r = wire_topic(topic, sizeof(topic), arg.topic_root, n->id, kind);
	if (r == 0 && kind == WIRE_BIRTH)
		r = birth_payload(n, &payload);
	else if (r == 0 && ts_ms)
		r = loadgen_payload_state(&payload, n->id, n->boot_id, online,
					  n->conn_number, ts_ms);
	else if (r == 0)
		r = state_payload(n, online, &payload);
	buf_reset(&lg->ctl);
	if (r == 0)
		r = loadgen_mqtt_encode_publish(&lg->ctl, topic, payload.data,
						payload.len, 1, true, id);
	if (r == 0)
		r = loadgen_mqtt_send(&n->mq, lg->ctl.data, lg->ctl.len, now);
	buf_release(&payload);
	if (r < 0)
		return r;
	lg->control_sent++;
	if (ret_id)
		*ret_id = id;
	return 0;
}

static int publish_control(struct node *n, enum wire_kind kind, bool online,
			   uint16_t *ret_id, uint64_t now)
{
	return publish_control_at(n, kind, online, 0, ret_id, now);
}

static void rtt_record(struct loadgen *lg, double ms)
{
	lg->rtt_seen++;
	if (lg->nrtt < RTT_MAX) {
		lg->rtt[lg->nrtt++] = ms;
		return;
	}
	/* Reservoir sampling keeps a uniform sample of all round trips. */
	uint64_t j = rng_next(lg) % lg->rtt_seen;
	if (j < RTT_MAX)
		lg->rtt[j] = ms;
}

static void on_puback(struct node *n, uint16_t id)
{
	struct loadgen *lg = n->lg;

	if (n->offline_pending && id == n->offline_id) {
		n->offline_pending = false;
		lg->offline_pending--;
		lg->control_acked++;
		return;
	}
	/* PUBACKs come in order, so this is nearly always the head. */
	for (unsigned i = 0; i < n->ring_count; i++) {
		struct inflight *f =
		    &n->ring[(n->ring_head + i) % arg.max_inflight];
		if (f->id != id)
			continue;
		rtt_record(lg, (double)(time_mono_ns() - f->sent_ns) / 1e6);
		n->acked++;
		lg->acked++;
		/* Close the gap: move the entries before it up by one. */
		for (unsigned j = i; j > 0; j--)
			n->ring[(n->ring_head + j) % arg.max_inflight] =
			    n->ring[(n->ring_head + j - 1) % arg.max_inflight];
		n->ring_head = (n->ring_head + 1) % arg.max_inflight;
		n->ring_count--;
		return;
	}
	lg->control_acked++; /* birth and online */
}

static void on_packet(void *ctx, const struct loadgen_mqtt_packet *p)
{
	struct node *n = ctx;
	uint64_t now = time_mono_ns();

	switch (p->type) {
	case LOADGEN_MQTT_CONNACK:
		n->ready = true;
		n->lg->ready++;
		/* Like the agent: the retained birth, then online; a node
		 * that is down and got its connection back stays down. */
		if (publish_control(n, WIRE_BIRTH, true, NULL, now) < 0 ||
		    publish_control(n, WIRE_STATE, !n->down, NULL, now) < 0)
			warn_node(n, "birth or online not sent", -ENOBUFS);
		break;
	case LOADGEN_MQTT_PUBACK:
		on_puback(n, p->id);
		break;
	default:
		break;
	}
}

static void node_event(struct node *n, uint32_t ev, uint64_t now)
{
	int r = 0;

	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		r = loadgen_mqtt_read(&n->mq, on_packet, n);
	if (r == 0 && (ev & (EPOLLOUT | EPOLLERR)))
		r = loadgen_mqtt_flush(&n->mq, now);
	if (r < 0)
		node_lost(n, r, now);
	else
		sync_fd(n);
}

static int resolve(struct loadgen *lg)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", arg.port);
	r = getaddrinfo(arg.host, port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "loadgen: --host %s: %s\n", arg.host,
			gai_strerror(r));
		return -EINVAL;
	}
	memcpy(&lg->addr, res->ai_addr, res->ai_addrlen);
	lg->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int loadgen_init(struct loadgen *lg, const char *template,
			size_t template_len)
{
	unsigned char md[crypto_hash_sha256_BYTES];
	int r;

	lg->epfd = -1;
	lg->sigfd = -1;
	lg->n = arg.nodes;
	lg->conn_base = (uint64_t)time_real_ms();
	lg->rng = lg->conn_base | 1;
	buf_init(&lg->ctl, WIRE_MAX_PAYLOAD + 1024);
	r = resolve(lg);
	if (r < 0)
		return r;
	r = loadgen_payload_new(template, template_len,
				ACGS_CONSTITUTIONAL_HASH, 1 / arg.rate,
				&lg->payload);
	if (r < 0) {
		fprintf(stderr, "loadgen: template: %s\n",
			r == -EINVAL ? "not a JSON object" : strerror(-r));
		return -EINVAL;
	}
	lg->birth_probes = strdup(loadgen_payload_birth_probes(lg->payload));
	/* The birth's config_hash: this run's "configuration" is the
	 * template. */
	crypto_hash_sha256(md, (const unsigned char *)template, template_len);
	sodium_bin2hex(lg->config_hash, sizeof(lg->config_hash), md,
		       sizeof(md));
	lg->rtt = malloc(RTT_MAX * sizeof(*lg->rtt));
	lg->packet = malloc(HEADER_ROOM + LOADGEN_PAYLOAD_MAX);
	lg->nodes = calloc(lg->n, sizeof(*lg->nodes));
	if (!lg->birth_probes || !lg->rtt || !lg->packet || !lg->nodes)
		return -ENOMEM;
	/* Checked in parse_args already. */
	r = loadgen_fault_init(&lg->fault, lg->n, &arg.fault);
	if (r < 0)
		return r;
	if (arg.events) {
		lg->events = fopen(arg.events, "we");
		if (!lg->events) {
			r = -errno;
			fprintf(stderr, "loadgen: --events %s: %s\n",
				arg.events, strerror(-r));
			return -EINVAL;
		}
	}
	for (uint64_t i = 0; i < lg->n; i++) {
		struct node *n = &lg->nodes[i];
		n->lg = lg;
		n->reg_fd = -1;
		loadgen_mqtt_init(&n->mq);
		snprintf(n->id, sizeof(n->id), "%s-%" PRIu64, arg.prefix, i);
		if (arg.boot_id)
			snprintf(n->boot_id, sizeof(n->boot_id), "%s",
				 arg.boot_id);
		else
			make_boot_id(n->boot_id);
		loadgen_walk_init(&n->walk, i);
		n->role = loadgen_fault_role(&lg->fault, i, &n->rank);
		n->flap_phase = -1;
		n->ring = calloc(arg.max_inflight, sizeof(*n->ring));
		if (!n->ring)
			return -ENOMEM;
	}
	lg->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lg->epfd < 0)
		return -errno;
	lg->sigfd = sigfd_open();
	if (lg->sigfd < 0)
		return lg->sigfd;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, lg->sigfd, &e) < 0)
		return -errno;
	return 0;
}

static void loadgen_release(struct loadgen *lg)
{
	for (uint64_t i = 0; lg->nodes && i < lg->n; i++) {
		loadgen_mqtt_close(&lg->nodes[i].mq);
		buf_release(&lg->nodes[i].mq.out);
		free(lg->nodes[i].ring);
	}
	free(lg->nodes);
	loadgen_payload_free(lg->payload);
	free(lg->birth_probes);
	free(lg->rtt);
	free(lg->packet);
	buf_release(&lg->ctl);
	if (lg->epfd >= 0)
		close(lg->epfd);
	if (lg->sigfd >= 0)
		close(lg->sigfd);
	if (lg->events)
		fclose(lg->events);
}

static void handle_signals(struct loadgen *lg)
{
	struct signalfd_siginfo si;

	while (read(lg->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			continue;
		if (!lg->stop)
			log_warn("loadgen", "signal %s: stopping early",
				 strsignal((int)si.ssi_signo));
		lg->stop = true;
	}
}

/* Wait for socket events (or timeout_ms) and hand them to their nodes. */
static void poll_once(struct loadgen *lg, int timeout_ms)
{
	struct epoll_event ev[EPOLL_BATCH];
	int k = epoll_wait(lg->epfd, ev, EPOLL_BATCH, timeout_ms);
	uint64_t now = time_mono_ns();

	for (int i = 0; i < k; i++) {
		struct node *n = ev[i].data.ptr;
		if (!n)
			handle_signals(lg);
		else
			node_event(n, ev[i].events, now);
	}
}

/* Each started node's timers (keepalive, CONNACK timeout, reconnect) run
 * about ten times a second, a slice per loop turn, without a timer per
 * node. */
struct sweep {
	uint64_t cursor;
	uint64_t last_ns;
	double carry;
};

static void node_timers(struct node *n, uint64_t now)
{
	int r;

	if (n->mq.fd < 0) {
		if (!n->lg->closing && now >= n->retry_ns)
			node_connect(n, now);
		return;
	}
	r = loadgen_mqtt_tick(&n->mq, now, (uint64_t)(arg.keepalive * 1e9),
			      CONNECT_TIMEOUT_NS);
	if (r < 0)
		node_lost(n, r, now);
	else
		sync_fd(n);
}

static void sweep_run(struct loadgen *lg, struct sweep *sw, uint64_t now)
{
	if (!sw->last_ns)
		sw->last_ns = now;
	sw->carry += 10 * (double)lg->n * (double)(now - sw->last_ns) / 1e9;
	sw->last_ns = now;
	uint64_t due = sw->carry > (double)lg->n ? lg->n : (uint64_t)sw->carry;
	sw->carry -= (double)due;
	if (sw->carry > (double)lg->n)
		sw->carry = 0;
	for (uint64_t i = 0; i < due; i++) {
		struct node *n = &lg->nodes[sw->cursor];
		sw->cursor = (sw->cursor + 1) % lg->n;
		if (n->started)
			node_timers(n, now);
	}
}

static int ms_until(uint64_t t, uint64_t now, int cap)
{
	if (t <= now)
		return 0;
	uint64_t ms = (t - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > (uint64_t)cap ? cap : (int)ms;
}

/* Start connections at --connect-rate and wait until all are up. */
static void connect_all(struct loadgen *lg, struct sweep *sw)
{
	uint64_t t0 = time_mono_ns(), started = 0;
	uint64_t deadline = t0 + (uint64_t)(arg.connect_timeout * 1e9);
	double gap_ns = 1e9 / arg.connect_rate;

	while (!lg->stop && lg->ready < lg->n) {
		uint64_t now = time_mono_ns();
		if (now >= deadline) {
			log_warn("loadgen",
				 "connect timeout: %" PRIu64 " of %" PRIu64
				 " nodes connected, publishing anyway",
				 lg->ready, lg->n);
			break;
		}
		while (started < lg->n &&
		       t0 + (uint64_t)((double)started * gap_ns) <= now) {
			struct node *n = &lg->nodes[started++];
			n->started = true;
			node_connect(n, now);
		}
		sweep_run(lg, sw, now);
		uint64_t next = started < lg->n
				    ? t0 + (uint64_t)((double)started * gap_ns)
				    : now + 100 * NS_PER_MS;
		poll_once(lg, ms_until(next, time_mono_ns(), 100));
	}
	/* Nodes not started by a timeout still start, to connect in the
	 * background like any agent. */
	for (uint64_t i = started; i < lg->n && !lg->stop; i++) {
		lg->nodes[i].started = true;
		node_connect(&lg->nodes[i], time_mono_ns());
	}
	lg->connect_s = (double)(time_mono_ns() - t0) / 1e9;
}

/* One line of the --events log; a line that cannot be written is
 * counted (the bench then refuses to judge the run). */
static void event_log(struct loadgen *lg, const char *event,
		      const struct node *n, int64_t ms)
{
	char line[WIRE_NODE_MAX + 64];
	int len;

	if (!lg->events)
		return;
	len = loadgen_fault_event_line(line, sizeof(line), event, n->id, ms);
	if (len < 0 || fwrite(line, 1, (size_t)len, lg->events) != (size_t)len)
		lg->event_write_errors++;
}

static void event_flush(struct loadgen *lg)
{
	if (lg->events && fflush(lg->events) != 0)
		lg->event_write_errors++;
}

/* A down or up state message of a fault, logged with the time it was
 * handed to the socket. A node that is not connected just keeps its new
 * state: its next CONNACK publishes it. */
static void publish_fault_state(struct node *n, bool online, uint64_t now)
{
	struct loadgen *lg = n->lg;
	int r = -ENOTCONN;

	n->down = !online;
	/* Down: the will of the current connection, byte for byte, as the
	 * broker would publish it. Up: a fresh online, as after a CONNACK. */
	if (n->mq.state == LOADGEN_MQTT_UP)
		r = publish_control_at(n, WIRE_STATE, online,
				       online ? 0 : n->will_ts_ms, NULL, now);
	int64_t ms = time_real_ms();
	if (r < 0) {
		lg->fault_errors++;
		warn_node(
		    n, online ? "up state not sent" : "down state not sent", r);
		event_log(lg, online ? "up_failed" : "down_failed", n, ms);
		if (r != -ENOTCONN && r != -ENOBUFS)
			node_lost(n, r, now);
		return;
	}
	if (n->mq.out.len)
		lg->events_queued++;
	if (online)
		lg->up_sent++;
	else
		lg->down_sent++;
	event_log(lg, online ? "up" : "down", n, ms);
	sync_fd(n);
}

/* The fault events whose time has come (t seconds into the run). */
static void run_faults(struct loadgen *lg, double t, uint64_t now)
{
	bool down = loadgen_fault_is_down(&lg->fault, t);
	bool go;

	if (!lg->fault.down || lg->ups_done)
		return;
	go = lg->downs_done ? !down : down;
	if (!go)
		return;
	for (uint64_t i = 0; i < lg->n; i++)
		if (lg->nodes[i].role == LOADGEN_ROLE_DOWN)
			publish_fault_state(&lg->nodes[i], lg->downs_done, now);
	if (lg->downs_done)
		lg->ups_done = true;
	lg->downs_done = true;
	event_flush(lg);
}

/* When the next fault event is due (UINT64_MAX: none). */
static uint64_t next_fault_ns(const struct loadgen *lg,
			      const struct loadgen_sched *sc)
{
	double at;

	if (!lg->fault.down || lg->ups_done)
		return UINT64_MAX;
	if (!lg->downs_done)
		at = arg.fault.down_at_s;
	else if (arg.fault.up_at_s > 0)
		at = arg.fault.up_at_s;
	else
		return UINT64_MAX;
	return sc->start_ns + (uint64_t)ceil(at * 1e9);
}

/* The plan in the --events log: which nodes go down and which flap. */
static void log_plan(struct loadgen *lg)
{
	if (!lg->events)
		return;
	fprintf(lg->events,
		"# loadgen events: nodes=%" PRIu64 " rate=%g down=%" PRIu64
		" down_at=%g up_at=%g flap=%" PRIu64
		" flap_high=%g flap_low=%g flap_cpu_high=%g flap_cpu_low=%g"
		" run_start_ms=%" PRId64 "\n",
		lg->n, arg.rate, lg->fault.down, arg.fault.down_at_s,
		arg.fault.up_at_s, lg->fault.flap, arg.fault.flap_high_s,
		arg.fault.flap_low_s, arg.flap_cpu_high, arg.flap_cpu_low,
		lg->run_start_ms);
	for (uint64_t i = 0; i < lg->n; i++) {
		const struct node *n = &lg->nodes[i];
		if (n->role == LOADGEN_ROLE_DOWN)
			event_log(lg, "plan_down", n, lg->run_start_ms);
		else if (n->role == LOADGEN_ROLE_FLAP)
			event_log(lg, "plan_flap", n, lg->run_start_ms);
	}
	event_flush(lg);
}

static void publish_sample(struct loadgen *lg, uint64_t k,
			   const struct loadgen_sched *sc, uint64_t now)
{
	struct node *n = &lg->nodes[loadgen_sched_node(sc, k)];
	uint64_t lag = now - loadgen_sched_at(sc, k);
	char topic[WIRE_TOPIC_MAX];
	uint16_t id = 0;
	int len, r;

	if (lag > LATE_NS)
		lg->late++;
	if (lag > lg->lag_max_ns)
		lg->lag_max_ns = lag;
	if (n->down) {
		lg->down_skipped++;
		return;
	}
	if (n->mq.state != LOADGEN_MQTT_UP) {
		lg->not_connected++;
		return;
	}
	if (n->ring_count >= arg.max_inflight) {
		lg->window_full++;
		return;
	}
	loadgen_walk_step(&n->walk);
	/* A flapper's phase follows the schedule, not the moment it is
	 * sent, so a late loop does not stretch a high phase. */
	int phase = -1;
	double cpu = n->walk.cpu_usage;
	if (n->role == LOADGEN_ROLE_FLAP) {
		double t =
		    (double)(loadgen_sched_at(sc, k) - sc->start_ns) / 1e9;
		phase = loadgen_fault_flap_high(&lg->fault, n->rank, t);
		cpu = phase ? arg.flap_cpu_high : arg.flap_cpu_low;
	}
	struct loadgen_sample s = {
		.node = n->id,
		.boot_id = n->boot_id,
		.seq = n->sent,
		.ts_ms = time_real_ms(),
		.uptime_s = 3600 + (double)(now - lg->start_ns) / 1e9,
		.cpu_usage = cpu,
		.mem_used_ratio = n->walk.mem_used_ratio,
		.load1 = n->walk.load1,
		.latency_ms = n->walk.latency_ms,
		.net_bps = n->walk.net_bps,
	};
	/* The payload is rendered once, right behind room for the header,
	 * and the packet goes out in one write. */
	len = loadgen_payload_render(lg->payload, &s,
				     (char *)lg->packet + HEADER_ROOM,
				     LOADGEN_PAYLOAD_MAX);
	r = wire_topic(topic, sizeof(topic), arg.topic_root, n->id,
		       WIRE_METRICS);
	if (len < 0 || r < 0) {
		lg->render_errors++;
		return;
	}
	if (arg.qos)
		id = loadgen_mqtt_next_id(&n->mq);
	size_t tl = strlen(topic);
	size_t hl = loadgen_mqtt_publish_header_len(tl, (size_t)len, arg.qos);
	uint8_t *pkt = lg->packet + HEADER_ROOM - hl;
	loadgen_mqtt_encode_publish_header(pkt, topic, tl, (size_t)len, arg.qos,
					   false, id);
	r = loadgen_mqtt_send(&n->mq, pkt, hl + (size_t)len, now);
	if (r == -ENOBUFS) {
		lg->buffer_full++;
		return;
	}
	if (r < 0) {
		lg->publish_errors++;
		node_lost(n, r, now);
		return;
	}
	n->sent++;
	lg->sent++;
	lg->bytes += (uint64_t)len;
	if (arg.qos == 0) {
		n->acked++;
		lg->acked++;
	} else {
		struct inflight *f =
		    &n->ring[(n->ring_head + n->ring_count) % arg.max_inflight];
		f->id = id;
		f->sent_ns = now;
		n->ring_count++;
	}
	if (phase >= 0 && phase != n->flap_phase) {
		n->flap_phase = phase;
		lg->flap_switches++;
		event_log(lg, phase ? "flap_high" : "flap_low", n,
			  time_real_ms());
	}
	sync_fd(n);
}

static void run_schedule(struct loadgen *lg, struct sweep *sw)
{
	struct loadgen_sched sc;
	uint64_t next = 0;

	/* A short head start so the first publishes are not already late. */
	loadgen_sched_init(&sc, lg->n, arg.rate, arg.duration,
			   time_mono_ns() + 50 * NS_PER_MS);
	lg->run_start_ms = time_real_ms() + 50;
	log_plan(lg);
	/* The run lasts its whole duration: the last period ends after the
	 * last publish. */
	uint64_t end = loadgen_sched_at(&sc, sc.total);
	while (!lg->stop && (next < sc.total || time_mono_ns() < end)) {
		uint64_t now = time_mono_ns();
		uint64_t due = loadgen_sched_due(&sc, now);
		/* Faults first: a down node's sample due now is not sent. */
		if (now >= sc.start_ns)
			run_faults(lg, (double)(now - sc.start_ns) / 1e9, now);
		for (; next < due; next++)
			publish_sample(lg, next, &sc, now);
		sweep_run(lg, sw, now);
		now = time_mono_ns();
		uint64_t wake =
		    next < sc.total ? loadgen_sched_at(&sc, next) : end;
		uint64_t fault = next_fault_ns(lg, &sc);
		poll_once(lg, ms_until(fault < wake ? fault : wake, now, 100));
	}
	lg->run_end_ms = time_real_ms();
	lg->run_s = (double)(lg->run_end_ms - lg->run_start_ms) / 1e3;
	event_flush(lg);
}

static bool all_acked(const struct loadgen *lg)
{
	return lg->acked + lg->unacked_lost >= lg->sent;
}

static bool all_offline_acked(const struct loadgen *lg)
{
	return lg->offline_pending == 0;
}

static bool never(const struct loadgen *lg)
{
	(void)lg;
	return false;
}

static bool start_file_exists(const struct loadgen *lg)
{
	(void)lg;
	return access(arg.start_file, F_OK) == 0;
}

static void drive_until(struct loadgen *lg, struct sweep *sw,
			bool (*done)(const struct loadgen *), double seconds)
{
	uint64_t deadline = time_mono_ns() + (uint64_t)(seconds * 1e9);

	while (!lg->stop && !done(lg) && time_mono_ns() < deadline) {
		sweep_run(lg, sw, time_mono_ns());
		poll_once(lg, 50);
	}
}

/* Like the agent's SIGTERM: a retained offline, then a clean DISCONNECT
 * (which makes the broker drop the will). */
static void shutdown_all(struct loadgen *lg, struct sweep *sw)
{
	lg->closing = true;
	for (uint64_t i = 0; i < lg->n && !arg.no_offline; i++) {
		struct node *n = &lg->nodes[i];
		if (n->mq.state == LOADGEN_MQTT_UP &&
		    publish_control(n, WIRE_STATE, false, &n->offline_id,
				    time_mono_ns()) == 0) {
			n->offline_pending = true;
			lg->offline_pending++;
			sync_fd(n);
		}
	}
	drive_until(lg, sw, all_offline_acked, 10);
	for (uint64_t i = 0; i < lg->n; i++)
		loadgen_mqtt_disconnect(&lg->nodes[i].mq);
}

static long rss_kb(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	return kb;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct summary {
	double p50, p99, cpu_s, run_cpu_s;
	long rss_kb;
	uint64_t last_seq_min, last_seq_max, nodes_sent;
};

static void summarize(struct loadgen *lg, struct summary *s, double cpu_run0,
		      double cpu_run1)
{
	memset(s, 0, sizeof(*s));
	s->p50 = stats_percentile(lg->rtt, lg->nrtt, 50);
	s->p99 = stats_percentile(lg->rtt, lg->nrtt, 99);
	s->cpu_s = cpu_seconds();
	s->run_cpu_s = cpu_run1 - cpu_run0;
	s->rss_kb = rss_kb();
	s->last_seq_min = UINT64_MAX;
	for (uint64_t i = 0; i < lg->n; i++) {
		uint64_t sent = lg->nodes[i].sent;
		if (!sent)
			continue;
		s->nodes_sent++;
		if (sent - 1 < s->last_seq_min)
			s->last_seq_min = sent - 1;
		if (sent - 1 > s->last_seq_max)
			s->last_seq_max = sent - 1;
	}
	if (!s->nodes_sent)
		s->last_seq_min = 0;
}

static void print_summary(const struct loadgen *lg, const struct summary *s)
{
	uint64_t unacked = lg->sent - lg->acked - lg->unacked_lost;
	printf("loadgen nodes=%" PRIu64 " rate=%g duration=%g qos=%u "
	       "connected=%" PRIu64 " connect_s=%.2f run_s=%.2f drain_s=%.2f "
	       "sent=%" PRIu64 " acked=%" PRIu64 " unacked=%" PRIu64
	       " unacked_lost=%" PRIu64 " not_connected=%" PRIu64
	       " window_full=%" PRIu64 " buffer_full=%" PRIu64
	       " publish_errors=%" PRIu64 " render_errors=%" PRIu64
	       " disconnects=%" PRIu64 " connect_failures=%" PRIu64
	       " control_sent=%" PRIu64 " control_acked=%" PRIu64
	       " late=%" PRIu64 " lag_max_ms=%.1f achieved_rate=%.1f"
	       " bytes=%" PRIu64 " puback_p50_ms=%.3f puback_p99_ms=%.3f"
	       " nodes_sent=%" PRIu64 " last_seq_min=%" PRIu64
	       " last_seq_max=%" PRIu64 " run_start_ms=%" PRId64
	       " run_end_ms=%" PRId64 " cpu_s=%.2f run_cpu_us_per_msg=%.1f"
	       " rss_kb=%ld down_nodes=%" PRIu64 " flap_nodes=%" PRIu64
	       " down_sent=%" PRIu64 " up_sent=%" PRIu64
	       " down_skipped=%" PRIu64 " fault_errors=%" PRIu64
	       " events_queued=%" PRIu64 " flap_switches=%" PRIu64
	       " event_write_errors=%" PRIu64 "\n",
	       lg->n, arg.rate, arg.duration, arg.qos, lg->ready, lg->connect_s,
	       lg->run_s, lg->drain_s, lg->sent, lg->acked, unacked,
	       lg->unacked_lost, lg->not_connected, lg->window_full,
	       lg->buffer_full, lg->publish_errors, lg->render_errors,
	       lg->disconnects, lg->connect_failures, lg->control_sent,
	       lg->control_acked, lg->late, (double)lg->lag_max_ns / 1e6,
	       lg->run_s > 0 ? (double)lg->sent / lg->run_s : 0, lg->bytes,
	       s->p50, s->p99, s->nodes_sent, s->last_seq_min, s->last_seq_max,
	       lg->run_start_ms, lg->run_end_ms, s->cpu_s,
	       lg->sent ? s->run_cpu_s * 1e6 / (double)lg->sent : 0, s->rss_kb,
	       lg->fault.down, lg->fault.flap, lg->down_sent, lg->up_sent,
	       lg->down_skipped, lg->fault_errors, lg->events_queued,
	       lg->flap_switches, lg->event_write_errors);
	fflush(stdout);
}

static int write_report(const struct loadgen *lg, const struct summary *s,
			const char *path)
{
	struct buf b;
	struct jsonw w;
	int r;

	buf_init(&b, 4096 + lg->n * 256);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "constitutional_hash", ACGS_CONSTITUTIONAL_HASH);
	jsonw_kv_str(&w, "prefix", arg.prefix);
	jsonw_kv_u64(&w, "nodes", lg->n);
	jsonw_kv_double(&w, "rate", arg.rate);
	jsonw_kv_double(&w, "duration", arg.duration);
	jsonw_kv_u64(&w, "qos", arg.qos);
	jsonw_kv_u64(&w, "connected", lg->ready);
	jsonw_kv_double(&w, "connect_s", lg->connect_s);
	jsonw_kv_double(&w, "run_s", lg->run_s);
	jsonw_kv_double(&w, "drain_s", lg->drain_s);
	jsonw_kv_i64(&w, "run_start_ms", lg->run_start_ms);
	jsonw_kv_i64(&w, "run_end_ms", lg->run_end_ms);
	jsonw_kv_u64(&w, "sent", lg->sent);
	jsonw_kv_u64(&w, "acked", lg->acked);
	jsonw_kv_u64(&w, "unacked_lost", lg->unacked_lost);
	jsonw_kv_u64(&w, "not_connected", lg->not_connected);
	jsonw_kv_u64(&w, "window_full", lg->window_full);
	jsonw_kv_u64(&w, "buffer_full", lg->buffer_full);
	jsonw_kv_u64(&w, "publish_errors", lg->publish_errors);
	jsonw_kv_u64(&w, "render_errors", lg->render_errors);
	jsonw_kv_u64(&w, "disconnects", lg->disconnects);
	jsonw_kv_u64(&w, "connect_failures", lg->connect_failures);
	jsonw_kv_u64(&w, "late", lg->late);
	jsonw_kv_double(&w, "lag_max_ms", (double)lg->lag_max_ns / 1e6);
	jsonw_kv_double(&w, "puback_p50_ms", s->p50);
	jsonw_kv_double(&w, "puback_p99_ms", s->p99);
	jsonw_kv_double(&w, "cpu_s", s->cpu_s);
	jsonw_kv_double(&w, "run_cpu_s", s->run_cpu_s);
	jsonw_kv_i64(&w, "rss_kb", s->rss_kb);
	jsonw_kv_u64(&w, "down_nodes", lg->fault.down);
	jsonw_kv_u64(&w, "flap_nodes", lg->fault.flap);
	jsonw_kv_u64(&w, "down_sent", lg->down_sent);
	jsonw_kv_u64(&w, "up_sent", lg->up_sent);
	jsonw_kv_u64(&w, "down_skipped", lg->down_skipped);
	jsonw_kv_u64(&w, "fault_errors", lg->fault_errors);
	jsonw_kv_u64(&w, "events_queued", lg->events_queued);
	jsonw_kv_u64(&w, "flap_switches", lg->flap_switches);
	jsonw_key(&w, "per_node");
	jsonw_arr_begin(&w);
	for (uint64_t i = 0; i < lg->n; i++) {
		const struct node *n = &lg->nodes[i];
		jsonw_obj_begin(&w);
		jsonw_kv_str(&w, "node", n->id);
		jsonw_kv_str(&w, "boot_id", n->boot_id);
		jsonw_kv_str(&w, "role",
			     n->role == LOADGEN_ROLE_DOWN   ? "down"
			     : n->role == LOADGEN_ROLE_FLAP ? "flap"
							    : "normal");
		jsonw_kv_u64(&w, "sent", n->sent);
		jsonw_kv_u64(&w, "acked", n->acked);
		if (n->sent)
			jsonw_kv_u64(&w, "last_seq", n->sent - 1);
		else
			jsonw_kv_double_or_null(&w, "last_seq", false, 0);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	r = jsonw_finish(&w);
	if (r == 0)
		r = buf_append(&b, "\n", 1);
	if (r == 0) {
		_cleanup_close_ int fd =
		    open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
			r = -errno;
	}
	buf_release(&b);
	return r;
}

static int read_template(const char *path, struct buf *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[8192];
	ssize_t n;
	int r;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((r = buf_append(out, chunk, (size_t)n)) < 0)
			return r;
	return n < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct loadgen lg = { 0 };
	struct sweep sw = { 0 };
	struct summary sum;
	struct buf tmpl;
	int r, rc = EXIT_FAILURE;

	r = parse_args(argc, argv);
	if (r <= 0)
		return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;
	log_setup();
	log_max_level = arg.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
	if (sodium_init() < 0) {
		log_err("loadgen", "libsodium failed to initialise");
		return EXIT_FAILURE;
	}
	buf_init(&tmpl, LOADGEN_PAYLOAD_MAX);
	if (arg.template_path) {
		r = read_template(arg.template_path, &tmpl);
		if (r < 0) {
			fprintf(stderr, "loadgen: --template %s: %s\n",
				arg.template_path, strerror(-r));
			buf_release(&tmpl);
			return EXIT_USAGE;
		}
	} else {
		buf_puts(&tmpl, loadgen_payload_default_template());
	}
	/* One socket per node, and a few for us. */
	r = raise_nofile(arg.nodes + 64);
	if (r < 0) {
		fprintf(stderr,
			"loadgen: cannot raise the open file limit to %" PRIu64
			" (%s): raise the hard limit (ulimit -Hn) or run fewer "
			"nodes per process\n",
			arg.nodes + 64, strerror(-r));
		buf_release(&tmpl);
		return EXIT_FAILURE;
	}
	sigfd_block();
	lg.start_ns = time_mono_ns();
	r = loadgen_init(&lg, tmpl.data, tmpl.len);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "loadgen: setup: %s\n", strerror(-r));
		rc = r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
		goto out;
	}
	connect_all(&lg, &sw);
	printf("loadgen phase=connected connected=%" PRIu64 " of=%" PRIu64
	       " at_ms=%" PRId64 "\n",
	       lg.ready, lg.n, time_real_ms());
	fflush(stdout);
	drive_until(&lg, &sw, never, arg.settle);
	if (arg.start_file)
		drive_until(&lg, &sw, start_file_exists, 1e9);
	/* Tells a driving script that the measured window starts now. */
	printf("loadgen phase=publishing connected=%" PRIu64 " of=%" PRIu64
	       " at_ms=%" PRId64 "\n",
	       lg.ready, lg.n, time_real_ms());
	fflush(stdout);
	double cpu0 = cpu_seconds();
	if (!lg.stop)
		run_schedule(&lg, &sw);
	double cpu1 = cpu_seconds();
	uint64_t t = time_mono_ns();
	lg.stop = false; /* a second signal cuts the drain short */
	drive_until(&lg, &sw, all_acked, arg.drain);
	lg.drain_s = (double)(time_mono_ns() - t) / 1e9;
	summarize(&lg, &sum, cpu0, cpu1);
	shutdown_all(&lg, &sw);
	print_summary(&lg, &sum);
	rc = EXIT_SUCCESS;
	if (arg.report) {
		r = write_report(&lg, &sum, arg.report);
		if (r < 0) {
			fprintf(stderr, "loadgen: --report %s: %s\n",
				arg.report, strerror(-r));
			rc = EXIT_FAILURE;
		}
	}
out:
	loadgen_release(&lg);
	buf_release(&tmpl);
	return rc;
}
