
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
#define NGX_HTTP_GUARD_SHM_BASE       (128 * 1024)
#define NGX_HTTP_GUARD_SHM_PER_SERVER 1024


static ngx_int_t ngx_http_guard_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_guard_shm_ours(ngx_shm_zone_t *zone,
    ngx_slab_pool_t *shpool);
static ngx_shm_zone_t *ngx_http_guard_shm_running(ngx_shm_zone_t *zone);
static ngx_http_guard_sh_upstream_t *ngx_http_guard_shm_upstream(
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh, ngx_str_t *name,
    ngx_http_guard_sh_t *osh);
static ngx_http_guard_sh_server_t *ngx_http_guard_shm_server(
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh, ngx_str_t *key,
    size_t prefix, ngx_str_t *server, ngx_http_guard_sh_t *osh);
static void ngx_http_guard_shm_reset(ngx_http_guard_sh_server_t *s,
    ngx_uint_t initial);
static ngx_uint_t ngx_http_guard_shm_standby(ngx_http_guard_srv_conf_t *gscf,
    ngx_str_t *server);
static ngx_int_t ngx_http_guard_shm_map(ngx_cycle_t *cycle,
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *sh,
    ngx_http_guard_sh_t *osh, ngx_http_guard_upstream_t *up);


uint64_t
ngx_http_guard_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_guard_shm_add(ngx_conf_t *cf, ngx_http_guard_main_conf_t *gmcf)
{
    size_t      size, need;
    ngx_str_t   name;

    if (gmcf->shm_size == NGX_CONF_UNSET_SIZE) {
        need = NGX_HTTP_GUARD_SHM_BASE
               + gmcf->nservers * NGX_HTTP_GUARD_SHM_PER_SERVER;

        need = ngx_max(need, gmcf->check_shm_size);

        for (size = NGX_HTTP_GUARD_SHM_MIN; size < need; size *= 2) {
            /* void */
        }

    } else {
        size = gmcf->shm_size;      /* at least 8 pages, see module.c */
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
 * The running cycle's zone of our name if it is not the new cycle's one
 * (a reload that changed the size), or NULL.  ngx_cycle is still the
 * running cycle during ngx_init_cycle(), and its zones stay mapped until
 * every init_module has run.
 */

static ngx_shm_zone_t *
ngx_http_guard_shm_running(ngx_shm_zone_t *zone)
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

        if (oz[i].tag != zone->tag
            || oz[i].shm.name.len != zone->shm.name.len
            || ngx_strncmp(oz[i].shm.name.data, zone->shm.name.data,
                           zone->shm.name.len)
               != 0
            || oz[i].shm.addr == NULL
            || oz[i].shm.addr == zone->shm.addr)
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

    s->health = NGX_HTTP_GUARD_CHECKING;
    s->last_change = ngx_http_guard_now_ms();

    if (initial == NGX_HTTP_GUARD_DOWN) {
        s->down_since = s->last_change;
    }

    s->reason[0] = '\0';
}


/* the 1-based position of a server in guard_standby, or 0 */

static ngx_uint_t
ngx_http_guard_shm_standby(ngx_http_guard_srv_conf_t *gscf,
    ngx_str_t *server)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    name = gscf->standby->elts;

    for (i = 0; i < gscf->standby->nelts; i++) {
        if (name[i].len == server->len
            && ngx_strncmp(name[i].data, server->data, server->len) == 0)
        {
            return i + 1;
        }
    }

    return 0;
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

    oz = ngx_http_guard_shm_running(gmcf->shm_zone);
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
    }

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    gen = ++sh->generation;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (ngx_http_guard_shm_map(cycle, shpool, sh, osh, &up[i]) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }
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

    ngx_http_guard_generation = gen;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh) {
            ngx_http_guard_apply(&up[i]);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_shm_map(ngx_cycle_t *cycle, ngx_slab_pool_t *shpool,
    ngx_http_guard_sh_t *sh, ngx_http_guard_sh_t *osh,
    ngx_http_guard_upstream_t *up)
{
    u_char                        *p;
    size_t                         prefix;
    ngx_str_t                      key, *name;
    ngx_uint_t                     n, gen;
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_srv_conf_t     *gscf;
    ngx_http_guard_sh_server_t    *s;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    gscf = up->conf;
    gen = sh->generation;
    name = &up->uscf->host;

    up->sh = ngx_http_guard_shm_upstream(shpool, sh, name, osh);
    if (up->sh == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "upstream guard: zone \"%s\" is full, upstream "
                      "\"%V\" is not checked; raise guard_shm_size",
                      NGX_HTTP_GUARD_SHM_NAME, name);
        return NGX_OK;
    }

    if (up->sh->seen_gen + 1 != gen) {
        up->sh->last_change = ngx_http_guard_now_ms();
    }

    up->sh->seen_gen = gen;

    peers = up->uscf->peer.data;

    n = peers->number + (peers->next ? peers->next->number : 0);

    up->peers = ngx_pcalloc(cycle->pool, n * sizeof(ngx_http_guard_peer_t));
    if (up->peers == NULL) {
        return NGX_ERROR;
    }

    up->npeers = 0;
    up->nprimary = peers->number;
    up->nstandby = 0;

    for (list = peers; list; list = (list == peers) ? peers->next : NULL) {

        for (peer = list->peer; peer; peer = peer->next) {

            gp = &up->peers[up->npeers++];

            gp->peers = list;
            gp->peer = peer;
            gp->up = up;
            gp->cfg_down = peer->down;
            gp->cfg_weight = peer->weight;
            gp->role = (list == peers) ? NGX_HTTP_GUARD_PRIMARY
                                       : NGX_HTTP_GUARD_BACKUP;

            if (gp->role == NGX_HTTP_GUARD_PRIMARY && gscf->standby) {
                gp->standby = ngx_http_guard_shm_standby(gscf, &peer->server);

                if (gp->standby) {
                    gp->role = NGX_HTTP_GUARD_STANDBY;
                    up->nstandby++;
                }
            }

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

            s = ngx_http_guard_shm_server(shpool, sh, &key, prefix,
                                          &peer->server, osh);
            if (s == NULL) {
                /* never fail a reload: the server stays unguarded */
                ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                              "upstream guard: zone \"%s\" is full, server "
                              "\"%V\" of upstream \"%V\" is not checked; "
                              "raise guard_shm_size",
                              NGX_HTTP_GUARD_SHM_NAME, &peer->name, name);
                continue;
            }

            if (s->seen_gen == gen) {
                /* the same address twice in one upstream: one state */
                gp->sh = s;
                continue;
            }

            if (s->seen_gen + 1 != gen || s->last_change == 0) {
                /* new, or removed by an earlier reload: start afresh */
                ngx_http_guard_shm_reset(s, gscf->initial);
            }

            s->seen_gen = gen;
            s->conf_weight = peer->weight;
            s->next_check = 0;

            gp->sh = s;
            gp->check_owner = 1;
        }
    }

    if (ngx_http_guard_index_peers(cycle->pool, up) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the floor (STATES.md): min(2, primaries + standbys) unless set */
    up->floor = (gscf->floor != NGX_CONF_UNSET_UINT)
                ? gscf->floor : ngx_min(2, up->nprimary);

    (void) ngx_http_guard_pool_eval(up, ngx_http_guard_now_ms());

    ngx_atomic_fetch_add(&up->sh->gen, 1);

    gscf->rt = up;

    return NGX_OK;
}
