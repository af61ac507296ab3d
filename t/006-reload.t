# nginx -s reload keeps check state, keyed by upstream + server + address,
# also when the guard zone changes size; removed servers are forgotten; a
# reload that fails leaves the running zone and its checks alone.
# The blocks run in order against one nginx reloaded with HUP.
use lib 't/lib';
use Guard;
use File::Path ();
use File::Spec ();

use Test::Nginx::Socket 'no_plan';

use_hup();

# a backend that accepts and never answers: checks stay in flight
start_hostile('silent', $ENV{TEST_NGINX_B4}, lifetime => 120, log => 1);
# TEST 13-14: the admin API and an audit log
our $Dir = File::Spec->catdir(File::Spec->tmpdir,
                              "upstream-guard-reload-$<-$Guard::BASE");
File::Path::rmtree($Dir);
File::Path::mkpath($Dir);
Guard::write_tokens("adam admin * {sha256:test-token-adam}\n",
                    path => "$Dir/tokens");
{
    open my $fh, '>', "$Dir/audit.key" or die "$Dir/audit.key: $!\n";
    print $fh "test-audit-key-for-the-reload-test-0123456789\n";
    close $fh;
    chmod 0600, "$Dir/audit.key";
}
$ENV{TEST_NGINX_RELOAD_DIR} = $Dir;

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return scalar <$fh>;
}

master_on();
workers(2);
no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: state is built with short intervals
--- http_config
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=3
                    initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, '3', 'checks_failed');
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"generation":1,.*"health":"up".*"health":"down"/]
--- no_error_log
[error]



=== TEST 2: a reload keeps health: with rise=3 and a 30 s interval only kept state can be up
--- http_config
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 2 }, 10);
--- request eval
["GET /", "GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", "^b1\n\$", qr/"generation":2,.*"address":"127\.0\.0\.1:\d+",[^}]*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"down",[^}]*"checks_failed":(?:[3-9]|\d\d+),.*"address":"127\.0\.0\.1:\d+",[^}]*"health":"(?:checking|down)"/]
--- no_error_log
[error]



=== TEST 3: a reload that resizes the guard zone and the upstream zone keeps state
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 128k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 3 }, 10);
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"generation":3,.*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"down",[^}]*"checks_failed":(?:[3-9]|\d\d+),/]
--- error_log eval
qr/upstream guard: zone resized from \d+ to 2097152, state kept/
--- no_error_log
[error]



=== TEST 4: a removed server is forgotten
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 4 }, 10);
--- request eval
["GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", qr/"generation":4,(?!.*127\.0\.0\.1:$ENV{TEST_NGINX_B2}")/]
--- no_error_log
[error]



=== TEST 5: a server added back starts afresh
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B3;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 5 }, 10);
--- request eval
["GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", qr/"generation":5,.*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"(?:checking|down)",[^}]*"checks":[01],[^}]*"checks_failed":[01],/]
--- no_error_log
[error]



=== TEST 6: checks in flight against a silent backend
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check http interval=100ms timeout=20s;
    }
--- config
    location = /guard { guard_status; }
--- init
# the reload is done when the report shows the new upstream; its
# generation is what TEST 7's reload must step past
my $s = Guard::wait_for(sub {
    my $s = Guard::guard_status();
    $s && Guard::upstream_state($s, 'slow') && $s;
}, 10);
Test::More::ok($s, 'the reload to upstream "slow" took effect')
    or Test::More::diag("status: " . ($Guard::ERROR // 'no upstream "slow"'));
$main::Generation6 = $s ? $s->{generation} : undef;
Test::More::like($main::Generation6 // 'none', qr/^[1-9]\d*\z/,
                 'a generation is reported');
# its checks reach the silent backend
Test::More::ok(Guard::wait_for(sub {
                   Guard::hostile_log_count($ENV{TEST_NGINX_B4}) > 0 }, 10),
               "a check is in flight to the silent backend");
--- request
GET /guard
--- response_body_like: "name":"slow"
--- no_error_log
[error]



=== TEST 7: a reload does not wait for those checks: old workers exit
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check tcp interval=100ms;
    }
--- config
    location = /guard { guard_status; }
--- init
# one reload since TEST 6: exactly one generation more
die "TEST 6 read no generation\n" unless defined $main::Generation6;
my $want = $main::Generation6 + 1;
my $seen = 'none';
my $reloaded = Guard::wait_for(sub {
    my $s = Guard::guard_status() or return 0;
    $seen = $s->{generation} // 'none';
    return $seen eq $want;
}, 10);
Test::More::ok($reloaded, "generation $want after the reload (saw $seen)");
my $s;
Guard::wait_for(sub {
    $s = Guard::guard_status() or return 0;
    my $up = Guard::upstream_state($s, 'slow') or return 0;
    return $up->{check} eq 'tcp';
}, 10) or die "the tcp check never reported: "
              . ($Guard::ERROR // JSON::PP->new->encode($s)) . "\n";
my $t0 = Time::HiRes::time();
my $gone = Guard::wait_for(sub { Guard::old_workers() == 0 && Time::HiRes::time() }, 15);
Test::More::ok($gone && $gone - $t0 < 5,
               sprintf("old workers exited %.2f s after the reload, "
                       . "checks of 20 s still in flight", ($gone || 0) - $t0));
--- request
GET /guard
--- response_body_like: "check":"tcp"
--- no_error_log
[error]



=== TEST 8: a failed reload that resizes the zone leaves the running checks alone
--- http_config
    guard_shm_size 2m;
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { try_files /b2ok =503; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::health_file('b2ok', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up')
    or die "b2 never came up: " . ($Guard::ERROR // 'no error') . "\n";

# a reload to a new zone size that fails later, at the listen on a busy port
my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Listen => 1,
                                  LocalPort => $ENV{TEST_NGINX_B5},
                                  ReuseAddr => 1)
    or die "cannot hold port $ENV{TEST_NGINX_B5}: $!\n";
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $good = do { local $/; <$fh> };
close $fh;
my $bad = $good;
my $listen = "server { listen 127.0.0.1:$ENV{TEST_NGINX_B5}; }";
$bad =~ s/guard_shm_size 2m;/guard_shm_size 4m; $listen/
    or die "no guard_shm_size line in $conf\n";
my $before = Guard::guard_status() or die "no status: $Guard::ERROR\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $bad;
close $fh;
open my $pf, '<', "$root/logs/nginx.pid" or die "pid file: $!\n";
my $master = <$pf>;
chomp $master;
kill 'HUP', $master;
my $failed = Guard::wait_for(sub {
    open my $log, '<', "$root/logs/error.log" or return 0;
    local $/;
    my $text = <$log> // '';
    return $text =~ /still could not bind\(\)/;
}, 15);
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $good;
close $fh;
close $busy;
Test::More::ok($failed, "the reload failed at the busy port");

# the running workers keep checking: counters move, a leader holds the lease
my $c0 = Guard::server_state($before, 'app', $b1)->{checks};
my $last;
my $moving = Guard::wait_for(sub {
    $last = Guard::guard_status() or return 0;
    my $s = Guard::server_state($last, 'app', $b1) or return 0;
    return $last->{leader_pid} && $s->{checks} >= $c0 + 10;
}, 10);
Test::More::ok($moving, "checks go on after the failed reload")
    or Test::More::diag("before: checks $c0; now: "
        . JSON::PP->new->canonical->encode($last // {}));
Test::More::is($last && $last->{generation}, $before->{generation},
               "the failed reload left the generation alone");

# and still act: a backend turned bad goes down
Guard::health_file('b2ok', 0);
Test::More::ok(Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down'),
               "b2 goes down after the failed reload");

my $now = Guard::guard_status() or die "no status: $Guard::ERROR\n";
$main::b1_checks = Guard::server_state($now, 'app', $b1)->{checks};
$main::b2_fails = Guard::server_state($now, 'app',
                                      "127.0.0.1:$ENV{TEST_NGINX_B2}")->{checks_failed};
$main::generation = $now->{generation};
--- request
GET /
--- response_body
b1
--- no_error_log
[error]



=== TEST 9: then a good reload to that size keeps the state
rise=3 and a 30 s interval: only kept state can be up or down.
--- http_config
    guard_shm_size 4m;
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=30s fall=1 rise=3;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { try_files /b2ok =503; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
my $s;
Guard::wait_for(sub {
    $s = Guard::guard_status() or return 0;
    return $s->{generation} > $main::generation;
}, 10) or die "no new generation after $main::generation: "
              . ($Guard::ERROR // JSON::PP->new->encode($s)) . "\n";
my $b1 = Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}");
my $b2 = Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B2}");
Test::More::is($b1->{health}, 'up', "b1 stays up");
Test::More::cmp_ok($b1->{checks}, '>=', $main::b1_checks,
                   "b1 keeps its check count");
Test::More::is($b2->{health}, 'down', "b2 stays down");
Test::More::cmp_ok($b2->{checks_failed}, '>=', $main::b2_fails,
                   "b2 keeps its failure count");
--- request eval
["GET /", "GET /"]
--- response_body eval
["b1\n", "b1\n"]
--- error_log eval
qr/upstream guard: zone resized from 2097152 to 4194304, state kept/
--- no_error_log
[error]



=== TEST 12: each worker reports its own configuration's generation
The zone's generation moves early in the master's reload; workers of the
old configuration reported it with their old settings, so a client
waiting for the new generation could read the old configuration.
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=500ms;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
--- config
    location = /guard { guard_status; }
--- init
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
my $seen = "$root/logs/seen";
unlink $seen;
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{upstreams}[0]
                      && $s->{upstreams}[0]{interval_duration_ms} == 500 }, 10);
# a reader asking as fast as it can, on new connections, through the reloads
my $pid = fork;
die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
    open my $fh, '>', $seen or POSIX::_exit(1);
    my $end = Time::HiRes::time() + 8;
    while (Time::HiRes::time() < $end) {
        my $s = Guard::guard_status() or next;
        my $u = $s->{upstreams}[0] or next;
        print $fh "$s->{generation} $u->{interval_duration_ms} $s->{pid}\n";
    }
    close $fh;
    POSIX::_exit(0);
}
for my $ms (700, 500, 700, 500) {
    Time::HiRes::sleep(0.5);
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/interval=\d+ms/interval=${ms}ms/;
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;
    Guard::reload();
}
waitpid $pid, 0;
my (%by, $n);
open my $fh, '<', $seen or die "$seen: $!";
while (<$fh>) {
    my ($gen, $ms) = split;
    $by{$gen}{$ms}++;
    $n++;
}
Test::More::cmp_ok($n // 0, '>=', 100, "the reader saw " . ($n // 0) . " reports");
Test::More::cmp_ok(scalar keys %by, '>=', 5, 'and the five generations: ' . join ' ', sort keys %by);
my @mixed = grep { keys %{ $by{$_} } > 1 } sort keys %by;
Test::More::is("@mixed", '', 'each generation came with one interval')
    or Test::More::diag(join "\n", map { my $g = $_; "$g: " . join ', ',
        map { "$_ ms x$by{$g}{$_}" } sort keys %{ $by{$g} } } @mixed);
--- request
GET /guard
--- response_body_like: "interval_duration_ms":500
--- no_error_log
[error]



=== TEST 13: admin overrides set through the API: b2 in maintenance, b1 with an admin weight
--- http_config
    guard_audit_log $TEST_NGINX_RELOAD_DIR/audit.log;
    guard_audit_key $TEST_NGINX_RELOAD_DIR/audit.key;
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=200ms;
        guard_floor 1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
    }
--- config
    location = /guard { guard_status; }
    location /admin/ {
        guard_admin;
        guard_admin_tokens $TEST_NGINX_RELOAD_DIR/tokens;
    }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status();
                      $s && Guard::upstream_state($s, 'app') }, 10)
    or die "no upstream app after the reload\n";
for (["127.0.0.1:$ENV{TEST_NGINX_B2}/maintenance", '{"reason":"disk swap"}'],
     ["127.0.0.1:$ENV{TEST_NGINX_B1}/weight", '{"weight":5,"reason":"canary"}']) {
    my ($st) = Guard::admin('POST', "/admin/upstreams/app/servers/$_->[0]",
                            'test-token-adam', $_->[1]);
    Test::More::is($st, 200, "POST $_->[0]") or Test::More::diag($Guard::BODY);
}
--- request
GET /guard
--- response_body_like: "admin":"maintenance"
--- no_error_log
[error]



=== TEST 14: a reload that renames the upstream says which admin overrides it dropped, and audits them
The overrides went with the servers' slots without a word: a server taken
out deliberately went back into rotation silently.
--- http_config
    guard_audit_log $TEST_NGINX_RELOAD_DIR/audit.log;
    guard_audit_key $TEST_NGINX_RELOAD_DIR/audit.key;
    upstream app2 {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=200ms;
        guard_floor 1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status();
                      $s && Guard::upstream_state($s, 'app2') }, 10)
    or die "no upstream app2 after the reload\n";
my @drops = grep { /"principal":"guard"/ && /"op":"drop"/ }
            split /\n/, main::slurp("$main::Dir/audit.log");
Test::More::is(scalar @drops, 2, 'two audit lines by "guard"')
    or Test::More::diag(main::slurp("$main::Dir/audit.log"));
Test::More::like("@drops", qr/"upstream":"app","server":"127\.0\.0\.1:$ENV{TEST_NGINX_B2}".*dropped: maintenance by adam/,
                 'b2: its maintenance');
Test::More::like("@drops", qr/"upstream":"app","server":"127\.0\.0\.1:$ENV{TEST_NGINX_B1}".*dropped: weight 5 by adam/,
                 'b1: its weight');
my $verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";
my $out = `$verify $main::Dir/audit.log --key $main::Dir/audit.key 2>&1`;
Test::More::is($? >> 8, 0, 'the audit log verifies') or Test::More::diag($out);
--- request
GET /guard
--- response_body_like: "name":"app2"
--- error_log eval
qr/\[warn\] .*upstream guard: the reload dropped the admin overrides of 2 servers no longer configured, back in rotation if configured again; the first: server 127\.0\.0\.1:\d+ of upstream "app" \((?:maintenance by adam|weight 5 by adam)\)/
--- no_error_log
[error]
