/*
 * sel_par_check.h - for the select fuzz harnesses: par_check_run() runs one
 * request over bytes in memory (every harness's way of running a query);
 * sel_par_check() runs it sequentially and in parallel with tiny chunks
 * (so every chunk boundary the input allows is tried) and aborts when the
 * outputs, the error codes or the error messages differ: a parallel run
 * must be byte for byte the sequential one (select/sel_par.h).
 * par_check_memfile() puts a small object in memory for the harnesses
 * that run what they parsed over one.
 */
#ifndef SEL_PAR_CHECK_H
#define SEL_PAR_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "select.h"
#include "sel_opts.h"
#include "sel_query.h"

/* A memory file holding text, at offset 0; -1 when it cannot be made. */
static inline int par_check_memfile(const char *text)
{
	int fd = memfd_create("fuzz-in", 0);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Run rq over data into a new buffer (*out, caller frees).  Returns the
 * sel_query_run result, or 1 when the harness itself failed. */
static inline int par_check_run(const struct sel_request *rq,
				const uint8_t *data, size_t size, char **out,
				size_t *outlen, struct sel_error *err)
{
	int in = memfd_create("fuzz-in", 0), o = memfd_create("fuzz-out", 0);
	int r = 1;
	*out = NULL;
	*outlen = 0;
	memset(err, 0, sizeof(*err));
	if (in >= 0 && o >= 0 &&
	    (size == 0 || write(in, data, size) == (ssize_t)size) &&
	    lseek(in, 0, SEEK_SET) == 0) {
		r = sel_query_run(rq, in, o, NULL, err);
		off_t n = lseek(o, 0, SEEK_END);
		*out = malloc(n > 0 ? (size_t)n : 1);
		if (!*out || n < 0 || pread(o, *out, (size_t)n, 0) != n)
			r = 1;
		else
			*outlen = (size_t)n;
	}
	if (in >= 0)
		close(in);
	if (o >= 0)
		close(o);
	return r;
}

static inline void sel_par_check(const struct sel_request *base,
				 const uint8_t *data, size_t size,
				 unsigned chunk)
{
	struct sel_request seq = *base, par = *base;
	struct sel_error e1, e2;
	char *o1, *o2;
	size_t n1, n2;
	seq.threads = 1;
	par.threads = 2;
	par.chunk = chunk ? chunk : 1;
	int r1 = par_check_run(&seq, data, size, &o1, &n1, &e1);
	int r2 = par_check_run(&par, data, size, &o2, &n2, &e2);
	if (r1 != 1 && r2 != 1 &&
	    (r1 != r2 || n1 != n2 || (n1 && memcmp(o1, o2, n1) != 0) ||
	     strcmp(e1.code, e2.code) != 0 ||
	     strcmp(e1.message, e2.message) != 0))
		abort();
	free(o1);
	free(o2);
}

#endif
