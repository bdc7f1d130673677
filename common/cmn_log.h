/*
 * cmn_log.h - the daemon's one logger.
 *
 * Library code (select/, notify/ parsers) never logs: it returns errors and
 * the caller logs once.  The log goes to stderr, prefixed with the program
 * name and level; messages above the current level are dropped before any
 * formatting work is done.
 */
#ifndef CMN_LOG_H
#define CMN_LOG_H

enum cmn_log_level {
	CMN_LOG_ERR = 0,
	CMN_LOG_WARN,
	CMN_LOG_INFO,
	CMN_LOG_DEBUG,
};

/* Set the level and program name (borrowed: must outlive the process).
 * Call before threads start. */
void cmn_log_setup(const char *prog, enum cmn_log_level level);

/* Current level, so callers can skip building expensive messages. */
enum cmn_log_level cmn_log_level(void);

/* Thread-safe: one write(2) per message, so lines never interleave. */
void cmn_log(enum cmn_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cmn_err(...)   cmn_log(CMN_LOG_ERR, __VA_ARGS__)
#define cmn_warn(...)  cmn_log(CMN_LOG_WARN, __VA_ARGS__)
#define cmn_info(...)  cmn_log(CMN_LOG_INFO, __VA_ARGS__)
#define cmn_debug(...) cmn_log(CMN_LOG_DEBUG, __VA_ARGS__)

#endif
