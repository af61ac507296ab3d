
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * A strict parser of the admin API's request bodies (scaffold).
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
    const unsigned char          *key;
    size_t                        key_len;
    int                           type;
    const unsigned char          *str;
    size_t                        str_len;
    int64_t                       num;
    int                           is_int;
} ngx_http_guard_json_field_t;


typedef struct {
    ngx_http_guard_json_field_t   field[NGX_HTTP_GUARD_JSON_MAX_FIELDS];
    size_t                        nfields;
    unsigned char                *scratch;
    size_t                        scratch_size;
    const char                   *error;
    size_t                        error_at;
} ngx_http_guard_json_t;


int ngx_http_guard_json_parse(ngx_http_guard_json_t *j,
    const unsigned char *in, size_t len);
const ngx_http_guard_json_field_t *ngx_http_guard_json_get(
    ngx_http_guard_json_t *j, const char *key);


#endif /* _NGX_HTTP_GUARD_JSON_H_INCLUDED_ */
