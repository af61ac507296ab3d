"""Shared pieces of scripts/bench and scripts/soak (python3, stdlib only).

Everything runs on loopback: nginx processes are children of the script
(`daemon off;`), each with its own prefix directory under the run
directory, and are stopped by pid at exit.  Backends are stock nginx
servers answering 200; one backend process listens on one port of the
wildcard address, so that upstream servers can be spread over many
127.x.y.z addresses (every 127.0.0.0/8 address reaches it), and only
allows 127.0.0.0/8 clients.
"""

import atexit
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

NGINX = "/usr/sbin/nginx"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


class Fatal(Exception):
    pass


# ------------------------------------------------------------------ stats

def median(xs):
    return statistics.median(xs) if xs else None


def pct(xs, p):
    """p-th percentile (0-100) by linear interpolation, None if empty."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    i = int(k)
    if i + 1 >= len(s):
        return s[-1]
    return s[i] + (s[i + 1] - s[i]) * (k - i)


def fmt(x, nd=1, unit=""):
    if x is None:
        return "n/a"
    if isinstance(x, int) or nd == 0:
        return "%d%s" % (round(x), unit)
    return "%.*f%s" % (nd, x, unit)


def spread(xs, nd=1, unit=""):
    """'median (min-max)' of a list of numbers."""
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return fmt(xs[0], nd, unit)
    return "%s (%s-%s)" % (fmt(median(xs), nd, unit), fmt(min(xs), nd),
                           fmt(max(xs), nd))


# -------------------------------------------------------------- addresses

def server_addr(i):
    """The i-th backend address: 127.A.B.C with every octet in 1..254, from
    127.1.1.1 on (127.0.0.x is left alone)."""
    return "127.%d.%d.%d" % (1 + i // (254 * 254), 1 + (i // 254) % 254,
                             1 + i % 254)


def port_free(port):
    for host in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


# -------------------------------------------------------------- /proc

def proc_stat(pid):
    """(state, ppid, utime, stime, starttime) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[11]), int(rest[12]), int(rest[19])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_counts(pid):
    """{'socket': n, 'other': n} for the open fds of pid, or None."""
    out = {"socket": 0, "other": 0}
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return None
    for n in names:
        try:
            t = os.readlink(os.path.join(d, n))
        except OSError:
            continue
        out["socket" if t.startswith("socket:") else "other"] += 1
    return out


def cpu_ticks(pids):
    """(user, system) clock ticks summed over pids that still live."""
    u = s = 0
    for p in pids:
        st = proc_stat(p)
        if st:
            u += st[2]
            s += st[3]
    return u, s


# ------------------------------------------------------------ HTTP client

def http_get(url, timeout=10, headers=None, method="GET", body=None):
    """(status, body bytes, seconds); (None, b"", secs) on a socket error."""
    u = urllib.parse.urlsplit(url)
    t0 = time.monotonic()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.monotonic() - t0
    except (OSError, http.client.HTTPException):
        return None, b"", time.monotonic() - t0
    finally:
        c.close()


def get_json(url, timeout=20):
    st, data, _ = http_get(url, timeout)
    if st != 200:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


# The JSON report's field names, with the names a newer schema may use, so
# that the scripts keep running while the report evolves (issue 13 renames
# check counters).
def field(d, *names, default=None):
    for n in names:
        if n in d:
            return d[n]
    return default


def server_checks(s):
    """Checks run on a server; None when the report has no such field."""
    return field(s, "checks", "checks_total", "check_count", "checks_run")


def report_checks(rep):
    """Checks run over every server of a report, or None."""
    vals = [server_checks(s) for _, s in report_servers(rep)]
    if not vals or any(v is None for v in vals):
        return None
    return sum(vals)


def server_health(s):
    return field(s, "health", default="?")


def report_servers(rep):
    for u in rep.get("upstreams", []):
        for s in u.get("servers", []):
            yield u, s


# ---------------------------------------------------------------- the run

class Run:
    """A run directory, a port range, and every process started in it."""

    def __init__(self, name, top, port_lo, port_hi, keep=False):
        self.top = top
        base = os.path.join(top, "build", "bench")
        os.makedirs(base, exist_ok=True)
        self.dir = os.path.join(base, "%s-%d" % (name, os.getpid()))
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        self.keep = keep
        self.ports = list(range(port_lo, port_hi + 1))
        self.procs = []           # (Popen, what)
        self.nginxes = []
        atexit.register(self.cleanup)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._signal)

    def _signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def port(self):
        while self.ports:
            p = self.ports.pop(0)
            if port_free(p):
                return p
        raise Fatal("no free port left in the run's range")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def spawn(self, argv, what, **kw):
        # its own process group: killpg reaches every process it forks,
        # even a worker forked while we kill its master
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             start_new_session=True, **kw)
        self.procs.append((p, what))
        return p

    def cleanup(self):
        for n in reversed(self.nginxes):
            n.stop(quiet=True)
        for p, _ in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.procs = []
        if not self.keep and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.dir))
            except OSError:
                pass
        elif os.path.isdir(self.dir):
            log("run directory kept: %s" % self.dir)


def nofile_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard if hard != resource.RLIM_INFINITY else 1048576


class Nginx:
    """One nginx with its own prefix, `daemon off;`, a child of ours."""

    def __init__(self, run, name):
        self.run = run
        self.name = name
        self.prefix = run.path(name)
        for d in ("conf", "logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.conf = os.path.join(self.prefix, "conf", "nginx.conf")
        self.proc = None
        self.master_start = None
        self.binary = NGINX
        run.nginxes.append(self)

    def temp_paths(self):
        t = os.path.join(self.prefix, "tmp")
        return "".join("    %s_temp_path %s/%s;\n" % (k, t, k) for k in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))

    def main_conf(self, workers=2, conns=4096, master=True, module=None,
                  error_level="notice", extra_main=""):
        nofile = min(nofile_limit(), 2 * conns + 1024)
        return ("%sdaemon off;\nmaster_process %s;\nworker_processes %d;\n"
                "worker_rlimit_nofile %d;\npid %s/logs/nginx.pid;\n"
                "error_log %s/logs/error.log %s;\n%s"
                "events { worker_connections %d; }\n" % (
                    "load_module %s;\n" % module if module else "",
                    "on" if master else "off", workers, nofile,
                    self.prefix, self.prefix, error_level, extra_main,
                    conns))

    def write(self, text, path=None):
        with open(path or self.conf, "w") as f:
            f.write(text)

    def test_conf(self, path=None):
        r = subprocess.run([self.binary, "-t", "-q", "-p",
                            self.prefix + "/",
                            "-e", self.prefix + "/logs/error.log",
                            "-c", path or self.conf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return r.returncode == 0, r.stdout

    def start(self, wrap=None, check=True):
        if check:
            ok, out = self.test_conf()
            if not ok:
                raise Fatal("%s: nginx -t failed:\n%s" % (self.name, out))
        argv = (wrap or []) + [self.binary, "-p", self.prefix + "/", "-e",
                               self.prefix + "/logs/error.log", "-c",
                               self.conf]
        out = open(os.path.join(self.prefix, "logs", "stdout.log"), "ab")
        self.t_exec = time.monotonic()
        self.proc = self.run.spawn(argv, self.name, stdout=out,
                                   stderr=subprocess.STDOUT)
        out.close()
        st = proc_stat(self.proc.pid)
        self.master_start = st[4] if st else None
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_http(self, url, timeout=30, want=200):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                raise Fatal("%s exited at start:\n%s" % (self.name,
                                                          self.tail()))
            st, _, _ = http_get(url, timeout=2)
            if st == want:
                return time.monotonic()
            time.sleep(0.02)
        raise Fatal("%s: no %d from %s in %d s:\n%s" % (
            self.name, want, url, timeout, self.tail()))

    def tail(self, n=8):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def workers(self, shutting=False):
        """Worker pids: live ones, or those shutting down."""
        out = []
        if not self.alive():
            return out
        for c in children(self.pid):
            cl = cmdline(c)
            if "worker process" not in cl:
                continue
            if ("is shutting down" in cl) == shutting:
                out.append(c)
        return out

    def all_procs(self):
        return [self.pid] + children(self.pid) if self.alive() else []

    def wait_workers(self, n, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            w = self.workers()
            if len(w) >= n:
                return w
            time.sleep(0.02)
        raise Fatal("%s: %d workers not up in %d s" % (self.name, n, timeout))

    def reload(self):
        os.kill(self.pid, signal.SIGHUP)

    def kill_all(self):
        """SIGKILL to the master and every process of its group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, quiet=False, timeout=10):
        if not self.alive():
            self.kill_group_leftovers()
            return
        kids = [(c, proc_stat(c)) for c in children(self.pid)]
        try:
            os.kill(self.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if not quiet:
                log("%s: no exit in %d s after SIGTERM, SIGKILL" % (
                    self.name, timeout))
            self.proc.kill()
            self.proc.wait(5)
        except OSError:
            pass
        for c, st in kids:      # only the very processes seen (pid + start)
            now = proc_stat(c)
            if st and now and now[4] == st[4]:
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
        self.kill_group_leftovers()

    def kill_group_leftovers(self):
        """Workers that outlived their master (its process group)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass

    def error_log_path(self):
        return os.path.join(self.prefix, "logs", "error.log")


# ---------------------------------------------------------------- backends

BACKEND_LOG_FORMAT = "log_format chk '$msec $server_addr:$server_port';\n"


def backend_conf(ng, port, check_log=None, agent_map=None, workers=1,
                 conns=16384, reuseport=False):
    """A stock nginx answering 200 on every 127/8 address at `port`.
    reuseport: one listening socket per worker (spreads the accepts of
    many workers; never with a backend that is reloaded, whose reload
    then refuses the connections queued on the old workers' sockets).
    check_log: an access log of /health requests ($msec and the address
    checked); agent_map: {address: value} of an X-Agent header."""
    amap = ""
    ahdr = ""
    if agent_map is not None:
        amap = "    map $server_addr $agent {\n        default \"ready\";\n"
        for a, v in sorted(agent_map.items()):
            amap += "        %s \"%s\";\n" % (a, v)
        amap += "    }\n"
        ahdr = "            add_header X-Agent $agent;\n"
    alog = ("access_log %s chk buffer=256k flush=1s;" % check_log
            if check_log else "access_log off;")
    return ng.main_conf(workers=workers, conns=conns, master=True,
                        error_level="warn") + (
        "http {\n    access_log off;\n%s%s%s"
        "    keepalive_requests 1000000;\n    keepalive_timeout 300s;\n"
        "    server {\n        listen 0.0.0.0:%d%s backlog=4096;\n"
        "        allow 127.0.0.0/8;\n        deny all;\n"
        "        default_type text/plain;\n"
        "        location = /health {\n            %s\n%s"
        "            return 200 \"ok\\n\";\n        }\n"
        "        location / { return 200 \"hello\\n\"; }\n"
        "    }\n}\n" % (ng.temp_paths(), BACKEND_LOG_FORMAT, amap, port,
                        " reuseport" if reuseport else "", alog, ahdr))


def start_backend(run, name, port, **kw):
    ng = Nginx(run, name)
    ng.write(backend_conf(ng, port, **kw))
    ng.start()
    ng.wait_http("http://127.0.0.1:%d/health" % port)
    return ng


# -------------------------------------------------------------------- wrk

WRK_LUA = r'''
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d duration_us=%d connect=%d read=%d write=%d " ..
        "timeout=%d status=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
'''


class Wrk:
    """wrk in the background; .result() parses its figures."""

    def __init__(self, run, url, secs, conns=16, threads=1, name="wrk"):
        self.lua = run.path("wrk.lua")
        if not os.path.exists(self.lua):
            with open(self.lua, "w") as f:
                f.write(WRK_LUA)
        self.out = run.path("%s.%d.out" % (name, len(run.procs)))
        self.argv = ["wrk", "-t%d" % threads, "-c%d" % conns,
                     "-d%ds" % secs, "--timeout", "5s", "-s", self.lua, url]
        with open(self.out, "w") as f:
            self.proc = run.spawn(self.argv, name, stdout=f,
                                  stderr=subprocess.STDOUT)
        self.t0 = time.monotonic()

    def wait(self, timeout=None):
        self.proc.wait(timeout)
        return self.result()

    def result(self):
        with open(self.out) as f:
            text = f.read()
        m = re.search(r"^WRK (.*)$", text, re.M)
        if not m:
            raise Fatal("wrk gave no figures:\n" + text)
        r = {k: int(v) for k, v in
             (kv.split("=") for kv in m.group(1).split())}
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        r["sock_errors"] = r["connect"] + r["read"] + r["write"] + \
            r["timeout"]
        return r


# ---------------------------------------------------------- log follower

class LogFollower(threading.Thread):
    """Follows a file from its current end; timestamps each new line with
    time.monotonic() as it appears (2 ms polling)."""

    def __init__(self, path, pattern=None):
        super().__init__(daemon=True)
        self.path = path
        self.pattern = re.compile(pattern) if pattern else None
        self.lines = []            # (t, line)
        self.stop_ev = threading.Event()
        self.f = open(path, "rb")
        self.f.seek(0, 2)

    def run(self):
        buf = b""
        while not self.stop_ev.is_set():
            chunk = self.f.read(1 << 20)
            if chunk:
                t = time.monotonic()
                buf += chunk
                *full, buf = buf.split(b"\n")
                for ln in full:
                    s = ln.decode(errors="replace")
                    if self.pattern is None or self.pattern.search(s):
                        self.lines.append((t, s))
                continue
            time.sleep(0.002)

    def stop(self):
        self.stop_ev.set()
        self.join(2)
        self.f.close()


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    v = subprocess.run([NGINX, "-v"], stderr=subprocess.PIPE,
                       text=True).stderr.strip().replace(
                           "nginx version: nginx/", "")
    return {"nproc": os.cpu_count(), "cpu": model, "load": load,
            "nginx": v, "kernel": os.uname().release}


def git_rev(top):
    try:
        # the last commit of the module's code, not of these scripts
        r = subprocess.run(["git", "-C", top, "log", "-1", "--format=%h",
                            "--", "ngx_module", "config"],
                           stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        rev = r.stdout.strip()
        d = subprocess.run(["git", "-C", top, "status", "--porcelain",
                            "--untracked-files=no", "--", "ngx_module",
                            "config"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True).stdout.strip()
        return rev + ("+dirty" if d else "")
    except OSError:
        return "?"


def sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


__all__ = [n for n in dir() if not n.startswith("_")] + ["random"]
