/*
 * ntf_config.c - target configuration from an INI file (libinih) and the
 * environment; see ntf_config.h.
 *
 * Loading is three passes over one builder: the file's sections and keys
 * (inih calls handle_kv in file order; our own line reader counts lines,
 * since Debian's inih is built without INI_HANDLER_LINENO, opens the
 * sections and refuses the lines inih's optional rules would read
 * differently: indented lines, inline comments), then the
 * environment's BUCKETFS_NOTIFY_* variables on top, then defaults,
 * conversion and the checks that need every key (required keys, bounds,
 * retry_min <= retry_max, batch_size against the type's capabilities).
 * The first problem found stops everything and is what the user sees.
 */
#include "ntf_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ntf_limits.h"

#define ENV_PREFIX "BUCKETFS_NOTIFY_"
#define ENV_ORIGIN "environment"

const struct ntf_target_opt ntf_config_common[] = {
	[NTF_CFG_ENABLE] = {"enable", NTF_OPT_BOOL, false, "on", 0, 1, NULL,
			    "on/off: off keeps the section but no target"},
	[NTF_CFG_QUEUE_LIMIT] = {"queue_limit", NTF_OPT_UINT, false, "100000",
				 1, NTF_LIMIT_QUEUE_MAX, NULL,
				 "events queued at most; past it new events "
				 "for the target are counted as dropped"},
	[NTF_CFG_MAX_ATTEMPTS] = {"max_attempts", NTF_OPT_UINT, false, "10", 1,
				  1000000, NULL,
				  "failed deliveries of one event before it "
				  "becomes a dead letter"},
	[NTF_CFG_RETRY_MIN] = {"retry_min", NTF_OPT_DURATION, false, "1s", 10,
			       3600 * 1000, NULL,
			       "first backoff after a failure"},
	[NTF_CFG_RETRY_MAX] = {"retry_max", NTF_OPT_DURATION, false, "60s", 10,
			       24 * 3600 * 1000, NULL,
			       "longest backoff (doubling from retry_min, "
			       "with jitter)"},
	[NTF_CFG_BATCH_SIZE] = {"batch_size", NTF_OPT_UINT, false, "1", 1,
				NTF_LIMIT_DELIVER_BATCH, NULL,
				"records per message (types that batch)"},
	[NTF_CFG_COMMENT] = {"comment", NTF_OPT_STRING, false, NULL, 0, 0, NULL,
			     "free text"},
	[NTF_CFG_N_COMMON] = {NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

/* A target being built: raw texts per key, and where each came from. */
struct draft {
	const struct ntf_target_type *type;
	char *id;
	int line; /* of its section; 0 from the environment */
	char **raw;
	int *lines; /* per key: file line, 0 unset, -1 environment */
	size_t n_keys;
};

struct builder {
	ntf_config_types types;
	const char *file;
	struct draft *d;
	size_t n, cap;
	struct draft *cur; /* section being read, or NULL (ignored) */
	int line;	   /* line the reader handed out last */
	bool failed;
	bool secrets; /* a secret key was set in the file */
	struct ntf_config_error *err;
	/* the memory reader */
	const char *text;
	size_t len, pos;
	int bad_line; /* first line longer than inih takes, or 0 */
};

static size_t n_opts(const struct ntf_target_opt *o)
{
	size_t n = 0;
	while (o && o[n].name)
		n++;
	return n;
}

/* Option i of a target of type t (common keys first). */
static const struct ntf_target_opt *opt_at(const struct ntf_target_type *t,
					   size_t i)
{
	return i < NTF_CFG_N_COMMON ? &ntf_config_common[i]
				    : &t->opts[i - NTF_CFG_N_COMMON];
}

static int key_index(const struct ntf_target_type *t, const char *key)
{
	size_t n = NTF_CFG_N_COMMON + n_opts(t->opts);
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(opt_at(t, i)->name, key) == 0)
			return (int)i;
	return -1;
}

static void set_err(struct ntf_config_error *e, const char *file, int line,
		    const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void set_err(struct ntf_config_error *e, const char *file, int line,
		    const char *key, const char *fmt, ...)
{
	if (!e)
		return;
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	e->line = line;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

const char *ntf_config_error_str(const struct ntf_config_error *e, char *out,
				 size_t outlen)
{
	char where[300] = "";
	if (e->file[0] && e->line > 0)
		snprintf(where, sizeof(where), "%s:%d: ", e->file, e->line);
	else if (e->file[0])
		snprintf(where, sizeof(where), "%s: ", e->file);
	snprintf(out, outlen, "%s%s%s%s", where, e->key, e->key[0] ? ": " : "",
		 e->message);
	return out;
}

/* ---- value checks ---- */

static int parse_bool(const char *s, uint64_t *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*out = v;
	return 0;
}

/* "250ms", "5s", "2m", "1h"; a bare number is seconds. */
static int parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t mul;
	} units[] = {{"", 1000},
		     {"ms", 1},
		     {"s", 1000},
		     {"m", 60000},
		     {"h", 3600000}};
	const char *end;
	uint64_t v;
	if (parse_u64(s, &end, &v) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mul)
				return -ERANGE;
			*ms = v * units[i].mul;
			return 0;
		}
	return -EINVAL;
}

/* Convert and check one value; returns NULL or why it is wrong. */
static const char *check_value(const struct ntf_target_opt *o, const char *s,
			       uint64_t *u)
{
	const char *end;
	*u = 0;
	switch (o->type) {
	case NTF_OPT_BOOL:
		if (parse_bool(s, u) < 0)
			return "must be on or off";
		break;
	case NTF_OPT_UINT:
		if (parse_u64(s, &end, u) < 0 || *end || *u < o->min ||
		    *u > o->max)
			return "must be a whole number in range";
		break;
	case NTF_OPT_DURATION:
		if (parse_duration(s, u) < 0 || *u < o->min || *u > o->max)
			return "must be a duration like 250ms, 5s, 2m or 1h, "
			       "in range";
		break;
	case NTF_OPT_PATH:
		if (s[0] != '/')
			return "must be an absolute path";
		break;
	case NTF_OPT_STRING:
	case NTF_OPT_SECRET:
		break;
	}
	return o->validate ? o->validate(s) : NULL;
}

/* ---- building ---- */

static const struct ntf_target_type *find_type(ntf_config_types types,
					       const char *name, size_t len)
{
	for (size_t i = 0; types && types[i]; i++)
		if (strlen(types[i]->name) == len &&
		    strncasecmp(types[i]->name, name, len) == 0)
			return types[i];
	return NULL;
}

static bool valid_id(const char *id, size_t len)
{
	if (len == 0 || len > NTF_LIMIT_TARGET_ID)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

static void draft_free(struct draft *d)
{
	for (size_t i = 0; d->raw && i < d->n_keys; i++)
		free(d->raw[i]);
	free(d->raw);
	free(d->lines);
	free(d->id);
}

static struct draft *find_draft(struct builder *b,
				const struct ntf_target_type *t, const char *id,
				size_t len)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->d[i].type == t && strlen(b->d[i].id) == len &&
		    memcmp(b->d[i].id, id, len) == 0)
			return &b->d[i];
	return NULL;
}

static struct draft *add_draft(struct builder *b,
			       const struct ntf_target_type *t, const char *id,
			       size_t len, int line)
{
	if (b->n == NTF_LIMIT_TARGETS)
		return NULL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct draft *nd = realloc(b->d, cap * sizeof(*nd));
		if (!nd)
			return NULL;
		b->d = nd;
		b->cap = cap;
		b->cur = NULL; /* may have moved; callers re-find */
	}
	struct draft *d = &b->d[b->n];
	memset(d, 0, sizeof(*d));
	d->type = t;
	d->line = line;
	d->n_keys = NTF_CFG_N_COMMON + n_opts(t->opts);
	d->id = strndup(id, len);
	d->raw = calloc(d->n_keys, sizeof(*d->raw));
	d->lines = calloc(d->n_keys, sizeof(*d->lines));
	if (!d->id || !d->raw || !d->lines) {
		draft_free(d);
		return NULL;
	}
	b->n++;
	return d;
}

/* Split a section name: `TYPE "ID"`, `TYPE:ID`.  Returns 0 or -EINVAL. */
static int split_section(const char *s, const char **type, size_t *tlen,
			 const char **id, size_t *ilen)
{
	const char *q = strchr(s, '"');
	const char *colon = strchr(s, ':');
	if (q) {
		const char *e = strchr(q + 1, '"');
		if (!e || e[1] != '\0')
			return -EINVAL;
		size_t n = (size_t)(q - s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		*type = s, *tlen = n;
		*id = q + 1, *ilen = (size_t)(e - q - 1);
		return n > 0 ? 0 : -EINVAL;
	}
	if (!colon)
		return -EINVAL;
	*type = s, *tlen = (size_t)(colon - s);
	*id = colon + 1, *ilen = strlen(colon + 1);
	return 0;
}

/* Start reading a section; returns 1 to go on, 0 on a refusal. */
static int begin_section(struct builder *b, const char *section)
{
	const char *type, *id;
	size_t tlen, ilen;
	if (split_section(section, &type, &tlen, &id, &ilen) < 0) {
		set_err(b->err, b->file, b->line, "",
			"section [%.64s] is not [TYPE \"ID\"] or [TYPE:ID]",
			section);
		return 0;
	}
	const struct ntf_target_type *t = find_type(b->types, type, tlen);
	if (!t) {
		set_err(b->err, b->file, b->line, "",
			"unknown target type \"%.*s\"",
			(int)(tlen > 32 ? 32 : tlen), type);
		return 0;
	}
	if (!valid_id(id, ilen)) {
		set_err(b->err, b->file, b->line, "",
			"target ID must be 1-%d letters, digits, '_', '-' "
			"or '.'",
			NTF_LIMIT_TARGET_ID);
		return 0;
	}
	if (find_draft(b, t, id, ilen)) {
		set_err(b->err, b->file, b->line, "",
			"target %.*s:%s is configured twice", (int)ilen, id,
			t->name);
		return 0;
	}
	b->cur = add_draft(b, t, id, ilen, b->line);
	if (!b->cur) {
		set_err(b->err, b->file, b->line, "",
			b->n == NTF_LIMIT_TARGETS ? "too many targets"
						  : "out of memory");
		return 0;
	}
	return 1;
}

static int set_key(struct builder *b, struct draft *d, const char *key,
		   const char *value, int line, const char *origin)
{
	int k = key_index(d->type, key);
	if (k < 0) {
		set_err(b->err, origin, line, key,
			"unknown key for a %s target", d->type->name);
		return 0;
	}
	if (line > 0 && d->lines[k] > 0) {
		set_err(b->err, origin, line, key,
			"given twice (first on line %d)", d->lines[k]);
		return 0;
	}
	if (strlen(value) > NTF_LIMIT_CONFIG_VALUE) {
		set_err(b->err, origin, line, key, "value longer than %d bytes",
			NTF_LIMIT_CONFIG_VALUE);
		return 0;
	}
	char *v = strdup(value);
	if (!v) {
		set_err(b->err, origin, line, key, "out of memory");
		return 0;
	}
	free(d->raw[k]);
	d->raw[k] = v;
	d->lines[k] = line > 0 ? line : -1;
	if (line > 0 && opt_at(d->type, (size_t)k)->type == NTF_OPT_SECRET)
		b->secrets = true;
	return 1;
}

/* inih's callback for each key.  Sections are opened by the line reader
 * (so an empty or repeated section is seen too); b->cur is the current
 * one. */
static int handle_kv(void *user, const char *section, const char *name,
		     const char *value)
{
	struct builder *b = user;
	if (b->failed)
		return 1;
	if (!b->cur) {
		set_err(b->err, b->file, b->line, name,
			"key outside a [TYPE \"ID\"] section");
		b->failed = true;
		return 0;
	}
	if (!set_key(b, b->cur, name, value, b->line, b->file)) {
		b->failed = true;
		return 0;
	}
	return 1;
}

/* ---- the line reader ----
 *
 * inih's optional rules are build options of the library, and Debian's
 * has them all on: an indented line continues the previous value (so an
 * indented [section] would become a value), " ;" starts a comment inside
 * a value (so "token = a ;b" would lose ";b"), a UTF-8 BOM is skipped.
 * The reader checks every line before inih sees it and refuses the lines
 * those rules would change, so inih only splits lines that any build
 * reads alike: a value is its text to the end of the line, trimmed. */

#define SYNTAX_ERROR \
	"syntax error (expected [TYPE \"ID\"], key = value, or a comment)"

/* A blank as inih sees one (isspace), so both split a line alike. */
static bool blank(char c)
{
	return isspace((unsigned char)c);
}

/* Is there a ';' or '#' right after a blank in s[0..len)?  inih would cut
 * the text at " ;"; " #" is as likely meant as a comment.  Either way the
 * line is ambiguous, and in a token a wrong guess is a silent error. */
static bool has_inline_comment(const char *s, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if ((s[i] == ';' || s[i] == '#') && blank(s[i - 1]))
			return true;
	return false;
}

static void reader_fail(struct builder *b, const char *key, const char *why)
{
	set_err(b->err, b->file, b->line, key, "%s", why);
	b->failed = true;
}

/* A section header line: open the draft (before inih sees the line).
 * Only a comment may follow the ']': inih would ignore any text there. */
static void reader_section(struct builder *b, const char *line, size_t len)
{
	const char *end = memchr(line, ']', len);
	if (!end) {
		reader_fail(b, "", SYNTAX_ERROR);
		return;
	}
	const char *rest = end + 1;
	while (rest < line + len && blank(*rest))
		rest++;
	if (rest < line + len && *rest != ';' && *rest != '#') {
		reader_fail(b, "",
			    "text after the section header (only a comment "
			    "may follow it)");
		return;
	}
	const char *s = line + 1;
	size_t n = (size_t)(end - s);
	while (n && blank(*s))
		s++, n--;
	while (n && blank(s[n - 1]))
		n--;
	char name[NTF_LIMIT_TARGET_ID + 64];
	if (n >= sizeof(name)) {
		reader_fail(b, "", "section name too long");
		return;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	if (!begin_section(b, name))
		b->failed = true;
}

/* A "key = value" (or "key: value") line: inih splits it at the first
 * '=' or ':'; refuse what it would not take verbatim. */
static void reader_key(struct builder *b, const char *line, size_t len)
{
	size_t sep = 0;
	while (sep < len && line[sep] != '=' && line[sep] != ':')
		sep++;
	if (sep == len || has_inline_comment(line, sep)) {
		reader_fail(b, "", SYNTAX_ERROR);
		return;
	}
	if (!has_inline_comment(line + sep + 1, len - sep - 1))
		return;
	size_t kl = sep;
	while (kl && blank(line[kl - 1]))
		kl--;
	char key[sizeof(b->err->key)];
	snprintf(key, sizeof(key), "%.*s", (int)kl, line);
	reader_fail(b, key,
		    "';' or '#' after a blank: no inline comments (put the "
		    "comment on its own line, or the value in the "
		    "environment)");
}

/* Check one line (without its BOM) and open sections. */
static void reader_line(struct builder *b, const char *line, size_t len)
{
	while (len && blank(line[len - 1]))
		len--;
	size_t i = 0;
	while (i < len && blank(line[i]))
		i++;
	if (i == len || line[i] == ';' || line[i] == '#')
		return; /* blank or a comment, wherever it starts */
	if (i > 0)
		reader_fail(b, "",
			    "indented line (continuation lines are not "
			    "supported)");
	else if (line[0] == '[')
		reader_section(b, line, len);
	else
		reader_key(b, line, len);
}

/* inih's line reader over memory (fgets semantics).  A line longer than
 * inih's fixed buffer would be split into two lines: stop instead. */
static char *read_line(char *str, int num, void *stream)
{
	struct builder *b = stream;
	if (b->failed || b->pos >= b->len || num < 2)
		return NULL;
	const char *p = b->text + b->pos;
	size_t left = b->len - b->pos;
	const char *nl = memchr(p, '\n', left);
	size_t n = nl ? (size_t)(nl - p) + 1 : left;
	b->line++;
	if (n > (size_t)num - 1) {
		set_err(b->err, b->file, b->line, "",
			"line longer than %d bytes (give long values in the "
			"environment)",
			num - 2);
		b->failed = true;
		return NULL;
	}
	if (memchr(p, '\0', n)) {
		set_err(b->err, b->file, b->line, "", "NUL byte in the file");
		b->failed = true;
		return NULL;
	}
	memcpy(str, p, n);
	str[n] = '\0';
	b->pos += n;
	reader_line(b, str, n);
	return b->failed ? NULL : str;
}

/* ---- the environment ---- */

static void upper(char *dst, const char *src, size_t cap)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] =
			(src[i] >= 'a' && src[i] <= 'z') ? src[i] - 32 : src[i];
	dst[i] = '\0';
}

/* Does var (NAME=VALUE) set key of type t?  On a match returns 1 with the
 * ID (possibly "_") and value. */
static int env_match(const char *var, const struct ntf_target_type *t,
		     const char *key, const char **id, size_t *ilen,
		     const char **value)
{
	char pre[128], k[64];
	upper(pre, t->name, sizeof(pre));
	upper(k, key, sizeof(k));
	size_t pl = strlen(ENV_PREFIX), tl = strlen(pre), kl = strlen(k);
	if (strncmp(var, ENV_PREFIX, pl) != 0 ||
	    strncmp(var + pl, pre, tl) != 0 || var[pl + tl] != '_' ||
	    strncmp(var + pl + tl + 1, k, kl) != 0)
		return 0;
	const char *rest = var + pl + tl + 1 + kl;
	const char *eq = strchr(rest, '=');
	if (!eq)
		return 0;
	if (rest == eq) {
		*id = "_", *ilen = 1;
	} else if (*rest == '_' && eq > rest + 1) {
		*id = rest + 1, *ilen = (size_t)(eq - rest - 1);
	} else {
		return 0;
	}
	*value = eq + 1;
	return 1;
}

/* The name part of var, for messages. */
static void var_name(const char *var, char *out, size_t cap)
{
	const char *eq = strchr(var, '=');
	size_t n = eq ? (size_t)(eq - var) : strlen(var);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, var, n);
	out[n] = '\0';
}

/* Pass 1: ENABLE variables make (or disable) targets. */
static int env_enable(struct builder *b, char *const *env)
{
	for (size_t i = 0; env[i]; i++) {
		for (size_t t = 0; b->types[t]; t++) {
			const char *id, *v;
			size_t ilen;
			uint64_t on;
			if (!env_match(env[i], b->types[t], "enable", &id,
				       &ilen, &v))
				continue;
			char name[128];
			var_name(env[i], name, sizeof(name));
			if (!valid_id(id, ilen) || parse_bool(v, &on) < 0) {
				set_err(b->err, ENV_ORIGIN, 0, name,
					valid_id(id, ilen)
						? "must be on or off"
						: "bad target ID in the name");
				return -EINVAL;
			}
			struct draft *d = find_draft(b, b->types[t], id, ilen);
			if (!d && on)
				d = add_draft(b, b->types[t], id, ilen, 0);
			if (!d && on) {
				set_err(b->err, ENV_ORIGIN, 0, name,
					"too many targets");
				return -EINVAL;
			}
			if (d && !set_key(b, d, "enable", v, 0, ENV_ORIGIN))
				return -EINVAL;
		}
	}
	return 0;
}

/* Pass 2: every other key of a known target.  A BUCKETFS_NOTIFY_<TYPE>_*
 * variable that sets no key of an existing target is an error: it is
 * almost certainly a typo. */
static int env_keys(struct builder *b, char *const *env)
{
	for (size_t i = 0; env[i]; i++) {
		if (strncmp(env[i], ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
			continue;
		char name[128];
		var_name(env[i], name, sizeof(name));
		bool used = false;
		for (size_t j = 0; j < b->n && !used; j++) {
			struct draft *d = &b->d[j];
			for (size_t k = 0; k < d->n_keys && !used; k++) {
				const char *id, *v;
				size_t ilen;
				if (!env_match(env[i], d->type,
					       opt_at(d->type, k)->name, &id,
					       &ilen, &v) ||
				    strlen(d->id) != ilen ||
				    memcmp(d->id, id, ilen) != 0)
					continue;
				used = true;
				if (k != NTF_CFG_ENABLE &&
				    !set_key(b, d, opt_at(d->type, k)->name, v,
					     0, ENV_ORIGIN))
					return -EINVAL;
			}
		}
		if (!used && !strstr(name, "_ENABLE")) {
			set_err(b->err, ENV_ORIGIN, 0, name,
				"names no key of a configured target (set "
				"BUCKETFS_NOTIFY_<TYPE>_ENABLE_<ID>=on)");
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- finishing ---- */

static void target_free(struct ntf_config_target *t)
{
	for (size_t i = 0; t->vals && i < t->n_vals; i++)
		free((char *)t->vals[i].s);
	free(t->vals);
	free(t->id);
	free(t->name);
	free(t->origin);
}

void ntf_config_free(struct ntf_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		target_free(&c->targets[i]);
	free(c->targets);
	free(c->path);
	free(c);
}

/* Where key k of d was set, for messages. */
static void where(const struct builder *b, const struct draft *d, size_t k,
		  const char **file, int *line)
{
	int l = d->lines[k] ? d->lines[k] : d->line;
	*file = l > 0 ? b->file : ENV_ORIGIN;
	*line = l > 0 ? l : 0;
}

/* Defaults, conversion and whole-target checks of one draft. */
static int finish_one(struct builder *b, struct draft *d,
		      struct ntf_config_target *t)
{
	const char *file;
	int line;
	t->n_vals = d->n_keys;
	t->vals = calloc(d->n_keys, sizeof(*t->vals));
	if (!t->vals)
		return -ENOMEM;
	for (size_t k = 0; k < d->n_keys; k++) {
		const struct ntf_target_opt *o = opt_at(d->type, k);
		const char *s = d->raw[k] ? d->raw[k] : o->deflt;
		where(b, d, k, &file, &line);
		if (!s && o->required) {
			set_err(b->err, file, d->line, o->name,
				"required for a %s target", d->type->name);
			return -EINVAL;
		}
		if (!s)
			continue;
		const char *why = check_value(o, s, &t->vals[k].u);
		if (why) {
			set_err(b->err, file, line, o->name, "%s", why);
			return -EINVAL;
		}
		if (!(t->vals[k].s = strdup(s)))
			return -ENOMEM;
	}
	where(b, d, NTF_CFG_RETRY_MAX, &file, &line);
	if (t->vals[NTF_CFG_RETRY_MIN].u > t->vals[NTF_CFG_RETRY_MAX].u) {
		set_err(b->err, file, line, "retry_max",
			"must not be below retry_min");
		return -EINVAL;
	}
	where(b, d, NTF_CFG_BATCH_SIZE, &file, &line);
	if (t->vals[NTF_CFG_BATCH_SIZE].u > 1 &&
	    !(d->type->caps & NTF_TARGET_CAP_BATCH)) {
		set_err(b->err, file, line, "batch_size",
			"a %s target sends one record per message",
			d->type->name);
		return -EINVAL;
	}
	size_t nl = strlen(d->id) + strlen(d->type->name) + 2;
	t->type = d->type;
	t->id = strdup(d->id);
	t->name = malloc(nl);
	if (t->name)
		snprintf(t->name, nl, "%s:%s", d->id, d->type->name);
	char org[300];
	snprintf(org, sizeof(org), "%s:%d", b->file, d->line);
	t->origin = strdup(d->line > 0 ? org : ENV_ORIGIN);
	return t->id && t->name && t->origin ? 0 : -ENOMEM;
}

static int cmp_target(const void *a, const void *b)
{
	return strcmp(((const struct ntf_config_target *)a)->name,
		      ((const struct ntf_config_target *)b)->name);
}

static int finish(struct builder *b, struct ntf_config **out)
{
	struct ntf_config *c = calloc(1, sizeof(*c));
	if (!c || !(c->targets = calloc(b->n + 1, sizeof(*c->targets)))) {
		free(c);
		set_err(b->err, b->file, 0, "", "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		uint64_t on = 1;
		if (b->d[i].raw[NTF_CFG_ENABLE])
			parse_bool(b->d[i].raw[NTF_CFG_ENABLE], &on);
		if (!on)
			continue;
		rc = finish_one(b, &b->d[i], &c->targets[c->n]);
		c->n++;
		if (rc == -ENOMEM)
			set_err(b->err, b->file, 0, "", "out of memory");
	}
	if (rc < 0) {
		ntf_config_free(c);
		return rc;
	}
	qsort(c->targets, c->n, sizeof(*c->targets), cmp_target);
	*out = c;
	return 0;
}

static void builder_free(struct builder *b)
{
	for (size_t i = 0; i < b->n; i++)
		draft_free(&b->d[i]);
	free(b->d);
}

/* The three passes over text (which may be NULL: environment only). */
static int build(struct builder *b, const char *text, size_t len,
		 char *const *env, struct ntf_config **out)
{
	b->text = text;
	b->len = text ? len : 0;
	/* A UTF-8 BOM (editors on Windows write one) is not text; skip it
	 * here rather than count on inih's INI_ALLOW_BOM. */
	if (b->len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		b->pos = 3;
	if (b->len) {
		int rc = ini_parse_stream(read_line, b, handle_kv, b);
		if (b->failed)
			return -EINVAL;
		/* The reader refuses every line inih would; this is a
		 * backstop. */
		if (rc != 0) {
			set_err(b->err, b->file, rc > 0 ? rc : 0, "",
				rc > 0 ? SYNTAX_ERROR : "cannot read the file");
			return -EINVAL;
		}
	}
	if (env && (env_enable(b, env) < 0 || env_keys(b, env) < 0))
		return -EINVAL;
	return finish(b, out);
}

int ntf_config_parse(const char *text, size_t len, const char *name,
		     char *const *env, ntf_config_types types,
		     struct ntf_config **out, struct ntf_config_error *err)
{
	struct ntf_config_error dummy;
	struct builder b = {.types = types,
			    .file = name ? name : "",
			    .err = err ? err : &dummy};
	memset(b.err, 0, sizeof(*b.err));
	*out = NULL;
	int rc = build(&b, text, len, env, out);
	builder_free(&b);
	return rc;
}

/* Read a whole (small) file; sets *len.  Returns NULL with errno set. */
static char *slurp(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			if (cap >= NTF_LIMIT_CONFIG_BYTES) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0) {
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	errno = ENOMEM;
	return NULL;
}

/* Secrets in a file others can read: refuse, or warn when insecure. */
static int check_mode(const struct ntf_config_source *src, const char *path,
		      const struct stat *st, char **warning,
		      struct ntf_config_error *err)
{
	if (!(st->st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)))
		return 0;
	if (!src->insecure) {
		set_err(err, path, 0, "",
			"holds secrets but others can read or write it (mode "
			"%04o): chmod 600 it, or mount with -o "
			"insecure_config",
			(unsigned)(st->st_mode & 07777));
		return -EACCES;
	}
	if (warning) {
		size_t n = strlen(path) + 128;
		*warning = malloc(n);
		if (*warning)
			snprintf(*warning, n,
				 "%s holds secrets but others can read it "
				 "(mode %04o; insecure_config)",
				 path, (unsigned)(st->st_mode & 07777));
	}
	return 0;
}

static int load_file(const struct ntf_config_source *src, const char *path,
		     ntf_config_types types, struct ntf_config **out,
		     char **warning, struct ntf_config_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		set_err(err, path, 0, "", "%s", strerror(e));
		if (fd >= 0)
			close(fd);
		return e == ENOENT ? -ENOENT : -EINVAL;
	}
	size_t len = 0;
	char *text = S_ISREG(st.st_mode) ? slurp(fd, &len) : NULL;
	int e = errno;
	close(fd);
	if (!text) {
		set_err(err, path, 0, "", "%s",
			S_ISREG(st.st_mode) ? strerror(e) : "not a file");
		return -EINVAL;
	}
	struct builder b = {.types = types, .file = path, .err = err};
	int rc = build(&b, text, len, src->environ, out);
	free(text);
	if (rc == 0 && b.secrets)
		rc = check_mode(src, path, &st, warning, err);
	builder_free(&b);
	if (rc == 0 && !((*out)->path = strdup(path)))
		rc = -ENOMEM;
	if (rc < 0) {
		ntf_config_free(*out);
		*out = NULL;
	}
	return rc;
}

int ntf_config_load(const struct ntf_config_source *src, ntf_config_types types,
		    struct ntf_config **out, char **warning,
		    struct ntf_config_error *err)
{
	struct ntf_config_error dummy;
	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (warning)
		*warning = NULL;
	char *def = src->path ? NULL : ntf_config_default_path();
	const char *path = src->path ? src->path : def;
	int rc;
	if (path) {
		rc = load_file(src, path, types, out, warning, err);
	} else {
		struct builder b = {
			.types = types, .file = ENV_ORIGIN, .err = err};
		rc = build(&b, NULL, 0, src->environ, out);
		builder_free(&b);
	}
	free(def);
	return rc;
}

/* dir/bucketfs/bucketfs.conf when it exists. */
static char *candidate(const char *dir, const char *sub)
{
	if (!dir || dir[0] != '/')
		return NULL;
	size_t n = strlen(dir) + strlen(sub) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", dir, sub);
	if (p && access(p, F_OK) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

char *ntf_config_default_path(void)
{
	char *p =
		candidate(getenv("XDG_CONFIG_HOME"), "/bucketfs/bucketfs.conf");
	if (!p)
		p = candidate(getenv("HOME"),
			      "/.config/bucketfs/bucketfs.conf");
	if (!p)
		p = candidate("/etc", "/bucketfs/bucketfs.conf");
	return p;
}

const struct ntf_config_target *ntf_config_find(const struct ntf_config *c,
						const char *name)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->targets[i].name, name) == 0)
			return &c->targets[i];
	return NULL;
}

bool ntf_config_target_equal(const struct ntf_config_target *a,
			     const struct ntf_config_target *b)
{
	if (a->type != b->type || a->n_vals != b->n_vals ||
	    strcmp(a->name, b->name) != 0)
		return false;
	for (size_t i = 0; i < a->n_vals; i++) {
		const char *x = a->vals[i].s, *y = b->vals[i].s;
		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			return false;
	}
	return true;
}

const char *ntf_config_get(const struct ntf_config_target *t, const char *key)
{
	for (size_t i = 0; t->type->opts && t->type->opts[i].name; i++)
		if (strcmp(t->type->opts[i].name, key) == 0)
			return t->vals[NTF_CFG_N_COMMON + i].s;
	return NULL;
}

static const char *type_word(enum ntf_opt_type t)
{
	static const char *const words[] = {
		[NTF_OPT_STRING] = "text",	 [NTF_OPT_SECRET] = "secret",
		[NTF_OPT_BOOL] = "on|off",	 [NTF_OPT_UINT] = "number",
		[NTF_OPT_DURATION] = "duration", [NTF_OPT_PATH] = "path",
	};
	return words[t];
}

static void usage_table(FILE *f, const char *title,
			const struct ntf_target_opt *o)
{
	fprintf(f, "%s\n", title);
	for (; o && o->name; o++) {
		fprintf(f, "  %-16s %-8s %s%s", o->name, type_word(o->type),
			o->help, o->required ? " (required)" : "");
		if (o->deflt)
			fprintf(f, " [%s]", o->deflt);
		fputc('\n', f);
	}
}

void ntf_config_usage(ntf_config_types types, void *fp)
{
	FILE *f = fp;
	usage_table(f, "keys of every target:", ntf_config_common);
	for (size_t i = 0; types && types[i]; i++) {
		char title[96];
		snprintf(title, sizeof(title),
			 "keys of [%s \"ID\"]:", types[i]->name);
		usage_table(f, title, types[i]->opts);
	}
}
