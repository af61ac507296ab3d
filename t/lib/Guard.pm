package Guard;
# Test helpers for nginx-upstream-guard .t files.
#
#   use lib 't/lib';
#   use Guard;                    # before Test::Nginx::Socket; never loads it
#   use Test::Nginx::Socket 'no_plan';
#
# Loading it sets, from base = TEST_NGINX_SERVER_PORT || TEST_NGINX_PORT || 1984
# (Test::Nginx's own default chain; the variable itself is left alone):
#   TEST_NGINX_B1 .. TEST_NGINX_B9   base+1 .. base+9 (backend and hostile ports)
#   TEST_NGINX_PWD                   absolute path of the current directory
#   TEST_NGINX_CERTS                 absolute path of t/certs (see make_certs)
# and exports the functions below. Core Perl + JSON::PP + the openssl command.
#
# Expected errors: the module logs a server going down and an upstream
# falling below its floor or out of servers at "error" (the level of
# Debian's default error_log), so any block that takes a server down has
# such lines.  A block preprocessor installed here makes the pattern
# "[error]" of "--- no_error_log" match every error line except those
# ($Guard::UNEXPECTED_ERROR); a block that must not see a server go down
# says so with its own pattern ("is down", "below its floor").
use strict;
use warnings;
use Exporter 'import';
use Cwd ();
use File::Spec;
use Fcntl qw(:flock);
use File::Path ();
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(make_certs start_hostile stop_hostile hostile_log hostile_log_count
                 http_get guard_status wait_for kill_leader server_state upstream_state
                 wait_health wait_reason health_file old_workers schema_errors
                 prom_errors shares who write_tokens token_hash);

our $ERROR;    # why the last http_get / guard_status / kill_leader failed

our $PWD   = Cwd::getcwd();
our $BASE  = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $CERTS = "$PWD/t/certs";
our $HOSTILE_SCRIPT = "$PWD/t/lib/hostile-backend.pl";
# pid and log files of hostile backends: outside t/servroot, which the runner
# wipes for every block
our $RUN_DIR = $ENV{TEST_NGINX_HOSTILE_DIR}
    // File::Spec->catdir(File::Spec->tmpdir, "upstream-guard-hostile-$<");

$ENV{"TEST_NGINX_B$_"} = $BASE + $_ for 1 .. 9;
$ENV{TEST_NGINX_PWD}   = $PWD;
$ENV{TEST_NGINX_CERTS} = $CERTS;

my $LOADER = $$;
my %started;    # port => 1, hostile backends this process started

# nginx_version() -> the tested nginx's version as nginx_version counts it
# (1.22.1 -> 1022001), from "nginx -v" of TEST_NGINX_BINARY; 0 if unknown.
my $NGINX_VERSION;
sub nginx_version {
    return $NGINX_VERSION if defined $NGINX_VERSION;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `$bin -v 2>&1` // '';
    $NGINX_VERSION = $out =~ m{nginx/(\d+)\.(\d+)\.(\d+)}
        ? $1 * 1000000 + $2 * 1000 + $3 : 0;
    return $NGINX_VERSION;
}

sub _server_port { $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984 }

# ------------------------------------------------------------------ certificates

# make_certs() -> absolute path of t/certs. Creates there, once (kept while
# valid for another day; regenerated otherwise), with the openssl command and
# EC P-256 keys, valid 30 days:
#   ca.crt ca.key          test CA "upstream-guard test CA"
#   server.crt server.key  CN 127.0.0.1, SAN IP:127.0.0.1 DNS:127.0.0.1
#                          DNS:localhost DNS:backend.test, signed by the CA
#   client.crt client.key  CN guard-client (clientAuth), signed by the CA
#   other.crt other.key    self-signed, same names as server: fails verification
#   wrongname.crt .key     signed by the CA, SAN DNS:wrong.test only: name mismatch
# Safe when several test files call it at once (flock). Dies on failure.
sub make_certs {
    my @files = map { ("$_.crt", "$_.key") } qw(ca server client other wrongname);
    mkdir $CERTS unless -d $CERTS;
    open my $lock, '>', "$CERTS/.lock" or die "make_certs: $CERTS/.lock: $!\n";
    flock $lock, LOCK_EX or die "make_certs: flock: $!\n";

    return $CERTS if !grep({ !-s "$CERTS/$_" } @files) && _certs_fresh();

    my $tmp = "$CERTS/.tmp.$$";
    File::Path::rmtree($tmp) if -d $tmp;
    mkdir $tmp or die "make_certs: $tmp: $!\n";
    _write("$tmp/openssl.cnf", <<'CNF');
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost,DNS:backend.test
[v3_wrongname]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.test
[v3_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
    my $cnf = "$tmp/openssl.cnf";
    for my $name (qw(ca server client other wrongname)) {
        _openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
                 '-out', "$tmp/$name.key");
    }
    _openssl('req', '-x509', '-new', '-config', $cnf, '-extensions', 'v3_ca',
             '-key', "$tmp/ca.key", '-subj', '/CN=upstream-guard test CA',
             '-days', 30, '-out', "$tmp/ca.crt");
    _openssl('req', '-x509', '-new', '-config', $cnf, '-extensions', 'v3_server',
             '-key', "$tmp/other.key", '-subj', '/CN=127.0.0.1',
             '-days', 30, '-out', "$tmp/other.crt");
    my $serial = 1000;
    for ([server => '/CN=127.0.0.1', 'v3_server'],
         [client => '/CN=guard-client', 'v3_client'],
         [wrongname => '/CN=wrong.test', 'v3_wrongname']) {
        my ($name, $subj, $ext) = @$_;
        _openssl('req', '-new', '-config', $cnf, '-key', "$tmp/$name.key",
                 '-subj', $subj, '-out', "$tmp/$name.csr");
        _openssl('x509', '-req', '-in', "$tmp/$name.csr", '-CA', "$tmp/ca.crt",
                 '-CAkey', "$tmp/ca.key", '-set_serial', $serial++, '-days', 30,
                 '-extfile', $cnf, '-extensions', $ext, '-out', "$tmp/$name.crt");
    }
    for my $f (@files) {
        rename "$tmp/$f", "$CERTS/$f" or die "make_certs: rename $f: $!\n";
    }
    File::Path::rmtree($tmp);
    close $lock;
    return $CERTS;
}

sub _certs_fresh {
    for my $name (qw(ca server client other wrongname)) {
        return 0 unless _openssl_ok('x509', '-checkend', 86400, '-noout',
                                    '-in', "$CERTS/$name.crt");
    }
    return 1;
}

sub _write {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "make_certs: $file: $!\n";
    print $fh $text;
    close $fh or die "make_certs: $file: $!\n";
}

# Run openssl with the given arguments; returns (exit status, output).
sub _run_openssl {
    my @cmd = ('openssl', @_);
    my $pid = open(my $fh, '-|');
    die "make_certs: fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($?, $out);
}

sub _openssl {
    my ($rc, $out) = _run_openssl(@_);
    die "make_certs: openssl @_ failed (status $rc):\n$out" if $rc;
}

sub _openssl_ok { my ($rc) = _run_openssl(@_); return $rc == 0 }

# ------------------------------------------------------------------ hostile backends

sub _pidfile { File::Spec->catfile($RUN_DIR, "hostile-$_[0].pid") }

# hostile_log($port) -> path of the default connection log of the hostile
# backend on $port (used when start_hostile gets log => 1).
sub hostile_log { File::Spec->catfile($RUN_DIR, "hostile-$_[0].log") }

# start_hostile($mode, $port, %opts) -> pid. Starts t/lib/hostile-backend.pl
# (modes: silent drip bigheaders endless garbage reset tlsgarbage noaccept ok
# status:NNN close) on 127.0.0.1:$port, first stopping any hostile backend this
# helper left on that port. Returns when the port listens. Options:
#   lifetime => seconds (default 60; the server always exits by itself then)
#   log      => 1 (truncated hostile_log($port)) or a file path: one line per
#               accepted connection, see hostile_log_count
#   host     => listen address (default 127.0.0.1)
#   max      => concurrent connections (default 64)
# Dies when the server cannot start (port busy, bad mode). Servers still running
# are stopped when the test script exits.
sub start_hostile {
    my ($mode, $port, %opts) = @_;
    die "start_hostile: mode and port required\n" unless defined $mode && $port;
    stop_hostile($port);
    mkdir $RUN_DIR unless -d $RUN_DIR;
    my @cmd = ($^X, $HOSTILE_SCRIPT, '--port', $port, '--mode', $mode,
               '--lifetime', $opts{lifetime} // 60, '--pidfile', _pidfile($port));
    if (my $log = $opts{log}) {
        $log = hostile_log($port) if $log eq '1';
        open my $fh, '>', $log or die "start_hostile: $log: $!\n";
        close $fh;
        push @cmd, '--log', $log;
    }
    push @cmd, '--host', $opts{host} if $opts{host};
    push @cmd, '--max', $opts{max} if $opts{max};
    system(@cmd) == 0 or die "start_hostile: '@cmd' failed (status $?)\n";
    $started{$port} = 1;
    return _read_pid($port);
}

sub _read_pid {
    open my $fh, '<', _pidfile($_[0]) or return undef;
    my $line = <$fh> // '';
    return $line =~ /^(\d+)/ ? $1 : undef;
}

# a live, non-zombie hostile-backend.pl process
sub _is_hostile {
    my ($pid) = @_;
    open my $st, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$st> // '';
    return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    open my $cl, '<', "/proc/$pid/cmdline" or return 0;
    local $/;
    my $cmd = <$cl> // '';
    return index($cmd, 'hostile-backend') >= 0;
}

# stop_hostile($port) -> 1 if a server was stopped, 0 if none ran. Sends TERM
# to the server's process group (the server and its connection children), then
# KILL after 2 s, and waits until it is gone; removes its pid file.
sub stop_hostile {
    my ($port) = @_;
    my $pid = _read_pid($port);
    delete $started{$port};
    return 0 unless $pid;
    my $was = _is_hostile($pid);
    if ($was) {
        kill 'TERM', -$pid;
        my $end = time + 2;
        sleep 0.02 while _is_hostile($pid) && time < $end;
        if (_is_hostile($pid)) {
            kill 'KILL', -$pid;
            $end = time + 2;
            sleep 0.02 while _is_hostile($pid) && time < $end;
        }
    }
    unlink _pidfile($port);
    return $was ? 1 : 0;
}

# hostile_log_count($port_or_path) -> number of connections the hostile backend
# accepted (lines of its log; 0 when there is none).
sub hostile_log_count {
    my ($what) = @_;
    my $file = $what =~ /^\d+$/ ? hostile_log($what) : $what;
    open my $fh, '<', $file or return 0;
    my $n = 0;
    $n++ while <$fh>;
    return $n;
}

END {
    if ($$ == $LOADER) {
        local $?;
        stop_hostile($_) for keys %started;
    }
}

# ------------------------------------------------------------------ HTTP helpers

# http_get($path, $port, %opts) -> ($status, $body, $headers) in list context,
# $status in scalar context. GET http://127.0.0.1:$port$path over HTTP/1.0
# (port default TEST_NGINX_SERVER_PORT || 1984) with IO::Socket::INET.
# Options: timeout => 5 (seconds, whole exchange), host => 'localhost' (Host
# header), method => 'GET', headers => { Name => value }, body => bytes (sent
# with its Content-Length). On failure $status is
# undef and $body (and $Guard::ERROR) says why. $headers is the raw header block.
sub http_get {
    my ($path, $port, %opt) = @_;
    $path //= '/';
    $port ||= _server_port();
    my $timeout = $opt{timeout} // 5;
    my $end = time + $timeout;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or return _fail("connect 127.0.0.1:$port: $@");
    my $req = sprintf("%s %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n",
                      $opt{method} // 'GET', $path, $opt{host} // 'localhost');
    my $h = $opt{headers} || {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $req .= "Content-Length: " . length($opt{body}) . "\r\n"
        if defined $opt{body};
    $req .= "\r\n";
    $req .= $opt{body} if defined $opt{body};
    local $SIG{PIPE} = 'IGNORE';
    defined syswrite($s, $req) or return _fail("write: $!");
    my $buf = '';
    while (1) {
        my $left = $end - time;
        return _fail("timeout after ${timeout}s reading $path") if $left <= 0;
        my $v = '';
        vec($v, fileno($s), 1) = 1;
        next unless select(my $r = $v, undef, undef, $left) > 0;
        my $n = sysread($s, $buf, 65536, length $buf);
        return _fail("read: $!") unless defined $n;
        last if $n == 0;
    }
    close $s;
    my ($head, $body) = split /\r?\n\r?\n/, $buf, 2;
    return _fail("bad response: " . substr($buf, 0, 80))
        unless defined $head && $head =~ m{^HTTP/\d\.\d (\d{3})};
    my $status = $1;
    $ERROR = undef;
    return wantarray ? ($status, $body // '', $head) : $status;
}

sub _fail { $ERROR = $_[0]; return wantarray ? (undef, $_[0], undef) : undef }

# guard_status($path, $port) -> the status JSON of the test server, decoded
# (hash ref), or undef (reason in $Guard::ERROR). $path default '/guard'.
# Asks for JSON with Accept, so a location whose default is html works too.
sub guard_status {
    my ($path, $port) = @_;
    my ($status, $body) = http_get($path // '/guard', $port,
                                   headers => { Accept => 'application/json' });
    return undef unless defined $status;
    if ($status != 200) { $ERROR = "status $status from " . ($path // '/guard'); return undef }
    my $json = eval { JSON::PP->new->decode($body) };
    $ERROR = "bad JSON: $@" unless $json;
    return $json;
}

# wait_for(sub { ... }, $timeout, $pause) -> the sub's first true result,
# or 0 after $timeout seconds (default 10). Calls the sub every $pause
# seconds (default 0.1; 0 for a test that must act the moment a state
# shows); a sub that dies counts as false.
sub wait_for {
    my ($code, $timeout, $pause) = @_;
    my $end = time + ($timeout // 10);
    $pause //= 0.1;
    while (1) {
        my $r = eval { $code->() };
        return $r if $r;
        return 0 if time >= $end;
        sleep $pause if $pause;
    }
}

# kill_leader($path, $port) -> pid. Reads leader_pid from guard_status and
# sends it SIGKILL. Returns undef when there is no status or no plausible pid.
sub kill_leader {
    my $st = guard_status(@_) or return undef;
    my $pid = $st->{leader_pid};
    unless ($pid && $pid =~ /^\d+$/ && $pid > 1 && $pid != $$) {
        $ERROR = "no usable leader_pid";
        return undef;
    }
    kill 'KILL', $pid or do { $ERROR = "kill $pid: $!"; return undef };
    return $pid;
}

# upstream_state($status_json, $name) -> the upstream object named $name, or undef.
sub upstream_state {
    my ($st, $name) = @_;
    return undef unless ref $st eq 'HASH' && ref $st->{upstreams} eq 'ARRAY';
    for my $u (@{ $st->{upstreams} }) {
        return $u if defined $u->{name} && $u->{name} eq $name;
    }
    return undef;
}

# server_state($status_json, $upstream, $address) -> the server object of that
# upstream whose "address" (or, failing that, "server") equals $address, or undef.
# Example: server_state(guard_status(), 'backend', "127.0.0.1:$ENV{TEST_NGINX_B1}")->{health}
sub server_state {
    my ($st, $upstream, $address) = @_;
    my $u = upstream_state($st, $upstream) or return undef;
    my @servers = @{ $u->{servers} || [] };
    for my $key (qw(address server)) {
        for my $s (@servers) {
            return $s if defined $s->{$key} && $s->{$key} eq $address;
        }
    }
    return undef;
}

# reason($server) -> why the server's last failed check failed ("" if none):
# the report's last_failure.reason
sub reason {
    my ($s) = @_;
    return '' unless $s && ref $s->{last_failure} eq 'HASH';
    return $s->{last_failure}{reason} // '';
}

# wait_health($upstream, $port, $health [, $field, $timeout]) -> true once
# /guard reports server 127.0.0.1:$port of $upstream with $field (default
# "health") equal to $health; for the counters (checks, checks_failed,
# down_transitions, rise_count, fall_count), which a poll may step over, at
# least $health.  After $timeout seconds (default 10) it fails the test,
# saying what it saw last, and returns false.
my %COUNTERS = map { $_ => 1 } qw(checks checks_failed down_transitions rise_count fall_count);
sub wait_health {
    my ($up, $port, $want, $field, $timeout) = @_;
    $field //= 'health';
    return _wait_server($up, $port, $timeout,
        "$field " . ($COUNTERS{$field} ? '>= ' : '') . $want, sub {
            my $v = $_[0]{$field};
            return ("$field " . ($v // 'absent'), 0) unless defined $v;
            return ("$field $v",
                    $COUNTERS{$field}
                    ? $v =~ /^\d+\z/ && $want =~ /^\d+\z/ && $v >= $want
                    : $v eq $want);
        });
}

# wait_reason($up, $port, $reason, $timeout = 10) -> true once the last
# failed check of 127.0.0.1:$port in $up failed for $reason (last_failure's
# reason of the JSON report); otherwise one failed test saying what it saw.
# For a server whose backend starts after nginx: its first checks may fail
# with "connect refused" before the reason the test is about.
sub wait_reason {
    my ($up, $port, $want, $timeout) = @_;
    return _wait_server($up, $port, $timeout, "failed for \"$want\"", sub {
        my $f = $_[0]{last_failure};
        my $r = ref $f eq 'HASH' ? $f->{reason} : undef;
        return ('reason ' . ($r // 'none'), defined $r && $r eq $want);
    });
}

# _wait_server($up, $port, $timeout, $what, $check): polls the JSON report
# until $check->(server object) returns (seen, true), for $timeout seconds
# (default 10); on timeout one failed test naming $what and what it saw
sub _wait_server {
    my ($up, $port, $timeout, $what, $check) = @_;
    $timeout //= 10;
    my $seen = 'nothing yet';
    my $ok = wait_for(sub {
        my $s = guard_status() or do { $seen = "no status: $ERROR"; return 0 };
        my $srv = server_state($s, $up, "127.0.0.1:$port")
            or do { $seen = "no server 127.0.0.1:$port in $up"; return 0 };
        (my $saw, my $done) = $check->($srv);
        $seen = $saw;
        return $done;
    }, $timeout);
    return $ok if $ok;
    my $name = (caller(1))[3] =~ s/.*:://r;
    require Test::More;
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    Test::More::ok(0, "$name: $up 127.0.0.1:$port $what within ${timeout}s");
    Test::More::diag("$name: saw $seen");
    return 0;
}

# health_file($name, $on): creates (on) or removes (off) the file $name in
# the test server's html directory, so a backend location such as
# "location /health { try_files /$name =404; }" can be flipped by a test.
sub health_file {
    my ($name, $on) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$PWD/t/servroot";
    my $f = "$root/html/$name";
    if ($on) {
        open my $fh, '>', $f or die "health_file: $f: $!\n";
        print $fh "up\n";
        close $fh;
    } else {
        unlink $f;
    }
    return 1;
}

# old_workers() -> number of worker processes of the test nginx (children
# of the master in the server root's pid file) that are shutting down.
sub old_workers {
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$PWD/t/servroot";
    open my $pf, '<', "$root/logs/nginx.pid" or return 0;
    my $master = <$pf> // '';
    chomp $master;
    return 0 unless $master =~ /^\d+$/;
    my $n = 0;
    for my $dir (glob '/proc/[0-9]*') {
        open my $st, '<', "$dir/stat" or next;
        my $stat = <$st> // '';
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        next unless $ppid == $master;
        open my $cf, '<', "$dir/cmdline" or next;
        local $/;
        my $cmd = <$cf> // '';
        $n++ if $cmd =~ /shutting down/;
    }
    return $n;
}

# schema_errors($data, $schema [, $path]) -> list of messages: checks decoded
# JSON against the subset of JSON Schema that conf-examples/
# guard-status.schema.json uses (type, enum, required, properties,
# additionalProperties: false, items, minimum, maximum).  JSON numbers and
# strings are told apart by how JSON::PP stored them.
sub schema_errors {
    my ($v, $sch, $path) = @_;
    $path //= '$';
    my @err;
    require B;
    my $is_num = sub {
        my $x = shift;
        return 0 if !defined $x || ref $x;
        my $f = B::svref_2object(\$x)->FLAGS;
        return ($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVp_POK()) ? 1 : 0;
    };
    my $t = $sch->{type} // '';
    if ($t eq 'object') {
        return ("$path: not an object") unless ref $v eq 'HASH';
        for my $k (@{ $sch->{required} // [] }) {
            push @err, "$path: missing $k" unless exists $v->{$k};
        }
        for my $k (sort keys %$v) {
            if (my $ps = $sch->{properties}{$k}) {
                push @err, schema_errors($v->{$k}, $ps, "$path.$k");
            } elsif (defined $sch->{additionalProperties}
                     && !$sch->{additionalProperties}) {
                push @err, "$path: unexpected field $k";
            }
        }
        return @err;
    }
    if ($t eq 'array') {
        return ("$path: not an array") unless ref $v eq 'ARRAY';
        my $i = 0;
        push @err, schema_errors($_, $sch->{items}, $path . '[' . $i++ . ']')
            for @$v;
        return @err;
    }
    if ($t eq 'boolean') {
        return ("$path: not a boolean") unless JSON::PP::is_bool($v);
        return ();
    }
    if ($t eq 'string') {
        return ("$path: not a string") if !defined $v || ref $v || $is_num->($v);
    } elsif ($t eq 'integer') {
        return ("$path: not an integer")
            unless $is_num->($v) && $v =~ /^-?\d+\z/;
    } elsif ($t eq 'number') {
        return ("$path: not a number") unless $is_num->($v);
    }
    if (my $e = $sch->{enum}) {
        push @err, "$path: $v not in enum" unless grep { $_ eq $v } @$e;
    }
    push @err, "$path: $v below minimum"
        if defined $sch->{minimum} && $v < $sch->{minimum};
    push @err, "$path: $v above maximum"
        if defined $sch->{maximum} && $v > $sch->{maximum};
    return @err;
}

# prom_errors($body) -> list of messages: checks a Prometheus text
# exposition (format 0.0.4) without promtool: the body is well-formed UTF-8;
# every line is a "# HELP", "# TYPE" or a sample line with a valid name,
# labels (each once) whose values use only the \\, \" and \n escapes, and
# a number; each family is typed once, before its samples; no series (name
# and label set) appears twice.
sub prom_errors {
    my ($body) = @_;
    my @err;
    require Encode;
    my $copy = $body // '';
    return ('no body') unless length $copy;
    return ('not well-formed UTF-8')
        unless eval { Encode::decode('UTF-8', $copy, Encode::FB_CROAK()); 1 };
    return ('no newline at the end') unless $body =~ /\n\z/;
    my $name_re = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
    my $label_re = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
    my $value_re = qr/"(?:[^"\\\n]|\\[\\"n])*"/;
    my $num_re = qr/[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN/;
    my (%typed, %seen);
    my $n = 0;
    for my $line (split /\n/, $body) {
        $n++;
        if ($line =~ /^# TYPE ($name_re) (\S+)$/) {
            push @err, "line $n: family $1 typed twice" if $typed{$1}++;
            next;
        }
        next if $line =~ /^# HELP $name_re /;
        if ($line =~ /^#/) {
            push @err, "line $n: comment that is not HELP or TYPE: $line";
            next;
        }
        my ($name, $labels, $value) =
            $line =~ /^($name_re)(?:\{(.*)\})? ($num_re)(?: -?\d+)?$/
            or do { push @err, "line $n: not a sample: $line"; next };
        my (@pairs, %label);
        my $rest = $labels // '';
        while (length $rest) {
            $rest =~ s/^($label_re)=($value_re)(,|\z)//
                or do { push @err, "line $n: bad labels: $labels"; last };
            push @err, "line $n: label $1 twice" if $label{$1}++;
            push @pairs, "$1=$2";
        }
        my $family = $name;
        $family =~ s/_(?:bucket|sum|count)\z// unless $typed{$family};
        push @err, "line $n: $name has no # TYPE before it"
            unless $typed{$family};
        my $series = join ',', $name, sort @pairs;
        push @err, "line $n: series appears twice: $name\{"
                   . join(',', sort @pairs) . '}'
            if $seen{$series}++;
    }
    return @err;
}

# shares($n, $path [, $headers]) -> { body => count }: which backend
# answered $n requests (backends answer with their name, "b1\n" ...).
# $path and $headers may be code refs called with the request number.
sub shares {
    my ($n, $path, $headers) = @_;
    my %count;
    for my $i (1 .. $n) {
        my ($st, $body) = http_get(ref $path ? $path->($i) : $path, undef,
                                   headers => ($headers ? $headers->($i) : {}));
        my $who = defined $st && $st == 200 ? $body : "status " . ($st // 'none');
        chomp $who;
        $count{$who}++;
    }
    return \%count;
}

# who($n, $path) -> "b1=3,b2=3": shares() as one sorted string
sub who {
    my $c = shares(@_);
    return join ',', map { "$_=$c->{$_}" } sort keys %$c;
}

# ------------------------------------------------------------------ an nginx of its own

# For what the runner cannot do: a second nginx next to the test's own
# (a fleet), or an "nginx -t" of a configuration built at run time.  The
# modules are loaded as the runner loads them, from TEST_NGINX_LOAD_MODULES;
# "user root" as the runner adds it when run as root.

# nginx_conf($dir, $http) -> an nginx.conf with prefix $dir (its logs/
# and tmp/ are made): $http is the content of the http block
sub nginx_conf {
    my ($dir, $http) = @_;
    File::Path::make_path("$dir/logs", "$dir/tmp");
    my $mods = join '', map { "load_module $_;\n" }
        grep { $_ ne '' } split /\s+/, $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $user = $> == 0 ? "user root;\n" : '';
    my $tmp = join '', map { "    ${_}_temp_path $dir/tmp/$_;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);
    return "$mods${user}worker_processes 1;\ndaemon on;\nmaster_process on;\n"
           . "pid $dir/nginx.pid;\nerror_log $dir/logs/error.log info;\n"
           . "events { worker_connections 256; }\n"
           . "http {\n    access_log off;\n$tmp$http}\n";
}

# nginx_run($dir, $http, @args) -> ($exit_code, $output) of the test's
# nginx binary with that configuration and @args (e.g. "-t")
sub nginx_run {
    my ($dir, $http, @args) = @_;
    my $conf = nginx_conf($dir, $http);
    open my $fh, '>', "$dir/nginx.conf.new" or return (-1, "$dir: $!");
    print $fh $conf;
    close $fh or return (-1, "$dir/nginx.conf: $!");
    rename "$dir/nginx.conf.new", "$dir/nginx.conf"
        or return (-1, "$dir/nginx.conf: $!");
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $cmd = join ' ', map { quotemeta } $bin, '-p', "$dir/", '-c',
                                          "$dir/nginx.conf", @args;
    my $out = `$cmd 2>&1 </dev/null`;
    return ($? == -1 ? -1 : $? >> 8, $out);
}

# start_nginx($dir, $http, $port) -> true once an nginx of its own with
# prefix $dir answers /guard on $port with every server of upstream "app"
# up (two test assertions); it is stopped first if it runs
sub start_nginx {
    my ($dir, $http, $port) = @_;
    stop_nginx($dir);
    File::Path::remove_tree($dir);
    my ($rc, $out) = nginx_run($dir, $http);
    require Test::More;
    Test::More::is($rc, 0, 'the second nginx starts') or do {
        Test::More::diag($out);
        return 0;
    };
    my $up = wait_for(sub {
        my $st = guard_status('/guard', $port) or return 0;
        my $u = upstream_state($st, 'app') or return 0;
        return !grep { $_->{health} ne 'up' } @{ $u->{servers} };
    }, 10);
    Test::More::ok($up, 'the second nginx answers, its servers up')
        or Test::More::diag($ERROR);
    return $up;
}

# nginx_pid($dir) -> the master pid of the nginx with prefix $dir, or undef
sub nginx_pid {
    my ($dir) = @_;
    open my $fh, '<', "$dir/nginx.pid" or return undef;
    my $pid = <$fh> // '';
    return $pid =~ /^(\d+)/ ? $1 : undef;
}

# stop_nginx($dir): TERM to its master, then wait up to 10 s
sub stop_nginx {
    my ($dir) = @_;
    my $pid = nginx_pid($dir) or return;
    kill 'TERM', $pid;
    wait_for(sub { !kill 0, $pid }, 10);
    unlink "$dir/nginx.pid";
}

# ------------------------------------------------------------------ admin API

# admin($method, $path, $token, $body, %opt) -> ($status, $json, $head): one
# request to the admin API of the test server with "Authorization: Bearer
# $token" (none if undef) and $body (a string, sent as is; undef: none).
# $json is the decoded answer, or undef (the raw body is in $Guard::BODY).
# Options: headers => {...} added, port, timeout as http_get.
our $BODY;
sub admin {
    my ($method, $path, $token, $body, %opt) = @_;
    my %h = %{ $opt{headers} || {} };
    $h{Authorization} = "Bearer $token" if defined $token;
    $h{'Content-Type'} = 'application/json' if defined $body;
    my ($st, $raw, $head) = http_get($path, $opt{port}, method => $method,
                                     headers => \%h, body => $body,
                                     timeout => $opt{timeout} // 10);
    $BODY = $raw;
    my $json = defined $raw ? eval { JSON::PP->new->utf8->decode($raw) } : undef;
    return ($st, $json, $head);
}

# master_pid() -> the pid of the test nginx's master (its pid file)
sub master_pid {
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$PWD/t/servroot";
    open my $fh, '<', "$root/logs/nginx.pid" or return undef;
    my $pid = <$fh> // '';
    return $pid =~ /^(\d+)/ ? $1 : undef;
}

# _children($pid) -> the pids of the processes whose parent is $pid
sub _children {
    my ($parent) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        open my $st, '<', "$dir/stat" or next;
        my $stat = <$st> // '';
        my ($pid, $ppid) = $stat =~ /^(\d+) .*\)\s+\S+\s+(\d+)/ or next;
        push @pids, $pid if $ppid == $parent;
    }
    return @pids;
}

# reload() -> true once the status reports a config generation above the
# one before HUP was sent to the master and a worker of the new
# configuration runs (fails the test otherwise).  Each worker reports its
# own configuration's generation, so the first is an answer of a new
# worker.
sub reload {
    my $before = guard_status() or return 0;
    my $master = master_pid() or return 0;
    my %old = map { $_ => 1 } _children($master);
    kill 'HUP', $master;
    my $ok = wait_for(sub {
        my $st = guard_status() or return 0;
        return $st->{generation} > $before->{generation}
               && grep { !$old{$_} } _children($master);
    }, 15);
    require Test::More;
    Test::More::ok($ok, "reload: a new generation after HUP");
    return $ok;
}

# background_get($path, $n) -> pids of $n children that each GET $path
# (timeout 20 s) and exit 0 on a 200, 1 otherwise; reap with wait_children
sub background_get {
    my ($path, $n) = @_;
    my @pids;
    for (1 .. $n) {
        my $pid = fork;
        die "fork: $!\n" unless defined $pid;
        if ($pid == 0) {
            my $st = http_get($path, undef, timeout => 20);
            require POSIX;
            POSIX::_exit(defined $st && $st == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    return @pids;
}

# wait_children(@pids) -> the number of them that exited 0
sub wait_children {
    my $ok = 0;
    for my $pid (@_) {
        waitpid $pid, 0;
        $ok++ if $? == 0;
    }
    return $ok;
}

# token_line($name, $role, $upstreams, $token) -> a tokens file line with
# the token's SHA-256
sub token_line {
    my ($name, $role, $ups, $token) = @_;
    require Digest::SHA;
    return "$name $role $ups sha256:" . Digest::SHA::sha256_hex($token) . "\n";
}

# ------------------------------------------------------------------ tokens files

# The admin API's principals file, written before nginx reads it.  A block
# with a "--- tokens" section gets it written to $TEST_NGINX_TOKENS (an
# absolute path; $TEST_NGINX_TOKENS_REL is the same file relative to the
# conf directory, which nginx resolves it against) by a block preprocessor,
# since "--- init" runs only after nginx has started:
#   --- tokens
#   alice  operator  app,erp_*  {sha256:test-token-alice}
#   --- tokens_mode: 0640        (default 0600)
#   --- tokens_group: daemon     (default: root's group)
# {sha256:TOKEN} and {sha512:TOKEN} become "sha256:" and the hex digest of
# TOKEN.  Tokens in tests must be obviously fake ("test-token-alice").
our $TOKENS_DIR = File::Spec->catdir(File::Spec->tmpdir,
                                     "upstream-guard-tokens-$<-$$");
$ENV{TEST_NGINX_TOKENS} = File::Spec->catfile($TOKENS_DIR, 'tokens');
{
    my $conf = File::Spec->catdir($ENV{TEST_NGINX_SERVROOT}
                                  || File::Spec->rel2abs('t/servroot'), 'conf');
    $ENV{TEST_NGINX_TOKENS_REL} = File::Spec->abs2rel($ENV{TEST_NGINX_TOKENS},
                                                      $conf);
}

# token_hash('sha256', 'test-token-alice') -> "sha256:<64 hex>"
sub token_hash {
    my ($alg, $token) = @_;
    require Digest::SHA;
    my $f = $alg eq 'sha512' ? \&Digest::SHA::sha512_hex : \&Digest::SHA::sha256_hex;
    return "$alg:" . $f->($token);
}

# write_tokens($text, mode => 0600, group => 'root', path => $TEST_NGINX_TOKENS)
# -> the path; dies on failure.
sub write_tokens {
    my ($text, %opt) = @_;
    my $path = $opt{path} // $ENV{TEST_NGINX_TOKENS};
    (my $dir = $path) =~ s{/[^/]*$}{};
    unless (-d $dir) {
        File::Path::make_path($dir, { mode => 0700 });
    }
    $text =~ s/\{(sha256|sha512):([^}]*)\}/token_hash($1, $2)/ge;
    unlink $path;
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh $text;
    close $fh or die "cannot write $path: $!";
    my $gid = 0;
    if (defined $opt{group}) {
        $gid = getgrnam($opt{group});
        die "no group $opt{group}" unless defined $gid;
    }
    chown -1, $gid, $path or die "cannot chgrp $path: $!";
    chmod $opt{mode} // 0600, $path or die "cannot chmod $path: $!";
    return $path;
}

sub _tokens_file {
    my ($block) = @_;
    my $text = $block->tokens;
    return $block unless defined $text;
    my $mode = $block->tokens_mode;
    write_tokens($text, mode => defined $mode ? oct($mode) : 0600,
                 group => scalar $block->tokens_group);
    return $block;
}

END {
    File::Path::remove_tree($TOKENS_DIR) if $$ == $LOADER && -d $TOKENS_DIR;
}

# ------------------------------------------------------------------ expected errors

our $EXPECTED_ERROR = qr/upstream guard: (?:server \S+ \(\S+\) of upstream ".*" is down: |upstream ".*" is below its floor: |upstream ".*" has no server in rotation: )/;
our $UNEXPECTED_ERROR = qr/\[error\](?!.*$EXPECTED_ERROR)/;

# A block preprocessor: the real Test::Nginx goes on with the block it
# returns ("$block = $hdl->($block)"), so it always returns the block.
sub _unexpected_errors_only {
    my ($block) = @_;
    my $v = $block->no_error_log;
    return $block unless defined $v && (!ref $v || ref $v eq 'ARRAY');
    my @pats = ref $v ? @$v : split /\n+/, $v;
    if (grep { defined && !ref && $_ eq '[error]' } @pats) {
        $block->set_value(no_error_log => [
            map { defined && !ref && $_ eq '[error]' ? $UNEXPECTED_ERROR : $_ } @pats ]);
    }
    return $block;
}

# Test::Nginx::Socket is loaded after this file (see the top): by INIT time
# it is there, the real one or ours.
INIT {
    my $add = Test::Nginx::Util->can('add_block_preprocessor');
    $add->(\&_unexpected_errors_only) if $add;
    $add->(\&_tokens_file) if $add;
}

1;
