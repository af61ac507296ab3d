
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Principals of the admin API: the tokens file (read by nginx -t and at
 * each start and reload, refused when other users may read or change it),
 * who a request is (a name nginx has already authenticated, or a bearer
 * token whose hash is compared in constant time with every principal's),
 * which upstreams a principal may touch, and the limit on failed
 * authentications per client address, kept in the shared zone.  Neither a
 * token nor a hash is ever logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <fnmatch.h>

#if (NGX_OPENSSL)
#include <openssl/evp.h>
#include <openssl/crypto.h>
#endif

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


#define NGX_HTTP_GUARD_TOKENS_MAX     (1024 * 1024)     /* file size */
#define NGX_HTTP_GUARD_TOKENS_FIELDS  4
#define NGX_HTTP_GUARD_UPSTREAM_MAX   256   /* on the stack, NUL too */
#define NGX_HTTP_GUARD_LOGNAME_LEN    64    /* of an unknown name, logged */
#define NGX_HTTP_GUARD_AUTH_UNIX      0x78696e75    /* "unix": local key */

/* "guard_admin_tokens "FILE" line N: " */
#define NGX_HTTP_GUARD_TOKENS_AT      "guard_admin_tokens \"%V\" line %ui: "


/* one line of the tokens file, for its error messages */
typedef struct {
    ngx_conf_t                      *cf;
    ngx_http_guard_tokens_t         *tokens;
    ngx_uint_t                       line;
} ngx_http_guard_tokens_line_t;


static char *ngx_http_guard_tokens_read(ngx_conf_t *cf,
    ngx_http_guard_tokens_t *tokens, ngx_str_t *text);
static char *ngx_http_guard_tokens_parse(ngx_conf_t *cf,
    ngx_http_guard_tokens_t *tokens, u_char *p, u_char *last);
static char *ngx_http_guard_tokens_fields(ngx_http_guard_tokens_line_t *tl,
    u_char *p, u_char *last, ngx_str_t *fields, ngx_uint_t *nfields);
static char *ngx_http_guard_tokens_principal(ngx_http_guard_tokens_line_t *tl,
    ngx_str_t *fields);
static char *ngx_http_guard_tokens_upstreams(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p, ngx_str_t *field);
static char *ngx_http_guard_tokens_hash(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p, ngx_str_t *field);
static char *ngx_http_guard_tokens_unique(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p);

static ngx_http_guard_principal_t *ngx_http_guard_auth_find(
    ngx_http_guard_tokens_t *tokens, ngx_str_t *name);
static ngx_int_t ngx_http_guard_auth_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_guard_auth_token(ngx_http_request_t *r,
    ngx_http_guard_tokens_t *tokens, ngx_str_t *token,
    ngx_http_guard_principal_t **pp);
static ngx_uint_t ngx_http_guard_auth_secure(ngx_http_request_t *r);
static uint32_t ngx_http_guard_auth_key(ngx_connection_t *c);
static time_t ngx_http_guard_auth_limited(ngx_http_request_t *r,
    uint32_t key);
static void ngx_http_guard_auth_failed(ngx_http_request_t *r, uint32_t key,
    const char *reason, ngx_str_t *name);
static ngx_http_guard_sh_auth_t *ngx_http_guard_auth_slot(
    ngx_http_guard_sh_t *sh, uint32_t key, time_t now, ngx_uint_t add);
static ngx_uint_t ngx_http_guard_auth_open(uint32_t fails, time_t window,
    time_t now);
static ngx_int_t ngx_http_guard_auth_refuse(ngx_http_guard_auth_error_t *err,
    ngx_uint_t status, const char *code, const char *message,
    time_t retry_after);


static const char  *ngx_http_guard_roles[] = {
    NULL,
    "viewer",                       /* NGX_HTTP_GUARD_ROLE_VIEWER */
    "operator",                     /* NGX_HTTP_GUARD_ROLE_OPERATOR */
    "admin"                         /* NGX_HTTP_GUARD_ROLE_ADMIN */
};


/*
 * guard_admin_principal $variable: a name nginx has authenticated (a
 * certificate's DN, an SSO header set by auth_request).  A value without
 * a variable would make every caller, authenticated or not, that one
 * principal: refused.
 */

char *
ngx_http_guard_admin_principal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_guard_loc_conf_t *glcf = conf;

    char       *rv;
    ngx_str_t  *value;

    rv = ngx_http_set_complex_value_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (glcf->principal->lengths == NULL) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"guard_admin_principal\" directive must name a "
                           "variable (such as $ssl_client_s_dn): \"%V\" is "
                           "the same name for every request", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ---------------------------------------------------------------------- */
/* the tokens file                                                          */

char *
ngx_http_guard_admin_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_loc_conf_t *glcf = conf;

    char                     *rv;
    ngx_str_t                *value, text;
    ngx_http_guard_tokens_t  *tokens;

    if (glcf->tokens != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

#if !(NGX_OPENSSL)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "guard_admin_tokens needs nginx built with OpenSSL "
                       "(--with-http_ssl_module): the token hashes are "
                       "checked with it");

    return NGX_CONF_ERROR;

#endif

    value = cf->args->elts;

    tokens = ngx_pcalloc(cf->pool, sizeof(ngx_http_guard_tokens_t));
    if (tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    tokens->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &tokens->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&tokens->principals, cf->pool, 4,
                       sizeof(ngx_http_guard_principal_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_guard_tokens_read(cf, tokens, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rv = ngx_http_guard_tokens_parse(cf, tokens, text.data,
                                     text.data + text.len);

    /* the hashes are not secrets, but nothing needs this copy any more */
    ngx_explicit_memzero(text.data, text.len);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (tokens->principals.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "guard_admin_tokens \"%V\" names no principal: "
                           "every request to the admin API is refused",
                           &tokens->file);
    }

    glcf->tokens = tokens;

    return NGX_CONF_OK;
}


/*
 * Opens the file once and checks what was opened (fstat), so that the
 * file checked is the file read.  The whole file is read into the
 * temporary pool.
 */

static char *
ngx_http_guard_tokens_read(ngx_conf_t *cf, ngx_http_guard_tokens_t *tokens,
    ngx_str_t *text)
{
    char             *rv;
    off_t             size;
    ssize_t           n;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = tokens->file;
    file.log = cf->log;

    file.fd = ngx_open_file(tokens->file.data, NGX_FILE_RDONLY,
                            NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_admin_tokens \"%V\": the file cannot be "
                           "opened", &tokens->file);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_admin_tokens \"%V\": "
                           ngx_fd_info_n " failed", &tokens->file);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_admin_tokens \"%V\": not a regular file",
                           &tokens->file);
        goto done;
    }

    if (ngx_http_guard_secret_mode(cf, "guard_admin_tokens", &tokens->file,
                                   &fi)
        != NGX_CONF_OK)
    {
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_GUARD_TOKENS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_admin_tokens \"%V\": the file is larger "
                           "than 1 MB (%O bytes)", &tokens->file, size);
        goto done;
    }

    text->len = (size_t) size;
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_admin_tokens \"%V\": the file cannot be "
                           "read", &tokens->file);
        goto done;
    }

    if ((size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_admin_tokens \"%V\": the file changed "
                           "while it was read (%z of %uz bytes)",
                           &tokens->file, n, text->len);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &tokens->file);
    }

    return rv;
}


/*
 * A file of secrets (the tokens file, the audit key): only root and
 * nginx's master read it (at start and reload); the workers never do.
 * So no other user may read it, and no group but root's or the workers'
 * (given by "user" before http, as nginx.conf usually has it) may.
 * Nobody but the owner may change it.
 */

char *
ngx_http_guard_secret_mode(ngx_conf_t *cf, const char *directive,
    ngx_str_t *name, ngx_file_info_t *fi)
{
    u_char           *what, mode[5];
    ngx_uint_t        access;
    struct group     *grp;
    ngx_core_conf_t  *ccf;

    access = ngx_file_access(fi);
    ngx_http_guard_octal(mode, access);

    what = NULL;

    if (access & 0002) {
        what = (u_char *) "writable by other users";

    } else if (access & 0004) {
        what = (u_char *) "readable by other users";

    } else if (access & 0001) {
        what = (u_char *) "executable by other users";

    } else if (access & 0020) {
        what = (u_char *) "writable by its group";
    }

    if (what) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s \"%V\": the file is %s (mode %s); make it "
                           "0600 or 0640 with nginx's group", directive,
                           name, what, mode);
        return NGX_CONF_ERROR;
    }

    if (!(access & 0040) || fi->st_gid == 0) {
        return NGX_CONF_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf != NULL
        && ccf->group != (ngx_gid_t) NGX_CONF_UNSET_UINT
        && ccf->group == fi->st_gid)
    {
        return NGX_CONF_OK;
    }

    grp = getgrgid(fi->st_gid);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s \"%V\": the file is readable by group \"%s\" "
                       "(gid %ui), which is neither root's nor the group of "
                       "nginx's workers (mode %s); make it 0600 or 0640 "
                       "with nginx's group", directive, name,
                       grp ? grp->gr_name : "?",
                       (ngx_uint_t) fi->st_gid, mode);

    return NGX_CONF_ERROR;
}


/* "0644\0": ngx_sprintf() has no octal */

u_char *
ngx_http_guard_octal(u_char *buf, ngx_uint_t mode)
{
    buf[0] = (u_char) ('0' + ((mode >> 9) & 7));
    buf[1] = (u_char) ('0' + ((mode >> 6) & 7));
    buf[2] = (u_char) ('0' + ((mode >> 3) & 7));
    buf[3] = (u_char) ('0' + (mode & 7));
    buf[4] = '\0';

    return buf;
}


static char *
ngx_http_guard_tokens_parse(ngx_conf_t *cf, ngx_http_guard_tokens_t *tokens,
    u_char *p, u_char *last)
{
    u_char                        *eol;
    ngx_str_t                      fields[NGX_HTTP_GUARD_TOKENS_FIELDS];
    ngx_uint_t                     n;
    ngx_http_guard_tokens_line_t   tl;

    tl.cf = cf;
    tl.tokens = tokens;
    tl.line = 0;

    while (p < last) {
        tl.line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_http_guard_tokens_fields(&tl, p, eol, fields, &n)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        p = eol + 1;

        if (n == 0) {
            continue;           /* blank or a comment */
        }

        if (n != NGX_HTTP_GUARD_TOKENS_FIELDS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               NGX_HTTP_GUARD_TOKENS_AT "%ui field%s, "
                               "expected 4: name, role, upstreams, hash",
                               &tokens->file, tl.line, n,
                               n == 1 ? "" : "s");
            return NGX_CONF_ERROR;
        }

        if (ngx_http_guard_tokens_principal(&tl, fields) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Splits one line [p, last) into fields separated by blanks.  A field
 * may be double-quoted (\" and \\ inside), unquoted in place; "#" at the
 * start of a field begins a comment.  Counts every field, keeps the
 * first four.
 */

static char *
ngx_http_guard_tokens_fields(ngx_http_guard_tokens_line_t *tl, u_char *p,
    u_char *last, ngx_str_t *fields, ngx_uint_t *nfields)
{
    u_char      *dst, *start, *q;
    ngx_uint_t   n;

    n = 0;

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p == last || *p == '#') {
            break;
        }

        if (*p == '"') {

            /* unescaped in place: the text only gets shorter */

            start = ++p;
            dst = start;

            for ( ;; ) {

                if (p == last) {
                    ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                       NGX_HTTP_GUARD_TOKENS_AT
                                       "unterminated quoted field",
                                       &tl->tokens->file, tl->line);
                    return NGX_CONF_ERROR;
                }

                if (*p == '"') {
                    p++;
                    break;
                }

                if (*p == '\\') {
                    if (p + 1 == last || (p[1] != '"' && p[1] != '\\')) {
                        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                           NGX_HTTP_GUARD_TOKENS_AT
                                           "a backslash in a quoted field "
                                           "must be followed by \" or \\",
                                           &tl->tokens->file, tl->line);
                        return NGX_CONF_ERROR;
                    }

                    p++;
                }

                *dst++ = *p++;
            }

            if (p < last && *p != ' ' && *p != '\t' && *p != '\r') {
                ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                   NGX_HTTP_GUARD_TOKENS_AT
                                   "a quoted field must be followed by a "
                                   "blank", &tl->tokens->file, tl->line);
                return NGX_CONF_ERROR;
            }

        } else {
            start = p;

            while (p < last && *p != ' ' && *p != '\t' && *p != '\r') {

                if (*p == '"') {
                    ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                       NGX_HTTP_GUARD_TOKENS_AT
                                       "a quote inside a field; quote the "
                                       "whole field",
                                       &tl->tokens->file, tl->line);
                    return NGX_CONF_ERROR;
                }

                p++;
            }

            dst = p;
        }

        for (q = start; q < dst; q++) {
            if (*q < 0x20 || *q == 0x7f) {
                ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                   NGX_HTTP_GUARD_TOKENS_AT
                                   "a control character in field %ui",
                                   &tl->tokens->file, tl->line, n + 1);
                return NGX_CONF_ERROR;
            }
        }

        if (n < NGX_HTTP_GUARD_TOKENS_FIELDS) {
            fields[n].data = start;
            fields[n].len = dst - start;
        }

        n++;
    }

    *nfields = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_guard_tokens_principal(ngx_http_guard_tokens_line_t *tl,
    ngx_str_t *fields)
{
    ngx_uint_t                   role;
    ngx_http_guard_principal_t  *p;

    if (fields[0].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                           NGX_HTTP_GUARD_TOKENS_AT "an empty name",
                           &tl->tokens->file, tl->line);
        return NGX_CONF_ERROR;
    }

    if (fields[0].len > NGX_HTTP_GUARD_PRINCIPAL_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                           NGX_HTTP_GUARD_TOKENS_AT "a name longer than "
                           "%d bytes", &tl->tokens->file, tl->line,
                           NGX_HTTP_GUARD_PRINCIPAL_MAX);
        return NGX_CONF_ERROR;
    }

    for (role = NGX_HTTP_GUARD_ROLE_VIEWER;
         role <= NGX_HTTP_GUARD_ROLE_ADMIN;
         role++)
    {
        if (fields[1].len == ngx_strlen(ngx_http_guard_roles[role])
            && ngx_strncmp(fields[1].data, ngx_http_guard_roles[role],
                           fields[1].len)
               == 0)
        {
            break;
        }
    }

    if (role > NGX_HTTP_GUARD_ROLE_ADMIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                           NGX_HTTP_GUARD_TOKENS_AT "unknown role \"%V\", "
                           "expected viewer, operator or admin",
                           &tl->tokens->file, tl->line, &fields[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&tl->tokens->principals);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(p, sizeof(ngx_http_guard_principal_t));

    p->role = role;
    p->line = tl->line;

    p->name.len = fields[0].len;
    p->name.data = ngx_pnalloc(tl->cf->pool, fields[0].len + 1);
    if (p->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(p->name.data, fields[0].data, fields[0].len) = '\0';

    if (ngx_http_guard_tokens_upstreams(tl, p, &fields[2]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_guard_tokens_hash(tl, p, &fields[3]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_guard_tokens_unique(tl, p);
}


/* comma-separated glob patterns, each copied NUL-terminated for fnmatch */

static char *
ngx_http_guard_tokens_upstreams(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p, ngx_str_t *field)
{
    u_char     *s, *comma, *last;
    ngx_str_t  *pattern;

    if (ngx_array_init(&p->upstreams, tl->cf->pool, 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    s = field->data;
    last = field->data + field->len;

    for ( ;; ) {
        comma = ngx_strlchr(s, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma == s) {
            ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                               NGX_HTTP_GUARD_TOKENS_AT "an empty upstream "
                               "pattern in \"%V\"", &tl->tokens->file,
                               tl->line, field);
            return NGX_CONF_ERROR;
        }

        pattern = ngx_array_push(&p->upstreams);
        if (pattern == NULL) {
            return NGX_CONF_ERROR;
        }

        pattern->len = comma - s;
        pattern->data = ngx_pnalloc(tl->cf->pool, pattern->len + 1);
        if (pattern->data == NULL) {
            return NGX_CONF_ERROR;
        }

        *ngx_cpymem(pattern->data, s, pattern->len) = '\0';

        if (comma == last) {
            return NGX_CONF_OK;
        }

        s = comma + 1;
    }
}


/* "sha256:" and 64 hex digits, "sha512:" and 128, or "-"; never logged */

static char *
ngx_http_guard_tokens_hash(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p, ngx_str_t *field)
{
    u_char      c, *s;
    ngx_uint_t  i, digits, nibble;

    if (field->len == 1 && field->data[0] == '-') {
        p->hash_len = 0;
        return NGX_CONF_OK;
    }

    if (field->len >= 7
        && ngx_strncasecmp(field->data, (u_char *) "sha256:", 7) == 0)
    {
        p->hash_len = 32;

    } else if (field->len >= 7
               && ngx_strncasecmp(field->data, (u_char *) "sha512:", 7) == 0)
    {
        p->hash_len = 64;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                           NGX_HTTP_GUARD_TOKENS_AT "invalid hash, expected "
                           "\"sha256:\" and 64 hex digits, \"sha512:\" and "
                           "128 hex digits, or \"-\" for none",
                           &tl->tokens->file, tl->line);
        return NGX_CONF_ERROR;
    }

    s = field->data + 7;
    digits = field->len - 7;

    if (digits != 2 * p->hash_len) {
        ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                           NGX_HTTP_GUARD_TOKENS_AT "invalid hash, a sha%ui "
                           "hash has %ui hex digits, not %ui",
                           &tl->tokens->file, tl->line, p->hash_len * 8,
                           2 * p->hash_len, digits);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < digits; i++) {
        c = s[i];

        if (c >= '0' && c <= '9') {
            nibble = c - '0';

        } else {
            c = (u_char) (c | 0x20);

            if (c >= 'a' && c <= 'f') {
                nibble = c - 'a' + 10;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                                   NGX_HTTP_GUARD_TOKENS_AT "invalid hash, "
                                   "character %ui of the hex digits is not a "
                                   "hex digit", &tl->tokens->file, tl->line,
                                   i + 1);
                return NGX_CONF_ERROR;
            }
        }

        if (i % 2 == 0) {
            p->hash[i / 2] = (u_char) (nibble << 4);

        } else {
            p->hash[i / 2] |= (u_char) nibble;
        }
    }

    return NGX_CONF_OK;
}


/* p is the last principal pushed; the ones before it are checked */

static char *
ngx_http_guard_tokens_unique(ngx_http_guard_tokens_line_t *tl,
    ngx_http_guard_principal_t *p)
{
    ngx_uint_t                   i, n;
    ngx_http_guard_principal_t  *q;

    q = tl->tokens->principals.elts;
    n = tl->tokens->principals.nelts - 1;

    for (i = 0; i < n; i++) {

        if (q[i].name.len == p->name.len
            && ngx_strncmp(q[i].name.data, p->name.data, p->name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                               NGX_HTTP_GUARD_TOKENS_AT "duplicate principal "
                               "\"%V\", first on line %ui",
                               &tl->tokens->file, tl->line, &p->name,
                               q[i].line);
            return NGX_CONF_ERROR;
        }

        if (p->hash_len != 0
            && q[i].hash_len == p->hash_len
            && ngx_memcmp(q[i].hash, p->hash, p->hash_len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, tl->cf, 0,
                               NGX_HTTP_GUARD_TOKENS_AT "principal \"%V\" has "
                               "the same token hash as \"%V\" on line %ui",
                               &tl->tokens->file, tl->line, &p->name,
                               &q[i].name, q[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* ---------------------------------------------------------------------- */
/* requests                                                                 */

/*
 * Who the request is.  A name from guard_admin_principal wins; then a
 * bearer token; a client address that failed too often is refused before
 * either is looked at.  NGX_DECLINED fills err; NGX_ERROR: internal.
 */

ngx_int_t
ngx_http_guard_auth(ngx_http_request_t *r, ngx_http_guard_loc_conf_t *glcf,
    ngx_http_guard_principal_t **pp, ngx_http_guard_auth_error_t *err)
{
    time_t                       retry;
    uint32_t                     key;
    ngx_int_t                    rc;
    ngx_str_t                    name, token;
    ngx_http_guard_tokens_t     *tokens;
    ngx_http_guard_principal_t  *p;

    *pp = NULL;
    ngx_memzero(err, sizeof(ngx_http_guard_auth_error_t));

    tokens = glcf->tokens;

    if (tokens == NULL || tokens == NGX_CONF_UNSET_PTR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "upstream guard: the admin API has no "
                      "guard_admin_tokens");
        return NGX_ERROR;
    }

    key = ngx_http_guard_auth_key(r->connection);

    retry = ngx_http_guard_auth_limited(r, key);

    if (retry) {
        return ngx_http_guard_auth_refuse(err, NGX_HTTP_TOO_MANY_REQUESTS,
                                          "rate_limited",
                                          "too many failed authentications "
                                          "from this address; retry later",
                                          retry);
    }

    if (glcf->principal != NULL && glcf->principal != NGX_CONF_UNSET_PTR) {

        if (ngx_http_complex_value(r, glcf->principal, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        if (name.len) {
            p = ngx_http_guard_auth_find(tokens, &name);

            if (p == NULL) {
                ngx_http_guard_auth_failed(r, key, NULL, &name);
                return ngx_http_guard_auth_refuse(err, NGX_HTTP_FORBIDDEN,
                                                  "forbidden",
                                                  "not a known principal",
                                                  0);
            }

            *pp = p;
            return NGX_OK;
        }
    }

    if (ngx_http_guard_auth_bearer(r, &token) != NGX_OK) {
        return ngx_http_guard_auth_refuse(err, NGX_HTTP_UNAUTHORIZED,
                                          "unauthenticated",
                                          "credentials required", 0);
    }

    if (!glcf->plain_http && !ngx_http_guard_auth_secure(r)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream guard: admin API: a bearer token over plain "
                      "HTTP from %V is refused", &r->connection->addr_text);

        return ngx_http_guard_auth_refuse(err, NGX_HTTP_FORBIDDEN,
                                          "insecure_transport",
                                          "a bearer token over plain HTTP "
                                          "from a remote address is "
                                          "refused; use TLS or "
                                          "guard_admin_plain_http on", 0);
    }

    rc = ngx_http_guard_auth_token(r, tokens, &token, &p);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (p == NULL) {
        ngx_http_guard_auth_failed(r, key, "invalid token", NULL);
        return ngx_http_guard_auth_refuse(err, NGX_HTTP_UNAUTHORIZED,
                                          "unauthenticated", "invalid token",
                                          0);
    }

    *pp = p;

    return NGX_OK;
}


/* names are not secrets: an exact match, first one wins (they are unique) */

static ngx_http_guard_principal_t *
ngx_http_guard_auth_find(ngx_http_guard_tokens_t *tokens, ngx_str_t *name)
{
    ngx_uint_t                   i;
    ngx_http_guard_principal_t  *p;

    p = tokens->principals.elts;

    for (i = 0; i < tokens->principals.nelts; i++) {
        if (p[i].name.len == name->len
            && ngx_strncmp(p[i].name.data, name->data, name->len) == 0)
        {
            return &p[i];
        }
    }

    return NULL;
}


/* "Authorization: Bearer TOKEN": the scheme in any case, then blanks */

static ngx_int_t
ngx_http_guard_auth_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


/*
 * The token's SHA-256 and SHA-512 are compared with every principal's
 * hash, all of them, with CRYPTO_memcmp() and no early exit, and the
 * match is picked with a mask: the time taken does not depend on which
 * principal (if any) matches.  Hashes are unique (the file is refused
 * otherwise), so at most one does.
 */

static ngx_int_t
ngx_http_guard_auth_token(ngx_http_request_t *r,
    ngx_http_guard_tokens_t *tokens, ngx_str_t *token,
    ngx_http_guard_principal_t **pp)
{
#if (NGX_OPENSSL)

    u_char                      *d, d256[32], d512[64];
    uintptr_t                    mask, eq, sel;
    unsigned int                 n256, n512;
    ngx_uint_t                   i, n;
    ngx_http_guard_principal_t  *p;

    *pp = NULL;

    if (EVP_Digest(token->data, token->len, d256, &n256, EVP_sha256(), NULL)
        != 1
        || EVP_Digest(token->data, token->len, d512, &n512, EVP_sha512(),
                      NULL)
           != 1
        || n256 != sizeof(d256)
        || n512 != sizeof(d512))
    {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "upstream guard: EVP_Digest() failed");
        return NGX_ERROR;
    }

    p = tokens->principals.elts;
    n = tokens->principals.nelts;
    sel = n;

    for (i = 0; i < n; i++) {

        if (p[i].hash_len == 0) {
            continue;           /* the file says so: no secret involved */
        }

        d = (p[i].hash_len == sizeof(d256)) ? d256 : d512;

        eq = (uintptr_t) (CRYPTO_memcmp(p[i].hash, d, p[i].hash_len) == 0);
        mask = (uintptr_t) 0 - eq;
        sel = (sel & ~mask) | (i & mask);
    }

    ngx_explicit_memzero(d256, sizeof(d256));
    ngx_explicit_memzero(d512, sizeof(d512));

    if (sel < n) {
        *pp = &p[sel];
    }

    return NGX_OK;

#else

    *pp = NULL;

    return NGX_ERROR;

#endif
}


/* TLS, or a client on this host: loopback addresses, unix sockets */

static ngx_uint_t
ngx_http_guard_auth_secure(ngx_http_request_t *r)
{
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        return 1;
    }
#endif

    switch (r->connection->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;

        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return 1;
        }

        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)
               && sin6->sin6_addr.s6_addr[12] == 127;
#endif

#if (NGX_HAVE_UNIX_DOMAIN)
    case AF_UNIX:
        return 1;
#endif

    default:
        return 0;
    }
}


/*
 * The key of a client in the failure table: a hash of its address, not
 * its port.  An IPv4-mapped address counts as the IPv4 one; a native IPv6
 * client counts by its /64, the least a single host is usually given, so
 * that one host cannot get fresh tries by changing its interface id.
 */

static uint32_t
ngx_http_guard_auth_key(ngx_connection_t *c)
{
    u_char               *a;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (c->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) c->sockaddr;
        a = (u_char *) &sin->sin_addr.s_addr;
        return ngx_crc32_short(a, 4);

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) c->sockaddr;
        a = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            return ngx_crc32_short(a + 12, 4);
        }

        return ngx_crc32_short(a, 8);
#endif

    default:
        return NGX_HTTP_GUARD_AUTH_UNIX;
    }
}


/*
 * Seconds until the client may try again; 0: it may now.  An address with
 * a slot is limited by its own count.  One without, while the table is
 * full, is limited once the addresses without a slot have failed
 * NGX_HTTP_GUARD_AUTH_FAILS times together and it has failed itself (its
 * bit is set): until then it may try, so that a principal at an address
 * with no failure of its own still gets in while others guess.
 */

static time_t
ngx_http_guard_auth_limited(ngx_http_request_t *r, uint32_t key)
{
    time_t                          now, retry;
    ngx_uint_t                      bit;
    ngx_slab_pool_t                *shpool;
    ngx_http_guard_sh_t            *sh;
    ngx_http_guard_sh_auth_t       *s;
    ngx_http_guard_sh_auth_rest_t  *rest;
    ngx_http_guard_main_conf_t     *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    if (gmcf == NULL || gmcf->shm_zone == NULL) {
        return 0;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);
    now = ngx_time();
    retry = 0;
    bit = key % NGX_HTTP_GUARD_AUTH_SEEN;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_http_guard_auth_slot(sh, key, now, 0);
    rest = &sh->auth_rest;

    if (s != NULL) {
        if (s->fails >= NGX_HTTP_GUARD_AUTH_FAILS) {
            retry = s->window + NGX_HTTP_GUARD_AUTH_WINDOW - now;
        }

    } else if (ngx_http_guard_auth_open(rest->fails, rest->window, now)
               && rest->fails >= NGX_HTTP_GUARD_AUTH_FAILS
               && (rest->seen[bit / 8] & (1 << (bit % 8))))
    {
        retry = rest->window + NGX_HTTP_GUARD_AUTH_WINDOW - now;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return retry;
}


/*
 * One failed authentication: counted for the client's address, logged
 * (the reason, or the name that is not a principal; never a token).
 */

static void
ngx_http_guard_auth_failed(ngx_http_request_t *r, uint32_t key,
    const char *reason, ngx_str_t *name)
{
    u_char                         *p, *last;
    u_char                          buf[NGX_HTTP_GUARD_LOGNAME_LEN];
    time_t                          now, retry;
    ngx_uint_t                      i, fails, shared, bit;
    ngx_slab_pool_t                *shpool;
    ngx_http_guard_sh_t            *sh;
    ngx_http_guard_sh_auth_t       *s;
    ngx_http_guard_sh_auth_rest_t  *rest;
    ngx_http_guard_main_conf_t     *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    fails = 0;
    retry = 0;
    shared = 0;

    if (gmcf != NULL && gmcf->shm_zone != NULL) {
        sh = ngx_http_guard_shm_root(gmcf, &shpool);
        now = ngx_time();

        ngx_shmtx_lock(&shpool->mutex);

        s = ngx_http_guard_auth_slot(sh, key, now, 1);

        if (s != NULL) {
            fails = ++s->fails;

            if (fails == NGX_HTTP_GUARD_AUTH_FAILS) {
                retry = s->window + NGX_HTTP_GUARD_AUTH_WINDOW - now;
            }

        } else {

            /*
             * The table is full of open windows: counted with every
             * address that has no slot.  Past the budget an address may
             * only get here with its bit clear (see _limited()), so the
             * count stays below the budget plus the bits.
             */

            rest = &sh->auth_rest;
            shared = 1;

            if (!ngx_http_guard_auth_open(rest->fails, rest->window, now)) {
                ngx_memzero(rest, sizeof(ngx_http_guard_sh_auth_rest_t));
                rest->window = now;
            }

            bit = key % NGX_HTTP_GUARD_AUTH_SEEN;
            rest->seen[bit / 8] |= (u_char) (1 << (bit % 8));
            fails = ++rest->fails;

            if (fails == NGX_HTTP_GUARD_AUTH_FAILS) {
                retry = rest->window + NGX_HTTP_GUARD_AUTH_WINDOW - now;
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    if (name != NULL) {

        /* the name may come from a request header: printable, bounded */

        p = buf;
        last = buf + sizeof(buf) - sizeof("...");

        for (i = 0; i < name->len && p < last; i++) {
            *p++ = (name->data[i] < 0x20 || name->data[i] >= 0x7f)
                   ? '?' : name->data[i];
        }

        if (i < name->len) {
            p = ngx_cpymem(p, "...", sizeof("...") - 1);
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream guard: admin API authentication from %V "
                      "failed: \"%*s\" is not a known principal "
                      "(failure %ui in %d s%s)", &r->connection->addr_text,
                      p - buf, buf, fails, NGX_HTTP_GUARD_AUTH_WINDOW,
                      shared ? ", of the addresses the full table has no "
                               "slot for" : "");

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream guard: admin API authentication from %V "
                      "failed: %s (failure %ui in %d s%s)",
                      &r->connection->addr_text, reason, fails,
                      NGX_HTTP_GUARD_AUTH_WINDOW,
                      shared ? ", of the addresses the full table has no "
                               "slot for" : "");
    }

    if (retry && shared) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream guard: admin API: the table of %d client "
                      "addresses is full; addresses without a place in it "
                      "are limited together for %T s after %ui failed "
                      "authentications (each may still fail once)",
                      NGX_HTTP_GUARD_AUTH_SLOTS, retry, fails);

    } else if (retry) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream guard: admin API: %V is rate limited for "
                      "%T s after %ui failed authentications",
                      &r->connection->addr_text, retry, fails);
    }
}


/*
 * The client's slot, under the zone's mutex.  A slot is in use while its
 * window (NGX_HTTP_GUARD_AUTH_WINDOW seconds from its first failure)
 * lasts; a time in the future (the clock went back) ends it.  add: take
 * a free slot.  A slot in use is never taken from another address, which
 * would forget its failures: NULL when none is free.
 */

static ngx_http_guard_sh_auth_t *
ngx_http_guard_auth_slot(ngx_http_guard_sh_t *sh, uint32_t key, time_t now,
    ngx_uint_t add)
{
    ngx_uint_t                 i;
    ngx_http_guard_sh_auth_t  *s, *free;

    free = NULL;

    for (i = 0; i < NGX_HTTP_GUARD_AUTH_SLOTS; i++) {
        s = &sh->auth[i];

        if (!ngx_http_guard_auth_open(s->fails, s->window, now)) {
            if (free == NULL) {
                free = s;
            }

            continue;
        }

        if (s->addr == key) {
            return s;
        }
    }

    if (!add || free == NULL) {
        return NULL;
    }

    free->addr = key;
    free->fails = 0;
    free->window = now;

    return free;
}


/* 1: a window that began at "window" with "fails" failures still lasts */

static ngx_uint_t
ngx_http_guard_auth_open(uint32_t fails, time_t window, time_t now)
{
    return fails != 0
           && now >= window
           && now - window < NGX_HTTP_GUARD_AUTH_WINDOW;
}


static ngx_int_t
ngx_http_guard_auth_refuse(ngx_http_guard_auth_error_t *err,
    ngx_uint_t status, const char *code, const char *message,
    time_t retry_after)
{
    err->status = status;
    err->code = code;
    err->message = message;
    err->retry_after = retry_after > 0 ? retry_after : 0;

    if (status == NGX_HTTP_TOO_MANY_REQUESTS && err->retry_after == 0) {
        err->retry_after = 1;
    }

    return NGX_DECLINED;
}


/*
 * The headers a refusal needs: WWW-Authenticate on a 401 (RFC 6750: with
 * error="invalid_token" when a token was given), Retry-After on a 429.
 */

ngx_int_t
ngx_http_guard_auth_headers(ngx_http_request_t *r,
    ngx_http_guard_auth_error_t *err)
{
    u_char     buf[NGX_TIME_T_LEN];
    ngx_str_t  token, value;

    if (err->status == NGX_HTTP_UNAUTHORIZED) {
        if (ngx_http_guard_auth_bearer(r, &token) == NGX_OK) {
            ngx_str_set(&value, "Bearer realm=\"upstream-guard\", "
                                "error=\"invalid_token\"");

        } else {
            ngx_str_set(&value, "Bearer realm=\"upstream-guard\"");
        }

        return ngx_http_guard_status_add_header(r, "WWW-Authenticate",
                                                value.data, value.len);
    }

    if (err->status == NGX_HTTP_TOO_MANY_REQUESTS) {
        value.data = buf;
        value.len = ngx_sprintf(buf, "%T", err->retry_after) - buf;

        return ngx_http_guard_status_add_header(r, "Retry-After",
                                                value.data, value.len);
    }

    return NGX_OK;
}


/* ---------------------------------------------------------------------- */
/* least privilege                                                          */

/*
 * 1: one of the principal's patterns matches the upstream's name.  fnmatch
 * needs the name NUL-terminated: on the stack, or for a longer name (nginx
 * allows any length) on the heap; refused when it cannot be copied.
 */

ngx_uint_t
ngx_http_guard_auth_may(ngx_http_guard_principal_t *p, ngx_str_t *upstream)
{
    u_char      buf[NGX_HTTP_GUARD_UPSTREAM_MAX], *name;
    ngx_str_t  *pattern;
    ngx_uint_t  i, may;

    if (ngx_strlchr(upstream->data, upstream->data + upstream->len, '\0')) {
        return 0;
    }

    if (upstream->len < sizeof(buf)) {
        name = buf;

    } else {
        name = ngx_alloc(upstream->len + 1, ngx_cycle->log);
        if (name == NULL) {
            return 0;
        }
    }

    *ngx_cpymem(name, upstream->data, upstream->len) = '\0';

    may = 0;
    pattern = p->upstreams.elts;

    for (i = 0; i < p->upstreams.nelts; i++) {
        if (fnmatch((char *) pattern[i].data, (char *) name, 0) == 0) {
            may = 1;
            break;
        }
    }

    if (name != buf) {
        ngx_free(name);
    }

    return may;
}


/* "viewer", "operator", "admin" */

const char *
ngx_http_guard_role_name(ngx_uint_t role)
{
    if (role < NGX_HTTP_GUARD_ROLE_VIEWER || role > NGX_HTTP_GUARD_ROLE_ADMIN)
    {
        return "none";
    }

    return ngx_http_guard_roles[role];
}
