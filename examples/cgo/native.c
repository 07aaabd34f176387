#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "native.h"
#include "_cgo_export.h"

long device_read(int fd) {
	char buf[1];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n >= 0 || errno != EINTR) {
			return (long)n;
		}
	}
}

void compress_forever(void) {
	for (;;) {
		sleep(3600);
	}
}

static void *watchdog_main(void *arg) {
	(void)arg;
	for (;;) {
		sleep(3600);
	}
	return NULL;
}

int start_c_watchdog(void) {
	pthread_t t;
	int err = pthread_create(&t, NULL, watchdog_main, NULL);
	if (err == 0) {
		pthread_detach(t);
	}
	return err;
}

void plugin_dispatch(int event) {
	goPluginEvent(event);
}
