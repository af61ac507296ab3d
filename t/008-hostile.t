# Hostile and broken backends fail their check with a reason, within the
# timeout, and the checking process's memory stays flat.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

make_certs();

# one deterministic misbehaving server per port, for the whole file
my %modes = (B1 => 'silent', B2 => 'drip', B3 => 'bigheaders',
             B4 => 'endless', B5 => 'garbage', B6 => 'reset',
             B7 => 'tlsgarbage', B8 => 'noaccept', B9 => 'close');
start_hostile($modes{$_}, $ENV{"TEST_NGINX_$_"}, lifetime => 120)
    for sort keys %modes;

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: every hostile backend fails with its reason
--- http_config
    guard_match never { body ~ "never-there"; }
    upstream silent {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream drip {
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream bigheaders {
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream endless {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check http interval=300ms timeout=1s fall=1 match=never;
    }
    upstream garbage {
        server 127.0.0.1:$TEST_NGINX_B5;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream reset {
        server 127.0.0.1:$TEST_NGINX_B6;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream tlsgarbage {
        server 127.0.0.1:$TEST_NGINX_B7;
        guard_check https interval=300ms timeout=1s fall=1;
    }
    upstream noaccept {
        server 127.0.0.1:$TEST_NGINX_B8;
        guard_check http interval=300ms timeout=1s fall=1;
    }
    upstream close {
        server 127.0.0.1:$TEST_NGINX_B9;
        guard_check http interval=300ms timeout=1s fall=1;
    }
--- config
    location = /guard { guard_status; }
--- init
for my $b (1 .. 9) {
    my $name = (qw(x silent drip bigheaders endless garbage reset tlsgarbage
                   noaccept close))[$b];
    Guard::wait_health($name, $ENV{"TEST_NGINX_B$b"}, 'down');
}
--- request
GET /guard
--- response_body_like eval
qr/"name":"silent".*"last_failure":\{"reason":"timeout\ \(response\)"[^}]*\}.*
   "name":"drip".*"last_failure":\{"reason":"timeout\ \(response\)"[^}]*\}.*
   "name":"bigheaders".*"last_failure":\{"reason":"(?:headers\ too\ large|too\ many\ headers)"[^}]*\}.*
   "name":"endless".*"last_failure":\{"reason":"body\ mismatch"[^}]*\}.*
   "name":"garbage".*"last_failure":\{"reason":"bad\ status\ line"[^}]*\}.*
   "name":"reset".*"last_failure":\{"reason":"(?:connection\ reset|truncated\ response|bad\ status\ line)"[^}]*\}.*
   "name":"tlsgarbage".*"last_failure":\{"reason":"tls\ handshake\ failed"[^}]*\}.*
   "name":"noaccept".*"last_failure":\{"reason":"timeout\ \(connect\)"[^}]*\}.*
   "name":"close".*"last_failure":\{"reason":"no\ response"[^}]*\}/sx
--- no_error_log
[crit]
[emerg]



=== TEST 2: an endless body is read up to body_limit only: the check passes
--- http_config
    upstream endless {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check http interval=300ms timeout=1s fall=1 rise=1
                    initial=down;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('endless', $ENV{TEST_NGINX_B4}, 'up');
--- request
GET /guard
--- response_body_like: "last_failure":null,[^}]*"health":"up"
--- no_error_log
[error]



=== TEST 3: memory stays flat while hostile backends are checked
--- http_config
    upstream hostile {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B3;
        server 127.0.0.1:$TEST_NGINX_B4;
        server 127.0.0.1:$TEST_NGINX_B5;
        server 127.0.0.1:$TEST_NGINX_B6;
        server 127.0.0.1:$TEST_NGINX_B7;
        server 127.0.0.1:$TEST_NGINX_B9;
        guard_check http interval=100ms timeout=300ms fall=1;
    }
--- config
    location = /guard { guard_status; }
--- init
# VmRSS of a process in kB, or undef and why: a 0 for "unreadable" would
# make any growth look flat
sub rss {
    my $pid = shift;
    open my $f, '<', "/proc/$pid/status"
        or return (undef, "/proc/$pid/status: $!");
    while (<$f>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return (undef, "no VmRSS in /proc/$pid/status (exited?)");
}
Guard::wait_health('hostile', $ENV{TEST_NGINX_B9}, 'down');
my $pid = Guard::guard_status()->{leader_pid};
die "no leader pid in the status\n" unless $pid && $pid > 1;
select(undef, undef, undef, 1);
my ($before, $why_before) = rss($pid);
select(undef, undef, undef, 4);
my ($after, $why_after) = rss($pid);
my $st = Guard::guard_status();
Test::More::is($st && $st->{leader_pid}, $pid,
               'the same worker checked throughout');
my $checks = 0;
$checks += $_->{checks} for @{Guard::upstream_state($st, 'hostile')->{servers}};
Test::More::cmp_ok($checks, '>', 100, "many hostile checks ran ($checks)");
# under AddressSanitizer freed memory waits in its quarantine: RSS grows
my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $asan = (qx{$nginx -V 2>&1} // '') =~ /-fsanitize=[a-z,]*address/;
SKIP: {
    Test::More::skip("nginx built with AddressSanitizer: RSS says nothing", 1)
        if $asan;
    if (!defined $before || !defined $after) {
        Test::More::fail("checker RSS readable: "
                         . ($why_before // $why_after));
        last SKIP;
    }
    Test::More::cmp_ok($after - $before, '<', 1024,
                       "checker RSS grew by less than 1 MiB ($before kB -> $after kB)");
}
--- request
GET /guard
--- response_body_like: "name":"hostile"
--- no_error_log
[crit]
[emerg]



=== TEST 4: tcp checks: a server that accepts and closes at once is up, one that never accepts is down
A tcp check is the connect.  On epoll the module takes "writable, no
EPOLLRDHUP" as a connect that succeeded and asks the socket only when the
peer hung up, so whether the server's close came before the check looked
or after, it must not read as a failure.
--- http_config
    upstream close {
        server 127.0.0.1:$TEST_NGINX_B9;
        guard_check tcp interval=100ms timeout=1s fall=1 rise=1;
    }
    upstream noaccept {
        server 127.0.0.1:$TEST_NGINX_B8;
        guard_check tcp interval=300ms timeout=500ms fall=1;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('close', $ENV{TEST_NGINX_B9}, 20, 'checks');
Guard::wait_health('noaccept', $ENV{TEST_NGINX_B8}, 'down');
my $st = Guard::guard_status();
my $c = Guard::server_state($st, 'close', "127.0.0.1:$ENV{TEST_NGINX_B9}");
Test::More::is($c->{health}, 'up', 'closes at once: up');
Test::More::is($c->{checks_failed}, 0,
               "closes at once: no check failed of $c->{checks}");
my $n = Guard::server_state($st, 'noaccept', "127.0.0.1:$ENV{TEST_NGINX_B8}");
Test::More::is(Guard::reason($n), 'timeout (connect)',
               'never accepts: the connect timed out');
--- request
GET /guard
--- response_body_like: "name":"close"
--- no_error_log
[crit]
[emerg]
