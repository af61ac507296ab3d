# guard_check_io io_uring: the checks of tcp and http over new connections
# go through one io_uring of the checking worker.  The same servers fail
# with the same reasons as over epoll (t/008), sockets of timed-out and
# cancelled checks are closed, nginx's epoll_wait() interrupted by the
# kernel's completions is not logged, a reload hands the ring over, the
# kernel refusing io_uring falls back to epoll, and a bad value fails
# nginx -t.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();

# one deterministic misbehaving server per port, for the whole file
my %modes = (B1 => 'silent', B2 => 'drip', B3 => 'bigheaders',
             B4 => 'endless', B5 => 'garbage', B6 => 'reset',
             B7 => 'noaccept', B8 => 'close');
start_hostile($modes{$_}, $ENV{"TEST_NGINX_$_"}, lifetime => 180)
    for sort keys %modes;

# established($port) -> connections to 127.0.0.1:$port established right
# now, read from /proc/net/tcp and tcp6 (state 01, remote port in hex), so
# that no package is needed; undef when neither file can be read
sub established {
    my ($port) = @_;
    my ($n, $read) = (0, 0);
    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        open(my $f, '<', $file) or next;
        $read++;
        while (<$f>) {
            my (undef, undef, $rem, $st) = split;
            next unless defined $st && $st eq '01' && $rem =~ /:([0-9A-F]{4})$/;
            $n++ if hex($1) == $port;
        }
        close $f;
    }
    return $read ? $n : undef;
}

# the kernel's switch for io_uring (Linux 6.6 and later), restored at exit
our ($Sysctl, $Saved) = ('/proc/sys/kernel/io_uring_disabled', undef);
END { if (defined $Saved && open my $f, '>', $Sysctl) { print $f $Saved; close $f } }

# one upstream per misbehaving server, named after its mode; the endless
# body is read to its limit by a rule that never matches
our $Hostile = join '', map {
    my $mode = $modes{$_};
    "    upstream $mode {\n        server 127.0.0.1:$ENV{\"TEST_NGINX_$_\"};\n"
    . "        guard_check http interval=300ms timeout=1s fall=1"
    . ($mode eq 'endless' ? ' match=never' : '') . ";\n    }\n"
} sort keys %modes;

our $Common = <<"EOF";
    guard_check_io io_uring;
    guard_match never { body ~ "never-there"; }
    guard_match up { status 200; body ~ "\\"status\\": *\\"up\\""; }
$Hostile    upstream good {
        server 127.0.0.1:$ENV{TEST_NGINX_B9};
        guard_check http uri=/health interval=300ms fall=1 rise=1 match=up;
    }
    upstream bad {
        server 127.0.0.1:$ENV{TEST_NGINX_B9};
        guard_check http uri=/down interval=300ms fall=1 rise=1;
    }
    upstream tcpok {
        server 127.0.0.1:$ENV{TEST_NGINX_B9};
        guard_check tcp interval=300ms fall=1 rise=1;
    }
    upstream refused {
        server 127.0.0.1:1;
        guard_check tcp interval=300ms fall=1;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B9};
        access_log off;
        location = /health {
            default_type application/json;
            return 200 '{"status": "up"}';
        }
        location = /down { return 500; }
    }
EOF

our $Reasons = qr/"name":"silent".*"last_failure":\{"reason":"timeout\ \(response\)"[^}]*\}.*
   "name":"drip".*"last_failure":\{"reason":"timeout\ \(response\)"[^}]*\}.*
   "name":"bigheaders".*"last_failure":\{"reason":"(?:headers\ too\ large|too\ many\ headers)"[^}]*\}.*
   "name":"endless".*"last_failure":\{"reason":"body\ mismatch"[^}]*\}.*
   "name":"garbage".*"last_failure":\{"reason":"bad\ status\ line"[^}]*\}.*
   "name":"reset".*"last_failure":\{"reason":"(?:connection\ reset|truncated\ response|bad\ status\ line)"[^}]*\}.*
   "name":"noaccept".*"last_failure":\{"reason":"timeout\ \(connect\)"[^}]*\}.*
   "name":"close".*"last_failure":\{"reason":"(?:no\ response|connection\ reset)"[^}]*\}.*
   "name":"good".*"health":"up".*
   "name":"bad".*"last_failure":\{"reason":"status\ 500"[^}]*\}.*
   "name":"tcpok".*"health":"up".*
   "name":"refused".*"last_failure":\{"reason":"connect\ refused"[^}]*\}/sx;

# wait_all() -> every server of $Common at its expected health
sub wait_all {
    my %down = (silent => 1, drip => 2, bigheaders => 3, endless => 4,
                garbage => 5, reset => 6, noaccept => 7, close => 8);
    Guard::wait_health($_, $ENV{"TEST_NGINX_B$down{$_}"}, 'down')
        for sort keys %down;
    Guard::wait_health($_, $ENV{TEST_NGINX_B9}, 'up') for qw(good tcpok);
    Guard::wait_health('bad', $ENV{TEST_NGINX_B9}, 'down');
    Guard::wait_health('refused', 1, 'down');
}

master_on();
workers(2);
no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: through io_uring, every server fails or passes with its epoll reason
--- http_config eval: $::Common
--- config
    location = /guard { guard_status; }
--- init
main::wait_all();
my $st = Guard::guard_status();
Test::More::is($st->{check_io}, 'io_uring', 'the report says the checks go through io_uring');
--- request
GET /guard?format=json
--- response_body_like eval: $::Reasons
--- error_log
checks go through io_uring
--- no_error_log
[alert]
[crit]
[emerg]
epoll_wait() failed
checks use epoll



=== TEST 2: timed-out and cancelled checks close their sockets; a timeout is not doubled
The silent server keeps every connection it accepts: a check that timed
out and did not close its socket would leave one more each time.  The
dripping server sends one byte a second: its checks end with a receive
in flight, which is cancelled.
--- http_config eval: $::Common
--- config
    location = /guard { guard_status; }
--- init
main::wait_all();
my $row = sub { my $port = $ENV{'TEST_NGINX_B' . $_[1]};
                my $s = Guard::server_state(Guard::guard_status(), $_[0],
                                            "127.0.0.1:$port");
                ($s->{checks} // 0, $s->{last_check_duration_ms} // 0) };
my ($c0) = $row->('silent', 1);
my ($d0) = $row->('drip', 2);
my $ok = Guard::wait_for(sub { ($row->('silent', 1))[0] >= $c0 + 5
                               && ($row->('drip', 2))[0] >= $d0 + 5 }, 30);
Test::More::ok($ok, 'five more checks of the silent and the dripping server');
for my $b (1, 2) {
    my $n = main::established($ENV{"TEST_NGINX_B$b"});
    Test::More::ok(defined $n && $n <= 2,
                   "connections to B$b after ten timed-out checks: "
                   . ($n // 'unknown') . ' (at most the one in flight, and one closing)');
}
my (undef, $ms) = $row->('silent', 1);
Test::More::ok($ms >= 950 && $ms < 1600, "the silent server failed after about 1 s: $ms ms");
--- request
GET /guard
--- response_body_like: "name":"silent"
--- no_error_log
[alert]
[crit]
epoll_wait() failed



=== TEST 3: a reload hands the checks to a new worker's ring; the old one goes
--- http_config eval: $::Common
--- config
    location = /guard { guard_status; }
--- init
main::wait_all();
my $st0 = Guard::guard_status();
Guard::reload();
my $st;
my $ok = Guard::wait_for(sub {
    $st = Guard::guard_status() or return 0;
    return $st->{leader_pid} && $st->{leader_pid} != $st0->{leader_pid}
           && $st->{generation} > $st0->{generation};
}, 15);
Test::More::ok($ok, 'a worker of the new generation runs the checks');
Test::More::is($st && $st->{check_io}, 'io_uring', 'through io_uring again');
my $good = sub { Guard::server_state(Guard::guard_status(), 'good',
                                     "127.0.0.1:$ENV{TEST_NGINX_B9}")->{checks} // 0 };
my $g0 = $good->();
Test::More::ok(Guard::wait_for(sub { $good->() >= $g0 + 3 }, 15),
               'checks go on after the reload');
Test::More::ok(Guard::wait_for(sub { Guard::old_workers() == 0 }, 20),
               'no worker of the old generation is left shutting down');
--- request
GET /guard?format=json
--- response_body_like eval: $::Reasons
--- no_error_log
[alert]
[crit]
io_uring operations still in flight



=== TEST 4: the kernel refuses io_uring: the checks fall back to epoll and go on
--- http_config eval: $::Common
--- config
    location = /guard { guard_status; }
--- init
main::wait_all();
SKIP: {
    my $f;
    unless (open($f, '<', $::Sysctl) && defined($::Saved = <$f>)) {
        $::Saved = undef;
        Test::More::diag("no $::Sysctl (Linux before 6.6): not tested");
        Test::More::skip('io_uring cannot be refused without the sysctl', 5);
    }
    close $f;
    chomp $::Saved;
    unless (open($f, '>', $::Sysctl) && print($f "2\n") && close($f)) {
        Test::More::diag("cannot write $::Sysctl: not tested");
        $::Saved = undef;
        Test::More::skip('io_uring cannot be refused here', 5);
    }
    my $st0 = Guard::guard_status();
    Guard::reload();
    my $st;
    Test::More::ok(Guard::wait_for(sub {
        $st = Guard::guard_status() or return 0;
        return $st->{leader_pid} && $st->{leader_pid} != $st0->{leader_pid}
               && $st->{generation} > $st0->{generation};
    }, 15), 'a worker of the new generation runs the checks');
    Test::More::is($st && $st->{check_io}, 'epoll', 'the report says epoll');
    my $good = sub { Guard::server_state(Guard::guard_status(), 'good',
                                         "127.0.0.1:$ENV{TEST_NGINX_B9}")->{checks} // 0 };
    my $g0 = $good->();
    Test::More::ok(Guard::wait_for(sub { $good->() >= $g0 + 3 }, 15),
                   'checks go on over epoll');
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
    my $found = Guard::wait_for(sub {
        open my $fh, '<', "$root/logs/error.log" or return 0;
        return scalar grep { /\[warn\] .*upstream guard: io_uring_setup\(\) failed, checks use epoll/ } <$fh>;
    }, 10);
    Test::More::ok($found, 'the error log says why');
    open $f, '>', $::Sysctl and print $f "$::Saved\n" and close $f;
    $::Saved = undef;
    Test::More::pass('io_uring allowed again');
}
--- request
GET /guard?format=json
--- response_body_like eval: $::Reasons
--- no_error_log
[alert]
[crit]



=== TEST 5: an unknown value fails nginx -t, naming the directive and the line
--- http_config
    guard_check_io uring;
--- config
--- must_die
--- error_log eval
qr/invalid value "uring" in "guard_check_io" directive, it must be "epoll" or "io_uring" in \S+nginx\.conf:\d+/



=== TEST 6: a duplicate fails nginx -t
--- http_config
    guard_check_io io_uring;
    guard_check_io epoll;
--- config
--- must_die
--- error_log eval
qr/"guard_check_io" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 7: a unix socket with a full listen queue fails at once, as over epoll, not at the timeout
The queue of a unix socket listening with a backlog of 0 holds one
connection; this test fills it and never accepts.  Over epoll nginx's
non-blocking connect is refused at once (EAGAIN); the ring's connect
blocked until the timeout instead, with another reason.
--- http_config
    guard_check_io io_uring;
    upstream full {
        server unix:$TEST_NGINX_SERVER_ROOT/logs/full.sock;
        guard_check http interval=300ms timeout=3s fall=1;
    }
    upstream fulltcp {
        server unix:$TEST_NGINX_SERVER_ROOT/logs/full.sock;
        guard_check tcp interval=300ms timeout=3s fall=1;
    }
--- config
    location = /guard { guard_status; }
--- init
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
my $path = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/full.sock";
unlink $path;
socket($::FullL, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
bind($::FullL, pack_sockaddr_un($path)) or die "bind $path: $!";
listen($::FullL, 0) or die "listen: $!";
chmod 0777, $path;
@::FullC = ();
for (1 .. 2) {
    socket(my $c, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
    fcntl($c, F_SETFL, fcntl($c, F_GETFL, 0) | O_NONBLOCK);
    connect($c, pack_sockaddr_un($path));
    push @::FullC, $c;
}
my $want = 'connect failed: Resource temporarily unavailable';
for my $up (qw(full fulltcp)) {
    my $seen = 'nothing';
    Guard::wait_for(sub {
        my $s = Guard::server_state(Guard::guard_status(), $up, "unix:$path")
            or return 0;
        $seen = Guard::reason($s) . " after "
            . ($s->{last_check_duration_ms} // "no") . " ms";
        return Guard::reason($s) eq $want;
    }, 10) or Test::More::fail("$up: \"$want\" within 10s; saw $seen");
}
my $st = Guard::guard_status();
Test::More::is($st && $st->{check_io}, 'io_uring', 'the checks go through io_uring');
--- request
GET /guard
--- response_body_like eval
qr/"name":"full",.*"reason":"connect failed: Resource temporarily unavailable".*"last_check_duration_ms":(?:\d{1,3}|[12]\d{3}),.*"name":"fulltcp"/s
--- no_error_log
[alert]
[crit]
