/* Stand-in for systemd's notify socket: bind a datagram socket at argv[1]
 * and print every message received as one line (newlines become spaces),
 * until killed. Lets tests see READY=1, WATCHDOG=1, RELOADING=1 and
 * STOPPING=1 from the real agent without systemd as PID 1. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[4096];

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notify-listen PATH\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify-listen");
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (msg[i] == '\n')
				msg[i] = ' ';
		msg[n] = '\0';
		printf("%s\n", msg);
		fflush(stdout);
	}
}
