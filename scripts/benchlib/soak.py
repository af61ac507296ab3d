"""scripts/soak: minutes of steady traffic under abuse, nginx with the
module next to plain nginx, both under the very same abuse at the same
moments; then the growth of everything that should not grow.

See scripts/soak --help and README "Benchmarks".
"""

import argparse
import datetime
import hashlib
import heapq
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guardbench import (Fatal, Nginx, Run, backend_conf,  # noqa
                        fd_counts, field, get_json, git_rev, http_get, log,
                        machine,
                        proc_stat, report_checks, report_servers,
                        rss_kb,
                        server_addr, server_health, spread)

NBACKENDS = 4            # backend 0 never flaps: every upstream keeps one
STUCK_S = 10             # a worker shutting down longer than this is stuck
TOKEN = "soak-operator-token-not-a-secret"

# growth beyond these fails the soak (module growth minus plain growth for
# RSS, since nginx's own allocator moves too; exact for the rest)
TOL = {
    "master_rss_kb": 1024,
    "worker_rss_kb": 2048,        # summed over the workers
    "master_fds": 0,
    "worker_fds_other": 0,        # files, pipes, eventfds: not sockets
    "worker_fds_socket": 12,      # check keep-alive connections in flux
    "zone_used": 0,
    "stuck_workers": 0,
    "crashes": 0,
    "status_errors_over_plain": 10,
}

WRK_LUA = r'''
local paths = {"/", "/", "/lc/", "/h/"}
local n = 0
request = function()
    n = n + 1
    local p = paths[(n %% #paths) + 1]
    if p == "/h/" then p = p .. tostring(math.random(1000)) end
    return wrk.format(nil, p)
end
delay = function() return %(delay)d end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%%d duration_us=%%d connect=%%d read=%%d write=%%d " ..
        "timeout=%%d status=%%d p50_us=%%d p99_us=%%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
'''


def slope(ys):
    """Least-squares slope of ys against their index, or None."""
    ys = [y for y in ys if y is not None]
    n = len(ys)
    if n < 3:
        return None
    mx = (n - 1) / 2.0
    my = sum(ys) / float(n)
    sxx = sum((i - mx) ** 2 for i in range(n))
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sxx


def fmt_slope(x):
    return "n/a" if x is None else "%+.2f" % x


class Front:
    """One front (module or plain) and what the soak records of it."""

    def __init__(self, soak, kind):
        self.soak = soak
        self.kind = kind
        self.module = kind == "module"
        self.ng = Nginx(soak.run, "front-" + kind)
        self.ng.port = soak.run.port()
        self.url = "http://127.0.0.1:%d" % self.ng.port
        if self.module:
            self.admin_port = soak.run.port()
        self.shutting = {}           # (pid, start) -> first seen
        self.stuck = set()
        self.killed = []             # (pid, start) we killed
        self.takeovers = []
        self.reload_failed_sent = 0
        self.master_rss = []         # before each reload of the abuse

    def conf(self, variant, broken=False):
        s = self.soak
        ng = self.ng
        ups = s.upstreams(variant)
        text = ng.main_conf(workers=2, conns=8192,
                            module=s.so if self.module else None)
        text += "http {\n%s" % ng.temp_paths()
        text += ("    log_format err '$msec|$status|$request_uri|"
                 "$upstream_addr|$upstream_status|$server_port';\n"
                 "    map $status $not2xx { ~^2 0; default 1; }\n"
                 "    access_log %s/logs/not2xx.log err if=$not2xx;\n"
                 "    keepalive_requests 1000000;\n" % ng.prefix)
        if self.module and s.a.check_io != "epoll":
            text += "    guard_check_io %s;\n" % s.a.check_io
        for name, (balancer, servers, check) in ups:
            text += "    upstream %s {\n" % name
            if balancer:
                text += "        %s;\n" % balancer
            text += "".join("        server %s;\n" % x for x in servers)
            if self.module:
                text += "".join("        %s;\n" % c for c in check)
            text += ("        keepalive 8;\n        keepalive_timeout 2s;\n"
                     "    }\n")
        loc = ("            proxy_http_version 1.1;\n"
               "            proxy_set_header Connection \"\";\n")
        text += ("    server {\n        listen 127.0.0.1:%d backlog=4096;\n"
                 "        location / {\n            proxy_pass http://app;\n"
                 "%s        }\n"
                 "        location /lc/ {\n            proxy_pass http://lc;\n"
                 "%s        }\n"
                 "        location /h/ {\n            proxy_pass http://hash;\n"
                 "%s        }\n" % (ng.port, loc, loc, loc))
        if self.module:
            text += "        location = /status { guard_status json; }\n"
        text += "    }\n"
        if self.module:
            text += ("    server {\n        listen 127.0.0.1:%d;\n"
                     "        location /guard-admin/ {\n"
                     "            guard_admin;\n"
                     "            guard_admin_tokens %s;\n"
                     "        }\n    }\n" % (self.admin_port, s.tokens))
        if broken:
            text += "    this_is_not_a_directive on;\n"
        return text + "}\n"

    def write(self, variant, broken=False):
        self.ng.write(self.conf(variant, broken))

    def status(self):
        return get_json(self.url + "/status", timeout=10) \
            if self.module else None

    def watch_shutting(self, now):
        cur = set()
        for pid in self.ng.workers(shutting=True):
            st = proc_stat(pid)
            if not st:
                continue
            key = (pid, st[4])
            cur.add(key)
            first = self.shutting.setdefault(key, now)
            if now - first > STUCK_S:
                self.stuck.add(key)
        for key in list(self.shutting):
            if key not in cur:
                del self.shutting[key]

    def measure(self):
        """RSS, fds and zone use of the master and its workers."""
        ws = self.ng.workers()
        m = {"master_rss_kb": rss_kb(self.ng.pid),
             "worker_rss_kb": sum(rss_kb(w) or 0 for w in ws),
             "workers": len(ws),
             "master_fds": sum(fd_counts(self.ng.pid).values()),
             "worker_fds_other": 0, "worker_fds_socket": 0}
        for w in ws:
            c = fd_counts(w) or {}
            m["worker_fds_other"] += c.get("other", 0)
            m["worker_fds_socket"] += c.get("socket", 0)
        if self.module:
            rep = self.status()
            m["zone_used"] = rep.get("zone_used") if rep else None
            m["zone_size"] = rep.get("zone_size") if rep else None
            m["leader_pid"] = rep.get("leader_pid") if rep else None
            m["check_io"] = rep.get("check_io") if rep else None
            # checks/s from the report's counters over 3 s
            time.sleep(3)
            rep2 = self.status()
            c0 = report_checks(rep) if rep else None
            c1 = report_checks(rep2) if rep2 else None
            g0 = field(rep, "generated_at_ms", "time_ms") if rep else None
            g1 = field(rep2, "generated_at_ms", "time_ms") if rep2 else None
            if c0 is not None and c1 is not None and g0 and g1 and g1 > g0:
                m["checks_per_s"] = round((c1 - c0) / ((g1 - g0) / 1000.0))
        return m

    def crashes(self):
        """Worker exits by a signal we did not send (error log)."""
        out = []
        killed = {p for p, _ in self.killed}
        try:
            with open(self.ng.error_log_path(), errors="replace") as f:
                for line in f:
                    m = re.search(r"process (\d+) exited on signal (\d+)",
                                  line)
                    if m and not (m.group(2) == "9" and
                                  int(m.group(1)) in killed):
                        out.append(line.strip())
        except OSError:
            pass
        return out

    def failed_reloads(self):
        n = 0
        try:
            with open(self.ng.error_log_path(), errors="replace") as f:
                for line in f:
                    if "this_is_not_a_directive" in line and "[emerg]" in line:
                        n += 1
        except OSError:
            pass
        return n

    def not2xx(self):
        out = []
        try:
            with open(os.path.join(self.ng.prefix, "logs", "not2xx.log")) \
                    as f:
                out = [ln.rstrip("\n").split("|") for ln in f
                       if ln.strip()]
        except OSError:
            pass
        return out


class Soak:

    def __init__(self, a, top):
        self.a = a
        self.top = top
        self.so = os.path.join(top, os.environ.get("GUARD_BUILD", "build"),
                               "ngx_http_upstream_guard_module.so")
        base = int(os.environ.get("SOAK_PORT", "2450"))
        self.run = Run("soak", top, base, base + 49, keep=a.keep)
        self.rng = random.Random(a.seed)
        self.counts = {}
        self.admin_codes = {}
        self.agent_state = {}
        self.not_quiet = []
        self.tokens = self.run.path("admin.tokens")
        with open(self.tokens, "w") as f:
            f.write("soak operator * sha256:%s\n" %
                    hashlib.sha256(TOKEN.encode()).hexdigest())
        os.chmod(self.tokens, 0o600)

    # ------------------------------------------------------------- config

    def upstreams(self, variant):
        """{name: (balancer, servers, check lines)}; variant B swaps 20 of
        the bulk upstream's servers for others (slots freed and taken)."""
        bp = self.bports

        def spread_(first, n):
            return ["%s:%d" % (server_addr(first + i), bp[i % NBACKENDS])
                    for i in range(n)]
        bulk = spread_(1000, 200)
        if variant == "B":
            bulk = bulk[:180] + spread_(2000, 20)
        self.app_servers = spread_(0, 8)
        # drains (agent, admin) only of servers on backends that flap: the
        # anchor's servers stay in rotation, so that every upstream always
        # has a server to take a request, whatever else happens
        self.drainable = [x for x in self.app_servers
                          if not x.endswith(":%d" % bp[0])]
        return [
            ("app", ("", self.app_servers,
                     ["guard_check http uri=/health interval=500ms "
                      "timeout=500ms fall=2 rise=2",
                      "guard_agent X-Agent",
                      "guard_slow_start 2s"])),
            ("lc", ("least_conn", spread_(100, 8),
                    ["guard_check tcp interval=300ms timeout=300ms "
                     "fall=1 rise=1"])),
            ("hash", ("hash $request_uri consistent", spread_(200, 8),
                      ["guard_check http uri=/health http=1.1 keepalive=10 "
                       "interval=500ms timeout=500ms fall=2 rise=1"])),
            ("bulk", ("", bulk,
                      ["guard_check http uri=/health interval=1s "
                       "timeout=1s fall=3 rise=2"])),
        ]

    # ------------------------------------------------------------ backends

    def start_backends(self):
        self.bports = [self.run.port() for _ in range(NBACKENDS)]
        self.backends = []
        for i, p in enumerate(self.bports):
            ng = Nginx(self.run, "backend%d" % i)
            ng.port = p
            ng.write(backend_conf(ng, p, conns=4096,
                                  agent_map=None if i == 0 else {}))
            ng.start()
            ng.wait_http("http://127.0.0.1:%d/health" % p)
            self.backends.append(ng)

    def backend_down(self, i):
        ng = self.backends[i]
        if self.rng.random() < 0.5:          # a crash, or a clean stop
            ng.kill_all()
        else:
            ng.stop(quiet=True)
        st, _, _ = http_get("http://127.0.0.1:%d/health" % ng.port,
                            timeout=2)
        if st is not None:
            raise Fatal("backend%d still answers after it was stopped" % i)

    def backend_up(self, i):
        ng = self.backends[i]
        ng.start(check=False)
        ng.wait_http("http://127.0.0.1:%d/health" % ng.port, timeout=30)

    def set_agent(self, addr, value):
        """The backends that flap answer X-Agent: value for addr: each gets
        the new map, and those running reload it (the anchor, never
        reloaded, sends no agent header).  addr None: only rewrite."""
        if addr is not None:
            if value is None:
                self.agent_state.pop(addr, None)
            else:
                self.agent_state[addr] = value
        for ng in self.backends[1:]:
            ng.write(backend_conf(ng, ng.port, conns=4096,
                                  agent_map=self.agent_state))
            if ng.alive():
                ng.reload()

    # -------------------------------------------------------------- events

    def count(self, what, detail=""):
        self.counts[what] = self.counts.get(what, 0) + 1
        with open(self.run.path("events.log"), "a") as f:
            f.write("%.3f %s %s\n" % (time.time(), what, detail))

    def ev_flap(self):
        i = self.rng.randrange(1, NBACKENDS)
        if self.backends[i].alive():
            self.backend_down(i)
            self.count("backend stopped", "backend%d" % i)
        else:
            self.backend_up(i)
            self.count("backend started", "backend%d" % i)

    def ev_reload(self):
        for f in self.fronts:
            f.master_rss.append(rss_kb(f.ng.pid))
        self.variant = "B" if self.variant == "A" else "A"
        broken = self.reloads % 4 == 3
        self.reloads += 1
        if broken:
            for f in self.fronts:
                f.write(self.variant, broken=True)
                f.ng.reload()
            self.count("reload, broken config", self.variant)
            time.sleep(1.0)
        for f in self.fronts:
            f.write(self.variant)
            f.ng.reload()
        self.count("reload", self.variant)

    def ev_kill_worker(self):
        for f in self.fronts:
            ws = f.ng.workers()
            if not ws:
                continue
            victim = self.rng.choice(ws)
            if f.module:
                rep = f.status()
                lp = rep and rep.get("leader_pid")
                if lp in ws:
                    victim = lp
            st = proc_stat(victim)
            if not st:
                continue
            f.killed.append((victim, st[4]))
            os.kill(victim, signal.SIGKILL)
            f.kill_time = time.monotonic()
            f.killed_leader = victim
        self.count("kill -9 of a worker (module: the checking one)",
                   " ".join("%s:%d" % (f.kind, f.killed[-1][0])
                            for f in self.fronts if f.killed))
        m = self.module
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            rep = m.status()
            lp = rep and rep.get("leader_pid")
            if lp and lp != m.killed_leader and lp in m.ng.workers():
                m.takeovers.append((time.monotonic() - t0) * 1000)
                return
            time.sleep(0.02)
        m.takeovers.append(None)

    def ev_agent(self):
        addr = self.rng.choice(self.drainable).split(":")[0]
        value = self.rng.choice(["drain", "50%", "ready", None])
        self.set_agent(addr, value)
        self.count("agent value changed", "%s %s" % (addr, value))

    def ev_admin(self):
        server = self.rng.choice(self.drainable)
        op = self.rng.choice(["drain", "resume"])
        st, body, _ = http_get(
            "http://127.0.0.1:%d/guard-admin/upstreams/app/servers/%s/%s" % (
                self.module.admin_port, server, op), method="POST",
            body=b"{\"reason\":\"soak\"}",
            headers={"Authorization": "Bearer " + TOKEN,
                     "Content-Type": "application/json"})
        key = "%s %s" % (op, st)
        self.admin_codes[key] = self.admin_codes.get(key, 0) + 1
        self.count("admin drain or resume", "%s %s %s" % (op, server, st))

    # ------------------------------------------------------------ phases

    def start_fronts(self):
        self.variant = "A"
        self.reloads = 0
        self.fronts = [Front(self, "plain"), Front(self, "module")]
        self.module = self.fronts[1]
        for f in self.fronts:
            f.write("A")
            f.ng.start()
            f.ng.wait_http(f.url + "/")
            f.ng.wait_workers(2)

    def wait_quiet(self, timeout=60):
        """Every backend up, no worker shutting down, every server healthy
        and active in the module's report."""
        for i in range(NBACKENDS):
            if not self.backends[i].alive():
                self.backend_up(i)
        for addr in list(self.agent_state):
            self.agent_state.pop(addr)
        self.set_agent(None, None)
        for s in self.app_servers:
            http_get("http://127.0.0.1:%d/guard-admin/upstreams/app/servers/"
                     "%s/resume" % (self.module.admin_port, s), method="POST",
                     body=b"{}", headers={"Authorization": "Bearer " + TOKEN,
                                          "Content-Type": "application/json"})
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            busy = any(f.ng.workers(shutting=True) for f in self.fronts)
            rep = self.module.status()
            ok = rep is not None and all(
                server_health(s) == "up" and
                s.get("admin", "active") == "active"
                for _, s in report_servers(rep))
            if ok and not busy:
                return True
            time.sleep(0.2)
        return False

    def settle_and_measure(self, label):
        """Config A, reloaded twice (the second frees the zone slots that
        the first kept for old workers), warm traffic, idle, measure."""
        log("%s: settling (config A, two reloads, warm traffic)" % label)
        self.variant = "A"
        for _ in range(2):
            for f in self.fronts:
                f.write("A")
                f.ng.reload()
            time.sleep(1)
            if not self.wait_quiet():
                log("%s: not quiet after 60 s (workers shutting down or "
                    "servers not healthy)" % label)
                self.not_quiet.append(label)
        wrks = [self.wrk(f, 5, name="warm") for f in self.fronts]
        for w in wrks:
            w.wait(30)
        time.sleep(3)          # upstream keepalive_timeout 2s
        if not self.wait_quiet():
            self.not_quiet.append(label)
        return {f.kind: f.measure() for f in self.fronts}

    def wrk(self, f, secs, name):
        from guardbench import Wrk
        lua = self.run.path("soak.lua")
        if not os.path.exists(lua):
            with open(lua, "w") as fh:
                fh.write(WRK_LUA % {"delay": self.a.delay_ms})
        w = Wrk.__new__(Wrk)
        w.out = self.run.path("%s-%s.out" % (name, f.kind))
        w.argv = ["wrk", "-t1", "-c%d" % self.a.conns, "-d%ds" % secs,
                  "--timeout", "5s", "-s", lua, f.url + "/"]
        import subprocess
        with open(w.out, "w") as fh:
            w.proc = self.run.spawn(w.argv, name, stdout=fh,
                                    stderr=subprocess.STDOUT)
        return w

    def abuse(self, secs):
        ev = [(1.0, "flap"), (3.0, "reload"), (4.0, "agent"), (5.0, "admin"),
              (8.0, "kill")]
        periods = {"flap": 2.0, "reload": 5.0, "agent": 10.0, "admin": 7.0,
                   "kill": 15.0}
        fns = {"flap": self.ev_flap, "reload": self.ev_reload,
               "agent": self.ev_agent, "admin": self.ev_admin,
               "kill": self.ev_kill_worker}
        t0 = time.monotonic()
        q = [(t0 + d, name) for d, name in ev]
        heapq.heapify(q)
        wrks = [self.wrk(f, secs + 60, name="soak") for f in self.fronts]
        next_watch = t0
        last_log = t0
        while True:
            now = time.monotonic()
            if now - t0 >= secs:
                break
            if now >= next_watch:
                for f in self.fronts:
                    f.watch_shutting(now)
                    if not f.ng.alive():
                        raise Fatal("%s master died:\n%s" % (f.kind,
                                                             f.ng.tail()))
                next_watch = now + 0.5
            if now - last_log >= 30:
                log("soak: %d s of %d, %s" % (now - t0, secs, ", ".join(
                    "%s %d" % kv for kv in sorted(self.counts.items()))))
                last_log = now
            t, name = q[0]
            if now >= t:
                heapq.heappop(q)
                fns[name]()
                p = periods[name]
                heapq.heappush(q, (t + self.rng.uniform(0.5 * p, 1.5 * p),
                                   name))
                continue
            time.sleep(min(0.05, max(0.0, min(t, next_watch) - now)))
        res = {}
        for f, w in zip(self.fronts, wrks):
            os.kill(w.proc.pid, signal.SIGINT)
            res[f.kind] = w.wait(30)
        # workers shutting down get STUCK_S more to finish
        end = time.monotonic() + STUCK_S + 1
        while time.monotonic() < end:
            now = time.monotonic()
            for f in self.fronts:
                f.watch_shutting(now)
            if not any(f.shutting for f in self.fronts):
                break
            time.sleep(0.2)
        return res

    # -------------------------------------------------------------- main

    def go(self):
        start = datetime.datetime.now().astimezone()
        t_start = time.monotonic()
        log("soak: backends and fronts (seed %d)" % self.a.seed)
        self.start_backends()
        self.start_fronts()
        if not self.wait_quiet():
            raise Fatal("the module's servers are not all healthy at start")
        before = self.settle_and_measure("start")
        secs = int(self.a.minutes * 60)
        log("soak: %d s of traffic under abuse" % secs)
        res = self.abuse(secs)
        after = self.settle_and_measure("end")
        return self.report(start, time.monotonic() - t_start, before, after,
                           res)

    def report(self, start, took, before, after, res):
        m = machine()
        print()
        print("Soak %s: `scripts/soak%s` (%.0f s), module %s, nginx %s;"
              % (start.strftime("%Y-%m-%d %H:%M %Z"),
                 "".join(" " + x for x in self.a.argv), took,
                 git_rev(self.top), m["nginx"]))
        print("%d CPUs (%s), load average at the end %s; seed %d."
              % (m["nproc"], m["cpu"], m["load"], self.a.seed))
        print()
        print("Abuse, the same for both, at the same moments: " + ", ".join(
            "%s %d" % kv for kv in sorted(self.counts.items())) + ".")
        print("Admin API answers: " + ", ".join(
            "%s: %d" % kv for kv in sorted(self.admin_codes.items())) + ".")
        tk = [t for t in self.module.takeovers if t is not None]
        print("Checking worker killed %d times: a new one in %s ms "
              "(median, min-max), %d without a new one within 5 s."
              % (len(self.module.takeovers), spread(tk, 0),
                 len(self.module.takeovers) - len(tk)))
        print()
        fails = []
        rows = []

        def add(name, key, unit="", tol_key=None, plain_ok=True):
            p0 = before["plain"].get(key)
            p1 = after["plain"].get(key)
            m0 = before["module"].get(key)
            m1 = after["module"].get(key)
            dp = None if p0 is None or p1 is None else p1 - p0
            dm = None if m0 is None or m1 is None else m1 - m0
            tol = TOL.get(tol_key or key)
            over = dm if not key.endswith("rss_kb") or dp is None \
                else dm - max(dp, 0)
            verdict = "ok"
            if dm is None:
                verdict = "n/a"
            elif tol is not None and over > tol:
                verdict = "**GROWTH**"
                fails.append("%s grew by %d%s (tolerance %d)" % (
                    name, over, unit, tol))
            rows.append((name,
                         "%s -> %s (%+d)" % (p0, p1, dp) if dp is not None
                         else "-",
                         "%s -> %s (%+d)" % (m0, m1, dm) if dm is not None
                         else "-",
                         "%s%s" % ("+" if tol is not None else "",
                                   tol if tol is not None else ""),
                         verdict))
        add("master RSS (kB)", "master_rss_kb", " kB")
        add("worker RSS, sum of 2 (kB)", "worker_rss_kb", " kB")
        add("master open fds", "master_fds")
        add("worker open fds, sockets", "worker_fds_socket")
        add("worker open fds, other", "worker_fds_other")
        add("zone use (bytes)", "zone_used")

        cb = before["module"].get("checks_per_s")
        ca = after["module"].get("checks_per_s")
        ok = cb is not None and ca is not None and ca >= 0.9 * cb
        if not ok:
            fails.append("the checks ran at %s/s at the end, %s/s at the "
                         "start" % (ca, cb))
        rows.append(("checks/s (report counters, 3 s)", "-",
                     "%s -> %s" % (cb, ca), ">= 90 %",
                     "ok" if ok else "**SLOWER**"))
        la = after["module"].get("leader_pid")
        rows.append(("checking worker at the end (leader_pid)", "-",
                     str(la), "a worker", "ok" if la else "**NONE**"))
        if not la:
            fails.append("no checking worker at the end")
        ios = [x["module"].get("check_io") for x in (before, after)]
        ok = ios == [self.a.check_io] * 2
        rows.append(("checks over (check_io of the report), start / end",
                     "-", "%s / %s" % tuple(ios), self.a.check_io,
                     "ok" if ok else "**OTHER**"))
        if not ok:
            fails.append("the checks did not run over %s (check_io %s / %s)"
                         % ((self.a.check_io,) + tuple(ios)))
        if self.not_quiet:
            fails.append("not every server healthy and active within 60 s "
                         "of every backend being up (%s)" %
                         ", ".join(self.not_quiet))

        slopes = {f.kind: slope(f.master_rss[len(f.master_rss) // 2:])
                  for f in self.fronts}
        rows.append(("master RSS per reload, second half of the reloads "
                     "(kB, least squares)",
                     fmt_slope(slopes["plain"]), fmt_slope(slopes["module"]),
                     "", "(see master RSS)"))

        stuck = {f.kind: len(f.stuck) for f in self.fronts}
        crashes = {f.kind: f.crashes() for f in self.fronts}
        for kind in ("module",):
            if stuck[kind] > TOL["stuck_workers"]:
                fails.append("%d workers stuck shutting down (> %d s)" % (
                    stuck[kind], STUCK_S))
            if len(crashes[kind]) > TOL["crashes"]:
                fails.append("%d worker crashes: %s" % (
                    len(crashes[kind]), crashes[kind][0]))
        rows.append(("workers shutting down > %d s" % STUCK_S,
                     str(stuck["plain"]), str(stuck["module"]), "0",
                     "ok" if stuck["module"] == 0 else "**STUCK**"))
        rows.append(("worker exits by a signal we did not send",
                     str(len(crashes["plain"])),
                     str(len(crashes["module"])), "0",
                     "ok" if not crashes["module"] else "**CRASH**"))
        rf = {f.kind: f.failed_reloads() for f in self.fronts}
        rows.append(("reloads refused (broken config, on purpose)",
                     str(rf["plain"]), str(rf["module"]), "",
                     "ok" if rf["module"] == rf["plain"] ==
                     self.counts.get("reload, broken config", 0)
                     else "check"))
        n2 = {f.kind: f.not2xx() for f in self.fronts}
        for kind in ("plain", "module"):
            r = res[kind]
            r["not2xx_log"] = len(n2[kind])
        rp, rm = res["plain"], res["module"]
        rows.append(("client requests", str(rp["requests"]),
                     str(rm["requests"]), "", ""))
        over = rm["status"] - rp["status"]
        v = "ok"
        if over > TOL["status_errors_over_plain"]:
            v = "**ERRORS**"
            fails.append("%d more error responses than plain nginx" % over)
        rows.append(("client error responses (status >= 400)",
                     str(rp["status"]), str(rm["status"]),
                     "plain +%d" % TOL["status_errors_over_plain"], v))
        rows.append(("client socket errors connect/read/write/timeout",
                     "%d/%d/%d/%d" % (rp["connect"], rp["read"], rp["write"],
                                      rp["timeout"]),
                     "%d/%d/%d/%d" % (rm["connect"], rm["read"], rm["write"],
                                      rm["timeout"]), "", "(kills, reloads)"))
        rows.append(("latency p50 / p99 (ms)",
                     "%.1f / %.1f" % (rp["p50_us"] / 1e3, rp["p99_us"] / 1e3),
                     "%.1f / %.1f" % (rm["p50_us"] / 1e3, rm["p99_us"] / 1e3),
                     "", ""))
        print("| figure | plain nginx | with the module | tolerance | |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| %s |" % " | ".join(r))
        print()
        for kind in ("plain", "module"):
            if n2[kind]:
                by = {}
                for parts in n2[kind]:
                    if len(parts) < 6 or parts[5] != str(self.fronts[
                            0 if kind == "plain" else 1].ng.port):
                        continue            # the admin API's answers
                    loc = {"/lc/": "lc", "/h/": "hash"}.get(
                        parts[2][:4] if parts[2].startswith("/lc/")
                        else parts[2][:3], "app")
                    addrs = [x.strip() for x in parts[3].split(",")]
                    tries = len([x for x in addrs if x[:1].isdigit()])
                    k = "%s from upstream %s after %d tries%s" % (
                        parts[1], loc, tries,
                        ", then no live upstreams"
                        if addrs and addrs[-1] == loc else "")
                    by[k] = by.get(k, 0) + 1
                if by:
                    print("%s: client responses not 2xx: %s" % (
                        kind, ", ".join("%d %s" % (v, k) for k, v in
                                        sorted(by.items()))))
        print("Start and end are measured the same way: config A reloaded "
              "twice, every backend up, 5 s of traffic, 3 s idle.")
        if fails:
            print()
            print("FAILED: " + "; ".join(fails))
            return 1
        print("PASS: no growth beyond the tolerances.")
        return 0


def main(top, argv):
    p = argparse.ArgumentParser(
        prog="scripts/soak",
        description="Soak nginx with the module next to plain nginx under "
        "the same abuse; exits non-zero on growth (README, Benchmarks).")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="minutes of traffic under abuse (default 5)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the abuse schedule")
    p.add_argument("--conns", type=int, default=8,
                   help="wrk connections per front (default 8)")
    p.add_argument("--delay-ms", type=int, default=4,
                   help="wrk: pause per connection between requests "
                   "(default 4: about 2,000 requests/s per front)")
    p.add_argument("--keep", action="store_true",
                   help="keep the run directory (configs, logs)")
    p.add_argument("--check-io", choices=("epoll", "io_uring"),
                   default="epoll",
                   help="guard_check_io of the module's front (default "
                   "epoll, the directive's default)")
    a = p.parse_args(argv)
    a.argv = argv
    if a.seed is None:
        a.seed = int(time.time()) % 100000
    if a.minutes <= 0:
        p.error("--minutes must be positive")
    try:
        return Soak(a, top).go()
    except Fatal as e:
        log("soak: " + str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2:]))
