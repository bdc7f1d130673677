/*
 * sel_err.c - S3 error code names and the error out-struct filler.
 */
#include "sel_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int cls;
} codes[] = {
#define SEL_EC_ROW(n, c) {#n, c},
	SEL_ERROR_CODES(SEL_EC_ROW)
#undef SEL_EC_ROW
};

const char *sel_err_name(enum sel_ec ec)
{
	if ((unsigned)ec >= SEL_E__COUNT)
		return "InternalError";
	return codes[ec].name;
}

int sel_err_errno(enum sel_ec ec)
{
	if ((unsigned)ec >= SEL_E__COUNT)
		return -EIO;
	return codes[ec].cls == SEL_EC_CLIENT ? -EINVAL : -EIO;
}

int sel_err_set(struct sel_error *err, enum sel_ec ec, int line, int col,
		const char *fmt, ...)
{
	if (err) {
		const char *name = sel_err_name(ec);
		size_t n = strlen(name);
		if (n >= sizeof(err->code))
			n = sizeof(err->code) - 1;
		memcpy(err->code, name, n);
		err->code[n] = '\0';
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		err->line = line;
		err->column = col;
	}
	return sel_err_errno(ec);
}

int sel_err_class(const struct sel_error *err)
{
	for (unsigned i = 0; i < SEL_E__COUNT; i++)
		if (strcmp(codes[i].name, err->code) == 0)
			return sel_err_errno((enum sel_ec)i);
	return -EIO;
}
