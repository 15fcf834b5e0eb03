#include "config.h"

#include <string.h>

#include "check_main.h"
#include "cleanup.h"
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
	suite_add_tcase(s, tc);
	return s;
}
