# What on-call reads: check counters named as such, times and durations
# named as such, the last failure with its time and whether it is over, no
# time for what never happened, a 404 for an unknown upstream, one takeover
# count in every format; Prometheus compact by default (aggregates per
# upstream, every state always present, failures by reason class, the
# check interval, one series per address), full detail on demand.
use lib 't/lib';
use Guard;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health {
            if (-f \$document_root/b2down) { return 503; }
            return 200;
        }
    }
_EOC_

# the file that takes b2 down
sub b2 { Guard::health_file('b2down', $_[0] eq 'down') }

sub prom {
    my ($path) = @_;
    my ($st, $body) = Guard::http_get($path // '/guard?format=prometheus');
    return $body // '';
}

no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: a fresh start: no takeover, no change, no failure, in every format
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, '3', 'checks');
my $s = Guard::guard_status();
Test::More::is($s->{takeovers}, 0, 'JSON: no takeover on a fresh start');
Test::More::ok(!exists $s->{leader_changes}, 'JSON: no leader_changes');
my $up = Guard::upstream_state($s, 'app');
Test::More::ok(exists $up->{last_change_at_ms} && !defined $up->{last_change_at_ms},
               'JSON: a never-changed upstream has a null last change');
my $b2 = Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B2}");
Test::More::ok(exists $b2->{last_change_at_ms} && !defined $b2->{last_change_at_ms},
               'JSON: a never-changed server has a null last change');
Test::More::ok(exists $b2->{last_failure} && !defined $b2->{last_failure},
               'JSON: a server that never failed has no last failure');
Test::More::is($b2->{checks_failed}, 0, 'JSON: checks_failed 0');
Test::More::is($b2->{down_transitions}, 0, 'JSON: down_transitions 0');
Test::More::ok($b2->{last_check_at_ms} > 1e12, 'JSON: last_check_at_ms a time');
Test::More::ok(defined $b2->{last_check_duration_ms}, 'JSON: last_check_duration_ms');
Test::More::ok(!grep({ /_ms\z/ && !/_(?:at|duration)_ms\z/ } keys %$s, keys %$up, keys %$b2),
               'JSON: every *_ms is *_at_ms or *_duration_ms')
    or Test::More::diag(join ' ', grep { /_ms\z/ } keys %$s, keys %$up, keys %$b2);
my $prom = main::prom();
Test::More::like($prom, qr/^nginx_upstream_guard_leader_takeovers_total 0$/m,
                 'Prometheus: no takeover');
Test::More::unlike($prom, qr/leader_changes/, 'Prometheus: no leader_changes');
Test::More::unlike($prom, qr/^nginx_upstream_guard_upstream_last_change_timestamp_seconds\{/m,
                   'Prometheus: no last change series for a never-changed upstream');
my $detail = main::prom('/guard?format=prometheus&detail=1');
Test::More::unlike($detail, qr/^nginx_upstream_guard_server_last_change_timestamp_seconds\{/m,
                   'Prometheus detail: no last change series for never-changed servers');
--- request
GET /guard?format=html
--- response_body_like: \(0 takeovers\).*Last change</dt><dd>none since added.*Checks / failed
--- no_error_log
[error]



=== TEST 2: a server that goes down and back: counters, last failure, changes
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    upstream dead {
        server 127.0.0.1:\$TEST_NGINX_B9;
        guard_check tcp interval=100ms fall=1;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
my $b2addr = "127.0.0.1:$ENV{TEST_NGINX_B2}";
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
main::b2('down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
my $s = Guard::server_state(Guard::guard_status(), 'app', $b2addr);
Test::More::is(Guard::reason($s), 'status 503', 'down: the reason');
Test::More::ok($s->{last_failure}{ongoing}, 'down: the failure is ongoing');
Test::More::ok($s->{last_failure}{at_ms} > 1e12, 'down: the failure has its time');
Test::More::is($s->{down_transitions}, 1, 'down: one up->down transition');
Test::More::ok($s->{checks_failed} >= 1, 'down: checks_failed counts it');
Test::More::ok($s->{last_change_at_ms} > 1e12, 'down: the change has its time');
main::b2('up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
my $st = Guard::guard_status();
$s = Guard::server_state($st, 'app', $b2addr);
Test::More::is(Guard::reason($s), 'status 503', 'up again: the reason is kept');
Test::More::ok(!$s->{last_failure}{ongoing}, 'up again: marked as over');
Test::More::ok($s->{last_failure}{at_ms} <= $s->{last_change_at_ms},
               'up again: the failure is from before the recovery');
Test::More::ok(Guard::upstream_state($st, 'app')->{last_change_at_ms} >= $s->{last_change_at_ms},
               'the upstream changed when its server did');
main::b2('down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, '2', 'down_transitions');
main::b2('up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
my $prom = main::prom();
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_down_transitions_total\{upstream="app"\} 2$/m,
                 'Prometheus: the upstream counts the flaps');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_check_failures_total\{upstream="app",reason="status"\} [2-9]\d*$/m,
                 'Prometheus: failures by reason class: status');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_check_failures_total\{upstream="dead",reason="refused"\} [1-9]\d*$/m,
                 'Prometheus: failures by reason class: refused');
Test::More::unlike($prom, qr/^nginx_upstream_guard_upstream_check_failures_total\{upstream="app",reason="refused"\}/m,
                   'Prometheus: no series for a class that never failed');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_check_interval_seconds\{upstream="app"\} 0\.100$/m,
                 'Prometheus: the check interval');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_check_timeout_seconds\{upstream="app"\} 1$/m,
                 'Prometheus: the check timeout, that GuardCheckerStopped allows a server that hangs');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_oldest_check_timestamp_seconds\{upstream="app"\} 1\d{9}\.\d{3}$/m,
                 'Prometheus: the oldest last check');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_last_change_timestamp_seconds\{upstream="app"\} 1\d{9}\.\d{3}$/m,
                 'Prometheus: the last change, once there is one');
my @states = $prom =~ /^nginx_upstream_guard_upstream_state_servers\{upstream="app",state="([a-z-]+)"\} \d+$/mg;
Test::More::is("@states", 'maintenance config-down drained draining down checking slow-start up standby untracked',
               'Prometheus: every state of the upstream, always');
Test::More::like($prom, qr/^nginx_upstream_guard_upstream_state_servers\{upstream="app",state="up"\} 2$/m,
                 'Prometheus: two servers up');
Test::More::like($prom, qr/^nginx_upstream_guard_server_in_rotation\{upstream="app",server="\Q$b2addr\E"\} 1$/m,
                 'Prometheus: compact per-server series, the address as label');
Test::More::unlike($prom, qr/^nginx_upstream_guard_server_(?!in_rotation)/m,
                   'Prometheus: no other per-server family by default');
my $detail = main::prom('/guard?format=prometheus&detail=1');
Test::More::like($detail, qr/^nginx_upstream_guard_server_down_transitions_total\{upstream="app",server="\Q$b2addr\E",[^}]*\} 2$/m,
                 'Prometheus detail: the flaps of the server');
Test::More::like($detail, qr/^nginx_upstream_guard_server_check_failures_total\{upstream="app",server="\Q$b2addr\E",[^}]*,reason="status"\} [2-9]\d*$/m,
                 'Prometheus detail: the failures of the server by class');
my @s = $detail =~ /^nginx_upstream_guard_server_state\{upstream="app",server="\Q$b2addr\E",[^}]*,state="([a-z-]+)"\} ([01])$/mg;
Test::More::is(scalar @s, 20, 'Prometheus detail: one series per state for the server');
Test::More::is(CORE::join(',', map { $s[$_] } grep { $_ % 2 } 0 .. $#s), '0,0,0,0,0,0,0,1,0,0',
               'Prometheus detail: 1 for its state only');
--- request
GET /guard?format=html&upstream=app
--- response_body_like: <td class="reason old">status 503<br><span class="aside">[^<]* ago, passed since</span>
--- no_error_log
[alert]



=== TEST 3: detail=on makes the detail the location's default
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /metrics { guard_status prometheus detail=on; }
--- request eval
["GET /metrics", "GET /metrics?detail=0"]
--- response_body_like eval
[qr/^nginx_upstream_guard_server_state\{upstream="app",/m,
 qr/\A(?!.*server_state\{).*nginx_upstream_guard_server_in_rotation\{upstream="app",server="127\.0\.0\.1:\d+"\} \d\n/s]
--- no_error_log
[error]



=== TEST 4: a bad guard_status parameter is refused
--- config
    location = /guard { guard_status prometheus detail=maybe; }
--- must_die
--- error_log
invalid guard_status parameter "detail=maybe", expected json, html or prometheus, then detail=on or detail=off



=== TEST 5: a compact scrape stays under 300 bytes per server
--- http_config eval
CORE::join('', map {
    my $u = $_;
    sprintf("    upstream svc_%04d {\n", $u)
    . CORE::join('', map { my $i = $u * 10 + $_;
                           sprintf("        server 127.0.%d.%d:8080;\n", 1 + int($i / 250), 1 + $i % 250) } 0 .. 9)
    . "        guard_check tcp interval=1h timeout=1s;\n    }\n"
} 1 .. 200)
--- config
    location = /guard { guard_status prometheus; }
--- init
my ($st, $body, $head) = Guard::http_get('/guard', undef, timeout => 30);
my $per = length($body // '') / 2000;
Test::More::ok($per < 300, sprintf('%.0f bytes per server', $per));
Test::More::is_deeply([Guard::prom_errors($body)], [], 'valid exposition');
# a report bigger than a buffer goes out as it is written: no length known
Test::More::unlike($head // '', qr/^Content-Length:/mi,
                   'a big report is streamed, without a length');
Test::More::like($body // '', qr/^nginx_upstream_guard_server_in_rotation\{upstream="svc_0200",server="127\.0\.9\.10:8080"\} 1\n\z/m,
                 'and complete');
($st, undef, $head) = Guard::http_get('/guard', undef, method => 'HEAD');
Test::More::like($head // '', qr/^Content-Length: [1-9]\d{5,}\r?$/mi,
                 'HEAD of a big report has its length');
($st, undef, $head) = Guard::http_get('/guard?upstream=svc_0001');
Test::More::like($head // '', qr/^Content-Length: \d+\r?$/mi,
                 'a small report has its length');
--- request
GET /guard?detail=1
--- response_body_like: nginx_upstream_guard_server_state\{upstream="svc_0200"
--- timeout: 30



=== TEST 6: the moment nothing is in rotation is logged, failing open, and its end
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 1;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
main::b2('down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
main::b2('up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
--- request
GET /guard
--- error_log eval
[qr/\[error\] .*upstream guard: upstream "app" has no server in rotation: fails open, requests go to every server not marked down in nginx.conf nor in maintenance, whatever its health/,
 qr/\[notice\] .*upstream guard: upstream "app" has servers in rotation again: 1 in rotation, fail open ends/]
--- no_error_log eval
[qr/has no server in rotation: fails closed/]



=== TEST 7: ... and failing closed; once per episode
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_panic closed;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
main::b2('down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, '5', 'checks_failed');
main::b2('up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
my $log = do {
    local (@ARGV, $/) = (($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '/logs/error.log');
    <>
} // '';
my $n = () = $log =~ /has no server in rotation/g;
Test::More::is($n, 1, 'logged once for the episode, not per failed check');
--- request
GET /guard
--- error_log eval
[qr/\[error\] .*upstream guard: upstream "app" has no server in rotation: fails closed, nginx answers 502/,
 qr/\[notice\] .*upstream guard: upstream "app" has servers in rotation again: 1 in rotation$/m]
