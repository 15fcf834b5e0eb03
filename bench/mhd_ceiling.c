/* mhd_ceiling: the least an HTTP server on libmicrohttpd can do per request,
 * as the ceiling that bench/api compares acgs-server's API against.
 *
 * It starts MHD exactly as server/api.c does (epoll, internal thread pool
 * of the same size, ITC, the same connection limit, timeout and callbacks)
 * and answers every request with one fixed body of N bytes with the same
 * Content-Type as the API, so the only difference left is our own work per
 * request: rate limit, routing, authentication, the handler, metering.
 *
 *   mhd_ceiling --port P --bytes N [--listen ADDR] [--threads T]
 *
 * Prints "listening on ADDR:PORT bytes N threads T" once it accepts, runs
 * until SIGTERM or SIGINT. ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "sigfd.h"

#define JSON_TYPE "application/json"
/* server/api.c's defaults: max_connections 512 (+64 left to MHD),
 * request_timeout 30 s, 2 threads. */
#define CONNECTION_LIMIT (512u + 64u)
#define TIMEOUT_S	 30u
#define MAX_BODY	 (1u << 20)

struct ceiling {
	struct MHD_Response *resp;
	atomic_uint connections;
};

/* The same two-call pattern as server/api.c: the first call only sees the
 * headers, the second queues the answer. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct ceiling *ce = cls;

	if (!*con_cls) {
		*con_cls = ce; /* any non-NULL marker */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, MHD_HTTP_OK, ce->resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	*con_cls = NULL;
}

/* Counted like server/api.c counts them, so both pay the same atomics. */
static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct ceiling *ce = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&ce->connections, 1);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&ce->connections, 1);
}

static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	fputs("mhd_ceiling: microhttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* A JSON object of exactly n bytes (n >= 8): {"x":"aaa..."}. */
static char *make_body(size_t n)
{
	char *b = malloc(n);
	if (!b)
		return NULL;
	memcpy(b, "{\"x\":\"", 6);
	memset(b + 6, 'a', n - 8);
	memcpy(b + n - 2, "\"}", 2);
	return b;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mhd_ceiling --port P --bytes N [--listen ADDR] "
		   "[--threads T]\n"
		   "  -p, --port P      TCP port (1-65535)\n"
		   "  -b, --bytes N     body size in bytes (8-1048576)\n"
		   "  -l, --listen A    IPv4 or IPv6 address (default "
		   "127.0.0.1)\n"
		   "  -t, --threads T   MHD thread pool size (default 2, as "
		   "acgs-server)\n");
}

static int parse_args(int argc, char **argv, const char **host, uint64_t *port,
		      uint64_t *bytes, uint64_t *threads)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, r = 0;

	while (r == 0 &&
	       (ch = getopt_long(argc, argv, "p:b:l:t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			r = conf_parse_u64(optarg, 1, 65535, port);
			break;
		case 'b':
			r = conf_parse_u64(optarg, 8, MAX_BODY, bytes);
			break;
		case 'l':
			*host = optarg;
			break;
		case 't':
			r = conf_parse_u64(optarg, 1, 256, threads);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			r = -EINVAL;
		}
	}
	if (r == 0 && (optind != argc || !*port || !*bytes))
		r = -EINVAL;
	return r;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	uint64_t port = 0, bytes = 0, threads = 2;
	struct ceiling ce = { 0 };
	struct MHD_Daemon *d = NULL;
	char *body = NULL;
	int rc = 1, sig;

	if (parse_args(argc, argv, &host, &port, &bytes, &threads) < 0) {
		usage(stderr);
		return 2;
	}
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	unsigned v6 = 0;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		v6 = MHD_USE_IPv6;
	} else {
		fprintf(stderr, "mhd_ceiling: '%s' is not an IP address\n",
			host);
		return 2;
	}

	body = make_body(bytes);
	if (body)
		ce.resp = MHD_create_response_from_buffer(
		    bytes, body, MHD_RESPMEM_PERSISTENT);
	if (!ce.resp ||
	    MHD_add_response_header(ce.resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    JSON_TYPE) != MHD_YES) {
		fprintf(stderr, "mhd_ceiling: out of memory\n");
		goto out;
	}

	/* Before MHD's threads exist, so that they inherit the mask and the
	 * signals reach sigwait() below. */
	sigfd_block();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);

	/* The logger first, or MHD complains through its own logger; the
	 * rest in server/api.c's order. */
	d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
		v6,
	    0, NULL, NULL, on_access, &ce, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? (unsigned)threads : 0u,
	    MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &ce,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, &ce,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_ceiling: cannot listen on %s port %u\n",
			host, (unsigned)port);
		goto out;
	}
	printf("listening on %s:%u bytes %u threads %u\n", host, (unsigned)port,
	       (unsigned)bytes, (unsigned)threads);
	fflush(stdout);
	if (sigwait(&set, &sig) == 0)
		rc = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	if (ce.resp)
		MHD_destroy_response(ce.resp);
	free(body);
	return rc;
}
