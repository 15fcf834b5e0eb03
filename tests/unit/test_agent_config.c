#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_config.h"
#include "check_main.h"
#include "cleanup.h"

static struct agent_config *load_ok(const char *text)
{
	struct agent_config *c = NULL;
	struct conf_error err;
	int r =
	    agent_config_load_string("t.conf", text, strlen(text), &c, &err);
	ck_assert_msg(r == 0, "load failed: %s", err.msg);
	return c;
}

START_TEST(defaults)
{
	struct agent_config *c = load_ok("");
	char host[256];
	gethostname(host, sizeof(host));
	host[strcspn(host, ".")] = '\0';
	ck_assert_str_eq(c->node_id, host);
	ck_assert_str_eq(c->mqtt.client_id, c->node_id);
	ck_assert(c->interval == 10);
	ck_assert_str_eq(c->state_dir, "/var/lib/acgs-agent");
	ck_assert_str_eq(c->constitutional_hash, "cdd01ef066bc6cf2");
	ck_assert_str_eq(c->mqtt.topic_root, "acgs/v1");
	ck_assert_uint_eq(c->mqtt.port, 1883);
	ck_assert_uint_eq(c->mqtt.qos, 1);
	ck_assert(c->mqtt.keepalive == 10);
	ck_assert_uint_eq(c->buffer_max_bytes, 64ull << 20);
	ck_assert_uint_eq(c->nprobes, 0);
	agent_config_free(c);
}
END_TEST

START_TEST(full_file)
{
	struct agent_config *c = load_ok(
	    "[agent]\nnode_id = web-1\nlabels = role=web, zone = eu-1 \n"
	    "interval = 0.5\n"
	    "[mqtt]\nhost = broker\nport = 8883\nusername = web-1\n"
	    "password = s3cret\nca_file = /ca.pem\n"
	    "[probe.http api]\nurl = https://x/health\nslo_ms = 100\n"
	    "service = web\n"
	    "[probe.tcp db]\nhost = 127.0.0.1\nport = 5432\ninterval = 2m\n"
	    "[compliance]\npaths = /etc/a/*.yaml /etc/b.conf\n"
	    "paths = /etc/c.conf\nrequire_hash_marker = yes\n");
	ck_assert_str_eq(c->node_id, "web-1");
	ck_assert_uint_eq(c->nlabels, 2);
	ck_assert_str_eq(c->labels[1].key, "zone");
	ck_assert_str_eq(c->labels[1].value, "eu-1");
	ck_assert(c->interval == 0.5);
	ck_assert_uint_eq(c->nprobes, 2);
	ck_assert_int_eq(c->probes[0].type, PROBE_HTTP);
	ck_assert_str_eq(c->probes[0].name, "api");
	ck_assert(c->probes[0].interval == 0.5); /* the agent's interval */
	ck_assert(c->probes[0].timeout == 0.5);	 /* capped by the interval */
	ck_assert_int_eq(c->probes[1].type, PROBE_TCP);
	ck_assert(c->probes[1].interval == 120);
	ck_assert(c->probes[1].timeout == 5);
	ck_assert_uint_eq(c->ncompliance_globs, 3);
	ck_assert_str_eq(c->compliance_globs[2], "/etc/c.conf");
	agent_config_free(c);
}
END_TEST

static const struct {
	const char *text;
	const char *msg; /* a part of the expected message */
} bad[] = {
	{ "[agent]\nnode_id = a/b\n", "node_id: 'a/b' must be" },
	{ "[agent]\nnode_id = +\n", "node_id: '+' must be" },
	{ "[agent]\nconstitutional_hash = 0000000000000000\n",
	  "differs from the compiled-in cdd01ef066bc6cf2; refusing to start" },
	{ "[agent]\nlog_level = loud\n", "log_level: 'loud'" },
	{ "[agent]\nlabels = a=1,a=2\n",
	  "t.conf:2: [agent] labels: label 'a' given twice" },
	{ "[agent]\nlabels = novalue\n", "'novalue' is not key=value" },
	{ "[agent]\nlabels = a=\n", "label 'a' has no value" },
	{ "[mqtt]\npassword = x\n", "a password needs a username" },
	{ "[mqtt]\nusername = u\npassword = x\npassword_file = /f\n",
	  "password and password_file are both set" },
	{ "[mqtt]\ncert_file = /c\n", "cert_file and key_file go together" },
	{ "[mqtt]\ncert_file = /c\nkey_file = /k\n",
	  "cert_file needs ca_file" },
	{ "[mqtt]\ntopic_root = acgs/#\n", "topic_root: 'acgs/#'" },
	{ "[mqtt]\ntopic_root = acgs/\n", "topic_root: 'acgs/'" },
	{ "[mqtt]\nqos = 2\n",
	  "t.conf:2: [mqtt] qos: '2' is not a whole number from 0 to 1" },
	{ "[mqtt]\nkeepalive = 1\n", "[mqtt] keepalive:" },
	{ "[mqtt]\nbuffer_max_bytes = 1K\n", "[mqtt] buffer_max_bytes:" },
	{ "[mqtt]\nreconnect_min = 10\nreconnect_max = 5\n",
	  "reconnect_min is above reconnect_max" },
	{ "[probe.http api]\nservice = x\n", "[probe.http api] needs url" },
	{ "[probe.http api]\nurl = ftp://x\n", "is not http:// or https://" },
	{ "[probe.tcp db]\nhost = x\n", "[probe.tcp db] needs host and port" },
	{ "[probe.tcp db]\nhost = x\nport = 1\n[probe.tcp db]\nport = 2\n",
	  "" /* same section twice is one section in INI: allowed */ },
	{ "[probe.tcp db]\nhost = x\nport = 1\n[probe.http db]\nurl = "
	  "http://x\n",
	  "probe 'db' is defined twice" },
	{ "[probe.udp x]\nhost = y\n", "unknown section" },
	{ "[probe.http bad/name]\nurl = http://x\n", "probe name 'bad/name'" },
	{ "[compliance]\npaths = /etc/*.conf\n",
	  "neither manifest nor require_hash_marker" },
	{ "[compliance]\nrequire_hash_marker = maybe\n",
	  "'maybe' is not a boolean" },
	{ "[compliance]\nfiles = /x\n",
	  "t.conf:2: [compliance] files: unknown key" },
};

START_TEST(bad_configs)
{
	struct agent_config *c = NULL;
	struct conf_error err = { "" };
	int r = agent_config_load_string("t.conf", bad[_i].text,
					 strlen(bad[_i].text), &c, &err);
	if (bad[_i].msg[0] == '\0') {
		ck_assert_msg(r == 0, "case %d: %s", _i, err.msg);
		agent_config_free(c);
		return;
	}
	ck_assert_msg(r < 0, "case %d loaded", _i);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err.msg, bad[_i].msg) != NULL,
		      "case %d: '%s' lacks '%s'", _i, err.msg, bad[_i].msg);
}
END_TEST

START_TEST(mqtt_changed)
{
	struct agent_config *a = load_ok("[mqtt]\nhost = a\n");
	struct agent_config *b =
	    load_ok("[mqtt]\nhost = a\n[agent]\ninterval = 3\n");
	struct agent_config *c = load_ok("[mqtt]\nhost = b\n");
	ck_assert(!agent_config_mqtt_changed(a, b));
	ck_assert(agent_config_mqtt_changed(a, c));
	agent_config_free(a);
	agent_config_free(b);
	agent_config_free(c);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("agent_config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_loop_test(tc, bad_configs, 0, (int)ARRAY_SIZE(bad));
	tcase_add_test(tc, mqtt_changed);
	suite_add_tcase(s, tc);
	return s;
}
