/* acgsctl: the operator's command-line client of the acgs-server API.
 * Exit codes are a contract with scripts: see enum client_exit and
 * docs/acgsctl.md. */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "buf.h"
#include "cleanup.h"
#include "client.h"
#include "render.h"
#include "request.h"
#include "settings.h"
#include "table.h"
#include "timeutil.h"

/* Text output: 100k nodes fit many times over. */
#define OUT_MAX (64u << 20)
/* nodes without --limit stops here whatever the server says. */
#define NODES_MAX 1000000

struct ctx {
	const struct args *a;
	const struct settings *s;
	struct client *client;
};

typedef int (*render_fn)(const cJSON *doc, int64_t now_ms, struct buf *out);

/* Server text for stderr, cleaned like table cells. */
static const char *clean(const char *s, struct buf *b)
{
	buf_reset(b);
	if (table_clean(b, s ? s : "", 300) < 0 || !b->data)
		return "";
	return b->data;
}

static bool error_object(const cJSON *doc, const char **ret_code,
			 const char **ret_msg)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");

	if (!cJSON_IsObject(e) || !cJSON_IsString(c) || !cJSON_IsString(m))
		return false;
	*ret_code = c->valuestring;
	*ret_msg = m->valuestring;
	return true;
}

static void report(const struct ctx *x, const struct client_response *res,
		   enum client_exit code, const char *ecode, const char *emsg)
{
	const char *url = x->s->url;
	struct buf b1, b2;

	buf_init(&b1, 4096);
	buf_init(&b2, 4096);
	switch (code) {
	case EXIT_UNREACHABLE:
		if (res->status >= 300 && res->status <= 399)
			fprintf(stderr,
				"acgsctl: %s answered HTTP %ld, a redirect to "
				"%s; acgsctl follows no redirects (the token "
				"would go along): give the final URL with "
				"--url\n",
				url, res->status,
				res->location[0] ? clean(res->location, &b1)
						 : "-");
		else
			fprintf(stderr,
				"acgsctl: %s is not an acgs server: HTTP %ld "
				"with %s\n",
				url, res->status,
				res->content_type[0]
				    ? clean(res->content_type, &b1)
				    : "no content type");
		break;
	case EXIT_AUTH:
		if (res->status == 403)
			fprintf(stderr,
				"acgsctl: the token lacks the role: %s (HTTP "
				"403 from %s)\n",
				clean(emsg, &b1), url);
		else if (!x->s->token)
			fprintf(stderr,
				"acgsctl: %s wants a token: give --token-file, "
				"ACGS_TOKEN or ACGS_TOKEN_FILE (%s)\n",
				url, clean(emsg, &b1));
		else
			fprintf(stderr,
				"acgsctl: token rejected by %s: %s (token from "
				"%s)\n",
				url, clean(emsg, &b1),
				clean(x->s->token_from, &b2));
		break;
	case EXIT_NOT_FOUND:
		if (strcmp(emsg, "no such resource") == 0)
			fprintf(stderr,
				"acgsctl: not found: %s has no such route (a "
				"server older than this acgsctl?)\n",
				url);
		else
			fprintf(stderr, "acgsctl: not found: %s\n",
				clean(emsg, &b1));
		break;
	default:
		fprintf(stderr, "acgsctl: %s: %s (HTTP %ld %s)\n", url,
			clean(emsg, &b1), res->status, clean(ecode, &b2));
		break;
	}
	buf_release(&b1);
	buf_release(&b2);
}

/* method path with body (NULL: none); on success *ret_doc is the parsed
 * answer (caller deletes). Returns the exit code, having said what went
 * wrong. */
static int call(const struct ctx *x, const char *method, const char *path,
		const char *body, cJSON **ret_doc)
{
	struct client_response res;
	char err[CLIENT_ERR_LEN];
	const char *ecode = "", *emsg = "";
	cJSON *doc = NULL;
	bool ours;
	int r, code;

	r = client_request(x->client, method, path, body, &res, err);
	if (r == -E2BIG) {
		fprintf(stderr, "acgsctl: %s: %s\n", x->s->url, err);
		code = EXIT_UNREACHABLE;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "acgsctl: cannot reach %s: %s\n", x->s->url,
			err);
		code = EXIT_UNREACHABLE;
		goto out;
	}
	if (res.body.len)
		doc = cJSON_ParseWithLength(res.body.data, res.body.len);
	if (res.status >= 200 && res.status <= 299)
		ours = cJSON_IsObject(doc);
	else
		ours = error_object(doc, &ecode, &emsg);
	code = client_exit_code(res.status, ours);
	if (code != EXIT_OK) {
		report(x, &res, code, ecode, emsg);
		goto out;
	}
	*ret_doc = doc;
	doc = NULL;
out:
	cJSON_Delete(doc);
	buf_release(&res.body);
	return code;
}

static int fetch_path(const struct ctx *x, size_t offset, size_t limit,
		      cJSON **ret_doc)
{
	_cleanup_free_ char *body = NULL;
	struct buf path;
	int code;

	buf_init(&path, 8192);
	if (request_path(x->a, offset, limit, &path) < 0) {
		fprintf(stderr, "acgsctl: the request is too long\n");
		code = EXIT_USAGE;
	} else if (request_body(x->a, &body) < 0) {
		fprintf(stderr, "acgsctl: out of memory\n");
		code = EXIT_SERVER;
	} else {
		code = call(x, request_method(x->a), path.data, body, ret_doc);
	}
	buf_release(&path);
	return code;
}

/* Every node (or --limit of them), a page of up to 1000 at a time, merged
 * into the first page's document. */
static int fetch_nodes(const struct ctx *x, cJSON **ret_doc)
{
	size_t want = x->a->limit ? x->a->limit : NODES_MAX, got = 0;
	cJSON *all = NULL, *page = NULL;
	int code = EXIT_OK;

	while (got < want) {
		size_t n = want - got < REQUEST_PAGE_MAX ? want - got
							 : REQUEST_PAGE_MAX;
		double total = 0;
		cJSON *nodes, *item;

		code = fetch_path(x, got, n, &page);
		if (code != EXIT_OK)
			goto out;
		nodes = cJSON_GetObjectItemCaseSensitive(page, "nodes");
		const cJSON *t =
		    cJSON_GetObjectItemCaseSensitive(page, "total");
		if (!cJSON_IsArray(nodes) || !cJSON_IsNumber(t)) {
			fprintf(stderr,
				"acgsctl: %s: the answer has no nodes list "
				"(not an acgs server?)\n",
				x->s->url);
			code = EXIT_UNREACHABLE;
			goto out;
		}
		total = t->valuedouble;
		n = (size_t)cJSON_GetArraySize(nodes);
		if (!all) {
			all = page;
			page = NULL;
		} else {
			cJSON *dst =
			    cJSON_GetObjectItemCaseSensitive(all, "nodes");
			while ((item = cJSON_DetachItemFromArray(nodes, 0)))
				cJSON_AddItemToArray(dst, item);
			cJSON_ReplaceItemInObjectCaseSensitive(
			    all, "total", cJSON_CreateNumber(total));
			cJSON_Delete(page);
			page = NULL;
		}
		got += n;
		/* Nodes can come and go between pages: stop at the first
		 * short page. */
		if (n == 0 || (double)got >= total)
			break;
	}
	cJSON_ReplaceItemInObjectCaseSensitive(all, "offset",
					       cJSON_CreateNumber(0));
	cJSON_ReplaceItemInObjectCaseSensitive(
	    all, "limit", cJSON_CreateNumber(x->a->limit ? x->a->limit : got));
	*ret_doc = all;
	all = NULL;
out:
	cJSON_Delete(page);
	cJSON_Delete(all);
	return code;
}

static int print_json(const cJSON *doc)
{
	_cleanup_free_ char *text = isatty(STDOUT_FILENO)
					? cJSON_Print(doc)
					: cJSON_PrintUnformatted(doc);
	if (!text) {
		fprintf(stderr, "acgsctl: out of memory\n");
		return EXIT_SERVER;
	}
	puts(text);
	return EXIT_OK;
}

static int print_text(const struct ctx *x, const cJSON *doc, render_fn fn)
{
	struct buf out;
	int r, code = EXIT_OK;

	buf_init(&out, OUT_MAX);
	r = fn(doc, time_real_ms(), &out);
	if (r == -EPROTO) {
		fprintf(stderr,
			"acgsctl: %s: the answer lacks what an acgs server "
			"sends here (not an acgs server, or another "
			"version); --json shows it\n",
			x->s->url);
		code = EXIT_UNREACHABLE;
	} else if (r < 0) {
		fprintf(stderr, "acgsctl: cannot lay out the answer: %s\n",
			strerror(-r));
		code = EXIT_SERVER;
	} else if (out.len) {
		fwrite(out.data, 1, out.len, stdout);
	}
	buf_release(&out);
	return code;
}

static int run(const struct ctx *x)
{
	const struct args *a = x->a;
	cJSON *doc = NULL;
	render_fn fn = NULL;
	int code;

	switch (a->cmd) {
	case CMD_FLEET:
		fn = render_fleet;
		break;
	case CMD_NODES:
		fn = render_nodes;
		break;
	case CMD_NODE:
		fn = render_node;
		break;
	case CMD_HISTORY:
		fn = render_history;
		break;
	case CMD_SERVICES:
		fn = a->name ? render_service : render_services;
		break;
	case CMD_COMPLIANCE:
		fn = render_compliance;
		break;
	case CMD_ALERTS:
		fn = render_alerts;
		break;
	case CMD_ACK:
		fn = render_alert;
		break;
	case CMD_SILENCE_ADD:
		fn = render_silence_id;
		break;
	case CMD_SILENCE_LIST:
		fn = render_silences;
		break;
	case CMD_SILENCE_EXPIRE:
		fn = render_silence;
		break;
	default:
		return EXIT_USAGE;
	}
	code = a->cmd == CMD_NODES ? fetch_nodes(x, &doc)
				   : fetch_path(x, 0, 0, &doc);
	if (code != EXIT_OK)
		goto out;
	/* The history table only when asked for: an empty one, or the
	 * server's reason for having none, would say nothing then. */
	if (a->cmd == CMD_ALERTS && !a->history && !a->json) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "history");
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "history_error");
	}
	code = a->json ? print_json(doc) : print_text(x, doc, fn);
	if (code == EXIT_OK && a->fail_if_any &&
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
		doc, a->cmd == CMD_ALERTS ? "alerts" : "nodes")))
		code = EXIT_MATCHED;
out:
	cJSON_Delete(doc);
	return code;
}

static int help(const struct args *a)
{
	enum args_cmd topic = a->cmd;
	struct buf out;

	if (a->cmd == CMD_HELP)
		topic = a->name ? args_cmd_from_name(a->name) : CMD_NONE;
	buf_init(&out, 1 << 16);
	if (args_help(topic, &out) == 0)
		fputs(out.data, stdout);
	buf_release(&out);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct args a;
	struct settings s = { 0 };
	struct client *client = NULL;
	char err[SETTINGS_ERR_LEN];
	int code;

	if (args_parse(argc, argv, &a, err) < 0) {
		const char *cmd = args_cmd_name(a.cmd);
		fprintf(stderr, "acgsctl: %s\nTry 'acgsctl help%s%s'.\n", err,
			cmd && a.cmd != CMD_HELP ? " " : "",
			cmd && a.cmd != CMD_HELP ? cmd : "");
		return EXIT_USAGE;
	}
	if (a.version) {
		printf("acgsctl %s (constitutional hash %s)\n", PACKAGE_VERSION,
		       ACGS_CONSTITUTIONAL_HASH);
		return EXIT_OK;
	}
	if (a.help || a.cmd == CMD_HELP)
		return help(&a);
	if (settings_resolve(&a.settings, &s, err) < 0) {
		fprintf(stderr, "acgsctl: %s\n", err);
		code = EXIT_USAGE;
		goto out;
	}
	/* Like kubectl, warn and go on: refusing would break the operator
	 * at the worst moment for a mode that ssh-style tools only warn on.
	 */
	if (s.token_file_loose)
		fprintf(stderr,
			"acgsctl: warning: token file %s is accessible to "
			"others (mode %04o); chmod 600 it\n",
			s.token_from, s.token_file_mode);
	struct client_opts co = {
		.url = s.url,
		.token = s.token,
		.ca_file = s.ca_file,
		.timeout_s = s.timeout_s,
	};
	if (client_new(&co, &client) < 0) {
		fprintf(stderr, "acgsctl: cannot set up libcurl\n");
		code = EXIT_SERVER;
		goto out;
	}
	struct ctx x = { .a = &a, .s = &s, .client = client };
	code = run(&x);
	if (fflush(stdout) != 0 && code == EXIT_OK) {
		fprintf(stderr, "acgsctl: cannot write the output: %s\n",
			strerror(errno));
		code = EXIT_SERVER;
	}
out:
	client_free(client);
	settings_release(&s);
	return code;
}
