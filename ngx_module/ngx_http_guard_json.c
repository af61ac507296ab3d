
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * A strict parser of the admin API's request bodies (scaffold).
 */


#include <string.h>

#include "ngx_http_guard_json.h"


int
ngx_http_guard_json_parse(ngx_http_guard_json_t *j, const unsigned char *in,
    size_t len)
{
    j->nfields = 0;
    j->error = "not implemented";
    j->error_at = 0;

    return -1;
}


const ngx_http_guard_json_field_t *
ngx_http_guard_json_get(ngx_http_guard_json_t *j, const char *key)
{
    size_t  i, n;

    n = strlen(key);

    for (i = 0; i < j->nfields; i++) {
        if (j->field[i].key_len == n && memcmp(j->field[i].key, key, n) == 0) {
            return &j->field[i];
        }
    }

    return NULL;
}
