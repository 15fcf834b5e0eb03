#include "config.h"

#include <string.h>

#include "check_main.h"
#include "cleanup.h"
#include "hotstate.h"
#include "server_config.h"

static struct server_config *load_ok(const char *text)
{
	struct server_config *c = NULL;
	struct conf_error err;
	int r =
	    server_config_load_string("s.conf", text, strlen(text), &c, &err);
	ck_assert_msg(r == 0, "load failed: %s", err.msg);
	return c;
}

START_TEST(defaults)
{
	struct server_config *c =
	    load_ok("[postgres]\nconninfo = host=127.0.0.1 dbname=acgs\n"
		    "[server]\nreplica_id = r1\n");
	char cid[64];
	ck_assert_str_eq(c->listen_host, "127.0.0.1");
	ck_assert_uint_eq(c->listen_port, 8080);
	ck_assert_str_eq(c->shared_group, "acgs-server");
	ck_assert_str_eq(c->mqtt.topic_root, "acgs/v1");
	ck_assert_str_eq(c->mqtt.client_id, "acgs-server-r1");
	ck_assert_int_eq(server_config_client_id(c, cid, sizeof(cid)), 0);
	ck_assert_str_eq(cid, "acgs-server-r1");
	ck_assert_uint_eq(c->batch_max, 1000);
	ck_assert_ptr_null(c->redis_url);
	ck_assert(!c->anonymous_viewer);
	ck_assert(c->api_rate_limit == 0 && c->api_rate_burst == 0);
	server_config_free(c);
}
END_TEST

START_TEST(full)
{
	struct server_config *c = load_ok(
	    "[server]\nlisten = [::1]:9090\nstate_dir = /tmp/s\n"
	    "api_rate_limit = 2500\napi_rate_burst = 5000\n"
	    "[mqtt]\nhost = b\nport = 8883\nshared_group = grp\nusername = s\n"
	    "password = p\nca_file = /ca\n"
	    "[postgres]\nconninfo = dbname=x\nbatch_max = 500\nflush_interval "
	    "= 50ms\n"
	    "[redis]\nurl = redis://127.0.0.1:6379/0\n"
	    "[scoring]\npolicy = /etc/acgs/scoring-policy.yaml\n"
	    "[auth]\nanonymous_viewer = yes\n");
	ck_assert_str_eq(c->listen_host, "::1");
	ck_assert_uint_eq(c->listen_port, 9090);
	ck_assert_str_eq(c->shared_group, "grp");
	ck_assert_uint_eq(c->mqtt.port, 8883);
	ck_assert_uint_eq(c->batch_max, 500);
	ck_assert(c->flush_interval == 0.05);
	ck_assert_str_eq(c->redis_url, "redis://127.0.0.1:6379/0");
	ck_assert(c->anonymous_viewer);
	ck_assert(c->api_rate_limit == 2500 && c->api_rate_burst == 5000);
	server_config_free(c);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} bad[] = {
	{ "[server]\nlisten = 8080\n[postgres]\nconninfo = x\n",
	  "listen: '8080' is not host:port" },
	{ "[server]\nlisten = h:0\n[postgres]\nconninfo = x\n",
	  "listen: 'h:0'" },
	{ "[server]\nconstitutional_hash = "
	  "ffffffffffffffff\n[postgres]\nconninfo = x\n",
	  "refusing to start" },
	{ "[server]\nreplica_id = a/b\n[postgres]\nconninfo = x\n",
	  "replica_id: 'a/b'" },
	{ "[mqtt]\nshared_group = +\n[postgres]\nconninfo = x\n",
	  "shared_group: '+'" },
	{ "[mqtt]\nbogus = 1\n", "s.conf:2: [mqtt] bogus: unknown key" },
	{ "[server]\n", "[postgres] conninfo is required" },
	{ "[redis]\nurl = http://x\n[postgres]\nconninfo = x\n",
	  "[redis] url: 'http://x'" },
	{ "[redis]\nurl = redis://h:0\n[postgres]\nconninfo = x\n",
	  "[redis] url: 'redis://h:0'" },
	{ "[redis]\ntimeout = 0\n[postgres]\nconninfo = x\n",
	  "[redis] timeout" },
	{ "[postgres]\nconninfo = x\nbreaker_fail_max = 0\n",
	  "breaker_fail_max" },
	{ "[postgres]\nconninfo = x\nbatch_max = 0\n",
	  "s.conf:3: [postgres] batch_max:" },
	{ "[api]\nx = 1\n", "s.conf:2: [api] x: unknown section" },
	{ "[server]\napi_rate_burst = 0.5\n[postgres]\nconninfo = x\n",
	  "s.conf:2: [server] api_rate_burst:" },
	{ "[auth]\nanonymous_viewer = perhaps\n",
	  "'perhaps' is not a boolean" },
	{ "[mqtt]\npassword = x\n[postgres]\nconninfo = x\n",
	  "a password needs a username" },
};

static const struct {
	const char *url;
	int ok;
	const char *host;
	unsigned port, db;
	const char *password; /* NULL: none */
	bool unix_socket;
} urls[] = {
	{ "redis://127.0.0.1:6379/0", 1, "127.0.0.1", 6379, 0, NULL, false },
	{ "redis://cache", 1, "cache", 6379, 0, NULL, false },
	{ "redis://cache/", 1, "cache", 6379, 0, NULL, false },
	{ "redis://cache:7000/15", 1, "cache", 7000, 15, NULL, false },
	{ "redis://:s3cret@cache:7000/2", 1, "cache", 7000, 2, "s3cret",
	  false },
	{ "unix:///run/redis/redis.sock", 1, "/run/redis/redis.sock", 6379, 0,
	  NULL, true },
	{ "redis://", 0, NULL, 0, 0, NULL, false },
	{ "redis://:6379", 0, NULL, 0, 0, NULL, false },
	{ "redis://h:", 0, NULL, 0, 0, NULL, false },
	{ "redis://h:65536", 0, NULL, 0, 0, NULL, false },
	{ "redis://h:0", 0, NULL, 0, 0, NULL, false },
	{ "redis://h:12x", 0, NULL, 0, 0, NULL, false },
	{ "redis://h/16", 0, NULL, 0, 0, NULL, false },
	{ "redis://h/x", 0, NULL, 0, 0, NULL, false },
	{ "redis://user:pw@h", 0, NULL, 0, 0, NULL, false },
	{ "redis://pw@h", 0, NULL, 0, 0, NULL, false },
	{ "unix://relative", 0, NULL, 0, 0, NULL, false },
	{ "rediss://h", 0, NULL, 0, 0, NULL, false },
	{ "", 0, NULL, 0, 0, NULL, false },
};

START_TEST(redis_urls)
{
	struct hot_url u;
	int r = hotstate_parse_url(urls[_i].url, &u);
	if (!urls[_i].ok) {
		ck_assert_int_eq(r, -EINVAL);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(u.host, urls[_i].host);
	ck_assert_int_eq(u.unix_socket, urls[_i].unix_socket);
	if (u.unix_socket)
		return;
	ck_assert_uint_eq(u.port, urls[_i].port);
	ck_assert_uint_eq(u.db, urls[_i].db);
	ck_assert_int_eq(u.has_password, urls[_i].password != NULL);
	if (urls[_i].password)
		ck_assert_str_eq(u.password, urls[_i].password);
}
END_TEST

START_TEST(bad_configs)
{
	struct server_config *c = NULL;
	struct conf_error err = { "" };
	int r = server_config_load_string("s.conf", bad[_i].text,
					  strlen(bad[_i].text), &c, &err);
	ck_assert_msg(r < 0, "case %d loaded", _i);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err.msg, bad[_i].msg) != NULL,
		      "case %d: '%s' lacks '%s'", _i, err.msg, bad[_i].msg);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("server_config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full);
	tcase_add_loop_test(tc, bad_configs, 0, (int)ARRAY_SIZE(bad));
	tcase_add_loop_test(tc, redis_urls, 0, (int)ARRAY_SIZE(urls));
	suite_add_tcase(s, tc);
	return s;
}
