
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The state file (guard_state_file): admin and health state across a
 * restart or a binary upgrade, which start with a fresh zone.
 *
 * The checking worker writes it after each lasting change (the zone's
 * state_seq moved; health_seq too, at most once a second): the state is
 * copied under the zone mutex, then written without it to a temporary
 * file in the same directory, synced, renamed over the old file, and the
 * directory synced, so that a crash leaves either the old file or the
 * new one.  The master reads it once per fresh zone, in init_module
 * before the workers fork: the whole file is parsed into records first
 * and applied (through state.c, the one writer of the zone) only if every
 * byte of it parsed; a file that does not is reported with its path and
 * the reason and ignored whole.
 *
 * A text file, one record a line, fields separated by one blank:
 *
 *     # nginx-upstream-guard state 1
 *     server UPSTREAM SERVER ADDRESS HEALTH ADMIN ADMIN_WEIGHT CONF_WEIGHT
 *         VERSION DRAIN_STARTED DRAINED_AT
 *         ADMIN_SINCE ADMIN_UNTIL ADMIN_BY ADMIN_REASON
 *         WEIGHT_SINCE WEIGHT_UNTIL WEIGHT_BY WEIGHT_REASON REASON
 *     freeze on|off SINCE UNTIL BY REASON
 *     chain AUDIT_SEQ AUDIT_HEAD NEXT_REQUEST
 *     request ID STATE OPERATION WEIGHT EXPIRES ROLE IN_ROTATION_AFTER
 *         CREATED UNTIL CLOSED UPSTREAM SERVER REQUESTER APPROVER REASON WHY
 *     end SERVERS CRC32
 *
 * (a server or request record is one line; requests are the pending ones
 * of the two-person rule, the chain line the audit log's head and the
 * next request id, both optional).  Times are milliseconds since the epoch,
 * 0 for none.  Strings are percent-encoded: every byte but the printable
 * ASCII ones other than "%" is written %XX, so blanks, newlines and
 * binary bytes never break a line; "-" is the empty string.  The last
 * line counts the server records and carries the CRC-32 of every byte
 * before it.  Only servers whose state a fresh start would not give them
 * have a line: down, up where the upstream starts down, an admin state,
 * an admin weight or an override; with every server up and active the
 * file is three lines long.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_SF_MAGIC      "# nginx-upstream-guard state "
#define NGX_HTTP_GUARD_SF_VERSION    1
#define NGX_HTTP_GUARD_SF_MAX_SIZE   (64 * 1024 * 1024)
#define NGX_HTTP_GUARD_SF_MAX_FIELDS 24
#define NGX_HTTP_GUARD_SF_ACCESS     0640
#define NGX_HTTP_GUARD_SF_HEALTH     1000   /* ms between health writes */

#ifdef O_NOFOLLOW
#define NGX_HTTP_GUARD_SF_NOFOLLOW   O_NOFOLLOW
#else
#define NGX_HTTP_GUARD_SF_NOFOLLOW   0
#endif

/*
 * The largest time, version or sequence number read back: 2^53 - 1, the
 * largest integer every JSON reader holds exactly (the reports print them).
 */
#define NGX_HTTP_GUARD_SF_EXACT      9007199254740991ULL

/* a file that is not there yet, never through a link */
#define NGX_HTTP_GUARD_SF_NEW                                                \
    (NGX_FILE_CREATE_OR_OPEN|O_EXCL|NGX_HTTP_GUARD_SF_NOFOLLOW)


/* what a field holds */
#define NGX_HTTP_GUARD_SF_NAME       1      /* ngx_str_t, not empty */
#define NGX_HTTP_GUARD_SF_TEXT       2      /* u_char[max], C string */
#define NGX_HTTP_GUARD_SF_WORD       3      /* ngx_uint_t, one of words */
#define NGX_HTTP_GUARD_SF_UINT       4      /* ngx_uint_t, at most max */
#define NGX_HTTP_GUARD_SF_MSEC       5      /* uint64_t, at most _EXACT */
#define NGX_HTTP_GUARD_SF_BYTES      6      /* _TEXT, control bytes too */


/* one field of a record: how it is written and read, and where it lives */
typedef struct {
    const char                      *name;          /* in error messages */
    ngx_uint_t                       type;
    size_t                           offset;        /* in the record */
    ngx_str_t                       *words;         /* _WORD: by value */
    ngx_uint_t                       nwords;
    uint64_t                         max;   /* _UINT; _TEXT: its size */
} ngx_http_guard_sf_field_t;


/* one server's line */
typedef struct ngx_http_guard_sf_record_s  ngx_http_guard_sf_record_t;

struct ngx_http_guard_sf_record_s {
    ngx_str_node_t                   node;      /* up \n server \n addr */
    ngx_http_guard_sf_record_t      *next;      /* in the file's order */
    ngx_str_t                        upstream;
    ngx_str_t                        server;
    ngx_str_t                        addr;
    ngx_uint_t                       line;
    ngx_uint_t                       restored;
    ngx_http_guard_saved_t           sv;
};


/* the freeze line */
typedef struct {
    ngx_uint_t                       frozen;
    ngx_http_guard_sh_override_t     ov;
} ngx_http_guard_sf_freeze_t;


/* the chain line: the audit log's head, the next request id */
typedef struct {
    uint64_t                         audit_seq;
    u_char                           audit_head[65];    /* hex */
    ngx_uint_t                       next_request;
} ngx_http_guard_sf_chain_t;


/* a parsed file: every record, or why the file is ignored */
typedef struct {
    ngx_rbtree_t                     tree;          /* records by key */
    ngx_rbtree_node_t                sentinel;
    ngx_http_guard_sf_record_t      *first;
    ngx_http_guard_sf_record_t     **last;
    ngx_uint_t                       nrecords;
    ngx_uint_t                       has_freeze;
    ngx_http_guard_sf_freeze_t       freeze;
    ngx_uint_t                       has_chain;
    ngx_http_guard_sf_chain_t        chain;
    ngx_uint_t                       nrequests;
    ngx_http_guard_sh_request_t      requests[NGX_HTTP_GUARD_REQUESTS];
    u_char                           error[192];    /* C string */
} ngx_http_guard_sf_t;


static ngx_int_t ngx_http_guard_sf_read(ngx_cycle_t *cycle, ngx_str_t *path,
    ngx_pool_t *pool, ngx_str_t *content);
static ngx_int_t ngx_http_guard_sf_parse(ngx_pool_t *pool, u_char *buf,
    size_t len, ngx_http_guard_sf_t *sf);
static ngx_int_t ngx_http_guard_sf_parse_line(ngx_pool_t *pool, u_char *p,
    u_char *last, ngx_uint_t line, ngx_http_guard_sf_t *sf);
static ngx_int_t ngx_http_guard_sf_parse_fields(ngx_pool_t *pool,
    ngx_http_guard_sf_field_t *fields, ngx_uint_t n, ngx_str_t *value,
    void *base, ngx_uint_t line, ngx_http_guard_sf_t *sf);
static ssize_t ngx_http_guard_sf_unescape(ngx_str_t *value, u_char *dst,
    size_t max, ngx_uint_t type);
static u_char *ngx_http_guard_sf_printable(u_char *dst, u_char *src,
    size_t len);
static ngx_int_t ngx_http_guard_sf_hex(u_char *p, size_t len, void *out);
static ngx_int_t ngx_http_guard_sf_number(ngx_str_t *value, uint64_t max,
    uint64_t *n);
static void ngx_http_guard_sf_error(ngx_http_guard_sf_t *sf,
    const char *fmt, ...);
static void ngx_http_guard_sf_apply(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_guard_sf_t *sf);
static void ngx_http_guard_sf_requests(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_guard_sf_t *sf);
static ngx_int_t ngx_http_guard_sf_name(u_char *stored, size_t len,
    ngx_str_t *name);
static ngx_uint_t ngx_http_guard_sf_worth(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s);
static void ngx_http_guard_sf_copy(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_sf_record_t *rec);
static size_t ngx_http_guard_sf_size(ngx_http_guard_sf_field_t *fields,
    ngx_uint_t n, void *base);
static u_char *ngx_http_guard_sf_print(u_char *p,
    ngx_http_guard_sf_field_t *fields, ngx_uint_t n, void *base);
static size_t ngx_http_guard_sf_escape(u_char *dst, u_char *src, size_t len);
static ngx_int_t ngx_http_guard_sf_write(ngx_http_guard_main_conf_t *gmcf,
    u_char *buf, size_t len, ngx_log_t *log);
static ngx_uint_t ngx_http_guard_sf_foreign(ngx_http_guard_main_conf_t *gmcf,
    ngx_log_t *log);
static size_t ngx_http_guard_sf_dir(ngx_str_t *path);


static ngx_str_t  ngx_http_guard_sf_health[] = {
    ngx_string("checking"),                 /* NGX_HTTP_GUARD_CHECKING */
    ngx_string("up"),                       /* NGX_HTTP_GUARD_UP */
    ngx_string("down")                      /* NGX_HTTP_GUARD_DOWN */
};


static ngx_str_t  ngx_http_guard_sf_admin[] = {
    ngx_string("active"),                   /* NGX_HTTP_GUARD_ACTIVE */
    ngx_string("draining"),                 /* NGX_HTTP_GUARD_DRAINING */
    ngx_string("drained"),                  /* NGX_HTTP_GUARD_DRAINED */
    ngx_string("maintenance")               /* NGX_HTTP_GUARD_MAINTENANCE */
};


static ngx_str_t  ngx_http_guard_sf_onoff[] = {
    ngx_string("off"),
    ngx_string("on")
};


#define ngx_http_guard_sf_rec(member)                                        \
    offsetof(ngx_http_guard_sf_record_t, member)

#define ngx_http_guard_sf_words(words)                                       \
    words, sizeof(words) / sizeof(ngx_str_t)


/* a server line after "server": the parser and the writer read this */

static ngx_http_guard_sf_field_t  ngx_http_guard_sf_server[] = {

    { "upstream", NGX_HTTP_GUARD_SF_NAME,
      ngx_http_guard_sf_rec(upstream), NULL, 0, 0 },

    { "server", NGX_HTTP_GUARD_SF_NAME,
      ngx_http_guard_sf_rec(server), NULL, 0, 0 },

    { "address", NGX_HTTP_GUARD_SF_NAME,
      ngx_http_guard_sf_rec(addr), NULL, 0, 0 },

    { "health", NGX_HTTP_GUARD_SF_WORD,
      ngx_http_guard_sf_rec(sv.health),
      ngx_http_guard_sf_words(ngx_http_guard_sf_health), 0 },

    { "admin", NGX_HTTP_GUARD_SF_WORD,
      ngx_http_guard_sf_rec(sv.admin),
      ngx_http_guard_sf_words(ngx_http_guard_sf_admin), 0 },

    { "admin weight", NGX_HTTP_GUARD_SF_UINT,
      ngx_http_guard_sf_rec(sv.admin_weight), NULL, 0,
      NGX_HTTP_GUARD_WEIGHT_MAX },

    { "configured weight", NGX_HTTP_GUARD_SF_UINT,
      ngx_http_guard_sf_rec(sv.conf_weight), NULL, 0,
      NGX_MAX_INT32_VALUE },

    { "version", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.admin_version), NULL, 0, 0 },

    { "drain start", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.drain_started), NULL, 0, 0 },

    { "drained at", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.drained_at), NULL, 0, 0 },

    { "admin since", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.ov_admin.since), NULL, 0, 0 },

    { "admin until", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.ov_admin.until), NULL, 0, 0 },

    { "admin by", NGX_HTTP_GUARD_SF_TEXT,
      ngx_http_guard_sf_rec(sv.ov_admin.by), NULL, 0,
      NGX_HTTP_GUARD_PRINCIPAL_LEN },

    { "admin reason", NGX_HTTP_GUARD_SF_TEXT,
      ngx_http_guard_sf_rec(sv.ov_admin.reason), NULL, 0,
      NGX_HTTP_GUARD_REASON_LEN },

    { "weight since", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.ov_weight.since), NULL, 0, 0 },

    { "weight until", NGX_HTTP_GUARD_SF_MSEC,
      ngx_http_guard_sf_rec(sv.ov_weight.until), NULL, 0, 0 },

    { "weight by", NGX_HTTP_GUARD_SF_TEXT,
      ngx_http_guard_sf_rec(sv.ov_weight.by), NULL, 0,
      NGX_HTTP_GUARD_PRINCIPAL_LEN },

    { "weight reason", NGX_HTTP_GUARD_SF_TEXT,
      ngx_http_guard_sf_rec(sv.ov_weight.reason), NULL, 0,
      NGX_HTTP_GUARD_REASON_LEN },

    /* a check's own words: only the report shows them, escaped */
    { "reason", NGX_HTTP_GUARD_SF_BYTES,
      ngx_http_guard_sf_rec(sv.reason), NULL, 0, NGX_HTTP_GUARD_REASON_LEN }
};


/* the freeze line after "freeze" */

static ngx_http_guard_sf_field_t  ngx_http_guard_sf_freeze[] = {

    { "freeze", NGX_HTTP_GUARD_SF_WORD,
      offsetof(ngx_http_guard_sf_freeze_t, frozen),
      ngx_http_guard_sf_words(ngx_http_guard_sf_onoff), 0 },

    { "since", NGX_HTTP_GUARD_SF_MSEC,
      offsetof(ngx_http_guard_sf_freeze_t, ov.since), NULL, 0, 0 },

    { "until", NGX_HTTP_GUARD_SF_MSEC,
      offsetof(ngx_http_guard_sf_freeze_t, ov.until), NULL, 0, 0 },

    { "by", NGX_HTTP_GUARD_SF_TEXT,
      offsetof(ngx_http_guard_sf_freeze_t, ov.by), NULL, 0,
      NGX_HTTP_GUARD_PRINCIPAL_LEN },

    { "reason", NGX_HTTP_GUARD_SF_TEXT,
      offsetof(ngx_http_guard_sf_freeze_t, ov.reason), NULL, 0,
      NGX_HTTP_GUARD_REASON_LEN }
};


/* the chain line after "chain" */

static ngx_http_guard_sf_field_t  ngx_http_guard_sf_chain[] = {

    { "audit sequence", NGX_HTTP_GUARD_SF_MSEC,
      offsetof(ngx_http_guard_sf_chain_t, audit_seq), NULL, 0, 0 },

    { "audit head", NGX_HTTP_GUARD_SF_TEXT,
      offsetof(ngx_http_guard_sf_chain_t, audit_head), NULL, 0, 65 },

    { "next request", NGX_HTTP_GUARD_SF_UINT,
      offsetof(ngx_http_guard_sf_chain_t, next_request), NULL, 0,
      NGX_MAX_INT32_VALUE }
};


/* a pending request of the two-person rule after "request" */

#define ngx_http_guard_sf_req(member)                                        \
    offsetof(ngx_http_guard_sh_request_t, member)

static ngx_http_guard_sf_field_t  ngx_http_guard_sf_request[] = {

    { "id", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(id), NULL, 0,
      NGX_MAX_INT32_VALUE },

    { "state", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(state), NULL, 0,
      NGX_HTTP_GUARD_REQ_EXPIRED },

    { "operation", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(op), NULL,
      0, NGX_HTTP_GUARD_OP_EXPIRE },

    { "weight", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(weight), NULL,
      0, NGX_HTTP_GUARD_WEIGHT_MAX },

    { "expires", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(expires),
      NULL, 0, NGX_MAX_INT32_VALUE },

    { "role", NGX_HTTP_GUARD_SF_UINT, ngx_http_guard_sf_req(role), NULL, 0,
      NGX_HTTP_GUARD_ROLE_ADMIN },

    { "in rotation after", NGX_HTTP_GUARD_SF_UINT,
      ngx_http_guard_sf_req(in_rotation_after), NULL, 0,
      NGX_MAX_INT32_VALUE },

    { "created", NGX_HTTP_GUARD_SF_MSEC, ngx_http_guard_sf_req(created),
      NULL, 0, 0 },

    { "until", NGX_HTTP_GUARD_SF_MSEC, ngx_http_guard_sf_req(until), NULL,
      0, 0 },

    { "closed", NGX_HTTP_GUARD_SF_MSEC, ngx_http_guard_sf_req(closed), NULL,
      0, 0 },

    { "upstream", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(upstream),
      NULL, 0, NGX_HTTP_GUARD_NAME_LEN },

    { "server", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(server), NULL,
      0, NGX_HTTP_GUARD_NAME_LEN },

    { "requester", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(requester),
      NULL, 0, NGX_HTTP_GUARD_PRINCIPAL_MAX + 1 },

    { "approver", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(approver),
      NULL, 0, NGX_HTTP_GUARD_PRINCIPAL_MAX + 1 },

    { "reason", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(reason), NULL,
      0, NGX_HTTP_GUARD_REASON_LEN },

    { "why", NGX_HTTP_GUARD_SF_TEXT, ngx_http_guard_sf_req(why), NULL, 0,
      NGX_HTTP_GUARD_WHY_LEN }
};


#define NGX_HTTP_GUARD_SF_NCHAIN                                             \
    (sizeof(ngx_http_guard_sf_chain) / sizeof(ngx_http_guard_sf_field_t))
#define NGX_HTTP_GUARD_SF_NREQUEST                                           \
    (sizeof(ngx_http_guard_sf_request) / sizeof(ngx_http_guard_sf_field_t))
#define NGX_HTTP_GUARD_SF_NSERVER                                            \
    (sizeof(ngx_http_guard_sf_server) / sizeof(ngx_http_guard_sf_field_t))
#define NGX_HTTP_GUARD_SF_NFREEZE                                            \
    (sizeof(ngx_http_guard_sf_freeze) / sizeof(ngx_http_guard_sf_field_t))


/* ---------------------------------------------------------------------- */
/* configuration                                                           */

/*
 * guard_state_file PATH: a relative path is taken from nginx's prefix, as
 * nginx does for its own files; its directory must exist now (nginx -t
 * says so), and be writable by the worker user (said at the first write).
 */

char *
ngx_http_guard_state_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    size_t            len;
    u_char           *dir;
    ssize_t           n;
    ngx_str_t        *value;
    ngx_file_info_t   fi;
    u_char            target[NGX_MAX_PATH];

    if (gmcf->state_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[value[1].len - 1] == '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_state_file \"%V\" is not a file name",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->state_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &gmcf->state_file, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * A symbolic link is refused: each write renames a new file over the
     * name (atomic, and never through a link an attacker left), which
     * would replace the link itself and leave its target stale.
     */

    if (ngx_link_info(gmcf->state_file.data, &fi) != NGX_FILE_ERROR
        && ngx_is_link(&fi))
    {
        n = readlink((char *) gmcf->state_file.data, (char *) target,
                     sizeof(target) - 1);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_state_file \"%V\" is a symbolic link%s%*s%s:"
                           " each write renames a new file over it, which "
                           "would replace the link; name the file itself",
                           &gmcf->state_file, n > 0 ? " to \"" : "",
                           (size_t) ngx_max(n, 0), target,
                           n > 0 ? "\"" : "");
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(gmcf->state_file.data, &fi) != NGX_FILE_ERROR
        && !ngx_is_file(&fi))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_state_file \"%V\" is not a regular file",
                           &gmcf->state_file);
        return NGX_CONF_ERROR;
    }

    len = ngx_http_guard_sf_dir(&gmcf->state_file);

    dir = ngx_pnalloc(cf->temp_pool, len + 1);
    if (dir == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(dir, gmcf->state_file.data, len + 1);

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "guard_state_file \"%V\": its directory \"%s\" "
                           "cannot be used", &gmcf->state_file, dir);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_state_file \"%V\": \"%s\" is not a "
                           "directory", &gmcf->state_file, dir);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ---------------------------------------------------------------------- */
/* reading: the master, once per fresh zone                                */

/*
 * init_module, after the slots are mapped and before the pool rules run:
 * a fresh zone (first start, restart, binary upgrade) takes the state
 * file's records; a reload keeps its zone and its state, and only has the
 * file written again for the new configuration (its path, its servers).
 * NGX_ERROR only when memory runs out; nothing about the file stops
 * nginx from starting.
 */

ngx_int_t
ngx_http_guard_statefile_load(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    ngx_int_t             rc;
    ngx_str_t             content;
    ngx_uint_t            loaded;
    ngx_pool_t           *pool;
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;
    ngx_http_guard_sf_t   sf;

    if (ngx_test_config) {
        /* nginx -t restores nothing: its zone is thrown away */
        return NGX_OK;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    loaded = sh->state_loaded;
    sh->state_loaded = 1;

    if (loaded && gmcf->state_file.len) {
        sh->state_seq++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (loaded || gmcf->state_file.len == 0) {
        return NGX_OK;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_guard_sf_read(cycle, &gmcf->state_file, pool, &content);

    if (rc == NGX_OK) {
        rc = ngx_http_guard_sf_parse(pool, content.data, content.len, &sf);

        if (rc == NGX_OK) {
            ngx_http_guard_sf_apply(cycle, gmcf, &sf);

        } else if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "upstream guard: state file \"%V\" ignored: %s",
                          &gmcf->state_file, sf.error);
        }
    }

    ngx_destroy_pool(pool);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/* the whole file into memory: NGX_DECLINED when it is not there to read */

static ngx_int_t
ngx_http_guard_sf_read(ngx_cycle_t *cycle, ngx_str_t *path, ngx_pool_t *pool,
    ngx_str_t *content)
{
    off_t            size;
    size_t           len;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    /* a link made after nginx -t refused one is not followed either */

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY|NGX_HTTP_GUARD_SF_NOFOLLOW,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "upstream guard: state file \"%V\" not found: "
                          "starting clean", path);

        } else {
            ngx_log_error(NGX_LOG_ERR, cycle->log, err,
                          "upstream guard: state file \"%V\" ignored: "
                          ngx_open_file_n " failed", path);
        }

        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                      "upstream guard: state file \"%V\" ignored: "
                      ngx_fd_info_n " failed", path);
        goto declined;
    }

    size = ngx_file_size(&fi);

    if (!ngx_is_file(&fi) || size > NGX_HTTP_GUARD_SF_MAX_SIZE) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "upstream guard: state file \"%V\" ignored: %s", path,
                      ngx_is_file(&fi) ? "larger than 64m, not a state file"
                                       : "not a regular file");
        goto declined;
    }

    content->data = ngx_pnalloc(pool, (size_t) size + 1);
    if (content->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    /* what is there now: a file replaced meanwhile is read whole or not */

    for (len = 0; len < (size_t) size; len += n) {
        n = ngx_read_fd(fd, content->data + len, (size_t) size - len);

        if (n == -1) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                          "upstream guard: state file \"%V\" ignored: "
                          ngx_read_fd_n " failed", path);
            goto declined;
        }

        if (n == 0) {
            break;
        }
    }

    content->len = len;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return NGX_OK;

declined:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return NGX_DECLINED;
}


/*
 * The parse step, pure (no zone, no configuration): the whole file into
 * records, or NGX_DECLINED and sf->error saying why it is not a state
 * file to trust; NGX_ERROR when memory runs out.  The checks from the
 * outside in: the header, the end line, the checksum, then each line.
 */

static ngx_int_t
ngx_http_guard_sf_parse(ngx_pool_t *pool, u_char *buf, size_t len,
    ngx_http_guard_sf_t *sf)
{
    u_char      *p, *q, *body, *last, *eol;
    uint32_t     crc, said;
    uint64_t     n, want;
    ngx_int_t    rc;
    ngx_str_t    value;
    ngx_uint_t   line;

    ngx_memzero(sf, sizeof(ngx_http_guard_sf_t));
    ngx_rbtree_init(&sf->tree, &sf->sentinel, ngx_str_rbtree_insert_value);
    sf->last = &sf->first;

    last = buf + len;

    /* the header: "# nginx-upstream-guard state 1" */

    if (len < sizeof(NGX_HTTP_GUARD_SF_MAGIC) - 1
        || ngx_strncmp(buf, NGX_HTTP_GUARD_SF_MAGIC,
                       sizeof(NGX_HTTP_GUARD_SF_MAGIC) - 1)
           != 0)
    {
        ngx_http_guard_sf_error(sf, "not a state file");
        return NGX_DECLINED;
    }

    p = buf + sizeof(NGX_HTTP_GUARD_SF_MAGIC) - 1;
    eol = ngx_strlchr(p, last, '\n');

    value.data = p;
    value.len = eol ? (size_t) (eol - p) : 0;

    if (eol == NULL
        || ngx_http_guard_sf_number(&value, 999999, &n) != NGX_OK)
    {
        ngx_http_guard_sf_error(sf, "not a state file");
        return NGX_DECLINED;
    }

    if (n != NGX_HTTP_GUARD_SF_VERSION) {
        ngx_http_guard_sf_error(sf, "format %uL, this module reads format %d",
                                n, NGX_HTTP_GUARD_SF_VERSION);
        return NGX_DECLINED;
    }

    body = eol + 1;

    /* the last line: "end SERVERS CRC32", then nothing */

    if (last[-1] != '\n' || last == body) {
        ngx_http_guard_sf_error(sf, "truncated: no end line");
        return NGX_DECLINED;
    }

    for (q = last - 1; q > body && q[-1] != '\n'; q--) {
        /* void */
    }

    if (last - q < 5 || ngx_strncmp(q, "end ", 4) != 0) {
        ngx_http_guard_sf_error(sf, "truncated: no end line");
        return NGX_DECLINED;
    }

    p = q + 4;
    eol = ngx_strlchr(p, last - 1, ' ');

    value.data = p;
    value.len = eol ? (size_t) (eol - p) : 0;

    if (eol == NULL
        || ngx_http_guard_sf_number(&value, NGX_MAX_INT32_VALUE, &want)
           != NGX_OK
        || last - 1 - (eol + 1) != 8
        || ngx_http_guard_sf_hex(eol + 1, 8, &said) != NGX_OK)
    {
        ngx_http_guard_sf_error(sf, "malformed end line");
        return NGX_DECLINED;
    }

    crc = ngx_crc32_long(buf, q - buf);

    if (said != crc) {
        ngx_http_guard_sf_error(sf, "checksum mismatch: the end line says "
                                "%*s, the content gives %08xD", (size_t) 8,
                                eol + 1, crc);
        return NGX_DECLINED;
    }

    /* the records */

    line = 2;

    for (p = body; p < q; p = eol + 1, line++) {
        eol = ngx_strlchr(p, q, '\n');

        rc = ngx_http_guard_sf_parse_line(pool, p, eol, line, sf);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (sf->nrecords != want) {
        ngx_http_guard_sf_error(sf, "the end line counts %uL servers, the "
                                "file has %ui", want, sf->nrecords);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_sf_parse_line(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_uint_t line, ngx_http_guard_sf_t *sf)
{
    u_char                       *s, c;
    ngx_int_t                     rc;
    ngx_str_t                     value[NGX_HTTP_GUARD_SF_MAX_FIELDS], key;
    ngx_uint_t                    n, i;
    ngx_str_node_t               *found;
    ngx_http_guard_sf_record_t   *rec;
    ngx_http_guard_sh_request_t  *req;

    /* split at single blanks: no field is empty */

    for (n = 0; /* void */ ; n++) {

        if (n == NGX_HTTP_GUARD_SF_MAX_FIELDS) {
            ngx_http_guard_sf_error(sf, "line %ui: too many fields", line);
            return NGX_DECLINED;
        }

        s = ngx_strlchr(p, last, ' ');

        value[n].data = p;
        value[n].len = (s ? s : last) - p;

        if (value[n].len == 0) {
            ngx_http_guard_sf_error(sf, "line %ui: %s", line,
                                    (p == last && n == 0) ? "empty line"
                                                          : "an empty field");
            return NGX_DECLINED;
        }

        if (s == NULL) {
            n++;
            break;
        }

        p = s + 1;
    }

    if (value[0].len == 6 && ngx_strncmp(value[0].data, "freeze", 6) == 0) {

        if (sf->has_freeze) {
            ngx_http_guard_sf_error(sf, "line %ui: a second freeze line",
                                    line);
            return NGX_DECLINED;
        }

        if (n != 1 + NGX_HTTP_GUARD_SF_NFREEZE) {
            ngx_http_guard_sf_error(sf, "line %ui: %ui fields, a freeze line "
                                    "has %ui", line, n,
                                    1 + NGX_HTTP_GUARD_SF_NFREEZE);
            return NGX_DECLINED;
        }

        sf->has_freeze = 1;

        return ngx_http_guard_sf_parse_fields(pool, ngx_http_guard_sf_freeze,
                                              NGX_HTTP_GUARD_SF_NFREEZE,
                                              &value[1], &sf->freeze, line,
                                              sf);
    }

    if (value[0].len == 5 && ngx_strncmp(value[0].data, "chain", 5) == 0) {

        if (sf->has_chain || n != 1 + NGX_HTTP_GUARD_SF_NCHAIN) {
            ngx_http_guard_sf_error(sf, "line %ui: a second chain line, or "
                                    "not %ui fields", line,
                                    1 + NGX_HTTP_GUARD_SF_NCHAIN);
            return NGX_DECLINED;
        }

        sf->has_chain = 1;

        rc = ngx_http_guard_sf_parse_fields(pool, ngx_http_guard_sf_chain,
                                            NGX_HTTP_GUARD_SF_NCHAIN,
                                            &value[1], &sf->chain, line, sf);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_strlen(sf->chain.audit_head) != 64) {
            goto bad_head;
        }

        for (i = 0; i < 64; i += 2) {
            if (ngx_http_guard_sf_hex(sf->chain.audit_head + i, 2, &c)
                != NGX_OK)
            {
                goto bad_head;
            }
        }

        return NGX_OK;

    bad_head:

        ngx_http_guard_sf_error(sf, "line %ui: an audit head that is not "
                                "64 hex digits", line);
        return NGX_DECLINED;
    }

    if (value[0].len == 7 && ngx_strncmp(value[0].data, "request", 7) == 0) {

        if (sf->nrequests == NGX_HTTP_GUARD_REQUESTS
            || n != 1 + NGX_HTTP_GUARD_SF_NREQUEST)
        {
            ngx_http_guard_sf_error(sf, "line %ui: more than %d requests, or "
                                    "not %ui fields", line,
                                    NGX_HTTP_GUARD_REQUESTS,
                                    1 + NGX_HTTP_GUARD_SF_NREQUEST);
            return NGX_DECLINED;
        }

        req = &sf->requests[sf->nrequests];

        rc = ngx_http_guard_sf_parse_fields(pool, ngx_http_guard_sf_request,
                                            NGX_HTTP_GUARD_SF_NREQUEST,
                                            &value[1], req, line, sf);
        if (rc != NGX_OK) {
            return rc;
        }

        /* what an approval indexes tables with */

        if (req->op < NGX_HTTP_GUARD_OP_DRAIN
            || req->op > NGX_HTTP_GUARD_OP_EXPIRE
            || req->role < NGX_HTTP_GUARD_ROLE_VIEWER)
        {
            ngx_http_guard_sf_error(sf, "line %ui: a request with operation "
                                    "%ui and role %ui", line, req->op,
                                    req->role);
            return NGX_DECLINED;
        }

        sf->nrequests++;

        return NGX_OK;
    }

    if (value[0].len != 6 || ngx_strncmp(value[0].data, "server", 6) != 0) {
        ngx_http_guard_sf_error(sf, "line %ui: not a server, freeze, chain, "
                                "request or end line", line);
        return NGX_DECLINED;
    }

    if (n != 1 + NGX_HTTP_GUARD_SF_NSERVER) {
        ngx_http_guard_sf_error(sf, "line %ui: %ui fields, a server line "
                                "has %ui", line, n,
                                1 + NGX_HTTP_GUARD_SF_NSERVER);
        return NGX_DECLINED;
    }

    rec = ngx_pcalloc(pool, sizeof(ngx_http_guard_sf_record_t));
    if (rec == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_guard_sf_parse_fields(pool, ngx_http_guard_sf_server,
                                        NGX_HTTP_GUARD_SF_NSERVER, &value[1],
                                        rec, line, sf);
    if (rc != NGX_OK) {
        return rc;
    }

    /* keyed as the zone keys its slots: "upstream\nserver\naddress" */

    key.len = rec->upstream.len + rec->server.len + rec->addr.len + 2;
    key.data = ngx_pnalloc(pool, key.len);
    if (key.data == NULL) {
        return NGX_ERROR;
    }

    s = ngx_cpymem(key.data, rec->upstream.data, rec->upstream.len);
    *s++ = '\n';
    s = ngx_cpymem(s, rec->server.data, rec->server.len);
    *s++ = '\n';
    ngx_memcpy(s, rec->addr.data, rec->addr.len);

    rec->node.str = key;
    rec->node.node.key = ngx_crc32_short(key.data, key.len);
    rec->line = line;

    found = ngx_str_rbtree_lookup(&sf->tree, &key, rec->node.node.key);

    if (found) {
        ngx_http_guard_sf_error(sf, "line %ui: server %V of upstream \"%V\" "
                                "is on line %ui already", line, &rec->server,
                                &rec->upstream,
                                ((ngx_http_guard_sf_record_t *) found)->line);
        return NGX_DECLINED;
    }

    ngx_rbtree_insert(&sf->tree, &rec->node.node);

    *sf->last = rec;
    sf->last = &rec->next;
    sf->nrecords++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_sf_parse_fields(ngx_pool_t *pool,
    ngx_http_guard_sf_field_t *fields, ngx_uint_t n, ngx_str_t *value,
    void *base, ngx_uint_t line, ngx_http_guard_sf_t *sf)
{
    u_char      *field, *printable;
    ssize_t      len;
    uint64_t     num;
    ngx_str_t   *name;
    ngx_uint_t   i, w;
    u_char       shown[32 * 4];

    for (i = 0; i < n; i++) {
        field = (u_char *) base + fields[i].offset;

        switch (fields[i].type) {

        case NGX_HTTP_GUARD_SF_NAME:
            name = (ngx_str_t *) field;

            /* never longer than its encoding */

            name->data = ngx_pnalloc(pool, value[i].len);
            if (name->data == NULL) {
                return NGX_ERROR;
            }

            len = ngx_http_guard_sf_unescape(&value[i], name->data,
                                             value[i].len, fields[i].type);
            if (len <= 0) {
                goto invalid;
            }

            name->len = len;
            break;

        case NGX_HTTP_GUARD_SF_TEXT:
        case NGX_HTTP_GUARD_SF_BYTES:
            len = ngx_http_guard_sf_unescape(&value[i], field,
                                             (size_t) fields[i].max - 1,
                                             fields[i].type);
            if (len < 0) {
                goto invalid;
            }

            field[len] = '\0';
            break;

        case NGX_HTTP_GUARD_SF_WORD:
            for (w = 0; w < fields[i].nwords; w++) {
                if (value[i].len == fields[i].words[w].len
                    && ngx_strncmp(value[i].data, fields[i].words[w].data,
                                   value[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (w == fields[i].nwords) {
                goto invalid;
            }

            *(ngx_uint_t *) field = w;
            break;

        case NGX_HTTP_GUARD_SF_UINT:
            if (ngx_http_guard_sf_number(&value[i], fields[i].max, &num)
                != NGX_OK)
            {
                goto invalid;
            }

            *(ngx_uint_t *) field = (ngx_uint_t) num;
            break;

        default: /* NGX_HTTP_GUARD_SF_MSEC */
            if (ngx_http_guard_sf_number(&value[i], NGX_HTTP_GUARD_SF_EXACT,
                                         &num)
                != NGX_OK)
            {
                goto invalid;
            }

            *(uint64_t *) field = num;
            break;
        }
    }

    return NGX_OK;

invalid:

    /* the field as the file has it, but text: a hostile file's bytes */

    printable = ngx_http_guard_sf_printable(shown, value[i].data,
                                            ngx_min(value[i].len, 32));

    ngx_http_guard_sf_error(sf, "line %ui: invalid %s \"%*s%s\"", line,
                            fields[i].name, (size_t) (printable - shown),
                            shown, value[i].len > 32 ? "..." : "");

    return NGX_DECLINED;
}


/*
 * A percent-encoded field into dst, at most max bytes; returns their
 * number, or -1 when the field is not one the writer makes.  NUL bytes
 * are refused; so are control characters (a newline, ESC...) but in a
 * check's reason (_BYTES): names, principals and the reasons of the
 * admin API never have them (the API refuses them), and the error log
 * prints them as they are.
 */

static ssize_t
ngx_http_guard_sf_unescape(ngx_str_t *value, u_char *dst, size_t max,
    ngx_uint_t type)
{
    u_char  *p, *last, c;
    size_t   n;

    if (value->len == 1 && value->data[0] == '-') {
        return (type == NGX_HTTP_GUARD_SF_NAME) ? -1 : 0;
    }

    n = 0;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        c = *p;

        if (c <= 0x20 || c >= 0x7f) {
            return -1;
        }

        if (c == '%') {
            if (last - p < 3
                || ngx_http_guard_sf_hex(p + 1, 2, &c) != NGX_OK
                || c == '\0'
                || (type != NGX_HTTP_GUARD_SF_BYTES
                    && (c < 0x20 || c == 0x7f)))
            {
                return -1;
            }

            p += 2;
        }

        if (n == max) {
            return -1;
        }

        dst[n++] = c;
    }

    return n;
}


/*
 * Bytes of a file for the error log: printable ASCII as is, the rest,
 * a backslash and a double quote as \xNN; dst has room for 4 * len.
 */

static u_char *
ngx_http_guard_sf_printable(u_char *dst, u_char *src, size_t len)
{
    size_t         i;
    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {

        if (src[i] >= 0x20 && src[i] < 0x7f
            && src[i] != '\\' && src[i] != '"')
        {
            *dst++ = src[i];
            continue;
        }

        *dst++ = '\\';
        *dst++ = 'x';
        *dst++ = hex[src[i] >> 4];
        *dst++ = hex[src[i] & 0xf];
    }

    return dst;
}


/* hexadecimal digits, exactly len of them, into a byte or a CRC-32 */

static ngx_int_t
ngx_http_guard_sf_hex(u_char *p, size_t len, void *out)
{
    u_char    c;
    size_t    i;
    uint32_t  v;

    v = 0;

    for (i = 0; i < len; i++) {
        c = (u_char) (p[i] | 0x20);

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint32_t) (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = (v << 4) | (uint32_t) (c - 'a' + 10);

        } else {
            return NGX_DECLINED;
        }
    }

    if (len == 2) {
        *(u_char *) out = (u_char) v;

    } else {
        *(uint32_t *) out = v;
    }

    return NGX_OK;
}


/* decimal, no sign, at most max */

static ngx_int_t
ngx_http_guard_sf_number(ngx_str_t *value, uint64_t max, uint64_t *n)
{
    size_t    i;
    uint64_t  v, d;

    if (value->len == 0 || value->len > NGX_INT64_LEN) {
        return NGX_DECLINED;
    }

    v = 0;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < '0' || value->data[i] > '9') {
            return NGX_DECLINED;
        }

        d = value->data[i] - '0';

        /* d > max first: max - d must not wrap */

        if (d > max || v > (max - d) / 10) {
            return NGX_DECLINED;
        }

        v = v * 10 + d;
    }

    *n = v;

    return NGX_OK;
}


/* why the file is ignored, cut to fit */

static void
ngx_http_guard_sf_error(ngx_http_guard_sf_t *sf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(sf->error, sf->error + sizeof(sf->error) - 1, fmt,
                      args);
    va_end(args);

    *p = '\0';
}


/*
 * Each server configured now finds its record by the key of its slot; a
 * record no server took is dropped.  The records go through state.c.
 */

static void
ngx_http_guard_sf_apply(ngx_cycle_t *cycle, ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sf_t *sf)
{
    u_char                      *by;
    const char                  *frozen;
    ngx_uint_t                   i, j, restored;
    ngx_str_node_t              *node;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_sf_record_t  *rec;

    restored = 0;
    up = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];

            if (gp->sh == NULL || !gp->check_owner) {
                continue;
            }

            node = ngx_str_rbtree_lookup(&sf->tree, &gp->sh->node.str,
                                         gp->sh->node.node.key);
            if (node == NULL) {
                continue;
            }

            rec = (ngx_http_guard_sf_record_t *) node;

            if (rec->restored) {
                continue;
            }

            rec->restored = 1;
            restored++;

            ngx_http_guard_state_restore(gp, &rec->sv);
        }
    }

    if (sf->freeze.frozen) {
        ngx_http_guard_state_restore_freeze(gmcf, &sf->freeze.ov);
    }

    if (sf->has_chain || sf->nrequests) {
        ngx_http_guard_sf_requests(cycle, gmcf, sf);
        ngx_http_guard_state_restore_requests(gmcf, sf->requests,
                                              sf->nrequests,
                                              sf->chain.audit_seq,
                                              sf->has_chain
                                              ? sf->chain.audit_head : NULL,
                                              sf->chain.next_request);
    }

    for (rec = sf->first; rec && rec->restored; rec = rec->next) {
        /* void */
    }

    frozen = sf->freeze.frozen ? "; changes stay frozen by " : "";
    by = sf->freeze.frozen ? sf->freeze.ov.by : (u_char *) "";

    if (rec == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "upstream guard: state file \"%V\": %ui server%s "
                      "restored, 0 dropped (no longer configured)%s%s",
                      &gmcf->state_file, restored, restored == 1 ? "" : "s",
                      frozen, by);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "upstream guard: state file \"%V\": %ui server%s restored, "
                  "%ui dropped (no longer configured), the first: server %V "
                  "of upstream \"%V\"%s%s",
                  &gmcf->state_file, restored, restored == 1 ? "" : "s",
                  sf->nrecords - restored, &rec->server, &rec->upstream,
                  frozen, by);
}


/*
 * An approval finds the upstream and the server of a request by their
 * whole names.  Versions before 0.3.0 recorded a longer name cut to 127
 * bytes: restored, such a request would be approved against an upstream
 * whose whole name is that cut name, or against none.  A pending request
 * whose names match no upstream or server whole is dropped, and so is one
 * whose 127-byte name begins a longer name configured now, as it cannot
 * be told from a cut one; each with a warning.  The requester asks again:
 * a name too long for a request is then refused (409 name_too_long).
 */

static void
ngx_http_guard_sf_requests(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_guard_sf_t *sf)
{
    size_t                        len;
    ngx_int_t                     rc;
    ngx_str_t                    *cut;
    ngx_uint_t                    i, j, found;
    ngx_http_upstream_rr_peer_t  *peer;
    ngx_http_guard_upstream_t    *up, *target;
    ngx_http_guard_sh_request_t  *req;

    up = gmcf->upstreams.elts;

    for (i = 0; i < sf->nrequests; i++) {
        req = &sf->requests[i];

        if (req->id == 0 || req->state != NGX_HTTP_GUARD_REQ_PENDING) {
            continue;
        }

        target = NULL;
        cut = NULL;
        len = ngx_strlen(req->upstream);

        for (j = 0; j < gmcf->upstreams.nelts; j++) {
            rc = ngx_http_guard_sf_name(req->upstream, len,
                                        &up[j].uscf->host);
            if (rc == NGX_OK) {
                target = &up[j];

            } else if (rc == NGX_BUSY) {
                cut = &up[j].uscf->host;
            }
        }

        if (cut) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "upstream guard: state file \"%V\": request %ui "
                          "dropped: its upstream \"%s\" has the %d bytes "
                          "to which versions before 0.3.0 cut a longer "
                          "name, and may be upstream \"%V\"",
                          &gmcf->state_file, req->id, req->upstream,
                          NGX_HTTP_GUARD_NAME_LEN - 1, cut);
            goto drop;
        }

        if (target == NULL) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "upstream guard: state file \"%V\": request %ui "
                          "dropped: no upstream \"%s\" is configured",
                          &gmcf->state_file, req->id, req->upstream);
            goto drop;
        }

        /* the server as written in nginx.conf, or its address */

        found = 0;
        len = ngx_strlen(req->server);

        for (j = 0; j < target->npeers; j++) {
            peer = target->peers[j].peer;

            rc = ngx_http_guard_sf_name(req->server, len, &peer->server);

            if (rc == NGX_BUSY) {
                cut = &peer->server;

            } else if (rc == NGX_OK
                       || ngx_http_guard_sf_name(req->server, len,
                                                 &peer->name)
                          == NGX_OK)
            {
                found = 1;
            }
        }

        if (cut) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "upstream guard: state file \"%V\": request %ui "
                          "dropped: its server \"%s\" has the %d bytes to "
                          "which versions before 0.3.0 cut a longer name, "
                          "and may be server %V of upstream \"%V\"",
                          &gmcf->state_file, req->id, req->server,
                          NGX_HTTP_GUARD_NAME_LEN - 1, cut,
                          &target->uscf->host);
            goto drop;
        }

        if (!found) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "upstream guard: state file \"%V\": request %ui "
                          "dropped: no server %s in upstream \"%V\"",
                          &gmcf->state_file, req->id, req->server,
                          &target->uscf->host);
            goto drop;
        }

        continue;

    drop:

        /* its id is not given again */

        sf->chain.next_request = ngx_max(sf->chain.next_request, req->id);
        req->id = 0;
    }
}


/*
 * A name of a request line (len bytes) against a name configured now:
 * the same whole (NGX_OK), perhaps the configured one cut to the 127
 * bytes a request kept before 0.3.0 (NGX_BUSY), or another (NGX_DECLINED).
 */

static ngx_int_t
ngx_http_guard_sf_name(u_char *stored, size_t len, ngx_str_t *name)
{
    if (name->len < len || (len && ngx_memcmp(name->data, stored, len))) {
        return NGX_DECLINED;
    }

    if (name->len == len) {
        return NGX_OK;
    }

    return (len == NGX_HTTP_GUARD_NAME_LEN - 1) ? NGX_BUSY : NGX_DECLINED;
}


/* ---------------------------------------------------------------------- */
/* writing: the checking worker                                            */

/*
 * The checking worker's tick, and its exit (flush): when the zone's state
 * moved since the file was written, copy it under the mutex, then write
 * it without the mutex.  Health transitions alone are written at most
 * once per NGX_HTTP_GUARD_SF_HEALTH ms (the file is rewritten whole, two
 * fsyncs, and a fleet that flaps would have it rewritten at every tick);
 * any other change is written at the next tick, with the health state of
 * that moment.  A failed write is retried at the next tick and logged
 * once per distinct error.
 */

void
ngx_http_guard_statefile_save(ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t flush)
{
    u_char                      *buf, *p;
    size_t                       size;
    uint32_t                     crc;
    ngx_uint_t                   i, j, n, nrec, seq, hseq;
    ngx_log_t                   *log;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_sh_server_t  *s;
    ngx_http_guard_sf_record_t  *rec;
    ngx_http_guard_sf_freeze_t   freeze;
    ngx_http_guard_sf_chain_t    chain;
    ngx_uint_t                   nreq;
    ngx_http_guard_sh_request_t  reqs[NGX_HTTP_GUARD_REQUESTS];

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    /* hints, read without the lock */

    if (gmcf->state_file.len == 0 || sh->leader_pid != ngx_pid) {
        return;
    }

    if (sh->state_seq == sh->state_saved) {

        if (sh->health_seq == sh->health_saved) {
            return;
        }

        if (!flush && ngx_current_msec - gmcf->leader.saved
                      < NGX_HTTP_GUARD_SF_HEALTH)
        {
            return;
        }
    }

    log = ngx_cycle->log;
    up = gmcf->upstreams.elts;

    /* room for every server: only the pages of those written are touched */

    n = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        n += up[i].npeers;
    }

    rec = ngx_alloc(ngx_max(n, 1) * sizeof(ngx_http_guard_sf_record_t), log);
    if (rec == NULL) {
        return;
    }

    nrec = 0;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->leader_pid != ngx_pid || sh->generation != gmcf->generation) {
        /* only the checking worker of the running configuration writes */
        ngx_shmtx_unlock(&shpool->mutex);
        ngx_free(rec);
        return;
    }

    seq = sh->state_seq;
    hseq = sh->health_seq;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];
            s = gp->sh;

            if (s && gp->check_owner && ngx_http_guard_sf_worth(gp, s)) {
                ngx_http_guard_sf_copy(gp, s, &rec[nrec++]);
            }
        }
    }

    freeze.frozen = sh->frozen ? 1 : 0;
    freeze.ov = sh->freeze;

    chain.audit_seq = sh->audit_seq;
    *ngx_hex_dump(chain.audit_head, sh->audit_head, 32) = '\0';
    chain.next_request = sh->next_request;

    nreq = 0;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        if (sh->requests[i].id
            && sh->requests[i].state == NGX_HTTP_GUARD_REQ_PENDING)
        {
            reqs[nreq++] = sh->requests[i];
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    /* the text, from the copy */

    size = sizeof(NGX_HTTP_GUARD_SF_MAGIC) + NGX_INT_T_LEN
           + sizeof("freeze ")
           + ngx_http_guard_sf_size(ngx_http_guard_sf_freeze,
                                    NGX_HTTP_GUARD_SF_NFREEZE, &freeze)
           + sizeof("chain ")
           + ngx_http_guard_sf_size(ngx_http_guard_sf_chain,
                                    NGX_HTTP_GUARD_SF_NCHAIN, &chain)
           + sizeof("end  \n") + NGX_INT_T_LEN + 8;

    for (i = 0; i < nreq; i++) {
        size += sizeof("request ")
                + ngx_http_guard_sf_size(ngx_http_guard_sf_request,
                                         NGX_HTTP_GUARD_SF_NREQUEST,
                                         &reqs[i]);
    }

    for (i = 0; i < nrec; i++) {
        size += sizeof("server ")
                + ngx_http_guard_sf_size(ngx_http_guard_sf_server,
                                         NGX_HTTP_GUARD_SF_NSERVER, &rec[i]);
    }

    buf = ngx_alloc(size, log);
    if (buf == NULL) {
        ngx_free(rec);
        return;
    }

    p = ngx_sprintf(buf, NGX_HTTP_GUARD_SF_MAGIC "%d\n",
                    NGX_HTTP_GUARD_SF_VERSION);

    for (i = 0; i < nrec; i++) {
        p = ngx_cpymem(p, "server ", sizeof("server ") - 1);
        p = ngx_http_guard_sf_print(p, ngx_http_guard_sf_server,
                                    NGX_HTTP_GUARD_SF_NSERVER, &rec[i]);
    }

    p = ngx_cpymem(p, "freeze ", sizeof("freeze ") - 1);
    p = ngx_http_guard_sf_print(p, ngx_http_guard_sf_freeze,
                                NGX_HTTP_GUARD_SF_NFREEZE, &freeze);

    p = ngx_cpymem(p, "chain ", sizeof("chain ") - 1);
    p = ngx_http_guard_sf_print(p, ngx_http_guard_sf_chain,
                                NGX_HTTP_GUARD_SF_NCHAIN, &chain);

    for (i = 0; i < nreq; i++) {
        p = ngx_cpymem(p, "request ", sizeof("request ") - 1);
        p = ngx_http_guard_sf_print(p, ngx_http_guard_sf_request,
                                    NGX_HTTP_GUARD_SF_NREQUEST, &reqs[i]);
    }

    crc = ngx_crc32_long(buf, p - buf);
    p = ngx_sprintf(p, "end %ui %08xD\n", nrec, crc);

    ngx_free(rec);

    if ((ngx_exiting || ngx_quit || ngx_terminate)
        && ngx_http_guard_sf_foreign(gmcf, log))
    {
        ngx_free(buf);
        return;
    }

    gmcf->leader.saved = ngx_current_msec;

    if (ngx_http_guard_sf_write(gmcf, buf, p - buf, log) == NGX_OK) {
        ngx_shmtx_lock(&shpool->mutex);
        sh->state_saved = seq;
        sh->health_saved = hseq;
        ngx_shmtx_unlock(&shpool->mutex);
    }

    ngx_free(buf);
}


/*
 * A server needs a line when a fresh start would not give it its state:
 * down, up where the upstream starts down, or anything of the admin
 * dimension but an agent's drain (the agent says it again at the first
 * check).
 */

static ngx_uint_t
ngx_http_guard_sf_worth(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s)
{
    return s->health == NGX_HTTP_GUARD_DOWN
           || (s->health == NGX_HTTP_GUARD_UP
               && gp->up->conf->initial == NGX_HTTP_GUARD_DOWN)
           || (s->admin != NGX_HTTP_GUARD_ACTIVE && !s->admin_by_agent)
           || s->admin_weight
           || s->ov_admin.since
           || s->ov_weight.since;
}


/* under the mutex; the names stay: the slot's and the configuration's */

static void
ngx_http_guard_sf_copy(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_sf_record_t *rec)
{
    ngx_http_guard_saved_t  *sv;

    rec->upstream = gp->up->uscf->host;
    rec->server = s->server;
    rec->addr = s->addr;

    sv = &rec->sv;

    sv->health = s->health;
    sv->admin = s->admin;
    sv->admin_weight = s->admin_weight;
    sv->conf_weight = s->conf_weight;
    sv->admin_version = s->admin_version;
    sv->drain_started = s->drain_started;
    sv->drained_at = s->drained_at;
    sv->ov_admin = s->ov_admin;
    sv->ov_weight = s->ov_weight;
    ngx_memcpy(sv->reason, s->reason, NGX_HTTP_GUARD_REASON_LEN);

    if (s->admin_by_agent) {
        sv->admin = NGX_HTTP_GUARD_ACTIVE;
        sv->drain_started = 0;
        sv->drained_at = 0;
    }

    if (sv->health > NGX_HTTP_GUARD_DOWN) {
        sv->health = NGX_HTTP_GUARD_CHECKING;
    }

    if (sv->admin > NGX_HTTP_GUARD_MAINTENANCE) {
        sv->admin = NGX_HTTP_GUARD_ACTIVE;
    }

    sv->admin_weight = ngx_min(sv->admin_weight, NGX_HTTP_GUARD_WEIGHT_MAX);
    sv->conf_weight = ngx_min(sv->conf_weight, NGX_MAX_INT32_VALUE);

    /* C strings, whatever the zone holds */
    sv->ov_admin.by[NGX_HTTP_GUARD_PRINCIPAL_LEN - 1] = '\0';
    sv->ov_admin.reason[NGX_HTTP_GUARD_REASON_LEN - 1] = '\0';
    sv->ov_weight.by[NGX_HTTP_GUARD_PRINCIPAL_LEN - 1] = '\0';
    sv->ov_weight.reason[NGX_HTTP_GUARD_REASON_LEN - 1] = '\0';
    sv->reason[NGX_HTTP_GUARD_REASON_LEN - 1] = '\0';
}


/* at most what ngx_http_guard_sf_print() writes, its newline too */

static size_t
ngx_http_guard_sf_size(ngx_http_guard_sf_field_t *fields, ngx_uint_t n,
    void *base)
{
    u_char      *field;
    size_t       size, len;
    ngx_str_t   *name;
    ngx_uint_t   i;

    size = 0;

    for (i = 0; i < n; i++) {
        field = (u_char *) base + fields[i].offset;

        switch (fields[i].type) {

        case NGX_HTTP_GUARD_SF_NAME:
            name = (ngx_str_t *) field;
            size += ngx_http_guard_sf_escape(NULL, name->data, name->len);
            break;

        case NGX_HTTP_GUARD_SF_TEXT:
        case NGX_HTTP_GUARD_SF_BYTES:
            len = ngx_strnlen(field, (size_t) fields[i].max - 1);
            size += ngx_http_guard_sf_escape(NULL, field, len);
            break;

        case NGX_HTTP_GUARD_SF_WORD:
            size += sizeof("maintenance") - 1;
            break;

        default: /* NGX_HTTP_GUARD_SF_UINT, NGX_HTTP_GUARD_SF_MSEC */
            size += NGX_INT64_LEN;
            break;
        }

        size++;     /* the blank or the newline after it */
    }

    return size;
}


static u_char *
ngx_http_guard_sf_print(u_char *p, ngx_http_guard_sf_field_t *fields,
    ngx_uint_t n, void *base)
{
    u_char      *field;
    size_t       len;
    ngx_str_t   *name, *word;
    ngx_uint_t   i;

    for (i = 0; i < n; i++) {
        field = (u_char *) base + fields[i].offset;

        if (i) {
            *p++ = ' ';
        }

        switch (fields[i].type) {

        case NGX_HTTP_GUARD_SF_NAME:
            name = (ngx_str_t *) field;
            p += ngx_http_guard_sf_escape(p, name->data, name->len);
            break;

        case NGX_HTTP_GUARD_SF_TEXT:
        case NGX_HTTP_GUARD_SF_BYTES:
            len = ngx_strnlen(field, (size_t) fields[i].max - 1);
            p += ngx_http_guard_sf_escape(p, field, len);
            break;

        case NGX_HTTP_GUARD_SF_WORD:
            word = &fields[i].words[*(ngx_uint_t *) field];
            p = ngx_cpymem(p, word->data, word->len);
            break;

        case NGX_HTTP_GUARD_SF_UINT:
            p = ngx_sprintf(p, "%ui", *(ngx_uint_t *) field);
            break;

        default: /* NGX_HTTP_GUARD_SF_MSEC */
            p = ngx_sprintf(p, "%uL", *(uint64_t *) field);
            break;
        }
    }

    *p++ = '\n';

    return p;
}


/*
 * Percent-encoding: every byte but printable ASCII other than "%" as %XX;
 * "-" is the empty string, so a lone "-" is written %2D.  Returns the
 * length; dst NULL only measures.
 */

static size_t
ngx_http_guard_sf_escape(u_char *dst, u_char *src, size_t len)
{
    size_t         n, i;
    static u_char  hex[] = "0123456789ABCDEF";

    if (len == 0 || (len == 1 && src[0] == '-')) {
        if (dst) {
            ngx_memcpy(dst, len ? "%2D" : "-", len ? 3 : 1);
        }

        return len ? 3 : 1;
    }

    n = 0;

    for (i = 0; i < len; i++) {

        if (src[i] > 0x20 && src[i] < 0x7f && src[i] != '%') {
            if (dst) {
                dst[n] = src[i];
            }

            n++;
            continue;
        }

        if (dst) {
            dst[n] = '%';
            dst[n + 1] = hex[src[i] >> 4];
            dst[n + 2] = hex[src[i] & 0xf];
        }

        n += 3;
    }

    return n;
}


/*
 * Atomically: a temporary file of this process in the same directory,
 * written and synced, renamed over the state file, and the directory
 * synced so that the rename itself survives a crash.  Errors are logged
 * once per distinct errno; the next success after one says so.
 */

static ngx_int_t
ngx_http_guard_sf_write(ngx_http_guard_main_conf_t *gmcf, u_char *buf,
    size_t len, ngx_log_t *log)
{
    u_char           *tmp, *dir;
    size_t            off;
    ssize_t           n;
    ngx_fd_t          fd, dfd;
    ngx_err_t         err;
    ngx_uint_t        created;
    const char       *op;
    ngx_file_info_t   fi;

    tmp = ngx_alloc(gmcf->state_file.len + sizeof(".tmp.") + NGX_INT64_LEN,
                    log);
    if (tmp == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.tmp.%P%Z", &gmcf->state_file, ngx_pid);

    created = 0;
    op = ngx_open_file_n;

    /*
     * A new file, never one that is there: whoever can write the
     * directory could have left a symbolic link under this name, and
     * following it would overwrite its target.  A leftover of a crashed
     * worker with our pid goes first; if one appears again meanwhile,
     * the write fails and says so.
     */

    (void) ngx_delete_file(tmp);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_HTTP_GUARD_SF_NEW,
                       NGX_HTTP_GUARD_SF_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        goto failed;
    }

    created = 1;

    op = ngx_write_fd_n;

    for (off = 0; off < len; off += n) {
        n = ngx_write_fd(fd, buf + off, len - off);

        if (n == -1) {
            goto failed;
        }

        if (n == 0) {
            ngx_set_errno(NGX_ENOSPC);
            goto failed;
        }
    }

    op = "fsync()";

    if (fsync(fd) == -1) {
        goto failed;
    }

    op = ngx_fd_info_n;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        goto failed;
    }

    op = ngx_close_file_n;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        goto failed;
    }

    fd = NGX_INVALID_FILE;
    op = ngx_rename_file_n;

    if (ngx_rename_file(tmp, gmcf->state_file.data) == NGX_FILE_ERROR) {
        goto failed;
    }

    created = 0;

    gmcf->state_uniq = ngx_file_uniq(&fi);

    /* the directory entry */

    dir = tmp;
    ngx_cpystrn(dir, gmcf->state_file.data,
                ngx_http_guard_sf_dir(&gmcf->state_file) + 1);

    op = "fsync() of the directory";

    dfd = ngx_open_file(dir, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (dfd == NGX_INVALID_FILE) {
        goto written;
    }

    if (fsync(dfd) == -1 && ngx_errno != NGX_EINVAL) {
        err = ngx_errno;
        (void) ngx_close_file(dfd);
        ngx_set_errno(err);
        goto written;
    }

    (void) ngx_close_file(dfd);

    ngx_free(tmp);

    if (gmcf->state_err) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "upstream guard: state file \"%V\" written again",
                      &gmcf->state_file);
        gmcf->state_err = 0;
    }

    return NGX_OK;

written:

    /* in place, but maybe not on disk yet: said, and not retried */

    err = ngx_errno;

    if (gmcf->state_err != err) {
        ngx_log_error(NGX_LOG_WARN, log, err,
                      "upstream guard: state file \"%V\": %s \"%s\" failed",
                      &gmcf->state_file, op, dir);
        gmcf->state_err = err;
    }

    ngx_free(tmp);

    return NGX_OK;

failed:

    err = ngx_errno;

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    if (created) {
        (void) ngx_delete_file(tmp);
    }

    if (gmcf->state_err != err) {
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "upstream guard: state file \"%V\" not written, "
                      "retried at each tick while it fails%s: %s \"%s\" "
                      "failed", &gmcf->state_file,
                      (err == NGX_EACCES || err == NGX_EPERM)
                      ? " (the worker user needs write access to the "
                        "directory)" : "", op, tmp);
        gmcf->state_err = err;
    }

    ngx_free(tmp);

    return NGX_ERROR;
}


/*
 * At exit: another nginx may have written the file since this process did
 * (the new master of a binary upgrade, once it changed anything); its
 * state is newer than the state of workers on their way out.
 */

static ngx_uint_t
ngx_http_guard_sf_foreign(ngx_http_guard_main_conf_t *gmcf, ngx_log_t *log)
{
    ngx_file_info_t  fi;

    if (gmcf->state_uniq == 0
        || ngx_file_info(gmcf->state_file.data, &fi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) == gmcf->state_uniq)
    {
        return 0;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "upstream guard: state file \"%V\" was written by another "
                  "nginx since this worker wrote it (a binary upgrade?): "
                  "left alone at exit", &gmcf->state_file);

    return 1;
}


/* the length of a full name's directory: up to its last slash, "/" */

static size_t
ngx_http_guard_sf_dir(ngx_str_t *path)
{
    u_char  *p;

    for (p = path->data + path->len - 1; p > path->data && *p != '/'; p--) {
        /* void */
    }

    return ngx_max((size_t) (p - path->data), 1);
}
