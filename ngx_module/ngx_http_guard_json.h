
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * A strict parser of the admin API's request bodies: one flat JSON object
 * (RFC 8259) whose values are strings, numbers, true, false or null.  A
 * pure parser over bytes: it includes nothing from nginx, so the unit
 * test and the fuzzer link it alone.  It never reads past in + len,
 * allocates nothing and does not recurse.
 *
 * Accepted:
 *   - an empty body, or one of whitespace only: an object of no fields;
 *   - one object, with RFC 8259 whitespace (space, tab, CR, LF) around it
 *     and between its tokens, of at most NGX_HTTP_GUARD_JSON_MAX_FIELDS
 *     fields with non-empty keys, unique once unescaped;
 *   - strings of valid UTF-8 (no overlong forms, no surrogates, nothing
 *     above U+10FFFF) without control characters, with every RFC 8259
 *     escape, \uXXXX included (surrogate pairs as one character), except
 *     \u0000;
 *   - numbers by the RFC 8259 grammar: no '+', no leading zeros, no bare
 *     '.', no hex, no NaN or Infinity.
 * Anything else is an error: nested objects and arrays, trailing data,
 * a truncated body, too many fields, and so on.
 *
 * Keys and string values are unescaped into the caller's scratch buffer
 * (scratch_size bytes; len bytes are always enough), each followed by a
 * NUL there, so key and str may be used as C strings too.  For the other
 * types str is NULL and str_len 0.  A number has is_int = 1 and its value
 * in num when it is an integer within int64_t (no fraction, no exponent);
 * otherwise, and for the types that are not numbers, is_int = 0 and
 * num = 0.
 *
 * On success: 0, error = NULL and error_at = 0.  On error: -1, nfields =
 * 0, error a short static sentence (printable ASCII without quotes or
 * backslashes, safe in a log line and in a JSON string) and error_at the
 * offset in the body where the problem was seen (len when it ended too
 * soon; the opening quote for an unterminated string, a duplicate key, an
 * empty key or one too many).
 */


#ifndef _NGX_HTTP_GUARD_JSON_H_INCLUDED_
#define _NGX_HTTP_GUARD_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_GUARD_JSON_MAX_FIELDS  16

#define NGX_HTTP_GUARD_JSON_STRING      1
#define NGX_HTTP_GUARD_JSON_NUMBER      2
#define NGX_HTTP_GUARD_JSON_TRUE        3
#define NGX_HTTP_GUARD_JSON_FALSE       4
#define NGX_HTTP_GUARD_JSON_NULL        5


typedef struct {
    const unsigned char          *key;        /* in scratch, NUL after */
    size_t                        key_len;
    int                           type;       /* NGX_HTTP_GUARD_JSON_* */
    const unsigned char          *str;        /* in scratch, NUL after */
    size_t                        str_len;
    int64_t                       num;
    int                           is_int;
} ngx_http_guard_json_field_t;


typedef struct {
    ngx_http_guard_json_field_t   field[NGX_HTTP_GUARD_JSON_MAX_FIELDS];
    size_t                        nfields;
    unsigned char                *scratch;    /* set by the caller */
    size_t                        scratch_size;
    const char                   *error;
    size_t                        error_at;
} ngx_http_guard_json_t;


/* returns 0 and fills j->field[0..nfields), or -1 with j->error set */
int ngx_http_guard_json_parse(ngx_http_guard_json_t *j,
    const unsigned char *in, size_t len);
/* the field named key (a C string), or NULL */
const ngx_http_guard_json_field_t *ngx_http_guard_json_get(
    ngx_http_guard_json_t *j, const char *key);


#endif /* _NGX_HTTP_GUARD_JSON_H_INCLUDED_ */
