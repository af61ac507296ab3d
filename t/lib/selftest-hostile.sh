#!/bin/bash
# selftest-hostile.sh - start every mode of t/lib/hostile-backend.pl, probe it
# (curl, openssl s_client, perl), print what was seen, then check that every
# server exits by itself after its lifetime and that nothing is left running.
#
#   t/lib/selftest-hostile.sh [BASE_PORT]
#
# BASE_PORT defaults to TEST_NGINX_SERVER_PORT (or 1984) + 30; the modes use
# about 13 free ports from BASE_PORT up on 127.0.0.1 (busy ports are skipped). LIFETIME (default 3) is each server's
# --lifetime. Exit status 0 when every check passed. Needs perl, curl, openssl.
set -u
cd "$(dirname "$0")/../.."
BASE=${1:-$(( ${TEST_NGINX_SERVER_PORT:-1984} + 30 ))}
LIFETIME=${LIFETIME:-3}
SCRIPT=t/lib/hostile-backend.pl
WORK=$(mktemp -d /tmp/hostile-selftest.XXXXXX)
FAIL=0
PIDS=()
PORTS=()
LAST_START=0

say()  { printf '%s\n' "$*"; }
pass() { printf '  PASS %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; FAIL=1; }
now()  { perl -MTime::HiRes=time -e 'printf "%.3f", time'; }

# start MODE PORT [extra args]: returns when the port listens
start() {
    local mode=$1 port=$2; shift 2
    if ! perl "$SCRIPT" --port "$port" --mode "$mode" --lifetime "$LIFETIME" \
            --pidfile "$WORK/$port.pid" "$@"; then
        fail "$mode: could not start on $port"; return 1
    fi
    LAST_START=$(now)
    PIDS+=("$(cat "$WORK/$port.pid")")
    PORTS+=("$port")
    say "== $mode on 127.0.0.1:$port (pid ${PIDS[-1]}, lifetime ${LIFETIME}s)"
}

# probe PORT SECONDS [REQUEST]: connect, send REQUEST (default a GET), read for
# at most SECONDS; prints "connect=... bytes=N end=eof|timeout|error:... md5=...
# head=<first 40 bytes, escaped>"
probe() {
    perl -MIO::Socket::INET -MTime::HiRes=time -MDigest::MD5=md5_hex -e '
        my ($port, $secs, $req) = @ARGV;
        $req //= "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
        my $t0 = time;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port,
                                      Timeout => $secs);
        unless ($s) { printf "connect=failed(%s) after %.1fs\n", $@, time - $t0; exit }
        $SIG{PIPE} = "IGNORE";
        syswrite $s, $req if length $req;
        my ($buf, $end) = ("", "timeout");
        while ((my $left = $t0 + $secs - time) > 0) {
            my $v = ""; vec($v, fileno $s, 1) = 1;
            next unless select(my $r = $v, undef, undef, $left) > 0;
            my $n = sysread($s, $buf, 65536, length $buf);
            if (!defined $n) { $end = "error:$!"; last }
            if ($n == 0) { $end = "eof"; last }
        }
        (my $head = substr($buf, 0, 40)) =~ s/([^\x20-\x7e])/sprintf "\\x%02x", ord $1/ge;
        printf "connect=ok bytes=%d end=%s after=%.1fs md5=%s head=%s\n",
            length $buf, $end, time - $t0, md5_hex($buf), $head;
    ' "$@"
}

# next_port: set p to the first port >= p that nothing listens on
next_port() {
    until perl -MIO::Socket::INET -e 'exit !IO::Socket::INET->new(LocalAddr => "127.0.0.1",
            LocalPort => $ARGV[0], Listen => 1, ReuseAddr => 1)' "$p"; do p=$((p + 1)); done
}

expect() {    # expect LABEL OUTPUT REGEX
    if [[ $2 =~ $3 ]]; then pass "$1"; else fail "$1 (got: $2)"; fi
}

p=$BASE
next_port
start ok $p --log "$WORK/ok.log" && {
    out=$(curl -si --max-time 3 "http://127.0.0.1:$p/healthz"); say "$out"
    expect "ok: 200 + JSON" "$out" $'HTTP/1.0 200 OK.*Content-Type: application/json.*\{"status": "up"\}'
    for i in 1 2 3 4; do curl -s --max-time 3 -o /dev/null "http://127.0.0.1:$p/"; done
    out=$(curl -sI --max-time 3 "http://127.0.0.1:$p/"); expect "ok: HEAD has no body" "$out" 'Content-Length: 16'
    n=$(wc -l < "$WORK/ok.log"); say "  log lines: $n"; sed -n 1p "$WORK/ok.log"
    expect "ok: one log line per connection (6)" "$n" '^6$'
    # port already in use: must fail at once with status 1
    perl "$SCRIPT" --port "$p" --mode ok --lifetime 1 2>"$WORK/busy.err"; rc=$?
    expect "busy port refused (rc 1)" "$rc $(cat "$WORK/busy.err")" '^1 hostile-backend: cannot listen'
}
p=$((p + 1)); next_port

start status:503 $p && {
    out=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/"); say "  curl status: $out"
    expect "status:503" "$out" '^503$'
}
p=$((p + 1)); next_port

start status:204 $p && {
    out=$(curl -si --max-time 3 "http://127.0.0.1:$p/"); say "$out"
    expect "status:204 without body" "$out" $'^HTTP/1.0 204 No Content'
}
p=$((p + 1)); next_port

start silent $p && {
    out=$(probe $p 2); say "  $out"
    expect "silent: no answer, kept open" "$out" 'connect=ok bytes=0 end=timeout'
}
p=$((p + 1)); next_port

start drip $p && {
    out=$(probe $p 2.5); say "  $out"
    expect "drip: a few bytes, then still open" "$out" 'bytes=[1-4] end=timeout .*head=HT'
}
p=$((p + 1)); next_port

start bigheaders $p && {
    out=$(probe $p 5); say "  $out"
    expect "bigheaders: > 1 MiB then eof" "$out" 'bytes=10[4-9][0-9]{4} end=eof.*head=HTTP/1.1 200 OK'
    out=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/" 2>&1); say "  curl: rc=$? $out"
}
p=$((p + 1)); next_port

start endless $p && {
    out=$(curl -s --max-time 1 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$p/"); rc=$?
    say "  curl: rc=$rc code+bytes=$out"
    expect "endless: curl times out after MBs" "$rc $out" '^28 200 [0-9]{7,}'
    out=$(probe $p 0.5); say "  $out"
}
p=$((p + 1)); next_port

start garbage $p && {
    out1=$(probe $p 2); out2=$(probe $p 2); say "  $out1"
    expect "garbage: 4096 bytes then eof" "$out1" 'bytes=4096 end=eof'
    m1=${out1##*md5=}; m2=${out2##*md5=}
    if [ "${m1%% *}" = "${m2%% *}" ]; then pass "garbage: deterministic (same md5 twice)"
    else fail "garbage: deterministic (${m1%% *} vs ${m2%% *})"; fi
    out=$(curl -s --max-time 3 -o /dev/null "http://127.0.0.1:$p/" 2>&1); say "  curl rc=$?"
}
p=$((p + 1)); next_port

start reset $p && {
    out=$(probe $p 2); say "  $out"
    expect "reset: half a status line then RST" "$out" 'bytes=11 end=error:Connection reset by peer.*head=HTTP/1.1 20'
}
p=$((p + 1)); next_port

start tlsgarbage $p && {
    out=$(timeout 5 openssl s_client -connect 127.0.0.1:$p -servername backend.test </dev/null 2>&1); rc=$?
    say "  openssl s_client rc=$rc: $(grep -m2 -iE 'error|wrong|length' <<<"$out" | tr '\n' ' ')"
    expect "tlsgarbage: handshake fails" "$rc $out" '^1 .*(wrong version number|packet length too long|record layer failure)'
    out=$(curl -s --max-time 3 "https://127.0.0.1:$p/" 2>&1); say "  curl https rc=$?"
}
p=$((p + 1)); next_port

start noaccept $p && {
    out=$(probe $p 1.5); say "  $out"
    expect "noaccept: connect hangs" "$out" 'connect=failed'
    out=$(curl -s --connect-timeout 1 "http://127.0.0.1:$p/" 2>&1); say "  curl rc=$?"
}
p=$((p + 1)); next_port

start close $p && {
    out=$(probe $p 2); say "  $out"
    expect "close: eof, no bytes" "$out" 'bytes=0 end=eof'
}
p=$((p + 1)); next_port

# 70 concurrent connections against --max 64: 64 accepted, 6 wait in the queue
start silent $p --log "$WORK/silent.log" && {
    perl -MIO::Socket::INET -e '
        my @s = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) } 1 .. 70;
        printf "  opened %d connections\n", scalar grep { $_ } @s; sleep 1' $p
    n=$(wc -l < "$WORK/silent.log"); say "  accepted while all open: $n"
    expect "bounded at 64 concurrent connections" "$n" '^64$'
}
p=$((p + 1)); next_port

perl "$SCRIPT" --port "$p" --mode nosuchmode 2>/dev/null; rc=$?
expect "unknown mode refused (rc 2)" "$rc" '^2$'

# lifetime: everything must be gone on its own, pid files removed
wait_s=$(perl -e 'my $w = $ARGV[0] + $ARGV[1] + 1 - $ARGV[2]; printf "%.2f", $w > 0 ? $w : 0' \
        "$LAST_START" "$LIFETIME" "$(now)")
say "== waiting ${wait_s}s for the lifetimes to end"
sleep "$wait_s"
alive=$(for f in /proc/[0-9]*; do
            grep -qa hostile-backend "$f/cmdline" 2>/dev/null || continue
            grep -qa -- "$WORK" "$f/cmdline" 2>/dev/null || continue
            st=$(awk '{print $3}' "$f/stat" 2>/dev/null); [ "$st" = Z ] && continue
            echo "${f#/proc/}"
        done | tr '\n' ' ')
expect "no server or connection child left (non-zombie)" "[$alive]" '^\[\]$'
left=$(ls "$WORK"/*.pid 2>/dev/null | wc -l)
expect "pid files removed" "$left" '^0$'
listening=0
for port in "${PORTS[@]}"; do
    perl -MIO::Socket::INET -e 'exit !IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => $ARGV[0], Listen => 1, ReuseAddr => 1)' "$port" || listening=$((listening + 1))
done
expect "no port still listening" "$listening" '^0$'

rm -rf "$WORK"
if [ $FAIL = 0 ]; then say "ALL PASSED"; else say "SOME CHECKS FAILED"; fi
exit $FAIL
