#include "opra_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int log_level = OPRA_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void opra_log_set_level(opra_log_level level)
{
	atomic_store(&log_level, (int)level);
}

opra_log_level opra_log_get_level(void)
{
	return (opra_log_level)atomic_load(&log_level);
}

int opra_log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return OPRA_LOG_WARN;
	return -1;
}

int opra_log_enabled(opra_log_level level)
{
	return (int)level <= atomic_load(&log_level);
}

char *opra_time_iso(char *buf, unsigned long size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* strftime cannot overflow silently (returns 0) and keeps gcc's
	 * format-truncation analysis quiet at -O3. */
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0 || size - n < 6) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	unsigned ms = (unsigned)(ts.tv_nsec / 1000000) % 1000u;
	buf[n] = '.';
	buf[n + 1] = (char)('0' + ms / 100);
	buf[n + 2] = (char)('0' + ms / 10 % 10);
	buf[n + 3] = (char)('0' + ms % 10);
	buf[n + 4] = 'Z';
	buf[n + 5] = '\0';
	return buf;
}

long long opra_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

void opra_log(opra_log_level level, const char *fmt, ...)
{
	if (!opra_log_enabled(level))
		return;
	char line[2048];
	char when[32];
	int n = snprintf(line, sizeof(line), "%s %-5s ", opra_time_iso(when, sizeof(when)),
			 level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* Strip control characters so a hostile string cannot forge log lines. */
	size_t len = 0;
	for (char *p = line; *p; p++, len++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			*p = '?';
	/* One write of the whole line with its newline (stderr is unbuffered:
	 * every stdio call is a system call), so lines from different threads
	 * do not interleave. A line cut at the buffer's end keeps its newline. */
	if (len == sizeof(line) - 1)
		len--;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
