
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The one shared zone that holds every server's state, keyed by
 * upstream + server + address so that state survives reloads: the zone is
 * reused when its size is unchanged and copied from the running zone when
 * the size changes.  Slots are never moved or freed while old workers may
 * still use them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_SHM_MIN        (256 * 1024)

/*
 * Configurations whose servers a default zone holds at once: the running
 * one, the new one of a reload, and one whose old workers still finish
 * requests.  An explicit guard_shm_size must hold two.
 */
#define NGX_HTTP_GUARD_SHM_GENS       3
#define NGX_HTTP_GUARD_SHM_MIN_GENS   2


/* what a set of allocations costs in slab pages */
typedef struct {
    ngx_uint_t                       chunks[16];    /* by chunk size shift */
    ngx_uint_t                       pages;         /* whole-page blocks */
} ngx_http_guard_shm_need_t;


static void ngx_http_guard_shm_need(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t *fixed, ngx_uint_t *per_conf);
static void ngx_http_guard_shm_need_add(ngx_http_guard_shm_need_t *need,
    size_t size);
static ngx_uint_t ngx_http_guard_shm_need_pages(
    ngx_http_guard_shm_need_t *need);
static size_t ngx_http_guard_shm_zone_size(ngx_uint_t pages);
static ngx_int_t ngx_http_guard_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_guard_shm_ours(ngx_shm_zone_t *zone,
    ngx_slab_pool_t *shpool);
static ngx_shm_zone_t *ngx_http_guard_shm_running(ngx_str_t *name,
    void *tag, u_char *addr);
static ngx_int_t ngx_http_guard_shm_keep(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf, size_t *size);
static ngx_http_guard_sh_upstream_t *ngx_http_guard_shm_upstream(
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh, ngx_str_t *name,
    ngx_http_guard_sh_t *osh);
static ngx_http_guard_sh_server_t *ngx_http_guard_shm_server(
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh, ngx_str_t *key,
    size_t prefix, ngx_str_t *server, ngx_http_guard_sh_t *osh);
static void ngx_http_guard_shm_reset(ngx_http_guard_sh_server_t *s,
    ngx_uint_t initial);
static ngx_uint_t ngx_http_guard_shm_oldest(ngx_http_guard_sh_t *sh,
    ngx_uint_t running);
static void ngx_http_guard_shm_reclaim(ngx_cycle_t *cycle,
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh, ngx_uint_t oldest);
static ngx_int_t ngx_http_guard_shm_map(ngx_cycle_t *cycle,
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh,
    ngx_http_guard_upstream_t *up, ngx_http_guard_sh_t *osh);
static ngx_int_t ngx_http_guard_shm_dropped(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_guard_sh_t *prev,
    ngx_http_guard_sh_t *sh);


uint64_t
ngx_http_guard_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * The zone is sized from the configuration: the slab pages that the
 * servers' slots and the upstreams' records take, for as many
 * configurations as a reload may keep alive at once.
 */

ngx_int_t
ngx_http_guard_shm_add(ngx_conf_t *cf, ngx_http_guard_main_conf_t *gmcf)
{
    size_t      size, need;
    ngx_str_t   name;
    ngx_uint_t  fixed, per_conf;

    ngx_http_guard_shm_need(cf, gmcf, &fixed, &per_conf);

    if (gmcf->shm_size == NGX_CONF_UNSET_SIZE) {
        need = ngx_http_guard_shm_zone_size(fixed + NGX_HTTP_GUARD_SHM_GENS
                                                    * per_conf);

        need = ngx_max(need, gmcf->check_shm_size);

        for (size = NGX_HTTP_GUARD_SHM_MIN; size < need; size *= 2) {
            /* void */
        }

        if (ngx_http_guard_shm_keep(cf, gmcf, &size) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        size = gmcf->shm_size;

        need = ngx_http_guard_shm_zone_size(fixed + NGX_HTTP_GUARD_SHM_MIN_GENS
                                                    * per_conf);

        /* and nginx's floor for any zone: the one size that is enough */
        need = ngx_max(need, (size_t) NGX_HTTP_GUARD_SHM_FLOOR);

        if (size < need) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_shm_size %uz is too small: %ui guarded "
                          "server%s need%s at least %uz (room for two "
                          "configurations during a reload); raise it, or "
                          "remove it to size the zone automatically, "
                          "in %s:%ui",
                          size, gmcf->nservers,
                          gmcf->nservers == 1 ? "" : "s",
                          gmcf->nservers == 1 ? "s" : "", need,
                          gmcf->shm_size_file, gmcf->shm_size_line);
            return NGX_ERROR;
        }
    }

    ngx_str_set(&name, NGX_HTTP_GUARD_SHM_NAME);

    gmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_upstream_guard_module);
    if (gmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    gmcf->shm_zone->init = ngx_http_guard_shm_init;
    gmcf->shm_zone->data = gmcf;

    return NGX_OK;
}


/*
 * Slab pages for the zone's root (fixed) and for one configuration's
 * upstream records and server slots (per_conf), keyed as in
 * ngx_http_guard_shm_map(): round robin names a peer by the server's
 * name and the address's name (ngx_http_upstream_init_round_robin()).
 */

static void
ngx_http_guard_shm_need(ngx_conf_t *cf, ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t *fixed, ngx_uint_t *per_conf)
{
    size_t                         key;
    ngx_int_t                      workers;
    ngx_uint_t                     i, j, k, peers;
    ngx_core_conf_t               *ccf;
    ngx_http_guard_upstream_t     *up;
    ngx_http_guard_shm_need_t      need;
    ngx_http_upstream_server_t    *server;
    ngx_http_upstream_srv_conf_t  *uscf;

    ngx_memzero(&need, sizeof(ngx_http_guard_shm_need_t));

    ngx_http_guard_shm_need_add(&need, sizeof(ngx_http_guard_sh_t));
    ngx_http_guard_shm_need_add(&need,
                                sizeof(" in upstream guard zone \"\"")
                                + sizeof(NGX_HTTP_GUARD_SHM_NAME) - 1);

    *fixed = ngx_http_guard_shm_need_pages(&need);

    ngx_memzero(&need, sizeof(ngx_http_guard_shm_need_t));

    up = gmcf->upstreams.elts;
    peers = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        uscf = up[i].uscf;

        ngx_http_guard_shm_need_add(&need,
                                    sizeof(ngx_http_guard_sh_upstream_t)
                                    + uscf->host.len);

        server = uscf->servers->elts;

        for (j = 0; j < uscf->servers->nelts; j++) {
            for (k = 0; k < server[j].naddrs; k++) {
                key = uscf->host.len + server[j].name.len
                      + server[j].addrs[k].name.len + 2;

                ngx_http_guard_shm_need_add(&need,
                                        sizeof(ngx_http_guard_sh_server_t)
                                        + key);
                peers++;
            }
        }
    }

    /* each worker's in-flight ledger (inflight.c): a slot and a count */

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);
    workers = (ccf && ccf->worker_processes != NGX_CONF_UNSET)
              ? ccf->worker_processes : 1;

    for (i = 0; i < (ngx_uint_t) ngx_max(workers, 1); i++) {
        ngx_http_guard_shm_need_add(&need, 4 * sizeof(void *)
                                    + peers * (sizeof(void *)
                                               + sizeof(ngx_atomic_t)));
    }

    *per_conf = ngx_http_guard_shm_need_pages(&need);
}


/* as ngx_slab_alloc() rounds: chunks of 8 bytes to half a page, or pages */

static void
ngx_http_guard_shm_need_add(ngx_http_guard_shm_need_t *need, size_t size)
{
    ngx_uint_t  shift;

    if (size > ngx_pagesize / 2) {
        need->pages += (size + ngx_pagesize - 1) / ngx_pagesize;
        return;
    }

    /* at most 15: half of the largest page (64k) is 1 << 15 */

    for (shift = 3; shift < 15 && ((size_t) 1 << shift) < size; shift++) {
        /* void */
    }

    need->chunks[shift]++;
}


static ngx_uint_t
ngx_http_guard_shm_need_pages(ngx_http_guard_shm_need_t *need)
{
    ngx_uint_t  shift, per_page, pages;

    pages = need->pages;

    for (shift = 3; shift < 16; shift++) {

        if (need->chunks[shift] == 0) {
            continue;
        }

        per_page = ngx_pagesize >> shift;

        if (((size_t) 1 << shift) < ngx_pagesize / (8 * sizeof(uintptr_t))) {
            /* small chunks keep their bitmap in the page: count half */
            per_page /= 2;
        }

        pages += (need->chunks[shift] + per_page - 1) / per_page;
    }

    return pages;
}


/* a zone that ngx_slab_init() gives at least this many usable pages */

static size_t
ngx_http_guard_shm_zone_size(ngx_uint_t pages)
{
    return sizeof(ngx_slab_pool_t)
           + 16 * (sizeof(ngx_slab_page_t) + sizeof(ngx_slab_stat_t))
           + pages * (ngx_pagesize + sizeof(ngx_slab_page_t))
           + ngx_pagesize;
}


/*
 * A default-sized zone at a reload: the running zone is kept if it is
 * big enough and has free pages for the servers and upstreams it does not
 * hold yet (reusing it keeps the slots of old workers, which may still
 * run); otherwise a zone of another size is taken, into which init_module
 * copies only the configured servers, so it never runs out.  The running
 * zone is only read: only the master allocates in it.
 */

static ngx_int_t
ngx_http_guard_shm_keep(ngx_conf_t *cf, ngx_http_guard_main_conf_t *gmcf,
    size_t *size)
{
    u_char                        *p;
    size_t                         osize;
    ngx_str_t                      name, key;
    ngx_uint_t                     i, j, k, room;
    ngx_shm_zone_t                *oz;
    ngx_slab_pool_t               *oshpool;
    ngx_http_guard_sh_t           *osh;
    ngx_http_guard_upstream_t     *up;
    ngx_http_guard_shm_need_t      need;
    ngx_http_upstream_server_t    *server;
    ngx_http_guard_sh_upstream_t  *ou;
    ngx_http_upstream_srv_conf_t  *uscf;

    ngx_str_set(&name, NGX_HTTP_GUARD_SHM_NAME);

    oz = ngx_http_guard_shm_running(&name, &ngx_http_upstream_guard_module,
                                    NULL);
    if (oz == NULL || oz->shm.size < *size) {
        return NGX_OK;
    }

    osize = oz->shm.size;
    oshpool = (ngx_slab_pool_t *) oz->shm.addr;

    ngx_memzero(&need, sizeof(ngx_http_guard_shm_need_t));

    up = gmcf->upstreams.elts;

    ngx_shmtx_lock(&oshpool->mutex);

    osh = oshpool->data;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        uscf = up[i].uscf;

        for (ou = osh->upstreams; ou; ou = ou->next) {
            if (ou->name.len == uscf->host.len
                && ngx_strncmp(ou->name.data, uscf->host.data,
                               uscf->host.len)
                   == 0)
            {
                break;
            }
        }

        if (ou == NULL) {
            ngx_http_guard_shm_need_add(&need,
                                        sizeof(ngx_http_guard_sh_upstream_t)
                                        + uscf->host.len);
        }

        server = uscf->servers->elts;

        for (j = 0; j < uscf->servers->nelts; j++) {
            for (k = 0; k < server[j].naddrs; k++) {
                key.len = uscf->host.len + server[j].name.len
                          + server[j].addrs[k].name.len + 2;

                key.data = ngx_pnalloc(cf->temp_pool, key.len);
                if (key.data == NULL) {
                    ngx_shmtx_unlock(&oshpool->mutex);
                    return NGX_ERROR;
                }

                p = ngx_cpymem(key.data, uscf->host.data, uscf->host.len);
                *p++ = '\n';
                p = ngx_cpymem(p, server[j].name.data, server[j].name.len);
                *p++ = '\n';
                ngx_memcpy(p, server[j].addrs[k].name.data,
                           server[j].addrs[k].name.len);

                if (ngx_str_rbtree_lookup(&osh->servers, &key,
                                          ngx_crc32_short(key.data, key.len))
                    == NULL)
                {
                    ngx_http_guard_shm_need_add(&need,
                                        sizeof(ngx_http_guard_sh_server_t)
                                        + key.len);
                }
            }
        }
    }

    room = (ngx_http_guard_shm_need_pages(&need) <= oshpool->pfree);

    ngx_shmtx_unlock(&oshpool->mutex);

    if (room) {
        *size = osize;

    } else if (osize == *size) {
        /* any other size gives a fresh zone */
        *size *= 2;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                len;
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        /* reload with an unchanged size: the running zone is reused */

        if (!ngx_http_guard_shm_ours(shm_zone, shpool)) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "upstream guard: zone \"%V\" was written by "
                          "another layout of the module; restart nginx "
                          "instead of reloading it", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_guard_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->magic = NGX_HTTP_GUARD_SHM_MAGIC;
    sh->layout = NGX_HTTP_GUARD_SHM_LAYOUT;
    sh->server_size = sizeof(ngx_http_guard_sh_server_t);
    sh->root_size = sizeof(ngx_http_guard_sh_t);

    ngx_rbtree_init(&sh->servers, &sh->sentinel, ngx_str_rbtree_insert_value);
    sh->started = ngx_time();

    shpool->data = sh;
    shm_zone->data = sh;

    len = sizeof(" in upstream guard zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in upstream guard zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    /*
     * A reload that changed the size: the state of the running zone is
     * copied in init_module (ngx_http_guard_shm_reconcile), once this
     * cycle can no longer fail; nothing here touches the running zone.
     */

    return NGX_OK;
}


/*
 * A zone this build of the module can read: its root lies in the zone and
 * carries our magic, layout and struct sizes.  Only a zone of the same tag
 * (the same module image) is ever handed to us, so this is a guard, not a
 * migration: a rebuilt module is loaded by a restart, not by a reload.
 */

static ngx_uint_t
ngx_http_guard_shm_ours(ngx_shm_zone_t *zone, ngx_slab_pool_t *shpool)
{
    u_char               *p;
    ngx_http_guard_sh_t  *sh;

    sh = shpool->data;
    p = (u_char *) sh;

    if (sh == NULL
        || p < zone->shm.addr
        || p + sizeof(ngx_http_guard_sh_t) > zone->shm.addr + zone->shm.size)
    {
        return 0;
    }

    return sh->magic == NGX_HTTP_GUARD_SHM_MAGIC
           && sh->layout == NGX_HTTP_GUARD_SHM_LAYOUT
           && sh->server_size == sizeof(ngx_http_guard_sh_server_t)
           && sh->root_size == sizeof(ngx_http_guard_sh_t);
}


/*
 * The running cycle's zone of our name if it is not the one at addr (the
 * new cycle's, when a reload keeps the size), or NULL.  ngx_cycle is
 * still the running cycle during ngx_init_cycle(), and its zones stay
 * mapped until every init_module has run.
 */

static ngx_shm_zone_t *
ngx_http_guard_shm_running(ngx_str_t *name, void *tag, u_char *addr)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *oz;

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    oz = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            oz = part->elts;
            i = 0;
        }

        if (oz[i].tag != tag
            || oz[i].shm.name.len != name->len
            || ngx_strncmp(oz[i].shm.name.data, name->data, name->len) != 0
            || oz[i].shm.addr == NULL
            || oz[i].shm.addr == addr)
        {
            continue;
        }

        if (!ngx_http_guard_shm_ours(&oz[i],
                                     (ngx_slab_pool_t *) oz[i].shm.addr))
        {
            return NULL;
        }

        return &oz[i];
    }
}


static ngx_http_guard_sh_upstream_t *
ngx_http_guard_shm_upstream(ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh,
    ngx_str_t *name, ngx_http_guard_sh_t *osh)
{
    ngx_http_guard_sh_upstream_t  *u, *ou, **last;

    last = &sh->upstreams;

    for (u = sh->upstreams; u; u = u->next) {
        if (u->name.len == name->len
            && ngx_strncmp(u->name.data, name->data, name->len) == 0)
        {
            return u;
        }

        last = &u->next;
    }

    u = ngx_slab_calloc_locked(shpool,
                               sizeof(ngx_http_guard_sh_upstream_t)
                               + name->len);
    if (u == NULL) {
        return NULL;
    }

    u->name.data = (u_char *) (u + 1);
    u->name.len = name->len;
    ngx_memcpy(u->name.data, name->data, name->len);

    *last = u;

    /* a resized zone: take over the record of the running zone */

    for (ou = osh ? osh->upstreams : NULL; ou; ou = ou->next) {
        if (ou->name.len == name->len
            && ngx_strncmp(ou->name.data, name->data, name->len) == 0)
        {
            u->seen_gen = ou->seen_gen;
            u->last_change = ou->last_change;
            u->added = ou->added;
            break;
        }
    }

    return u;
}


/*
 * key is "upstream\nserver\naddress"; prefix is the length of
 * "upstream\n", server the server part.  Returns the existing slot or a
 * new zeroed one.
 */

static ngx_http_guard_sh_server_t *
ngx_http_guard_shm_server(ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh,
    ngx_str_t *key, size_t prefix, ngx_str_t *server,
    ngx_http_guard_sh_t *osh)
{
    uint32_t                     hash;
    ngx_str_node_t              *sn;
    ngx_http_guard_sh_server_t  *s, *os;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&sh->servers, key, hash);
    if (sn) {
        return (ngx_http_guard_sh_server_t *) sn;
    }

    s = ngx_slab_calloc_locked(shpool,
                               sizeof(ngx_http_guard_sh_server_t) + key->len);
    if (s == NULL) {
        return NULL;
    }

    s->node.str.data = (u_char *) (s + 1);
    s->node.str.len = key->len;
    ngx_memcpy(s->node.str.data, key->data, key->len);

    s->server.data = s->node.str.data + prefix;
    s->server.len = server->len;
    s->addr.data = s->server.data + server->len + 1;
    s->addr.len = key->len - prefix - server->len - 1;

    s->node.node.key = hash;
    ngx_rbtree_insert(&sh->servers, &s->node.node);

    if (osh == NULL) {
        return s;
    }

    os = (ngx_http_guard_sh_server_t *) ngx_str_rbtree_lookup(&osh->servers,
                                                              key, hash);
    if (os) {
        ngx_memcpy(&s->seen_gen, &os->seen_gen,
                   sizeof(ngx_http_guard_sh_server_t)
                   - offsetof(ngx_http_guard_sh_server_t, seen_gen));

        /* the old workers' share: ngx_http_guard_inflight_carry_locked() */
        s->inflight = 0;
    }

    return s;
}


static void
ngx_http_guard_shm_reset(ngx_http_guard_sh_server_t *s, ngx_uint_t initial)
{
    ngx_memzero(&s->health,
                offsetof(ngx_http_guard_sh_server_t, inflight)
                - offsetof(ngx_http_guard_sh_server_t, health));

    /* and the admin dimension's records, all but the in-flight count */
    ngx_memzero(&s->admin_version,
                offsetof(ngx_http_guard_sh_server_t, reason)
                - offsetof(ngx_http_guard_sh_server_t, admin_version));

    s->health = NGX_HTTP_GUARD_CHECKING;
    s->last_change = ngx_http_guard_now_ms();
    s->added = s->last_change;        /* no change yet */

    if (initial == NGX_HTTP_GUARD_DOWN) {
        s->down_since = s->last_change;
    }

    s->reason[0] = '\0';
}


ngx_http_guard_sh_t *
ngx_http_guard_shm_root(ngx_http_guard_main_conf_t *gmcf,
    ngx_slab_pool_t **shpool)
{
    *shpool = (ngx_slab_pool_t *) gmcf->shm_zone->shm.addr;

    return gmcf->shm_zone->data;
}


/*
 * init_module: peer lists (upstream zones included) are final, and the new
 * cycle can no longer fail (ngx_init_cycle() exits if an init_module
 * fails), so this is the first place that may write the running zone.
 * Bumps the config generation, maps every peer onto its slot (creating
 * slots for new servers, and taking their state from the running zone if
 * the size changed) and applies the state to nginx's peers before workers
 * fork.
 */

ngx_int_t
ngx_http_guard_shm_reconcile(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, gen;
    ngx_shm_zone_t             *oz;
    ngx_slab_pool_t            *shpool, *oshpool;
    ngx_http_guard_sh_t        *sh, *osh;
    ngx_http_guard_upstream_t  *up;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);
    up = gmcf->upstreams.elts;

    oz = ngx_http_guard_shm_running(&gmcf->shm_zone->shm.name,
                                    gmcf->shm_zone->tag,
                                    gmcf->shm_zone->shm.addr);
    oshpool = oz ? (ngx_slab_pool_t *) oz->shm.addr : NULL;
    osh = NULL;

    if (oshpool) {
        /* old workers keep running checks until the switch below */
        ngx_shmtx_lock(&oshpool->mutex);

        osh = oshpool->data;

        sh->generation = osh->generation;
        sh->started = osh->started;
        sh->leader_changes = osh->leader_changes;
        sh->audit_seq = osh->audit_seq;
        ngx_memcpy(sh->audit_head, osh->audit_head, sizeof(sh->audit_head));
        sh->state_loaded = osh->state_loaded;

        /* the admin API's: the slots' admin state is copied with them */
        sh->frozen = osh->frozen;
        sh->freeze = osh->freeze;
        sh->draining = osh->draining;
        sh->next_expiry = osh->next_expiry;
        sh->next_request = osh->next_request;
        ngx_memcpy(sh->requests, osh->requests, sizeof(sh->requests));
    }

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    /* a dead worker's ledger names slots: subtract it before any is freed */
    ngx_http_guard_inflight_reap_locked(sh, shpool);

    ngx_http_guard_shm_reclaim(cycle, shpool, sh,
                               ngx_http_guard_shm_oldest(sh, sh->generation));

    gen = ++sh->generation;

    /* the records first: an upstream without one is not even reported */

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        up[i].sh = ngx_http_guard_shm_upstream(shpool, sh, &up[i].uscf->host,
                                               osh);
    }

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (ngx_http_guard_shm_map(cycle, shpool, sh, &up[i], osh) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }
    }

    /* admin overrides of servers the new configuration no longer has */

    if (rc == NGX_OK
        && ngx_http_guard_shm_dropped(cycle, gmcf, osh ? osh : sh, sh)
           != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    /* what old workers have in flight, counted in the old zone only */

    if (osh && rc == NGX_OK) {
        ngx_http_guard_inflight_carry_locked(sh, shpool, osh);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (oshpool) {
        /* old workers stop checking: their generation no longer matches */
        osh->generation++;

        ngx_shmtx_unlock(&oshpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "upstream guard: zone resized from %uz to %uz, "
                      "state kept", oz->shm.size, gmcf->shm_zone->shm.size);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    gmcf->generation = gen;

    return NGX_OK;
}


/*
 * The oldest config generation that a live process may still use, by the
 * master's process table: a process not seen at an earlier reload was
 * started by the running cycle.  Called in the master, under the mutex.
 */

static ngx_uint_t
ngx_http_guard_shm_oldest(ngx_http_guard_sh_t *sh, ngx_uint_t running)
{
    ngx_int_t   i;
    ngx_uint_t  oldest;

    if (ngx_process == NGX_PROCESS_SINGLE) {
        /* requests of the running cycle may still finish in this process */
        return running;
    }

    oldest = running;

    for (i = 0; i < ngx_last_process; i++) {

        if (ngx_processes[i].pid == NGX_INVALID_PID
            || ngx_processes[i].exited)
        {
            continue;
        }

        if (sh->proc_pid[i] != ngx_processes[i].pid) {
            sh->proc_pid[i] = ngx_processes[i].pid;
            sh->proc_gen[i] = running;
        }

        oldest = ngx_min(oldest, sh->proc_gen[i]);
    }

    return oldest;
}


/*
 * Frees the records and slots that no live generation maps: those last
 * mapped before the oldest one (a slot of generation g is mapped by
 * generations up to g only).  Slots of removed servers would otherwise
 * fill the zone after enough reloads.
 */

static void
ngx_http_guard_shm_reclaim(ngx_cycle_t *cycle, ngx_slab_pool_t *shpool,
    ngx_http_guard_sh_t *sh, ngx_uint_t oldest)
{
    ngx_uint_t                     n;
    ngx_rbtree_node_t             *node, *next;
    ngx_http_guard_sh_server_t    *s;
    ngx_http_guard_sh_upstream_t  *u, **last;

    n = 0;
    last = &sh->upstreams;

    for (u = sh->upstreams; u; u = *last) {

        if (u->seen_gen < oldest) {
            *last = u->next;
            ngx_slab_free_locked(shpool, u);
            continue;
        }

        last = &u->next;
    }

    if (sh->servers.root == sh->servers.sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(sh->servers.root, sh->servers.sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(&sh->servers, node);
        s = (ngx_http_guard_sh_server_t *) node;

        if (s->seen_gen < oldest) {
            ngx_rbtree_delete(&sh->servers, node);
            ngx_slab_free_locked(shpool, s);
            n++;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "upstream guard: freed %ui slots older than generation "
                   "%ui", n, oldest);
}


static ngx_int_t
ngx_http_guard_shm_map(ngx_cycle_t *cycle, ngx_slab_pool_t *shpool,
    ngx_http_guard_sh_t *sh, ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_t *osh)
{
    u_char                       *p;
    size_t                        prefix;
    ngx_str_t                     key, *name, *first;
    ngx_uint_t                    i, gen, local, untracked;
    ngx_http_guard_peer_t        *gp;
    ngx_http_guard_srv_conf_t    *gscf;
    ngx_http_guard_sh_server_t   *s;
    ngx_http_upstream_rr_peer_t  *peer;

    gscf = up->conf;
    gen = sh->generation;
    name = &up->uscf->host;
    local = 0;
    untracked = 0;
    first = NULL;

    if (up->sh == NULL) {
        /*
         * No room even for the upstream's record: a record of this process
         * keeps the upstream in the report, every server "untracked".
         */
        up->sh = ngx_pcalloc(cycle->pool,
                             sizeof(ngx_http_guard_sh_upstream_t));
        if (up->sh == NULL) {
            return NGX_ERROR;
        }

        up->sh->name = *name;
        up->sh->last_change = ngx_http_guard_now_ms();
        up->sh->added = up->sh->last_change;

        local = 1;

    } else if (up->sh->seen_gen + 1 != gen) {
        up->sh->last_change = ngx_http_guard_now_ms();
        up->sh->added = up->sh->last_change;
    }

    up->sh->seen_gen = gen;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        peer = gp->peer;

        key.len = name->len + peer->server.len + peer->name.len + 2;
        key.data = ngx_pnalloc(cycle->pool, key.len);
        if (key.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(key.data, name->data, name->len);
        *p++ = '\n';
        prefix = p - key.data;
        p = ngx_cpymem(p, peer->server.data, peer->server.len);
        *p++ = '\n';
        ngx_memcpy(p, peer->name.data, peer->name.len);

        if (local) {
            s = NULL;

        } else {
            s = ngx_http_guard_shm_server(shpool, sh, &key, prefix,
                                          &peer->server, osh);
        }

        if (s == NULL) {
            /*
             * Too late to fail the reload: the server is not checked
             * and the report shows it as "untracked".
             */
            if (untracked++ == 0) {
                first = &peer->name;
            }

            continue;
        }

        if (s->seen_gen == gen) {
            /* the same address twice in one upstream: one state */
            gp->sh = s;
            continue;
        }

        if (s->seen_gen + 1 != gen || s->last_change == 0) {
            /* new, or removed by an earlier reload: start afresh */
            gp->added = 1;
            ngx_http_guard_shm_reset(s, gscf->initial);
        }

        /* conf_weight: state.c compares it with the new one first */
        s->seen_gen = gen;
        s->next_check = 0;

        gp->sh = s;
        gp->check_owner = 1;
    }

    if (untracked) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "upstream guard: zone \"%s\" is full, %ui of %ui "
                      "servers of upstream \"%V\" are not checked and "
                      "reported as untracked, the first \"%V\"; old workers "
                      "still use the slots of earlier configurations, or "
                      "guard_shm_size is too small",
                      NGX_HTTP_GUARD_SHM_NAME, untracked, up->npeers, name,
                      first);
    }

    return NGX_OK;
}


/*
 * Under the mutexes, after every server is mapped: the slots that the
 * previous configuration mapped (in the running zone: prev, which is sh
 * unless the zone was resized) and this one does not, whose admin
 * overrides (maintenance, a drain, an admin weight) go with them.  A
 * server renamed or removed by a reload would otherwise go back into
 * rotation with no word; ngx_http_guard_state_dropped() says it.
 */

static ngx_int_t
ngx_http_guard_shm_dropped(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_guard_sh_t *prev,
    ngx_http_guard_sh_t *sh)
{
    u_char                      *nl;
    size_t                       len;
    ngx_uint_t                   gen;
    ngx_str_node_t              *now;
    ngx_rbtree_node_t           *node;
    ngx_http_guard_dropped_t    *d;
    ngx_http_guard_sh_server_t  *s;
    u_char                       what[256];

    gen = sh->generation;

    if (gen <= 1 || prev->servers.root == prev->servers.sentinel) {
        return NGX_OK;
    }

    for (node = ngx_rbtree_min(prev->servers.root, prev->servers.sentinel);
         node;
         node = ngx_rbtree_next(&prev->servers, node))
    {
        s = (ngx_http_guard_sh_server_t *) node;

        if (s->seen_gen + 1 != gen) {
            continue;           /* mapped now, or gone before */
        }

        if (prev != sh) {
            now = ngx_str_rbtree_lookup(&sh->servers, &s->node.str,
                                        s->node.node.key);
            if (now && ((ngx_http_guard_sh_server_t *) now)->seen_gen == gen)
            {
                continue;
            }
        }

        len = ngx_http_guard_state_overrides(s, what, sizeof(what));
        if (len == 0) {
            continue;
        }

        if (gmcf->dropped == NULL) {
            gmcf->dropped = ngx_array_create(cycle->pool, 4,
                                             sizeof(ngx_http_guard_dropped_t));
            if (gmcf->dropped == NULL) {
                return NGX_ERROR;
            }
        }

        d = ngx_array_push(gmcf->dropped);
        if (d == NULL) {
            return NGX_ERROR;
        }

        nl = ngx_strlchr(s->node.str.data,
                         s->node.str.data + s->node.str.len, '\n');

        d->upstream.len = nl ? (size_t) (nl - s->node.str.data) : 0;
        d->upstream.data = ngx_pstrdup(cycle->pool, &s->node.str);
        d->server.len = s->server.len;
        d->server.data = ngx_pstrdup(cycle->pool, &s->server);
        d->what.len = len;
        d->what.data = ngx_pnalloc(cycle->pool, len);

        if (d->upstream.data == NULL || d->server.data == NULL
            || d->what.data == NULL)
        {
            return NGX_ERROR;
        }

        ngx_memcpy(d->what.data, what, len);
    }

    return NGX_OK;
}
