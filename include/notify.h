/*
 * notify.h: telling systemd how the daemon is (Type=notify): READY=1,
 * RELOADING=1, STOPPING=1 and the watchdog. A no-op when built without
 * libsystemd or when not started by systemd.
 */
#ifndef GR_NOTIFY_H
#define GR_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
/* The watchdog period systemd asked for (WatchdogSec), in microseconds; 0 when off. */
uint64_t notify_watchdog_usec(void);

#endif
