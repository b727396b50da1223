/* Leveled logging to stderr, one line per call, safe from any thread.
 * Lines look like: 2026-11-23T10:00:00.123Z info  message
 * Never pass secrets (tokens, passwords) to these functions. */
#ifndef OPRA_LOG_H
#define OPRA_LOG_H

typedef enum {
	OPRA_LOG_ERROR = 0,
	OPRA_LOG_WARN = 1,
	OPRA_LOG_INFO = 2,
	OPRA_LOG_DEBUG = 3,
} opra_log_level;

void opra_log_set_level(opra_log_level level);
opra_log_level opra_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 when not a level name. */
int opra_log_level_parse(const char *name);
int opra_log_enabled(opra_log_level level);
void opra_log(opra_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) opra_log(OPRA_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  opra_log(OPRA_LOG_WARN, __VA_ARGS__)
#define log_info(...)  opra_log(OPRA_LOG_INFO, __VA_ARGS__)
#define log_debug(...) opra_log(OPRA_LOG_DEBUG, __VA_ARGS__)

/* Formats the current UTC time as 2026-11-23T10:00:00.123Z into buf
 * (at least 25 bytes). Returns buf. */
char *opra_time_iso(char *buf, unsigned long size);
/* Monotonic clock in microseconds (for durations). */
long long opra_now_us(void);

#endif
