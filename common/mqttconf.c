#include "config.h"

#include "mqttconf.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "wire.h"

#define PASSWORD_FILE_MAX 4096

static const struct conf_key mqtt_keys[] = {
	{ "host", CONF_STRING, offsetof(struct mqtt_conf, host), 0, 0 },
	{ "port", CONF_UINT, offsetof(struct mqtt_conf, port), 1, 65535 },
	{ "client_id", CONF_STRING, offsetof(struct mqtt_conf, client_id), 0,
	  0 },
	{ "username", CONF_STRING, offsetof(struct mqtt_conf, username), 0, 0 },
	{ "password", CONF_STRING, offsetof(struct mqtt_conf, password), 0, 0 },
	{ "password_file", CONF_STRING,
	  offsetof(struct mqtt_conf, password_file), 0, 0 },
	{ "ca_file", CONF_STRING, offsetof(struct mqtt_conf, ca_file), 0, 0 },
	{ "cert_file", CONF_STRING, offsetof(struct mqtt_conf, cert_file), 0,
	  0 },
	{ "key_file", CONF_STRING, offsetof(struct mqtt_conf, key_file), 0, 0 },
	{ "keepalive", CONF_SECONDS, offsetof(struct mqtt_conf, keepalive), 5,
	  65535 },
	{ "qos", CONF_UINT, offsetof(struct mqtt_conf, qos), 0, 1 },
	{ "topic_root", CONF_STRING, offsetof(struct mqtt_conf, topic_root), 0,
	  0 },
};

void mqtt_conf_init(struct mqtt_conf *m)
{
	memset(m, 0, sizeof(*m));
	m->port = 1883;
	m->keepalive = 10;
	m->qos = 1;
}

int mqtt_conf_apply(struct mqtt_conf *m, const char *key, const char *value,
		    struct conf_error *err)
{
	return conf_apply(mqtt_keys, ARRAY_SIZE(mqtt_keys), m, key, value, err);
}

static int read_password_file(struct mqtt_conf *m, const char *path,
			      struct conf_error *err)
{
	_cleanup_close_ int fd = -1;
	char buf[PASSWORD_FILE_MAX + 1];
	ssize_t n;
	int r;

	fd = open(m->password_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return conf_fail(err, -errno,
				 "%s: [mqtt] password_file: %s: %s", path,
				 m->password_file, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return conf_fail(err, -errno,
				 "%s: [mqtt] password_file: %s: %s", path,
				 m->password_file, strerror(errno));
	if (n > PASSWORD_FILE_MAX)
		return conf_fail(
		    err, -EFBIG,
		    "%s: [mqtt] password_file: %s is larger than %d bytes",
		    path, m->password_file, PASSWORD_FILE_MAX);
	/* One trailing newline is how editors and echo leave the file. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n))
		return conf_fail(
		    err, -EINVAL,
		    "%s: [mqtt] password_file: %s holds a NUL byte", path,
		    m->password_file);
	r = conf_set_string(&m->password, buf);
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int mqtt_conf_finish(struct mqtt_conf *m, const char *path,
		     const char *default_client_id, struct conf_error *err)
{
	if ((!m->host && conf_set_string(&m->host, "localhost") < 0) ||
	    (!m->topic_root &&
	     conf_set_string(&m->topic_root, WIRE_DEFAULT_ROOT) < 0) ||
	    (!m->client_id && default_client_id &&
	     conf_set_string(&m->client_id, default_client_id) < 0))
		return conf_fail(err, -ENOMEM, "out of memory");
	if (m->topic_root[0] == '\0' || strpbrk(m->topic_root, "+#") ||
	    m->topic_root[strlen(m->topic_root) - 1] == '/')
		return conf_fail(err, -EINVAL,
				 "%s: [mqtt] topic_root: '%s' must be a topic "
				 "without wildcards or a trailing /",
				 path, m->topic_root);
	if (m->password && m->password_file)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [mqtt] password and password_file are both "
		    "set; keep one",
		    path);
	if ((m->password || m->password_file) && !m->username)
		return conf_fail(err, -EINVAL,
				 "%s: [mqtt] a password needs a username",
				 path);
	if (!!m->cert_file != !!m->key_file)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [mqtt] cert_file and key_file go together", path);
	if (m->cert_file && !m->ca_file)
		return conf_fail(
		    err, -EINVAL,
		    "%s: [mqtt] cert_file needs ca_file (TLS is on "
		    "when ca_file is set)",
		    path);
	if (m->password_file)
		return read_password_file(m, path, err);
	return 0;
}

void mqtt_conf_release(struct mqtt_conf *m)
{
	free(m->host);
	free(m->client_id);
	free(m->username);
	if (m->password)
		sodium_memzero(m->password, strlen(m->password));
	free(m->password);
	free(m->password_file);
	free(m->ca_file);
	free(m->cert_file);
	free(m->key_file);
	free(m->topic_root);
	memset(m, 0, sizeof(*m));
}

int mqtt_conf_copy(struct mqtt_conf *dst, const struct mqtt_conf *src)
{
	char **const fields[] = { &dst->host,	       &dst->client_id,
				  &dst->username,      &dst->password,
				  &dst->password_file, &dst->ca_file,
				  &dst->cert_file,     &dst->key_file,
				  &dst->topic_root };

	*dst = *src;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (*fields[i] && !(*fields[i] = strdup(*fields[i]))) {
			/* Free what was copied; the rest still points at src.
			 */
			for (size_t j = 0; j < i; j++)
				free(*fields[j]);
			memset(dst, 0, sizeof(*dst));
			return -ENOMEM;
		}
	}
	return 0;
}

static bool str_differs(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

bool mqtt_conf_changed(const struct mqtt_conf *a, const struct mqtt_conf *b)
{
	return str_differs(a->host, b->host) || a->port != b->port ||
	       str_differs(a->client_id, b->client_id) ||
	       str_differs(a->username, b->username) ||
	       str_differs(a->password, b->password) ||
	       str_differs(a->ca_file, b->ca_file) ||
	       str_differs(a->cert_file, b->cert_file) ||
	       str_differs(a->key_file, b->key_file) ||
	       a->keepalive != b->keepalive || a->qos != b->qos ||
	       str_differs(a->topic_root, b->topic_root);
}
