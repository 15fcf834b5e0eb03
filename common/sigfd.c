#include "config.h"

#include "sigfd.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>

static void daemon_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

void sigfd_block(void)
{
	sigset_t set;
	daemon_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
}

int sigfd_open(void)
{
	sigset_t set;
	daemon_set(&set);
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}
