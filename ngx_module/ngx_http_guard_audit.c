
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The tamper-evident audit log: one JSON line per admin call and per
 * change the module makes itself, appended whole by one write() under the
 * zone mutex, each line chained to the one before by an HMAC-SHA256 keyed
 * by the secret of guard_audit_key.  The chain's head (the last sequence
 * number and MAC) lives in the shared zone, so it survives reloads, killed
 * workers and "nginx -s reopen"; at a start without it, the last line of
 * the file gives it back.  A copy of each line may go to syslog.
 *
 * A line is
 *
 *     {"seq":N,"time":"...Z","ms":N,"principal":...,...,"prev":"<hex>",
 *      "mac":"<hex>"}
 *
 * and its "mac" is HMAC-SHA256(key, every byte before ',"mac":'), which
 * includes "prev", the MAC of the line before (zeros for the first).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_OPENSSL)
#include <openssl/evp.h>
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
#include <openssl/core_names.h>
#else
#include <openssl/hmac.h>
#endif
#endif

#include "ngx_http_guard.h"
#include "ngx_http_guard_out.h"


#define NGX_HTTP_GUARD_AUDIT_MAC_LEN  32
#define NGX_HTTP_GUARD_AUDIT_KEY_MIN  32
#define NGX_HTTP_GUARD_AUDIT_KEY_MAX  4096
#define NGX_HTTP_GUARD_AUDIT_TAIL     65536 /* read back at a start */
#define NGX_HTTP_GUARD_AUDIT_SHORT    -1    /* audit_err: a short write */

/* ',"mac":"' 64 hex '"}' */
#define NGX_HTTP_GUARD_AUDIT_MAC_TAIL "," "\"mac\":\""
#define NGX_HTTP_GUARD_AUDIT_TAIL_LEN (sizeof(",\"mac\":\"\"}") - 1 + 64)

/* the syslog header: "<191>Nov 30 01:02:03 host tag: " */
#define NGX_HTTP_GUARD_AUDIT_SYSLOG_HEAD                                     \
    (sizeof("<255>Jan 01 00:00:00 ") - 1 + NGX_MAXHOSTNAMELEN + 1 + 32 + 2)


static char *ngx_http_guard_audit_key_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *key);
static void ngx_http_guard_audit_key_cleanup(void *data);
static void ngx_http_guard_audit_create(ngx_conf_t *cf, ngx_str_t *name);
static void ngx_http_guard_audit_flush(ngx_open_file_t *file, ngx_log_t *log);
static ngx_int_t ngx_http_guard_audit_line(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_http_guard_audit_rec_t *rec,
    ngx_pool_t *pool, uint64_t seq, ngx_str_t *line, u_char *mac);
static ngx_int_t ngx_http_guard_audit_str(ngx_http_guard_out_t *out,
    const char *name, u_char *s, size_t len);
static ngx_int_t ngx_http_guard_audit_hmac(ngx_str_t *key, u_char *text,
    size_t len, u_char *mac);
static void ngx_http_guard_audit_follow(ngx_open_file_t *file, ngx_log_t *log);
static ngx_int_t ngx_http_guard_audit_write(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh,
    ngx_str_t *line, uint64_t seq, const char *op);
static void ngx_http_guard_audit_syslog(ngx_http_guard_main_conf_t *gmcf,
    ngx_pool_t *pool, ngx_str_t *line);
static void ngx_http_guard_audit_inherit(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
static ngx_int_t ngx_http_guard_audit_tail(ngx_http_guard_main_conf_t *gmcf,
    ngx_log_t *log, uint64_t *seq, u_char *mac, ngx_uint_t *verified);
static void ngx_http_guard_audit_mend(ngx_open_file_t *file, ngx_log_t *log);


/* ---------------------------------------------------------------------- */
/* configuration                                                           */

/*
 * guard_audit_log FILE [syslog:server=...];
 *
 * The file is one of the cycle's open files, so that "nginx -s reopen"
 * reopens it in every process, as it does access and error logs.  nginx
 * creates such files with mode 0644; the audit log names principals and
 * clients, so it is created here first, with mode 0600 (at start and at
 * each reopen, by the flush callback that ngx_reopen_files() calls first).
 */

char *
ngx_http_guard_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    char               *rv;
    ngx_str_t          *value, tmp;
    ngx_open_file_t    *file;
    ngx_syslog_peer_t  *peer;

    if (gmcf->audit_file) {
        return "is duplicate";
    }

    gmcf->audit_log_at = cf->conf_file->file.name.data;
    gmcf->audit_log_line = cf->conf_file->line;

    value = cf->args->elts;

    if (value[1].len == 0
        || ngx_strncmp(value[1].data, "syslog:", 7) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_log needs a file first: \"%V\"; a "
                           "syslog: target is its second parameter, a copy",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (file->flush || file->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_log \"%V\": the file is already "
                           "written by another log", &file->name);
        return NGX_CONF_ERROR;
    }

    ngx_http_guard_audit_create(cf, &file->name);

    file->flush = ngx_http_guard_audit_flush;
    file->data = gmcf;

    gmcf->audit_file = file;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "syslog:", 7) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": a copy goes to "
                           "\"syslog:server=...\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    peer = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
    if (peer == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_syslog_process_conf() parses the directive's first argument */

    tmp = value[1];
    value[1] = value[2];

    rv = ngx_syslog_process_conf(cf, peer);

    value[2] = value[1];
    value[1] = tmp;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    gmcf->audit_syslog = peer;

    return NGX_CONF_OK;
}


/* guard_audit_key FILE; the secret, read by the master at start and reload */

char *
ngx_http_guard_audit_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    ngx_str_t           *value, name;
#if (NGX_OPENSSL)
    ngx_pool_cleanup_t  *cln;
#endif

    if (gmcf->audit_key.data) {
        return "is duplicate";
    }

    gmcf->audit_key_at = cf->conf_file->file.name.data;
    gmcf->audit_key_line = cf->conf_file->line;

    value = cf->args->elts;
    name = value[1];

#if !(NGX_OPENSSL)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "guard_audit_key \"%V\": the audit log needs nginx "
                       "built with OpenSSL", &name);
    return NGX_CONF_ERROR;

#else

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_guard_audit_key_cleanup;
    cln->data = &gmcf->audit_key;

    return ngx_http_guard_audit_key_read(cf, &name, &gmcf->audit_key);

#endif
}


/*
 * Opens the key file once and checks what was opened (fstat), then reads
 * it into the cycle pool (wiped when the cycle goes).  One trailing "\n"
 * is not part of the key.
 */

static char *
ngx_http_guard_audit_key_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *key)
{
    char             *rv;
    off_t             size;
    ssize_t           n;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = *name;
    file.log = cf->log;
    size = 0;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_audit_key \"%V\": the file cannot be "
                           "opened", name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_audit_key \"%V\": " ngx_fd_info_n
                           " failed", name);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_key \"%V\": not a regular file",
                           name);
        goto done;
    }

    if (ngx_http_guard_secret_mode(cf, "guard_audit_key", name, &fi)
        != NGX_CONF_OK)
    {
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_GUARD_AUDIT_KEY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_key \"%V\": the file is larger than "
                           "%d bytes (%O bytes)", name,
                           NGX_HTTP_GUARD_AUDIT_KEY_MAX, size);
        goto done;
    }

    key->data = ngx_pnalloc(cf->pool, (size_t) size + 1);
    if (key->data == NULL) {
        goto done;
    }

    key->len = 0;

    n = ngx_read_file(&file, key->data, (size_t) size + 1, 0);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_audit_key \"%V\": the file cannot be read",
                           name);
        goto done;
    }

    if (n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_key \"%V\": the file changed while "
                           "it was read", name);
        goto done;
    }

    key->len = (size_t) n;

    if (key->len && key->data[key->len - 1] == LF) {
        key->len--;
    }

    if (key->len < NGX_HTTP_GUARD_AUDIT_KEY_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_audit_key \"%V\": the key is %uz bytes "
                           "long, at least %d are needed (e.g. \"openssl "
                           "rand -hex 32\")", name, key->len,
                           NGX_HTTP_GUARD_AUDIT_KEY_MIN);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (rv != NGX_CONF_OK && key->data) {
        ngx_explicit_memzero(key->data, (size_t) size + 1);
        key->len = 0;
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rv;
}


static void
ngx_http_guard_audit_key_cleanup(void *data)
{
    ngx_str_t  *key = data;

    if (key->data) {
        ngx_explicit_memzero(key->data, key->len);
    }
}


/*
 * Both directives or neither: called once every directive is read (the
 * module's postconfiguration), so that their order does not matter.
 */

ngx_int_t
ngx_http_guard_audit_check(ngx_conf_t *cf, ngx_http_guard_main_conf_t *gmcf)
{
    /* the directive that is there is named, where it was written */

    if (gmcf->audit_file && gmcf->audit_key.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_audit_log \"%V\" needs guard_audit_key: its "
                      "lines are chained by an HMAC keyed by that secret, "
                      "in %s:%ui", &gmcf->audit_file->name,
                      gmcf->audit_log_at, gmcf->audit_log_line);
        return NGX_ERROR;
    }

    if (gmcf->audit_file == NULL && gmcf->audit_key.len) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_audit_key is set but guard_audit_log is not: "
                      "there is no audit log to sign, in %s:%ui",
                      gmcf->audit_key_at, gmcf->audit_key_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a new audit log is created 0600 before nginx opens it 0644 */

static void
ngx_http_guard_audit_create(ngx_conf_t *cf, ngx_str_t *name)
{
    u_char           mode[5];
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_APPEND,
                       NGX_FILE_CREATE_OR_OPEN|O_EXCL, 0600);

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
        return;
    }

    /* another error is nginx's to report when it opens the file */

    if (ngx_file_info(name->data, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || (ngx_file_access(&fi) & 0007) == 0)
    {
        return;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "guard_audit_log \"%V\": the file is readable by "
                       "other users (mode %s); it names principals and "
                       "clients", name,
                       ngx_http_guard_octal(mode, ngx_file_access(&fi)));
}


/* ngx_reopen_files() calls it before it opens the file again */

static void
ngx_http_guard_audit_flush(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(file->name.data, NGX_FILE_APPEND,
                       NGX_FILE_CREATE_OR_OPEN|O_EXCL, 0600);

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }
}


/* ---------------------------------------------------------------------- */
/* writing                                                                 */

/*
 * With the zone mutex held.  NGX_DECLINED: no audit log; NGX_ERROR: the
 * line is not in the file (the head stays), so the caller refuses the
 * change; NGX_OK: written, and the head is this line.
 */

ngx_int_t
ngx_http_guard_audit_locked(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_http_guard_audit_rec_t *rec)
{
    u_char       mac[NGX_HTTP_GUARD_AUDIT_MAC_LEN];
    uint64_t     seq;
    ngx_int_t    rc;
    ngx_str_t    line;
    ngx_pool_t  *pool;

    if (gmcf->audit_file == NULL) {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    seq = sh->audit_seq + 1;

    rc = ngx_http_guard_audit_line(gmcf, sh, rec, pool, seq, &line, mac);

    if (rc == NGX_OK) {
        rc = ngx_http_guard_audit_write(gmcf, sh, &line, seq, rec->op);
    }

    if (rc == NGX_OK) {
        sh->audit_seq = seq;
        ngx_memcpy(sh->audit_head, mac, NGX_HTTP_GUARD_AUDIT_MAC_LEN);

        if (gmcf->audit_syslog) {
            ngx_http_guard_audit_syslog(gmcf, pool, &line);
        }
    }

    ngx_destroy_pool(pool);

    return rc;
}


ngx_int_t
ngx_http_guard_audit(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_audit_rec_t *rec)
{
    ngx_int_t             rc;
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    if (gmcf->audit_file == NULL || gmcf->shm_zone == NULL) {
        return NGX_DECLINED;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);
    rc = ngx_http_guard_audit_locked(gmcf, sh, rec);
    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* the line, "\n" included, and its MAC */

static ngx_int_t
ngx_http_guard_audit_line(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_http_guard_audit_rec_t *rec,
    ngx_pool_t *pool, uint64_t seq, ngx_str_t *line, u_char *mac)
{
    u_char               *p;
    size_t                len;
    ngx_tm_t              tm;
    ngx_time_t           *tp;
    ngx_chain_t          *cl;
    ngx_http_guard_out_t  out;

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    ngx_http_guard_out_init(&out, pool);

    if (ngx_http_guard_out_printf(&out, 128,
            "{\"seq\":%uL,\"time\":\"%4d-%02d-%02dT%02d:%02d:%02d.%03ui"
            "Z\",\"ms\":%uL",
            seq, tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
            tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec,
            (uint64_t) tp->sec * 1000 + tp->msec)
        != NGX_OK

        || ngx_http_guard_audit_str(&out, "principal", rec->principal.data,
                                    rec->principal.len) != NGX_OK
        || ngx_http_guard_audit_str(&out, "client", rec->client.data,
                                    rec->client.len) != NGX_OK
        || ngx_http_guard_audit_str(&out, "op", (u_char *) rec->op,
                                    rec->op ? ngx_strlen(rec->op) : 0)
           != NGX_OK
        || ngx_http_guard_audit_str(&out, "upstream", rec->upstream.data,
                                    rec->upstream.len) != NGX_OK
        || ngx_http_guard_audit_str(&out, "server", rec->server.data,
                                    rec->server.len) != NGX_OK
        || ngx_http_guard_audit_str(&out, "before", (u_char *) rec->before,
                                    rec->before ? ngx_strlen(rec->before) : 0)
           != NGX_OK
        || ngx_http_guard_audit_str(&out, "after", (u_char *) rec->after,
                                    rec->after ? ngx_strlen(rec->after) : 0)
           != NGX_OK
        || ngx_http_guard_audit_str(&out, "result", (u_char *) rec->result,
                                    rec->result ? ngx_strlen(rec->result) : 0)
           != NGX_OK
        || ngx_http_guard_audit_str(&out, "code", (u_char *) rec->code,
                                    rec->code ? ngx_strlen(rec->code) : 0)
           != NGX_OK
        || ngx_http_guard_audit_str(&out, "reason", rec->reason.data,
                                    rec->reason.len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((rec->request
         ? ngx_http_guard_out_printf(&out, 32, ",\"request\":%ui",
                                     rec->request)
         : ngx_http_guard_out_str(&out, ",\"request\":null"))
        != NGX_OK

        || ngx_http_guard_audit_str(&out, "approver", rec->approver.data,
                                    rec->approver.len) != NGX_OK
        || ngx_http_guard_audit_str(&out, "detail", rec->detail.data,
                                    rec->detail.len) != NGX_OK
        || ngx_http_guard_out_str(&out, ",\"prev\":\"") != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_guard_out_reserve(&out, 2 * NGX_HTTP_GUARD_AUDIT_MAC_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_hex_dump(p, sh->audit_head, NGX_HTTP_GUARD_AUDIT_MAC_LEN);
    *p++ = '"';
    out.b->last = p;

    /* one piece for one write(): the signed text, the MAC, "\n" */

    len = (size_t) ngx_http_guard_out_size(&out);

    line->data = ngx_pnalloc(pool, len + NGX_HTTP_GUARD_AUDIT_TAIL_LEN + 1);
    if (line->data == NULL) {
        return NGX_ERROR;
    }

    p = line->data;

    for (cl = out.first; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ngx_http_guard_audit_hmac(&gmcf->audit_key, line->data, len, mac)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, NGX_HTTP_GUARD_AUDIT_MAC_TAIL,
                   sizeof(NGX_HTTP_GUARD_AUDIT_MAC_TAIL) - 1);
    p = ngx_hex_dump(p, mac, NGX_HTTP_GUARD_AUDIT_MAC_LEN);
    *p++ = '"';
    *p++ = '}';
    *p++ = LF;

    line->len = p - line->data;

    return NGX_OK;
}


/* ,"name":"escaped" or ,"name":null when empty */

static ngx_int_t
ngx_http_guard_audit_str(ngx_http_guard_out_t *out, const char *name,
    u_char *s, size_t len)
{
    if (ngx_http_guard_out_printf(out, 32, ",\"%s\":", name) != NGX_OK) {
        return NGX_ERROR;
    }

    if (s == NULL || len == 0) {
        return ngx_http_guard_out_str(out, "null");
    }

    return ngx_http_guard_out_json(out, s, len);
}


static ngx_int_t
ngx_http_guard_audit_hmac(ngx_str_t *key, u_char *text, size_t len,
    u_char *mac)
{
#if (NGX_OPENSSL)

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)

    size_t         n;
    EVP_MAC       *hmac;
    ngx_int_t      rc;
    OSSL_PARAM     params[2];
    EVP_MAC_CTX   *ctx;

    if (key->len == 0) {
        return NGX_ERROR;               /* guard_audit_check() refuses it */
    }

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "upstream guard: audit log: EVP_MAC_fetch(HMAC) "
                      "failed");
        return NGX_ERROR;
    }

    ctx = EVP_MAC_CTX_new(hmac);
    rc = NGX_ERROR;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (ctx
        && EVP_MAC_init(ctx, key->data, key->len, params) == 1
        && EVP_MAC_update(ctx, text, len) == 1
        && EVP_MAC_final(ctx, mac, &n, NGX_HTTP_GUARD_AUDIT_MAC_LEN) == 1
        && n == NGX_HTTP_GUARD_AUDIT_MAC_LEN)
    {
        rc = NGX_OK;

    } else {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "upstream guard: audit log: HMAC-SHA256 failed");
    }

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);

    return rc;

#else

    unsigned int  n;

    if (key->len == 0) {
        return NGX_ERROR;               /* guard_audit_check() refuses it */
    }

    if (HMAC(EVP_sha256(), key->data, (int) key->len, text, len, mac, &n)
        == NULL
        || n != NGX_HTTP_GUARD_AUDIT_MAC_LEN)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "upstream guard: audit log: HMAC-SHA256 failed");
        return NGX_ERROR;
    }

    return NGX_OK;

#endif

#else

    return NGX_ERROR;

#endif
}


/*
 * After "mv audit.log audit.log.1; nginx -s reopen" the master opens the
 * new file before it tells the workers; a worker that writes in between
 * would put its line into the old file after lines already in the new
 * one.  So a writer whose file is no longer the one at the path, while a
 * file is there, opens that one (never creating it) and writes there.
 * All writers hold the zone mutex, so the lines stay in order.
 */

static void
ngx_http_guard_audit_follow(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_fd_t         fd;
    ngx_file_info_t  fi, path;

    if (ngx_fd_info(file->fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_info(file->name.data, &path) == NGX_FILE_ERROR
        || !ngx_is_file(&path)
        || (fi.st_ino == path.st_ino && fi.st_dev == path.st_dev))
    {
        return;
    }

    fd = ngx_open_file(file->name.data, NGX_FILE_APPEND, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return;         /* its reopen will tell */
    }

    if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
        (void) ngx_close_file(fd);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "upstream guard: audit log \"%V\" was rotated: the next "
                  "line goes to the new file", &file->name);

    (void) ngx_close_file(file->fd);
    file->fd = fd;
}


/* one write(); a short one is undone, so that every line stays whole */

static ngx_int_t
ngx_http_guard_audit_write(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_str_t *line, uint64_t seq, const char *op)
{
    off_t             size;
    ssize_t           n;
    ngx_err_t         err;
    ngx_log_t        *log;
    ngx_open_file_t  *file;
    ngx_file_info_t   fi;

    file = gmcf->audit_file;
    log = ngx_cycle->log;

    ngx_http_guard_audit_follow(file, log);

    size = -1;

    if (ngx_fd_info(file->fd, &fi) != NGX_FILE_ERROR && ngx_is_file(&fi)) {
        size = ngx_file_size(&fi);
    }

    do {
        n = write(file->fd, line->data, line->len);
        err = (n == -1) ? ngx_errno : 0;
    } while (n == -1 && err == NGX_EINTR);

    if (n == (ssize_t) line->len) {

        /*
         * Whichever process writes first after a failure says so, once:
         * the failure may have been another worker's.
         */
        if (sh->audit_failing) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "upstream guard: audit log \"%V\" is written "
                          "again, from line %uL", &file->name, seq);
            sh->audit_failing = 0;
        }

        gmcf->audit_err = 0;

        return NGX_OK;
    }

    if (n > 0 && size >= 0 && ftruncate(file->fd, size) == -1) {
        /* the mutex is held: nothing was appended since the fstat() */
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "upstream guard: audit log \"%V\": ftruncate() of a "
                      "torn line failed", &file->name);
    }

    if (n >= 0) {
        err = NGX_HTTP_GUARD_AUDIT_SHORT;
    }

    sh->audit_failing = 1;

    if (err == gmcf->audit_err) {
        return NGX_ERROR;
    }

    gmcf->audit_err = err;

    if (n >= 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "upstream guard: audit log \"%V\": short write (%z "
                      "of %uz bytes), line %uL (%s) is not recorded; "
                      "admin changes are refused while lines cannot be "
                      "written",
                      &file->name, n, line->len, seq, op ? op : "-");

    } else {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "upstream guard: audit log \"%V\": write() failed, "
                      "line %uL (%s) is not recorded; admin changes are "
                      "refused while lines cannot be written",
                      &file->name, seq, op ? op : "-");
    }

    return NGX_ERROR;
}


/* the same line, a copy that leaves the box; its failures are not ours */

static void
ngx_http_guard_audit_syslog(ngx_http_guard_main_conf_t *gmcf,
    ngx_pool_t *pool, ngx_str_t *line)
{
    u_char             *buf, *p;
    ngx_syslog_peer_t  *peer;

    peer = gmcf->audit_syslog;

    if (peer->busy) {
        return;
    }

    buf = ngx_pnalloc(pool, NGX_HTTP_GUARD_AUDIT_SYSLOG_HEAD + line->len);
    if (buf == NULL) {
        return;
    }

    p = ngx_syslog_add_header(peer, buf);
    p = ngx_cpymem(p, line->data, line->len - 1);      /* no "\n" */

    peer->busy = 1;
    (void) ngx_syslog_send(peer, buf, p - buf);
    peer->busy = 0;
}


/* ---------------------------------------------------------------------- */
/* the chain across starts                                                 */

/*
 * init_module, master, after the state file was read: the chain goes on
 * from whichever is further on, the head the zone knows (the running
 * zone's, or the state file's at a start) or the last whole line of the
 * file.  The state file is written after lasting changes only, so lines
 * written since (reads, refusals, the last ones before a crash) put the
 * file ahead of it; a file behind the head was cut, or rotated away, and
 * the next line's seq says so.  An empty or missing file and no head:
 * seq 1 with a "prev" of zeros.
 */

ngx_int_t
ngx_http_guard_audit_init(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    u_char                mac[NGX_HTTP_GUARD_AUDIT_MAC_LEN];
    uint64_t              seq, head;
    ngx_int_t             rc;
    ngx_uint_t            verified;
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    if (gmcf->audit_file == NULL || gmcf->shm_zone == NULL
        || ngx_test_config)
    {
        return NGX_OK;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    seq = 0;
    verified = 0;

    /* read without the lock: a line written meanwhile only moves the head */

    rc = ngx_http_guard_audit_tail(gmcf, cycle->log, &seq, mac, &verified);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    head = sh->audit_seq;

    if (rc == NGX_OK && seq > head) {
        sh->audit_seq = seq;
        ngx_memcpy(sh->audit_head, mac, NGX_HTTP_GUARD_AUDIT_MAC_LEN);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (rc == NGX_ABORT && head == 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "upstream guard: the last line of the audit log "
                      "\"%V\" is not an audit line: the chain starts again "
                      "at seq 1", &gmcf->audit_file->name);
    }

    if (rc != NGX_OK || seq <= head) {
        return NGX_OK;
    }

    if (head) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "upstream guard: the audit log \"%V\" goes on to seq "
                      "%uL, past the head the state file kept (seq %uL): "
                      "the chain goes on from its last line",
                      &gmcf->audit_file->name, seq, head);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "upstream guard: the audit chain goes on from the "
                      "last line of \"%V\", seq %uL",
                      &gmcf->audit_file->name, seq);
    }

    if (!verified) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "upstream guard: the last line of the audit log "
                      "\"%V\" (seq %uL) does not verify with the key (a new "
                      "key, or an edited line): the chain goes on from it, "
                      "guard-audit-verify reports it",
                      &gmcf->audit_file->name, seq);
    }

    return NGX_OK;
}


/*
 * The last whole line of the file: its seq and mac, and whether its mac
 * verifies.  NGX_DECLINED: no line (or not a regular file); NGX_ABORT: a
 * last line that is not ours; NGX_ERROR: the HMAC failed.
 */

static ngx_int_t
ngx_http_guard_audit_tail(ngx_http_guard_main_conf_t *gmcf, ngx_log_t *log,
    uint64_t *seq, u_char *mac, ngx_uint_t *verified)
{
    u_char           *buf, *start, *end, *p, *t, check[32];
    off_t             size, from;
    size_t            len;
    ssize_t           n;
    ngx_int_t         rc, c;
    ngx_uint_t        i;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = gmcf->audit_file->name;
    file.log = log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                            0);
    if (file.fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    buf = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)) {
        goto done;
    }

    size = ngx_file_size(&fi);
    if (size == 0) {
        goto done;
    }

    from = (size > NGX_HTTP_GUARD_AUDIT_TAIL)
           ? size - NGX_HTTP_GUARD_AUDIT_TAIL : 0;
    len = (size_t) (size - from);

    buf = ngx_alloc(len, log);
    if (buf == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    n = ngx_read_file(&file, buf, len, from);
    if (n <= 0) {
        goto done;
    }

    /* the end of the last whole line; a torn tail is left out */

    end = buf + n;

    while (end > buf && end[-1] != LF) {
        end--;
    }

    if (end == buf) {
        goto bad;
    }

    end--;                                          /* its "\n" */

    start = end;

    while (start > buf && start[-1] != LF) {
        start--;
    }

    if (start == buf && from != 0) {
        goto bad;                                   /* longer than 64k */
    }

    len = end - start;

    if (len < NGX_HTTP_GUARD_AUDIT_TAIL_LEN + sizeof("{\"seq\":1") - 1
        || ngx_strncmp(start, "{\"seq\":", 7) != 0)
    {
        goto bad;
    }

    t = end - NGX_HTTP_GUARD_AUDIT_TAIL_LEN;

    if (ngx_strncmp(t, NGX_HTTP_GUARD_AUDIT_MAC_TAIL,
                    sizeof(NGX_HTTP_GUARD_AUDIT_MAC_TAIL) - 1)
        != 0
        || end[-2] != '"' || end[-1] != '}')
    {
        goto bad;
    }

    p = t + sizeof(NGX_HTTP_GUARD_AUDIT_MAC_TAIL) - 1;

    for (i = 0; i < NGX_HTTP_GUARD_AUDIT_MAC_LEN; i++) {
        c = ngx_hextoi(p + 2 * i, 2);
        if (c == NGX_ERROR) {
            goto bad;
        }

        mac[i] = (u_char) c;
    }

    *seq = 0;

    for (p = start + 7; p < t && *p >= '0' && *p <= '9'; p++) {
        *seq = *seq * 10 + (*p - '0');
    }

    /* 19 digits: no overflow */

    if (*seq == 0 || p == start + 7 || p - (start + 7) > 19 || *p != ',') {
        goto bad;
    }

    if (ngx_http_guard_audit_hmac(&gmcf->audit_key, start, t - start, check)
        != NGX_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    *verified = (ngx_memcmp(check, mac, NGX_HTTP_GUARD_AUDIT_MAC_LEN) == 0);

    rc = NGX_OK;
    goto done;

bad:

    rc = NGX_ABORT;

done:

    if (buf) {
        ngx_free(buf);
    }

    (void) ngx_close_file(file.fd);

    return rc;
}


/*
 * init_module, master: one line for each start and reload, written when
 * the new configuration is in force.  Never fails the reload: a line that
 * cannot be written is logged (and refuses changes until it can).
 */

void
ngx_http_guard_audit_reload(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    u_char                       detail[NGX_INT_T_LEN + sizeof("generation ")];
    ngx_int_t                    rc;
    ngx_uint_t                   generation;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_audit_rec_t   rec;

    if (gmcf->audit_file == NULL || gmcf->shm_zone == NULL
        || ngx_test_config)
    {
        return;
    }

    ngx_http_guard_audit_inherit(cycle, gmcf);

    if (ngx_http_guard_audit_init(cycle, gmcf) != NGX_OK) {
        return;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));

    ngx_str_set(&rec.principal, "reload");
    rec.op = "reload";
    rec.result = "applied";
    rec.detail.data = detail;

    ngx_shmtx_lock(&shpool->mutex);

    /* under the mutex: no line is half written */
    ngx_http_guard_audit_mend(gmcf->audit_file, cycle->log);

    generation = sh->generation;
    rec.detail.len = ngx_slprintf(detail, detail + sizeof(detail),
                                  "generation %ui", generation)
                     - detail;

    rc = ngx_http_guard_audit_locked(gmcf, sh, &rec);

    ngx_shmtx_unlock(&shpool->mutex);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "upstream guard: the reload to generation %ui is not "
                      "in the audit log \"%V\"", generation,
                      &gmcf->audit_file->name);
    }
}


/*
 * A file that ends in a torn line (a write cut short by a crash, the
 * bytes of a line but not its "\n") has it cut off, as a short write of a
 * running worker is: the next line would be appended to it, and the two
 * would be one line that is neither.  Only a tail that begins as a line
 * of ours does (a prefix of '{"seq":'); the caller holds the zone mutex.
 */

static void
ngx_http_guard_audit_mend(ngx_open_file_t *file, ngx_log_t *log)
{
    u_char           *buf, *p, *last;
    off_t             size, from;
    size_t            len;
    ssize_t           n;
    ngx_file_t        rf;
    ngx_file_info_t   fi, rfi;

    if (file->fd == NGX_INVALID_FILE
        || ngx_fd_info(file->fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi))
    {
        return;
    }

    size = ngx_file_size(&fi);
    if (size == 0) {
        return;
    }

    from = (size > NGX_HTTP_GUARD_AUDIT_TAIL)
           ? size - NGX_HTTP_GUARD_AUDIT_TAIL : 0;

    /* the file is open for appending only: it is read by its name */

    ngx_memzero(&rf, sizeof(ngx_file_t));
    rf.name = file->name;
    rf.log = log;

    rf.fd = ngx_open_file(file->name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                          0);
    if (rf.fd == NGX_INVALID_FILE) {
        return;
    }

    buf = ngx_alloc((size_t) (size - from), log);
    n = -1;

    if (buf
        && ngx_fd_info(rf.fd, &rfi) != NGX_FILE_ERROR
        && rfi.st_ino == fi.st_ino && rfi.st_dev == fi.st_dev)
    {
        n = ngx_read_file(&rf, buf, (size_t) (size - from), from);
    }

    (void) ngx_close_file(rf.fd);

    if (n != size - from || buf[n - 1] == LF) {
        goto done;
    }

    last = buf + n;

    for (p = last; p > buf && p[-1] != LF; p--) { /* void */ }

    if (p == buf && from != 0) {
        goto done;                          /* a torn line of over 64k */
    }

    len = ngx_min((size_t) (last - p), sizeof("{\"seq\":") - 1);

    if (ngx_strncmp(p, "{\"seq\":", len) != 0) {
        goto done;                          /* not a line of ours */
    }

    /* a writer that does not hold this mutex (an old zone's) is not cut */

    if (ngx_fd_info(file->fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) != size)
    {
        goto done;
    }

    if (ftruncate(file->fd, from + (p - buf)) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "upstream guard: audit log \"%V\": ftruncate() of a "
                      "torn last line failed", &file->name);
        goto done;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "upstream guard: audit log \"%V\" ended in a torn line "
                  "(%z bytes without a newline, a write cut short): cut "
                  "off, so that the next line is whole", &file->name,
                  last - p);

done:

    if (buf) {
        ngx_free(buf);
    }
}


/*
 * At a reload, ngx_cycle is still the running cycle: a write error that
 * its configuration has logged already is not logged again by this one.
 * Its main conf is read only if the running cycle has this very module,
 * whose ctx_index nginx then keeps (ngx_module_ctx_index()).
 */

static void
ngx_http_guard_audit_inherit(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    ngx_uint_t                   i;
    ngx_cycle_t                 *old;
    ngx_http_conf_ctx_t         *ctx;
    ngx_http_guard_main_conf_t  *ogmcf;

    old = (ngx_cycle_t *) ngx_cycle;

    if (old == cycle || old->modules == NULL || old->conf_ctx == NULL) {
        return;
    }

    for (i = 0; old->modules[i]; i++) {
        if (old->modules[i] == &ngx_http_upstream_guard_module) {
            break;
        }
    }

    if (old->modules[i] == NULL) {
        return;
    }

    ctx = (ngx_http_conf_ctx_t *) old->conf_ctx[ngx_http_module.index];
    if (ctx == NULL) {
        return;
    }

    ogmcf = ctx->main_conf[ngx_http_upstream_guard_module.ctx_index];

    if (ogmcf && ogmcf->audit_file
        && ogmcf->audit_file->name.len == gmcf->audit_file->name.len
        && ngx_strcmp(ogmcf->audit_file->name.data,
                      gmcf->audit_file->name.data) == 0)
    {
        gmcf->audit_err = ogmcf->audit_err;
    }
}


