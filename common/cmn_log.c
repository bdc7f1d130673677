/*
 * cmn_log.c - stderr logger; see cmn_log.h.
 *
 * The level and program name are set once at start-up, before any thread
 * exists, and only read afterwards: that is the one piece of process-wide
 * state outside the daemon's context struct, because every part logs.
 */
#include "cmn_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_prog = "bucketfs";
static enum cmn_log_level log_level = CMN_LOG_INFO;

void cmn_log_setup(const char *prog, enum cmn_log_level level)
{
	if (prog)
		log_prog = prog;
	log_level = level;
}

enum cmn_log_level cmn_log_level(void)
{
	return log_level;
}

void cmn_log(enum cmn_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};
	char line[2048];

	if (level > log_level)
		return;
	int n = snprintf(line, sizeof(line), "%s: %s: ", log_prog,
			 names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
