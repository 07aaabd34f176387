// C side of the cgo example: functions that block in C, a thread that C
// owns, and a call back into Go.
#ifndef GOROSCOPE_CGO_NATIVE_H
#define GOROSCOPE_CGO_NATIVE_H

// device_read blocks in read(2) on fd until a byte (never) arrives.
long device_read(int fd);

// compress_forever sleeps in C for good (sleep(3), one hour at a time).
void compress_forever(void);

// start_c_watchdog starts a pthread that Go never sees: it sleeps in C for
// good. Returns pthread_create's result.
int start_c_watchdog(void);

// plugin_dispatch calls the exported Go function goPluginEvent(event).
void plugin_dispatch(int event);

#endif
