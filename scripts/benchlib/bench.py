"""scripts/bench: the module against plain nginx, on loopback, in one run.

See scripts/bench --help and README "Benchmarks".  Each section starts
its own nginx processes (a front with or without the module, stock nginx
backends) and stops them; sections alternate plain nginx and the module
round by round, so that a busy machine slows both alike, and report
medians with their spread.
"""

import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guardbench import (Fatal, LogFollower, Nginx, Run, Wrk, cpu_ticks,  # noqa
                        fmt, get_json, git_rev, http_get, log, machine,
                        field, median, pct, report_checks,
                        server_addr, spread, CLK_TCK)

PER_UPSTREAM = 100          # servers per upstream at scale
INTERVAL_MS = 1000          # check interval at scale
FALL, RISE, TIMEOUT_MS = 3, 2, 1000
CHECK_KA = 100              # keepalive= of the keep-alive check variant

GOALS = {   # issue 13's goals table
    "render_json": "< 10 ms",
    "render_html": "< 10 ms",
    "render_prometheus": "< 20 ms, < 300 B/server",
    "first_result": "<= 1 interval (1000 ms)",
    "kill_down": "<= fall x interval + timeout (%d ms)" % (
        FALL * INTERVAL_MS + TIMEOUT_MS),
    "cpu_check": "user <= 5 us; total <= 60 us (peer)",
    "cpu_check_ka": "keep (13 us)",
    "cpu_check_peer": "total <= the peer's",
}

# nginx_upstream_check_module's directives for the same check as
# check_line() (its default send lacks Host, which HTTP/1.0 allows)
PEER_CHECK = ("check interval=%d rise=%d fall=%d timeout=%d type=http;\n"
              "        check_http_send \"GET /health HTTP/1.0\\r\\n"
              "Host: localhost\\r\\nConnection: close\\r\\n\\r\\n\";\n"
              "        check_http_expect_alive http_2xx http_3xx" % (
                  INTERVAL_MS, RISE, FALL, TIMEOUT_MS))


def errors(r):
    """wrk's client errors: 'N of REQUESTS (status S, connect/read/...)'."""
    return "%d of %d (status %d, socket c/r/w/t %d/%d/%d/%d)" % (
        r["status"] + r["sock_errors"], r["requests"], r["status"],
        r["connect"], r["read"], r["write"], r["timeout"])


def own_ir(dump):
    """Ir spent in the module's own functions (self cost, inlined helpers
    included) in a callgrind dump, by callgrind_annotate."""
    r = subprocess.run(["callgrind_annotate", "--threshold=100", dump],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    total = 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) .*:(ngx_http_guard\w*)", line)
        if m:
            total += int(m.group(1).replace(",", ""))
    return total


class Bench:

    def __init__(self, args, top):
        self.a = args
        self.top = top
        self.so = os.path.join(top, os.environ.get("GUARD_BUILD", "build"),
                               "ngx_http_upstream_guard_module.so")
        self.run = Run("bench", top, 2400, 2449, keep=args.keep)
        self.rows = []          # (section, figure, plain, module, ratio, goal)
        self.notes = []
        self.failed = []
        self.backends = {}

    # ------------------------------------------------------------ helpers

    def row(self, figure, plain="", module="", ratio="", goal=""):
        self.rows.append((figure, plain, module, ratio, goal))

    def backend(self, key, check_log=False, workers=1):
        """A backend nginx, started once per key and kept for the run."""
        if key in self.backends and self.backends[key][0].alive():
            return self.backends[key]
        port = self.run.port()
        ng = Nginx(self.run, "backend-%s" % key)
        logp = os.path.join(ng.prefix, "logs", "check.log") \
            if check_log else None
        from guardbench import backend_conf
        ng.write(backend_conf(ng, port, check_log=logp, workers=workers,
                              reuseport=workers > 1))
        ng.start()
        ng.wait_http("http://127.0.0.1:%d/health" % port)
        self.backends[key] = (ng, port, logp)
        return self.backends[key]

    def stop_backends(self):
        for ng, _, _ in self.backends.values():
            ng.stop(quiet=True)
        self.backends = {}

    def front(self, name, module, upstreams, check="", workers=2,
              master=True, conns=16384, upstream_keepalive=32,
              extra_http="", peer=False):
        """A front nginx: `location /` proxies to the first upstream,
        `location = /status` is the JSON report (module only).  With
        peer, the nginx of --peer with its check module's `check`."""
        ng = Nginx(self.run, name)
        if peer:
            ng.binary = self.a.peer
            check = PEER_CHECK
            # its default 1 MB holds a few thousand servers
            extra_http += "    check_shm_size 64m;\n"
        port = self.run.port()
        ng.port = port
        ng.url = "http://127.0.0.1:%d" % port
        ups = ""
        for uname, servers in upstreams:
            ups += "    upstream %s {\n" % uname
            ups += "".join("        server %s;\n" % s for s in servers)
            if (module or peer) and check:
                ups += "        %s;\n" % check
            if upstream_keepalive:
                ups += "        keepalive %d;\n" % upstream_keepalive
            ups += "    }\n"
        status = ("location = /status { guard_status json; }" if module
                  else "location = /status { check_status json; }" if peer
                  else "location = /status { return 404; }")
        text = ng.main_conf(workers=workers, conns=conns, master=master,
                            module=self.so if module else None) + (
            "http {\n    access_log off;\n%s"
            "    keepalive_requests 1000000;\n%s%s"
            "    server {\n        listen 127.0.0.1:%d backlog=4096;\n"
            "        location / {\n            proxy_pass http://%s;\n"
            "            proxy_http_version 1.1;\n"
            "            proxy_set_header Connection \"\";\n        }\n"
            "        %s\n    }\n}\n" % (ng.temp_paths(), extra_http, ups,
                                        port, upstreams[0][0], status))
        ng.write(text)
        return ng

    def scale_upstreams(self, nservers, ports):
        """nservers over upstreams of PER_UPSTREAM, server i on
        ports[i % len(ports)] at address server_addr(i)."""
        ups = []
        for u in range(0, nservers, PER_UPSTREAM):
            ups.append(("u%d" % (u // PER_UPSTREAM), [
                "%s:%d" % (server_addr(i), ports[i % len(ports)])
                for i in range(u, min(nservers, u + PER_UPSTREAM))]))
        return ups

    def check_line(self, keepalive=False, interval_ms=INTERVAL_MS):
        c = ("guard_check http uri=/health interval=%dms timeout=%dms "
             "fall=%d rise=%d" % (interval_ms, TIMEOUT_MS, FALL, RISE))
        if keepalive:
            c += " http=1.1 keepalive=%d" % CHECK_KA
        return c

    def wait_all_results(self, ng, timeout):
        """Polls ?state=checking until no server is left in it.  Returns
        (seconds from the first answer, seconds from exec, polls)."""
        url = ng.url + "/status?state=checking"
        t_ready = None
        end = time.monotonic() + timeout
        polls = 0
        while time.monotonic() < end:
            if not ng.alive():
                raise Fatal("%s died:\n%s" % (ng.name, ng.tail()))
            st, body, _ = http_get(url, timeout=5)
            now = time.monotonic()
            if st == 200:
                polls += 1
                if t_ready is None:
                    t_ready = now
                import json
                rep = json.loads(body)
                if not rep.get("upstreams"):
                    return now - t_ready, now - ng.t_exec, polls
            time.sleep(0.05)
        raise Fatal("%s: servers still checking after %d s" % (ng.name,
                                                              timeout))

    # ----------------------------------------------------------- callgrind

    def callgrind_one(self, module, nservers, nreq, bport):
        tag = "cg-%s-%d" % ("module" if module else "plain", nservers)
        ups = [("app", ["%s:%d" % (server_addr(i), bport)
                        for i in range(nservers)])]
        ng = self.front(tag, module, ups, workers=1, master=False,
                        conns=4096, check=self.check_line(
                            interval_ms=60000))
        out = os.path.join(ng.prefix, "cg.out")
        ng.start(wrap=["valgrind", "--tool=callgrind", "--dump-instr=no",
                       "--callgrind-out-file=" + out])
        ng.wait_http(ng.url + "/", timeout=180)
        if module:
            self.wait_all_results(ng, 120)
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", ng.port, timeout=30)

        def send(n):
            for _ in range(n):
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise Fatal("%s: status %d" % (tag, r.status))

        send(min(200, nreq))        # warm up: upstream keepalive, caches

        def ctl(op):
            subprocess.run(["callgrind_control", op, str(ng.pid)],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=60)

        ctl("-z")
        t0 = time.monotonic()
        time.sleep(self.a.cg_idle)
        t1 = time.monotonic()
        ctl("-d")                       # dump 1: idle
        ctl("-z")
        t2 = time.monotonic()
        send(nreq)
        t3 = time.monotonic()
        ctl("-d")                       # dump 2: nreq requests
        conn.close()
        ng.stop()

        def ir(n):
            with open("%s.%d" % (out, n)) as f:
                for line in f:
                    if line.startswith("summary:"):
                        return int(line.split()[1])
            raise Fatal("%s: no summary in dump %d" % (tag, n))

        idle_rate = ir(1) / (t1 - t0)
        per_req = (ir(2) - idle_rate * (t3 - t2)) / nreq
        own = None
        if module:
            own_idle = own_ir("%s.1" % out) / (t1 - t0)
            own = (own_ir("%s.2" % out) - own_idle * (t3 - t2)) / nreq
        return per_req, idle_rate, own

    def sec_callgrind(self):
        """callgrind instructions per proxied request.  A single-process
        nginx under callgrind; after a warm-up, callgrind_control zeroes
        the counters, 1 s (2 s) idle, dump; zero, N requests on one
        keep-alive connection, dump.  Per request: (Ir of the request
        window - idle Ir/s x its duration) / N.  Checks are on but with
        interval=60s, so that no check runs in the windows: this is the
        request path only (the 150 ms tick is in the idle rate)."""
        sizes = [2, 1000] if not self.a.quick else [2, 100]
        rounds = self.a.cg_rounds
        _, bport, _ = self.backend("cg")
        for n in sizes:
            res = {False: [], True: []}
            idle = {False: [], True: []}
            owns = []
            for r in range(rounds):
                for module in ((False, True) if r % 2 == 0
                               else (True, False)):
                    log("callgrind: %s, %d servers, round %d/%d" % (
                        "module" if module else "plain", n, r + 1, rounds))
                    pr, ir, own = self.callgrind_one(
                        module, n, self.a.cg_requests, bport)
                    res[module].append(pr)
                    idle[module].append(ir)
                    if own is not None:
                        owns.append(own)
            p, m = median(res[False]), median(res[True])
            self.row("callgrind Ir per proxied request, %d servers" % n,
                     spread(res[False], 0), spread(res[True], 0),
                     "%.4f (%+d Ir)" % (m / p, round(m - p)))
            self.row("... of which in the module's own functions "
                     "(self cost), %d servers" % n, "", spread(owns, 0))
            self.notes.append(
                "callgrind %d servers: idle Ir/s subtracted: plain %s, "
                "module %s" % (n, fmt(median(idle[False]), 0),
                               fmt(median(idle[True]), 0)))

    # ----------------------------------------------------------------- wrk

    def sec_wrk(self):
        rounds = self.a.wrk_rounds
        secs = self.a.wrk_secs
        _, bport, _ = self.backend("wrk", workers=1)
        ups = [("app", ["127.0.0.1:%d" % bport, "127.0.0.2:%d" % bport])]
        rps = {False: [], True: []}
        cpu = {False: [], True: []}
        errs = {False: 0, True: 0}
        for r in range(rounds):
            for module in (False, True) if r % 2 == 0 else (True, False):
                kind = "module" if module else "plain"
                log("wrk: %s, round %d/%d, %d s" % (kind, r + 1, rounds,
                                                    secs))
                ng = self.front("wrk-%s" % kind, module, ups,
                                check=self.check_line())
                ng.start()
                ng.wait_http(ng.url + "/")
                ws = ng.wait_workers(2)
                Wrk(self.run, ng.url + "/", 1, conns=self.a.wrk_conns).wait()
                c0 = cpu_ticks(ws)
                res = Wrk(self.run, ng.url + "/", secs,
                          conns=self.a.wrk_conns).wait()
                c1 = cpu_ticks(ws)
                ng.stop()
                rps[module].append(res["rps"])
                ticks = (c1[0] - c0[0]) + (c1[1] - c0[1])
                cpu[module].append(ticks / CLK_TCK / res["requests"] * 1e6)
                errs[module] += res["status"] + res["sock_errors"]
        self.row("req/s through wrk (2 servers, -c%d)" % self.a.wrk_conns,
                 spread(rps[False], 0), spread(rps[True], 0),
                 "%.3f" % (median(rps[True]) / median(rps[False])))
        self.row("proxy CPU per request, workers (us)",
                 spread(cpu[False], 1), spread(cpu[True], 1),
                 "%.3f" % (median(cpu[True]) / median(cpu[False])))
        self.row("client errors in those runs", str(errs[False]),
                 str(errs[True]))

    # -------------------------------------------------- checks at scale

    def read_check_log(self, path, t0, t1):
        """{address: [arrival times]} of check requests in [t0, t1]."""
        arr = {}
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2:
                    continue
                t = float(parts[0])
                if t0 <= t <= t1:
                    arr.setdefault(parts[1], []).append(t)
        return arr

    def sec_checks(self):
        sizes = [1000] if self.a.quick else [1000, 10000]
        rounds = self.a.check_rounds
        be, bport, logp = self.backend("checks", check_log=True, workers=2)
        res = {}
        for n in sizes:
            ups = self.scale_upstreams(n, [bport])
            runs = [False, True, "uring"] + (["peer"] if self.a.peer else [])
            for r in range(rounds):
                for ka in runs if r % 2 == 0 else runs[::-1]:
                    log("checks: %d servers, %s, round %d/%d" % (
                        n, "nginx_upstream_check_module" if ka == "peer"
                        else "io_uring" if ka == "uring"
                        else "keepalive on" if ka else "keepalive off",
                        r + 1, rounds))
                    d = res.setdefault((n, ka), {})
                    if ka == "peer":
                        self.peer_run(n, ups, be, logp, d)
                        continue
                    self.check_run(n, ka, ups, be, logp, d,
                                   render=(n == sizes[-1] and not ka
                                           and r == 0))
                log("checks: %d servers, the floor (bare system calls), "
                    "round %d/%d" % (n, r + 1, rounds))
                self.floor_run(bport, n * 1000 // INTERVAL_MS,
                               res[(n, False)].get("grid", [1])[-1],
                               res.setdefault((n, "floor"), {}))
                self.syscall_run(res.setdefault("syscall", {}))
        for n in sizes:
            for ka in (False, True, "uring"):
                d = res[(n, ka)]
                label = "%d servers, %s" % (
                    n, "new connection, guard_check_io io_uring"
                    if ka == "uring" else "keepalive=%d" % CHECK_KA if ka
                    else "new connection")
                self.row("first result for every server (ms), %s" % label,
                         "", spread(d["first"], 0), "",
                         GOALS["first_result"])
                self.row("nginx start to the report's first answer (ms), "
                         "%s" % label, "", spread(d["exec"], 0))
                self.row("checks/s achieved / configured, %s" % label, "",
                         "%s / %d" % (spread(d["rate"], 0),
                                      n * 1000 // INTERVAL_MS),
                         "%.3f" % (median(d["rate"]) /
                                   (n * 1000 / INTERVAL_MS)))
                self.row("check start-to-start lateness p50 / p99 (ms), %s"
                         % label, "", "%s / %s" % (spread(d["late50"], 1),
                                                   spread(d["late99"], 1)))
                self.row("CPU per check, all workers (us), %s" % label, "",
                         "%s (user %s)" % (spread(d["cpu"], 1),
                                           spread(d["user"], 1)), "",
                         GOALS["cpu_check_ka" if ka is True
                               else "cpu_check"])
                self.row("checks/s from the report's counters, %s" % label,
                         "", spread(d.get("rate_json", []), 0))
                p = res.get((n, "peer"))
                if ka is True or not p:
                    continue
                label = "%d servers, new connection%s, against " \
                    "nginx_upstream_check_module" % (
                        n, ", io_uring" if ka == "uring" else "")
                self.row("checks/s achieved / configured, %s" % label,
                         "peer %s" % spread(p["rate"], 0),
                         spread(d["rate"], 0), "%.3f" % (
                             median(d["rate"]) / median(p["rate"])))
                self.row("check start-to-start lateness p50 / p99 (ms), %s"
                         % label, "peer %s / %s" % (spread(p["late50"], 1),
                                                    spread(p["late99"], 1)),
                         "%s / %s" % (spread(d["late50"], 1),
                                      spread(d["late99"], 1)))
                self.row("CPU per check, all workers (us), %s" % label,
                         "peer %s (user %s)" % (spread(p["cpu"], 1),
                                                spread(p["user"], 1)),
                         "%s (user %s)" % (spread(d["cpu"], 1),
                                           spread(d["user"], 1)),
                         "%.3f (user %.3f)" % (
                             median(d["cpu"]) / median(p["cpu"]),
                             median(d["user"]) / median(p["user"])),
                         GOALS["cpu_check_peer"])
        for n in sizes:
            d, f = res[(n, False)], res[(n, "floor")]
            self.row("CPU per check of the same system calls at the same "
                     "rate on the same %s ms grid in a bare C loop (us), "
                     "the floor, %d servers" % (
                         "/".join(str(g) for g in sorted(set(f["grid"]))),
                         n), "", "%s (user %s)" % (spread(f["cpu"], 1),
                                                spread(f["user"], 1)), "")
            self.row("CPU per check, module / floor, %d servers, new "
                     "connection" % n, "", "", "%.2f (user %.2f)" % (
                         median(d["cpu"]) / median(f["cpu"]),
                         median(d["user"]) / median(f["user"])))
        sc = res["syscall"]
        self.row("CPU of one bare system call (getppid) on this machine "
                 "(us): user / system", "", "%s / %s" % (
                     spread(sc["user"], 3), spread(sc["sys"], 3)))
        if "render" in self.__dict__:
            for f, (ts, sizes_, n) in self.render.items():
                self.row("status render %s at %d servers: time (ms) / size"
                         % (f, n), "", "%s / %s" % (
                             spread(ts, 1), fmt(median(sizes_) / 1e6, 2,
                                                " MB")) +
                         (" (%d B/server)" % (median(sizes_) / n)), "",
                         GOALS["render_" + f])

    def check_run(self, n, ka, ups, be, logp, d, render=False):
        ng = self.front("checks-%d-%s" % (
                            n, "uring" if ka == "uring" else
                            "ka" if ka else "new"), True,
                        ups, check=self.check_line(keepalive=ka is True),
                        upstream_keepalive=0,
                        extra_http="    guard_check_io io_uring;\n"
                        if ka == "uring" else "")
        ng.start()
        first, from_exec, _ = self.wait_all_results(ng, 120)
        d.setdefault("first", []).append(first * 1000)
        d.setdefault("exec", []).append((from_exec - first) * 1000)
        time.sleep(2)
        ws = ng.wait_workers(2)
        j0 = get_json(ng.url + "/status")
        c0, t0, c1, t1 = self.check_window(ws)
        j1 = get_json(ng.url + "/status")
        if j0 is None or j1 is None:
            raise Fatal("no JSON report from %s" % ng.name)
        ch0, ch1 = report_checks(j0), report_checks(j1)
        if j1.get("check_grid_duration_ms"):
            d.setdefault("grid", []).append(j1["check_grid_duration_ms"])
        g0, g1 = (field(j, "generated_at_ms", "time_ms") for j in (j0, j1))
        if ch0 is not None and ch1 is not None and g0 and g1 and g1 > g0:
            d.setdefault("rate_json", []).append(
                (ch1 - ch0) / ((g1 - g0) / 1000.0))
        if render:
            self.render = {}
            for f in ("json", "html", "prometheus"):
                ts, szs = self.render_times(ng, f, self.a.render_requests)
                self.render[f] = (ts, szs, n)
        ng.stop()
        self.check_figures(be, logp, d, c0, t0, c1, t1)

    def floor_run(self, port, rate, grid, f):
        """The floor: the system calls of one check over a new connection
        (GET /health, as the module sends it) at `rate` checks per second,
        started on the `grid` (ms) the module's report said it used, in a
        bare C program (scripts/benchlib/floor.c), against the same
        backend; user and system CPU per check.  Its requests fall
        outside the check windows."""
        f.setdefault("grid", []).append(grid)
        exe = os.path.join(self.run.dir, "floor")
        if not os.path.exists(exe):
            src = os.path.join(self.top, "scripts", "benchlib", "floor.c")
            subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", exe, src],
                           check=True)
        req = ("GET /health HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
               "User-Agent: nginx-upstream-guard/0\r\n"
               "Connection: close\r\n\r\n" % port)
        n = rate * self.a.check_secs     # as long as a check window
        r = subprocess.run([exe, str(port), str(n), str(rate), str(grid),
                            req],
                           stdout=subprocess.PIPE, text=True)
        out = r.stdout.split()
        if r.returncode != 0 or len(out) != 4 or int(out[1]) != n:
            raise Fatal("floor: %d of %s checks got a 200 (exit %d)" % (
                int(out[1]) if len(out) == 4 else 0, n, r.returncode))
        f.setdefault("user", []).append(float(out[2]))
        f.setdefault("cpu", []).append(float(out[2]) + float(out[3]))

    def syscall_run(self, f):
        """What entering and leaving the kernel alone costs here: a
        million getppid() calls (floor.c's second mode), user and system
        time per call.  A check over a new connection makes at least six
        system calls besides epoll_wait."""
        exe = os.path.join(self.run.dir, "floor")
        n = 1000000
        r = subprocess.run([exe, "syscall", str(n)], stdout=subprocess.PIPE,
                           text=True)
        out = r.stdout.split()
        if r.returncode != 0 or len(out) != 3 or int(out[0]) != n:
            raise Fatal("floor syscall: exit %d, %r" % (r.returncode,
                                                        r.stdout))
        f.setdefault("user", []).append(float(out[1]))
        f.setdefault("sys", []).append(float(out[2]))

    def check_window(self, ws):
        """CPU ticks of the workers ws and times around a window of
        check_secs with nothing but checks running."""
        c0 = cpu_ticks(ws)
        t0 = time.time()
        time.sleep(self.a.check_secs)
        t1 = time.time()
        c1 = cpu_ticks(ws)
        return c0, t0, c1, t1

    def peer_run(self, n, ups, be, logp, d):
        """The same servers and checks with nginx_upstream_check_module
        (its nginx given by --peer).  It has no time of first results:
        the window starts 3 s after its workers run."""
        ng = self.front("checks-%d-peer" % n, False, ups, peer=True,
                        upstream_keepalive=0)
        ng.start()
        ng.wait_http(ng.url + "/status")
        ws = ng.wait_workers(2)
        time.sleep(3)
        c0, t0, c1, t1 = self.check_window(ws)
        ng.stop()
        self.check_figures(be, logp, d, c0, t0, c1, t1)

    def check_figures(self, be, logp, d, c0, t0, c1, t1):
        """Rate, lateness and CPU per check of the window, from the
        backend's log of check requests; then a fresh log."""
        time.sleep(1.2)                  # the backend's log flush=1s
        arr = self.read_check_log(logp, t0, t1)
        total = sum(len(v) for v in arr.values())
        late = []
        for v in arr.values():
            v.sort()
            late += [(b - a) * 1000 - INTERVAL_MS for a, b in zip(v, v[1:])]
        d.setdefault("rate", []).append(total / (t1 - t0))
        d.setdefault("late50", []).append(pct(late, 50))
        d.setdefault("late99", []).append(pct(late, 99))
        ticks = (c1[0] - c0[0]) + (c1[1] - c0[1])
        d.setdefault("cpu", []).append(ticks / CLK_TCK / max(total, 1) * 1e6)
        d.setdefault("user", []).append(
            (c1[0] - c0[0]) / CLK_TCK / max(total, 1) * 1e6)
        # the next run reads a fresh log
        os.rename(logp, logp + ".old")
        os.kill(be.pid, signal.SIGUSR1)
        time.sleep(0.3)

    def render_times(self, ng, fmt_, n):
        ts, sizes = [], []
        url = "%s/status?format=%s" % (ng.url, fmt_)
        for _ in range(n):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                                "%{http_code} %{time_total} %{size_download}",
                                "--max-time", "30", url],
                               stdout=subprocess.PIPE, text=True)
            code, t, sz = r.stdout.split()
            if code != "200":
                raise Fatal("status %s: HTTP %s" % (fmt_, code))
            ts.append(float(t) * 1000)
            sizes.append(int(sz))
            time.sleep(0.05)
        return ts, sizes

    # ------------------------------------------- kill-to-down under load

    def sec_failover(self):
        n = 1000 if self.a.quick else 10000
        rounds = self.a.failover_rounds
        bes = {}
        for k in ("A", "B"):
            bes[k] = self.backend("fo" + k, workers=1)
        ports = [bes["A"][1], bes["B"][1]]
        ups = self.scale_upstreams(n, ports)
        a_servers = set()
        for uname, servers in ups:
            for s in servers:
                if s.endswith(":%d" % ports[0]):
                    a_servers.add((uname, s))
        down_t, up_t, errs = [], [], {False: [], True: []}
        for r in range(rounds):
            for module in (True, False) if r % 2 == 0 else (False, True):
                kind = "module" if module else "plain"
                log("failover: %s, %d servers, round %d/%d" % (
                    kind, n, r + 1, rounds))
                ng = self.front("fo-%s" % kind, module, ups,
                                check=self.check_line())
                ng.start()
                ng.wait_http(ng.url + "/")
                if module:
                    self.wait_all_results(ng, 120)
                follow = LogFollower(ng.error_log_path(),
                                     r"upstream guard: server .* is (down|up)")
                follow.start()
                w = Wrk(self.run, ng.url + "/", 600, conns=self.a.wrk_conns)
                time.sleep(2)
                be = bes["A"][0]
                t_kill = time.monotonic()
                be.kill_all()
                down = self.wait_lines(follow, "down", a_servers, t_kill,
                                       60 if module else 0)
                if not module:
                    time.sleep(self.plain_wait_down)
                be.start(check=False)           # same prefix, same port
                t_up = be.t_exec
                be.wait_http("http://127.0.0.1:%d/health" % ports[0])
                up = self.wait_lines(follow, "up", a_servers, t_up,
                                     60 if module else 0)
                if not module:
                    time.sleep(self.plain_wait_up)
                time.sleep(1)
                os.kill(w.proc.pid, signal.SIGINT)
                res = w.wait(30)
                follow.stop()
                ng.stop()
                errs[module].append(res["status"] + res["sock_errors"])
                if module:
                    if down is None or up is None:
                        raise Fatal("failover: not every server of A went "
                                    "%s within 60 s" %
                                    ("down" if down is None else "up"))
                    down_t.append(down * 1000)
                    up_t.append(up * 1000)
                    self.plain_wait_down = down
                    self.plain_wait_up = up
        label = "%d servers, %d on the killed backend, wrk -c%d" % (
            n, len(a_servers), self.a.wrk_conns)
        self.row("kill -9 of a backend to all its servers down (ms), %s"
                 % label, "", spread(down_t, 0), "", GOALS["kill_down"])
        self.row("backend restart to all its servers up (ms)", "",
                 spread(up_t, 0), "",
                 "~ rise x interval (%d ms)" % (RISE * INTERVAL_MS))
        self.row("client errors during kill and restart (per run)",
                 spread(errs[False], 0), spread(errs[True], 0))

    plain_wait_down = 5.0
    plain_wait_up = 3.0

    def wait_lines(self, follow, what, servers, t_from, timeout):
        """Seconds from t_from until every (upstream, server) of servers
        has logged 'is what' after t_from; None on timeout."""
        import re
        pat = re.compile(r'server (\S+) \(.*\) of upstream "([^"]+)" is '
                         + what)
        end = time.monotonic() + timeout
        seen = set()
        i = 0
        while True:
            lines = follow.lines
            while i < len(lines):
                t, ln = lines[i]
                i += 1
                m = pat.search(ln)
                if m and t >= t_from:
                    key = (m.group(2), m.group(1))
                    if key in servers:
                        seen.add(key)
                        if len(seen) == len(servers):
                            return t - t_from
            if time.monotonic() >= end:
                return None
            time.sleep(0.01)

    # ------------------------------------------------ reloads under load

    def sec_reloads(self):
        n = 1000
        count = self.a.reloads
        _, bport, _ = self.backend("rl", workers=1)
        ups = self.scale_upstreams(n, [bport])
        out = {}
        for module in (False, True):
            kind = "module" if module else "plain"
            log("reloads: %s, %d reloads under load" % (kind, count))
            ng = self.front("rl-%s" % kind, module, ups,
                            check=self.check_line())
            ng.start()
            ng.wait_http(ng.url + "/")
            if module:
                self.wait_all_results(ng, 120)
            j0 = get_json(ng.url + "/status") if module else None
            w = Wrk(self.run, ng.url + "/", 600, conns=self.a.wrk_conns)
            time.sleep(1)
            waits = []
            for i in range(count):
                old = set(ng.wait_workers(2))
                t = time.monotonic()
                ng.reload()
                end = t + 30
                while time.monotonic() < end:
                    new = set(ng.workers())
                    if len(new) >= 2 and not (new & old):
                        break
                    time.sleep(0.01)
                else:
                    raise Fatal("%s: reload %d: no new workers in 30 s" % (
                        kind, i + 1))
                waits.append((time.monotonic() - t) * 1000)
                time.sleep(0.5)
            time.sleep(1)
            os.kill(w.proc.pid, signal.SIGINT)
            res = w.wait(30)
            # old workers must be gone within 10 s of the last reload
            end = time.monotonic() + 10
            while ng.workers(shutting=True) and time.monotonic() < end:
                time.sleep(0.1)
            stuck = len(ng.workers(shutting=True))
            j1 = get_json(ng.url + "/status") if module else None
            if module:
                time.sleep(0.5)
                ng.reload()          # frees slots held for old workers
                time.sleep(2)
                j1 = get_json(ng.url + "/status")
            ng.stop()
            out[module] = (res, stuck, waits, j0, j1)
        rp, rm = out[False][0], out[True][0]
        self.row("client errors across %d reloads under load" % count,
                 errors(rp), errors(rm))
        self.row("reload to new workers up (ms)", spread(out[False][2], 0),
                 spread(out[True][2], 0))
        self.row("workers still shutting down 10 s after the last reload",
                 str(out[False][1]), str(out[True][1]))
        j0, j1 = out[True][3], out[True][4]
        self.row("zone use before / after the reloads (bytes, %d servers)"
                 % n, "", "%d / %d of %d" % (j0["zone_used"],
                                             j1["zone_used"],
                                             j1["zone_size"]))

    # --------------------------------------------------------------- main

    def go(self):
        secs = [("callgrind", self.sec_callgrind), ("wrk", self.sec_wrk),
                ("checks", self.sec_checks),
                ("failover", self.sec_failover),
                ("reloads", self.sec_reloads)]
        only = set(self.a.only.split(",")) if self.a.only else None
        t0 = time.monotonic()
        start = datetime.datetime.now().astimezone()
        for name, fn in secs:
            if only and name not in only:
                continue
            try:
                fn()
                self.stop_backends()
            except Exception as e:      # report the others anyway
                self.stop_backends()
                self.failed.append(name)
                log("section %s failed: %s" % (name, e))
                if not isinstance(e, Fatal):
                    traceback.print_exc()
                self.row("**%s: failed**: %s" % (
                    name, str(e).splitlines()[0] if str(e) else
                    type(e).__name__))
        self.report(start, time.monotonic() - t0)
        return 1 if self.failed else 0

    def report(self, start, took):
        m = machine()
        cmd = "scripts/bench" + "".join(" " + x for x in self.a.argv)
        print()
        print("Measured %s with `%s` (%.0f s), module %s, nginx %s;"
              % (start.strftime("%Y-%m-%d %H:%M %Z"), cmd, took,
                 git_rev(self.top), m["nginx"]))
        print("%d CPUs (%s), Linux %s, load average at the end %s."
              % (m["nproc"], m["cpu"], m["kernel"], m["load"]))
        print()
        print("| figure | plain nginx | with the module | ratio | goal |")
        print("|---|---|---|---|---|")
        for r in self.rows:
            print("| %s |" % " | ".join(r))
        print()
        print("Figures: median of the rounds (min-max in brackets).")
        for n in self.notes:
            print("- " + n)


def main(top, argv):
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark the module against plain nginx on loopback "
        "(see README, Benchmarks); prints a Markdown table.")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds, smaller sizes (about a minute)")
    p.add_argument("--only", default="",
                   help="comma-separated sections: callgrind, wrk, checks, "
                   "failover, reloads")
    p.add_argument("--keep", action="store_true",
                   help="keep the run directory (configs, logs)")
    p.add_argument("--peer", default="", metavar="NGINX",
                   help="an nginx built with nginx_upstream_check_module "
                   "(README, Benchmarks): the checks section measures it "
                   "side by side")
    a = p.parse_args(argv)
    a.argv = argv
    q = a.quick
    a.cg_rounds = 1 if q else 3
    a.cg_requests = 1000 if q else 2000
    a.cg_idle = 1.0 if q else 2.0
    a.wrk_rounds = 2 if q else 5
    a.wrk_secs = 2 if q else 5
    a.wrk_conns = 16
    a.check_rounds = 1 if q else 2
    a.check_secs = 3 if q else 10
    a.render_requests = 5 if q else 30
    a.failover_rounds = 1 if q else 2
    a.reloads = 5 if q else 20
    return Bench(a, top).go()


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2:]))
