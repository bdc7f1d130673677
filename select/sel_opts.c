/*
 * sel_opts.c - InputSerialization / OutputSerialization / ScanRange in the
 * JSON shapes of `aws s3api select-object-content`, parsed with jansson and
 * validated with S3's error codes.
 */
#include "sel_opts.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sel_err.h"

static void delim(struct sel_delim *d, const char *s)
{
	d->len = (uint8_t)strlen(s);
	memcpy(d->s, s, d->len);
}

void sel_opts_default_in(struct sel_in_opts *in, int format)
{
	memset(in, 0, sizeof(*in));
	in->format = format;
	delim(&in->field_delim, ",");
	delim(&in->record_delim, "\n");
	delim(&in->quote, "\"");
	delim(&in->quote_escape, "\"");
	delim(&in->comments, "#");
	in->json_document = true;
}

void sel_opts_default_out(struct sel_out_opts *out, int format)
{
	memset(out, 0, sizeof(*out));
	out->format = format;
	delim(&out->field_delim, ",");
	delim(&out->record_delim, "\n");
	delim(&out->quote, "\"");
	delim(&out->quote_escape, "\"");
}

static int load(const char *text, size_t len, json_t **root,
		struct sel_error *err)
{
	json_error_t je;
	if (len > SEL_MAX_OPTS_JSON)
		return sel_err_set(err, SEL_E_MalformedXML, 0, 0,
				   "serialization document too long");
	*root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!*root)
		return sel_err_set(err, SEL_E_MalformedXML, 0, 0,
				   "malformed serialization JSON: %s", je.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		return sel_err_set(err, SEL_E_MalformedXML, 0, 0,
				   "the serialization must be a JSON object");
	}
	return 0;
}

static int get_delim(json_t *v, const char *key, struct sel_delim *d,
		     bool allow_empty, size_t maxlen, struct sel_error *err)
{
	if (!json_is_string(v))
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "%s must be a string", key);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if ((!allow_empty && n == 0) || n > maxlen)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "invalid %s value '%s'", key, s);
	d->len = (uint8_t)n;
	memcpy(d->s, s, n);
	return 0;
}

static int get_bool(json_t *v, const char *key, bool *out,
		    struct sel_error *err)
{
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0)
		*out = true;
	else if (json_is_string(v) &&
		 strcasecmp(json_string_value(v), "false") == 0)
		*out = false;
	else
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "%s must be TRUE or FALSE", key);
	return 0;
}

static int csv_in(json_t *o, struct sel_in_opts *in, struct sel_error *err)
{
	const char *key;
	json_t *v;
	int r = 0;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "FileHeaderInfo") == 0) {
			const char *s = json_string_value(v);
			if (s && strcasecmp(s, "NONE") == 0)
				in->header = SEL_HDR_NONE;
			else if (s && strcasecmp(s, "IGNORE") == 0)
				in->header = SEL_HDR_IGNORE;
			else if (s && strcasecmp(s, "USE") == 0)
				in->header = SEL_HDR_USE;
			else
				return sel_err_set(
					err, SEL_E_InvalidFileHeaderInfo, 0, 0,
					"FileHeaderInfo must be "
					"NONE, IGNORE or USE");
		} else if (strcmp(key, "Comments") == 0) {
			r = get_delim(v, key, &in->comments, true,
				      SEL_MAX_DELIM, err);
		} else if (strcmp(key, "QuoteEscapeCharacter") == 0) {
			r = get_delim(v, key, &in->quote_escape, true, 1, err);
		} else if (strcmp(key, "RecordDelimiter") == 0) {
			r = get_delim(v, key, &in->record_delim, false,
				      SEL_MAX_DELIM, err);
		} else if (strcmp(key, "FieldDelimiter") == 0) {
			r = get_delim(v, key, &in->field_delim, false,
				      SEL_MAX_DELIM, err);
		} else if (strcmp(key, "QuoteCharacter") == 0) {
			r = get_delim(v, key, &in->quote, true, 1, err);
		} else if (strcmp(key, "AllowQuotedRecordDelimiter") == 0) {
			r = get_bool(v, key, &in->allow_quoted_rd, err);
		} else {
			return sel_err_set(err, SEL_E_InvalidRequestParameter,
					   0, 0, "unknown CSV option %s", key);
		}
		if (r)
			return r;
	}
	if (in->field_delim.len == in->record_delim.len &&
	    memcmp(in->field_delim.s, in->record_delim.s,
		   in->field_delim.len) == 0)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "FieldDelimiter and RecordDelimiter must "
				   "differ");
	return 0;
}

static int json_in(json_t *o, struct sel_in_opts *in, struct sel_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		const char *s = json_string_value(v);
		if (strcmp(key, "Type") != 0)
			return sel_err_set(err, SEL_E_InvalidRequestParameter,
					   0, 0, "unknown JSON option %s", key);
		if (s && strcasecmp(s, "DOCUMENT") == 0)
			in->json_document = true;
		else if (s && strcasecmp(s, "LINES") == 0)
			in->json_document = false;
		else
			return sel_err_set(err, SEL_E_InvalidJsonType, 0, 0,
					   "JSON Type must be DOCUMENT or "
					   "LINES");
	}
	return 0;
}

static int compression(json_t *v, int *comp, struct sel_error *err)
{
	const char *s = json_string_value(v);
	if (s && strcasecmp(s, "NONE") == 0)
		*comp = SEL_COMP_NONE;
	else if (s && strcasecmp(s, "GZIP") == 0)
		*comp = SEL_COMP_GZIP;
	else if (s && strcasecmp(s, "BZIP2") == 0)
		*comp = SEL_COMP_BZIP2;
	else
		return sel_err_set(err, SEL_E_InvalidCompressionFormat, 0, 0,
				   "CompressionType must be NONE, GZIP or "
				   "BZIP2");
	return 0;
}

static int in_members(json_t *root, struct sel_in_opts *in,
		      struct sel_error *err)
{
	const char *key;
	json_t *v, *fmt = NULL;
	int nfmt = 0, comp = SEL_COMP_NONE, r;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "CompressionType") == 0) {
			if ((r = compression(v, &comp, err)))
				return r;
			continue;
		}
		int f = strcmp(key, "CSV") == 0	      ? SEL_FMT_CSV
			: strcmp(key, "JSON") == 0    ? SEL_FMT_JSON
			: strcmp(key, "Parquet") == 0 ? SEL_FMT_PARQUET
						      : 0;
		if (!f)
			return sel_err_set(err, SEL_E_MalformedXML, 0, 0,
					   "unknown InputSerialization member "
					   "%s",
					   key);
		if (!json_is_object(v))
			return sel_err_set(err, SEL_E_MalformedXML, 0, 0,
					   "%s must be an object", key);
		nfmt++;
		in->format = f;
		fmt = v;
	}
	if (nfmt > 1)
		return sel_err_set(err, SEL_E_ObjectSerializationConflict, 0, 0,
				   "InputSerialization must name exactly one "
				   "format");
	if (nfmt == 0)
		return sel_err_set(err, SEL_E_MissingRequiredParameter, 0, 0,
				   "InputSerialization names no format (CSV, "
				   "JSON or Parquet)");
	int f = in->format;
	sel_opts_default_in(in, f);
	in->compression = comp;
	in->set = true;
	if (f == SEL_FMT_CSV)
		return csv_in(fmt, in, err);
	if (f == SEL_FMT_JSON)
		return json_in(fmt, in, err);
	if (comp != SEL_COMP_NONE)
		return sel_err_set(err, SEL_E_InvalidCompressionFormat, 0, 0,
				   "Parquet input takes no CompressionType");
	return 0;
}

int sel_opts_parse_in(const char *text, size_t len, struct sel_in_opts *in,
		      struct sel_error *err)
{
	json_t *root;
	int r = load(text, len, &root, err);
	if (r)
		return r;
	r = in_members(root, in, err);
	json_decref(root);
	return r;
}

static int csv_out(json_t *o, struct sel_out_opts *out, struct sel_error *err)
{
	const char *key;
	json_t *v;
	int r = 0;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "QuoteFields") == 0) {
			const char *s = json_string_value(v);
			if (s && strcasecmp(s, "ALWAYS") == 0)
				out->quote_always = true;
			else if (s && strcasecmp(s, "ASNEEDED") == 0)
				out->quote_always = false;
			else
				return sel_err_set(
					err, SEL_E_InvalidQuoteFields, 0, 0,
					"QuoteFields must be "
					"ALWAYS or ASNEEDED");
		} else if (strcmp(key, "QuoteEscapeCharacter") == 0) {
			r = get_delim(v, key, &out->quote_escape, true, 1, err);
		} else if (strcmp(key, "RecordDelimiter") == 0) {
			r = get_delim(v, key, &out->record_delim, true,
				      SEL_MAX_DELIM, err);
		} else if (strcmp(key, "FieldDelimiter") == 0) {
			r = get_delim(v, key, &out->field_delim, true,
				      SEL_MAX_DELIM, err);
		} else if (strcmp(key, "QuoteCharacter") == 0) {
			r = get_delim(v, key, &out->quote, true, 1, err);
		} else {
			return sel_err_set(err, SEL_E_InvalidRequestParameter,
					   0, 0, "unknown CSV output option %s",
					   key);
		}
		if (r)
			return r;
	}
	return 0;
}

static int json_out(json_t *o, struct sel_out_opts *out, struct sel_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "RecordDelimiter") != 0)
			return sel_err_set(
				err, SEL_E_InvalidRequestParameter, 0, 0,
				"unknown JSON output option %s", key);
		int r = get_delim(v, key, &out->record_delim, true,
				  SEL_MAX_DELIM, err);
		if (r)
			return r;
	}
	return 0;
}

int sel_opts_parse_out(const char *text, size_t len, struct sel_out_opts *out,
		       struct sel_error *err)
{
	json_t *root, *csv, *js;
	int r = load(text, len, &root, err);
	if (r)
		return r;
	csv = json_object_get(root, "CSV");
	js = json_object_get(root, "JSON");
	if (json_object_size(root) != (csv ? 1u : 0u) + (js ? 1u : 0u))
		r = sel_err_set(err, SEL_E_MalformedXML, 0, 0,
				"OutputSerialization takes CSV or JSON only");
	else if (csv && js)
		r = sel_err_set(err, SEL_E_ObjectSerializationConflict, 0, 0,
				"OutputSerialization must name exactly one "
				"format");
	else if (!csv && !js)
		r = sel_err_set(err, SEL_E_MissingRequiredParameter, 0, 0,
				"OutputSerialization names no format");
	else if (!json_is_object(csv ? csv : js))
		r = sel_err_set(err, SEL_E_MalformedXML, 0, 0,
				"the format must be an object");
	if (r == 0) {
		sel_opts_default_out(out, csv ? SEL_FMT_CSV : SEL_FMT_JSON);
		out->set = true;
		r = csv ? csv_out(csv, out, err) : json_out(js, out, err);
	}
	json_decref(root);
	return r;
}

static int range_num(const char *p, size_t n, uint64_t *v)
{
	if (n == 0 || n > 19)
		return -EINVAL;
	uint64_t acc = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		acc = acc * 10 + (uint64_t)(p[i] - '0');
	}
	*v = acc;
	return 0;
}

int sel_opts_parse_range(const char *text, size_t len, struct sel_range *r,
			 struct sel_error *err)
{
	memset(r, 0, sizeof(*r));
	size_t k = 0;
	while (k < len) {
		size_t e = k;
		while (e < len && text[e] != ',')
			e++;
		const char *eq = memchr(text + k, '=', e - k);
		if (!eq)
			goto bad;
		size_t kl = (size_t)(eq - (text + k));
		const char *val = eq + 1;
		size_t vl = (size_t)(text + e - val);
		if (kl == 5 && strncasecmp(text + k, "Start", 5) == 0 &&
		    !r->has_start && range_num(val, vl, &r->start) == 0)
			r->has_start = true;
		else if (kl == 3 && strncasecmp(text + k, "End", 3) == 0 &&
			 !r->has_end && range_num(val, vl, &r->end) == 0)
			r->has_end = true;
		else
			goto bad;
		k = e + 1;
	}
	if (!r->has_start && !r->has_end)
		goto bad;
	if (r->has_start && r->has_end && r->start > r->end)
		goto bad;
	return 0;
bad:
	return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
			   "The value of a parameter in ScanRange element is "
			   "invalid: '%.*s'",
			   (int)(len > 100 ? 100 : len), text);
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t l = strlen(suf);
	return n >= l && strncasecmp(s + n - l, suf, l) == 0;
}

int sel_opts_infer(const char *name, struct sel_in_opts *in)
{
	if (!name)
		return -ENOENT;
	size_t n = strlen(name);
	int comp = SEL_COMP_NONE;
	if (ends_with(name, n, ".gz")) {
		comp = SEL_COMP_GZIP;
		n -= 3;
	} else if (ends_with(name, n, ".bz2")) {
		comp = SEL_COMP_BZIP2;
		n -= 4;
	}
	if (ends_with(name, n, ".csv")) {
		sel_opts_default_in(in, SEL_FMT_CSV);
	} else if (ends_with(name, n, ".tsv")) {
		sel_opts_default_in(in, SEL_FMT_CSV);
		delim(&in->field_delim, "\t");
	} else if (ends_with(name, n, ".json")) {
		sel_opts_default_in(in, SEL_FMT_JSON);
	} else if (ends_with(name, n, ".ndjson") ||
		   ends_with(name, n, ".jsonl")) {
		sel_opts_default_in(in, SEL_FMT_JSON);
		in->json_document = false;
	} else if (ends_with(name, n, ".parquet") && comp == SEL_COMP_NONE) {
		sel_opts_default_in(in, SEL_FMT_PARQUET);
	} else {
		return -ENOENT;
	}
	in->compression = comp;
	return 0;
}
