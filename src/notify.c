/*
 * notify.c: sd_notify(3) when libsystemd was there at build time
 * (HAVE_SYSTEMD), otherwise nothing. The only #ifdef of the daemon.
 */
#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=routing");
}

void notify_reloading(void)
{
	sd_notify(0, "RELOADING=1\nSTATUS=reloading the rules");
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

uint64_t notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}
#else
void notify_ready(void)
{
}

void notify_reloading(void)
{
}

void notify_stopping(void)
{
}

void notify_watchdog(void)
{
}

uint64_t notify_watchdog_usec(void)
{
	return 0;
}
#endif
