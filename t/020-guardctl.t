# scripts/guardctl against real nginx instances: status and list, tokens
# from the environment and from a file, no token, hash-token, drain --wait
# and resume on two instances, weight with --json, a fleet drain that
# the second instance refuses, rolled back on the first; drain --wait
# timing out with a slow request in flight (exit 4, the drain stays);
# maintenance, freeze and unfreeze, overrides, --instances FILE; a token
# that cannot go in a header and an --expires the API would refuse are
# usage errors before any request; an instance that answers garbage, a
# redirect (never followed) or JSON that is not an object; a rollback
# keeps the end of the override it puts back; instance URLs: userinfo, a
# query or a fragment refused up front without echoing the password, and
# the other edges (IPv6, a path prefix, https, schemes, hosts, ports).
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA ();
use File::Path ();
use JSON::PP ();
use POSIX ();

# the principals (obviously fake tokens), in a file only root can read
our $Dir = "/tmp/guard-cli-" . Guard::_server_port();
mkdir $Dir;
our $Tokens = "$Dir/tokens";
{
    open my $fh, '>', $Tokens or die "$Tokens: $!\n";
    print $fh "# test principals\n",
        Guard::token_line('olga', 'operator', 'app', 'test-token-olga'),
        Guard::token_line('vera', 'viewer', '*', 'test-token-vera'),
        Guard::token_line('adam', 'admin', '*', 'test-token-adam');
    close $fh;
    chmod 0600, $Tokens;
}
# olga's token in a file, for --token-file
our $TokenFile = "$Dir/olga.token";
{
    open my $fh, '>', $TokenFile or die "$TokenFile: $!\n";
    print $fh "test-token-olga\nsecond line is ignored\n";
    close $fh;
    chmod 0600, $TokenFile;
}

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { return 200; }
        location / { return 200 "b1\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health { return 200; }
        location / { return 200 "b2\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B3};
        location /health { return 200; }
        location / { return 200 "b3\\n"; }
    }
_EOC_

our $App = <<"_EOC_";
    upstream app {
        zone app 64k;
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 2;
    }
_EOC_

our $Config = <<"_EOC_";
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
    location /admin/ {
        guard_admin;
        guard_admin_tokens $Tokens;
    }
_EOC_

our $Ctl = "$ENV{TEST_NGINX_PWD}/scripts/guardctl";
our $One = "http://127.0.0.1:" . Guard::_server_port() . "/admin/";
our $Two = "http://127.0.0.1:$ENV{TEST_NGINX_B6}/admin";    # no trailing slash

# ---------------------------------------------------------------- a second nginx

our $SecondDir = "$Dir/second";

# start_second(@backend_ports) -> true once a second nginx (upstream "app"
# over those backends, the same tokens file) answers on TEST_NGINX_B6
sub start_second {
    my @ports = @_;
    my $servers = join '', map { "        server 127.0.0.1:$_;\n" } @ports;
    my $floor = @ports >= 3 ? 2 : 1;
    return Guard::start_nginx($SecondDir, <<"_EOC_", $ENV{TEST_NGINX_B6});
    upstream app {
        zone app_second 64k;
$servers        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor $floor;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B6};
        location = /guard { guard_status; }
        location /admin/ {
            guard_admin;
            guard_admin_tokens $Tokens;
        }
    }
_EOC_
}

sub second_pid { Guard::nginx_pid($SecondDir) }

# stop_second() -> the second nginx stopped (TERM, then wait up to 10 s)
sub stop_second { Guard::stop_nginx($SecondDir) }

END { stop_second() }

# ---------------------------------------------------------------- running guardctl

# ctl(\%env, @args) -> ($exit_code, $output): guardctl with stdout and
# stderr together; %env: variables to set (undef: unset), on top of a
# clean GUARDCTL_* environment
sub ctl {
    my ($env, @args) = @_;
    local %ENV = %ENV;
    delete @ENV{qw(GUARDCTL_TOKEN GUARDCTL_INSTANCE)};
    for my $k (keys %$env) {
        if (defined $env->{$k}) { $ENV{$k} = $env->{$k} } else { delete $ENV{$k} }
    }
    my $cmd = join ' ', 'python3', map { quotemeta } $Ctl, @args;
    my $out = `$cmd 2>&1 </dev/null`;
    my $rc = $? == -1 ? -1 : $? >> 8;
    return ($rc, $out);
}

# the "app" server on port $port as the status JSON of the nginx on $nginx
sub server_of {
    my ($nginx, $port) = @_;
    return Guard::server_state(Guard::guard_status('/guard', $nginx), 'app',
                               "127.0.0.1:$port") || {};
}

Guard::make_certs();
master_on();
workers(2);
no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: status, list, whoami, tokens from env and file, no token, hash-token
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $port = Guard::_server_port();
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my %vera = (GUARDCTL_TOKEN => 'test-token-vera');
my ($rc, $out) = main::ctl(\%vera, '--instance', $main::One, 'status');
Test::More::is($rc, 0, 'status: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^upstream\s+server\s+state\s+health\s+admin\s+in-flight\s+weight$/m,
                 'status: the table header');
for my $b (@ENV{qw(TEST_NGINX_B1 TEST_NGINX_B2 TEST_NGINX_B3)}) {
    Test::More::like($out, qr/^app\s+127\.0\.0\.1:$b\s+up\s+up\s+active\s+0\s+1$/m,
                     "status: a row for $b");
}
Test::More::like($out, qr/^app: in rotation 3, floor 2 \(holds\)/m,
                 'status: in rotation and floor per upstream');
($rc, $out) = main::ctl({ %vera, GUARDCTL_INSTANCE => $main::One }, 'list', 'app');
Test::More::is($rc, 0, 'list app (instance from GUARDCTL_INSTANCE): exit 0')
    or Test::More::diag($out);
Test::More::like($out, qr/^app\s+127\.0\.0\.1:$ENV{TEST_NGINX_B2}\s+up/m,
                 'list app: the servers');
($rc, $out) = main::ctl({ %vera, GUARDCTL_INSTANCE => $main::One }, '--json',
                        'status');
my $j = eval { JSON::PP->new->decode($out) } || {};
Test::More::is($j->{instances}[0]{answer}{upstreams}[0]{name}, 'app',
               'status --json: the status JSON per instance');
($rc, $out) = main::ctl({}, '--instance', $main::One, '--token-file',
                        $main::TokenFile, 'whoami');
Test::More::is($rc, 0, 'whoami with --token-file: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/: olga, role operator, upstreams app$/m,
                 'whoami: the token file\'s principal');
($rc, $out) = main::ctl(\%vera, '--instance', $main::One, 'whoami');
Test::More::like($out, qr/: vera, role viewer/, 'whoami: GUARDCTL_TOKEN');
($rc, $out) = main::ctl({}, '--instance', $main::One, 'status');
Test::More::is($rc, 1, 'no token: exit 1');
Test::More::like($out, qr/HTTP 401 unauthenticated: /, 'no token: the 401 answer');
($rc, $out) = main::ctl(\%vera, '--instance', $main::One, 'drain', 'app',
                        "127.0.0.1:$ENV{TEST_NGINX_B1}");
Test::More::is($rc, 1, 'a viewer draining: exit 1');
Test::More::like($out, qr/HTTP 403 forbidden: /, 'a viewer draining: 403');
($rc, $out) = main::ctl(\%vera, 'status');
Test::More::is($rc, 2, 'no instance: a usage error, exit 2');
($rc, $out) = main::ctl(\%vera, '--instance', $main::One, 'weight', 'app', 'x', 'many');
Test::More::is($rc, 2, 'a weight that is not a number: exit 2');
($rc, $out) = main::ctl(\%vera, '--instance', $main::One, 'status', '--token', 'x');
Test::More::is($rc, 2, 'no --token option: exit 2');
Test::More::like($out, qr/unrecognized arguments: --token/, 'no --token option');
($rc, $out) = main::ctl(\%vera, '--instance', $main::One, '--token', 'x', 'status');
Test::More::is($rc, 2, 'no abbreviation of --token-file either: exit 2');
my $hash = `printf '%s\\n' test-token-olga | python3 $main::Ctl hash-token`;
Test::More::is($hash, 'sha256:' . Digest::SHA::sha256_hex('test-token-olga') . "\n",
               'hash-token: the sha256 of the token without its newline');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 2: drain --wait and resume on two instances; weight --json
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
main::start_second(@ENV{qw(TEST_NGINX_B1 TEST_NGINX_B2 TEST_NGINX_B3)});
my %olga = (GUARDCTL_TOKEN => 'test-token-olga');
my @two = ('--instance', $main::One, '--instance', $main::Two);
my ($rc, $out) = main::ctl(\%olga, @two, 'drain', 'app', $b1, '--wait',
                           '--timeout', '20s', '--reason', 'kernel patch');
Test::More::is($rc, 0, 'drain --wait on two instances: exit 0')
    or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: drain app/\Q$b1\E: active -> drain(ing|ed)}m,
                 'drain: the first instance\'s answer');
Test::More::like($out, qr{^\Q$main::Two\E/: drain app/\Q$b1\E: active -> drain(ing|ed)}m,
                 'drain: the second instance\'s answer');
Test::More::like($out, qr{^\S+ \Q$main::One\E: app/\Q$b1\E drained}m,
                 'progress: drained on the first');
Test::More::like($out, qr{^\S+ \Q$main::Two\E/: app/\Q$b1\E drained}m,
                 'progress: drained on the second');
Test::More::like($out, qr/^drained on 2 instances$/m, 'drained on both');
for my $n (Guard::_server_port(), $ENV{TEST_NGINX_B6}) {
    my $s = main::server_of($n, $ENV{TEST_NGINX_B1});
    Test::More::is("$s->{admin}/$s->{admin_override}{reason}", 'drained/kernel patch',
                   "port $n: drained, with the reason");
}
($rc, $out) = main::ctl(\%olga, @two, 'resume', 'app', $b1);
Test::More::is($rc, 0, 'resume on two instances: exit 0') or Test::More::diag($out);
Test::More::is(scalar(() = $out =~ /: resume app\/\S+: drained -> active/g), 2,
               'resume: both answers');
($rc, $out) = main::ctl(\%olga, @two, '--json', 'weight', 'app', $b1, '3');
Test::More::is($rc, 0, 'weight --json: exit 0') or Test::More::diag($out);
my $j = eval { JSON::PP->new->decode($out) } || {};
Test::More::ok($j->{ok}, 'weight --json: ok');
Test::More::is(scalar @{ $j->{instances} || [] }, 2, 'weight --json: two instances');
Test::More::is(join(',', map { "$_->{status}/$_->{answer}{operation}" }
                        @{ $j->{instances} || [] }),
               '200/weight,200/weight', 'weight --json: each answer');
for my $n (Guard::_server_port(), $ENV{TEST_NGINX_B6}) {
    Test::More::ok(Guard::wait_for(sub {
        main::server_of($n, $ENV{TEST_NGINX_B1})->{admin_weight} == 3 }, 5),
        "port $n: admin weight 3");
}
main::stop_second();
--- request
GET /guard
--- response_body_like: "admin_weight":3,
--- error_log eval
[qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga: draining/,
 qr/upstream guard: resume of server 127\.0\.0\.1:\d+ of upstream "app" by olga: active/]
--- no_error_log
[error]



=== TEST 3: the second instance refuses: the first is rolled back, exit 1
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
# the second nginx does not know b1
main::start_second(@ENV{qw(TEST_NGINX_B2 TEST_NGINX_B3)});
my $before = main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1});
my ($rc, $out) = main::ctl({}, '--instance', $main::One, '--instance', $main::Two,
                           '--token-file', $main::TokenFile, 'drain', 'app', $b1,
                           '--wait', '--timeout', '5s');
Test::More::is($rc, 1, 'refused by the second: exit 1') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: drain app/\Q$b1\E: active -> drain}m,
                 'the first instance\'s answer');
Test::More::like($out, qr{^\Q$main::Two\E/: HTTP 404 unknown_server: }m,
                 'the second instance\'s refusal');
Test::More::like($out, qr{^rollback \Q$main::One\E: resume app/\Q$b1\E: drain\w+ -> active}m,
                 'the rollback of the first');
my $s = main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1});
Test::More::is($s->{admin}, 'active', 'the first instance: active again');
Test::More::is($s->{admin_version}, $before->{admin_version} + 2,
               'its version moved by two (drain, resume)');
Test::More::ok($s->{in_rotation}, 'and in rotation');
main::stop_second();
Test::More::ok(!main::second_pid(), 'the second nginx stopped');
# nothing listens on the second port now: unreachable, exit 3, rolled back
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                        '--instance', $main::Two, 'drain', 'app', $b1);
Test::More::is($rc, 3, 'the second unreachable: exit 3') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::Two\E/: unreachable: }m, 'unreachable: said');
Test::More::like($out, qr{^rollback \Q$main::One\E: resume }m, 'and rolled back');
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1})->{admin},
               'active', 'the first instance: active again');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- error_log eval
[qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga/,
 qr/upstream guard: resume of server 127\.0\.0\.1:\d+ of upstream "app" by olga: active.*guardctl rollback/]
--- no_error_log
[error]



=== TEST 4: drain --wait with a slow request in flight: timed out, exit 4, the drain stays
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://app; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
# 12 s a request: the drain cannot end before guardctl gives up at 2 s
Guard::start_hostile('slow:12000', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
Test::More::ok(Guard::wait_for(sub {
    main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B5})->{in_flight} >= 1 }, 10),
    "a slow request in flight to $b5");
my $t0 = Time::HiRes::time();
my ($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                           'drain', 'app', $b5, '--wait', '--timeout', '2s');
my $took = Time::HiRes::time() - $t0;
Test::More::is($rc, 4, 'drain --wait --timeout 2s: exit 4') or Test::More::diag($out);
# well before the slow requests end (about 12 s): it did not wait for them
Test::More::ok($took < 9, sprintf 'it gave up at the timeout: %.1f s', $took);
Test::More::like($out, qr{^\S+ \Q$main::One\E: app/\Q$b5\E draining, [1-9]\d* in flight$}m,
                 'progress: draining, requests in flight');
Test::More::like($out, qr{^timed out: the drain stays in force on every instance \(guardctl resume app \Q$b5\E to undo\)$}m,
                 'timed out: the drain stays in force');
my $s = main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B5});
Test::More::is($s->{admin}, 'draining', 'still draining after guardctl gave up');
Test::More::is(Guard::wait_children(@kids), 6, 'every request in flight finished');
Test::More::ok(Guard::wait_for(sub {
    main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B5})->{admin} eq 'drained' }, 10),
    'then drained: the drain stayed in force');
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- no_error_log
[error]



=== TEST 5: maintenance, overrides, freeze (a drain refused: exit 1), unfreeze, --instances FILE
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my ($b1, $b2) = map { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_)}" } 1, 2;
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $fleet = "$main::Dir/fleet.txt";
{
    open my $fh, '>', $fleet or die "$fleet: $!\n";
    print $fh "# the fleet\n\n$main::One   # the test nginx\n";
    close $fh;
}
my @f = ('--instances', $fleet);
my %adam = (GUARDCTL_TOKEN => 'test-token-adam');
my %olga = (GUARDCTL_TOKEN => 'test-token-olga');
my ($rc, $out) = main::ctl(\%olga, @f, 'overrides');
Test::More::is($rc, 0, 'overrides (--instances FILE): exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^no override in force$/m, 'none yet');
($rc, $out) = main::ctl(\%olga, @f, 'maintenance', 'app', $b1);
Test::More::is($rc, 1, 'maintenance by an operator: exit 1');
Test::More::like($out, qr/HTTP 403 forbidden: /, 'an admin\'s operation');
($rc, $out) = main::ctl(\%adam, @f, 'maintenance', 'app', $b1, '--reason', 'firmware',
                        '--expires', '1h');
Test::More::is($rc, 0, 'maintenance by an admin: exit 0') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: maintenance app/\Q$b1\E: active -> maintenance, in rotation 3 -> 2 \(floor 2\)}m,
                 'maintenance: the answer');
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1})->{admin},
               'maintenance', 'b1 in maintenance');
($rc, $out) = main::ctl(\%olga, @f, 'overrides');
Test::More::is($rc, 0, 'overrides: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^upstream\s+server\s+kind\s+value\s+by\s+reason\s+since\s+until$/m,
                 'overrides: the header');
Test::More::like($out, qr/^app\s+\Q$b1\E\s+admin\s+maintenance\s+adam\s+firmware\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m,
                 'overrides: who, why, since, until');
($rc, $out) = main::ctl(\%olga, @f, 'freeze', '--reason', 'change window');
Test::More::is($rc, 1, 'freeze by an operator: exit 1');
($rc, $out) = main::ctl(\%adam, @f, 'freeze', '--reason', 'change window');
Test::More::is($rc, 0, 'freeze: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^\Q$main::One\E: frozen$/m, 'frozen');
($rc, $out) = main::ctl(\%olga, @f, 'overrides');
Test::More::like($out, qr/^the admin API is FROZEN$/m, 'overrides: the freeze');
($rc, $out) = main::ctl(\%adam, @f, 'resume', 'app', $b1);
Test::More::is($rc, 0, 'resume while frozen: allowed, exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl(\%olga, @f, 'drain', 'app', $b2, '--wait', '--timeout', '5s');
Test::More::is($rc, 1, 'a drain while frozen: exit 1') or Test::More::diag($out);
Test::More::like($out, qr/^\Q$main::One\E: HTTP 409 frozen: /m, 'refused: frozen');
Test::More::unlike($out, qr/^rollback/m, 'nothing to roll back');
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B2})->{admin},
               'active', 'b2 still active');
($rc, $out) = main::ctl(\%adam, @f, 'unfreeze');
Test::More::is($rc, 0, 'unfreeze: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^\Q$main::One\E: not frozen$/m, 'not frozen');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
($rc, $out) = main::ctl(\%olga, @f, 'drain', 'app', $b2, '--reason', 'after the window');
Test::More::is($rc, 0, 'the drain after unfreeze: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl(\%olga, @f, 'overrides');
Test::More::like($out, qr/^app\s+\Q$b2\E\s+admin\s+drain(ing|ed)\s+olga\s+after the window\s+\S+ \S+\s+-$/m,
                 'overrides: the drain, no expiry');
($rc, $out) = main::ctl(\%olga, '--instances', "$main::Dir/no-such-fleet", 'status');
Test::More::is($rc, 2, '--instances with a missing file: exit 2');
Test::More::like($out, qr{no-such-fleet: No such file or directory}, 'it says so');
--- request
GET /guard
--- response_body_like: "admin":"drain(ing|ed)"
--- error_log eval
[qr/upstream guard: maintenance of server 127\.0\.0\.1:\d+ of upstream "app" by adam/,
 qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga/]
--- no_error_log
[error]




=== TEST 6: a weight rolled back where there was none: no admin weight, no override left
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
# the second nginx does not know b1: it refuses
main::start_second(@ENV{qw(TEST_NGINX_B2 TEST_NGINX_B3)});
my $before = main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1});
my ($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' },
                           '--instance', $main::One, '--instance', $main::Two,
                           'weight', 'app', $b1, '3');
Test::More::is($rc, 1, 'refused by the second: exit 1') or Test::More::diag($out);
Test::More::like($out, qr{^rollback \Q$main::One\E: weight app/\Q$b1\E}m,
                 'the first instance rolled back');
my $s = main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1});
Test::More::is(join(' ', map { $_ // 'null' } @$s{qw(admin_weight weight_override weight)}),
               'null null 1', 'no admin weight, no override: the configured weight');
Test::More::is($s->{admin_version}, $before->{admin_version} + 2,
               'its version moved by two (weight, rollback)');
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                        'overrides');
Test::More::like($out, qr/^no override in force$/m, 'no override listed');
# guardctl weight ... config: the same by hand
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                        'weight', 'app', $b1, '4');
Test::More::is($rc, 0, 'weight 4 on the first alone: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                        'weight', 'app', $b1, 'config');
Test::More::is($rc, 0, 'weight config: exit 0') or Test::More::diag($out);
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1})->{admin_weight},
               undef, 'weight config: the admin weight is gone');
main::stop_second();
--- request
GET /guard
--- response_body_like: "admin_weight":null,
--- error_log eval
qr/upstream guard: weight of server 127\.0\.0\.1:\d+ of upstream "app" by olga: active.*guardctl rollback/
--- no_error_log
[error]



=== TEST 7: the rollback itself refused: exit 5, the state of each instance printed
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my ($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' },
                           '--instance', $main::One, 'drain', 'app', $b1);
Test::More::is($rc, 0, 'b1 drained with floor 2') or Test::More::diag($out);
# the floor becomes 3: b1 stays drained, but draining it again would break it
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/guard_floor 2;/guard_floor 3;/ or die "no guard_floor 2 in $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Guard::reload();
Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10);
# the second nginx does not know b1: it refuses the resume, and the
# rollback (drain b1 again on the first) is refused by the floor
main::start_second(@ENV{qw(TEST_NGINX_B2 TEST_NGINX_B3)});
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' },
                        '--instance', $main::One, '--instance', $main::Two,
                        'resume', 'app', $b1);
Test::More::is($rc, 5, 'the rollback failed: exit 5') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::Two\E/: HTTP 404 unknown_server: }m,
                 'the second instance\'s refusal');
Test::More::like($out, qr/HTTP 409 floor: /, 'the refused rollback: the floor');
Test::More::like($out, qr/^\*\*\* ROLLBACK FAILED: the fleet is in a mixed state\. State of each instance now: \*\*\*$/m,
                 'it says the fleet is in a mixed state');
Test::More::like($out, qr{^  \Q$main::One\E: app/\Q$b1\E admin active, state }m,
                 'the first instance: active, as the rollback could not undo it');
Test::More::like($out, qr{^  \Q$main::Two\E/: HTTP 404 unknown_server: }m,
                 'the second instance: it does not know the server');
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1})->{admin},
               'active', 'the first instance is left active');
main::stop_second();
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 8: bad input is a usage error before any request: a token that cannot go in a header, a duration the API refuses
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $nobody = "http://127.0.0.1:$ENV{TEST_NGINX_B7}/admin/";    # nothing listens
my %olga = (GUARDCTL_TOKEN => 'test-token-olga');

# tokens: not ASCII, a control character, spaces around (nginx drops them)
for my $t (["t\xc3\xb6k\xc3\xa9n\xe2\x82\xac", 'a character that is not ASCII \(at character 2\)'],
           ["test-token\tolga", 'a control character \(at character 11\)'],
           ['test-token-olga ', 'a space at its end \(at character 16\)']) {
    my ($token, $why) = @$t;
    my ($rc, $out) = main::ctl({ GUARDCTL_TOKEN => $token }, '--instance', $main::One, 'whoami');
    Test::More::is($rc, 2, "GUARDCTL_TOKEN /$why/: a usage error, exit 2") or Test::More::diag($out);
    Test::More::like($out, qr/^guardctl: GUARDCTL_TOKEN: the token has $why: a token is printable ASCII, for the HTTP header "Authorization: Bearer TOKEN"$/m,
                     'it names the problem');
    Test::More::unlike($out, qr/\Q$token\E|unreachable/, 'not the token, not "unreachable"');
}
my $bad = "$main::Dir/bad.token";
{
    open my $fh, '>', $bad or die "$bad: $!\n";
    print $fh "test-\xff-olga\n";
    close $fh;
}
my ($rc, $out) = main::ctl({}, '--instance', $main::One, '--token-file', $bad, 'whoami');
Test::More::is($rc, 2, '--token-file with a byte that is not ASCII: exit 2') or Test::More::diag($out);
Test::More::like($out, qr/^guardctl: \Q$bad\E: the token has a character that is not ASCII \(at character 6\)/m,
                 'it names the file');
$out = `printf 't\\303\\266k\\303\\251n\\n' | python3 $main::Ctl hash-token 2>&1`;
Test::More::is($? >> 8, 2, 'hash-token of a token guardctl cannot send: exit 2');
Test::More::like($out, qr/^guardctl: hash-token: the token has a character that is not ASCII/m,
                 'hash-token says why');
($rc, $out) = main::ctl(\%olga, '--instance', "http://127.0.0.1:$ENV{TEST_NGINX_B7}/adm\xc3\xafn/", 'whoami');
Test::More::is($rc, 2, 'an instance URL that is not ASCII: exit 2') or Test::More::diag($out);

# durations: guardctl takes exactly what the admin API takes, and refuses
# the rest before any request (against nothing listening: exit 2, not 3)
for my $d ('90', '090', '90s', '10m', '1h', '2d', '1w', '4w', '1h30m', '1h 30m', '1h 30',
           '1500ms', '1000ms', '30d', '2592000', '5w', '31d', '2592001', '1.5h', '500ms',
           '999ms', '0', '0s', '1y', '1M', '10 m', '-5', '90 s', '1m1ms', '1h1h', '1e3',
           "\xd9\xa3") {
    my $value = $d =~ /^[0-9]+$/ ? $d + 0 : $d;
    my ($st) = Guard::admin('POST', "/admin/upstreams/app/servers/$b1/drain",
                            'test-token-olga',
                            JSON::PP->new->encode({ dry_run => JSON::PP::true(), expires => $value }));
    Test::More::ok($st == 200 || $st == 400, "the API on --expires '$d': $st");
    ($rc, $out) = main::ctl(\%olga, '--instance', $main::One, 'drain', 'app', $b1,
                            '--dry-run', '--expires', $d);
    Test::More::is($rc, $st == 200 ? 0 : 2,
                   "guardctl --expires '$d' as the API: " . ($st == 200 ? 'taken' : 'refused'))
        or Test::More::diag($out);
    next if $st == 200;
    Test::More::like($out, qr/^guardctl: --expires: not a duration the admin API accepts: /m,
                     'the usage error says why');
    ($rc, $out) = main::ctl(\%olga, '--instance', $nobody, 'drain', 'app', $b1,
                            '--expires', $d);
    Test::More::is($rc, 2, "--expires '$d': refused before any request") or Test::More::diag($out);
}
Test::More::is(main::server_of(Guard::_server_port(), $ENV{TEST_NGINX_B1})->{admin},
               'active', 'nothing changed');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 9: an instance that answers garbage, a redirect or JSON that is not an object: no traceback, never followed, rolled back
--- http_config eval: $::App . $::Backends
--- config eval
$::Config . <<"_EOC_";
    location /moved/ { return 302 http://127.0.0.1:$ENV{TEST_NGINX_B9}/admin/; }
    location /list/ { default_type application/json; return 200 '[1,2]'; }
_EOC_
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $port = Guard::_server_port();
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my %olga = (GUARDCTL_TOKEN => 'test-token-olga');
Guard::start_hostile('garbage', $ENV{TEST_NGINX_B8}, lifetime => 60);
Guard::start_hostile('ok', $ENV{TEST_NGINX_B9}, lifetime => 60, log => 1);
for my $t (["http://127.0.0.1:$ENV{TEST_NGINX_B8}/admin/", 3,
            qr/unreachable: not a whole HTTP answer \(BadStatusLine\)/, 'garbage'],
           ["http://127.0.0.1:$port/moved/", 3,
            qr{redirected \(HTTP 302\) to http://127\.0\.0\.1:$ENV{TEST_NGINX_B9}/admin/: not followed},
            'a redirect'],
           ["http://127.0.0.1:$port/list/", 1,
            qr/not a JSON object \(HTTP 200\): \[1,2\]/, 'a JSON array']) {
    my ($bad, $exit, $said, $what) = @$t;
    my ($rc, $out) = main::ctl(\%olga, '--instance', $main::One,
                               '--instance', $bad, 'drain', 'app', $b1);
    Test::More::is($rc, $exit, "$what: exit $exit") or Test::More::diag($out);
    Test::More::unlike($out, qr/Traceback|Error:/, "$what: no traceback");
    Test::More::like($out, qr{^\Q$bad\E: $said}m, "$what: said");
    Test::More::like($out, qr{^rollback \Q$main::One\E: resume app/\Q$b1\E: }m,
                     "$what: the first instance rolled back");
    Test::More::is(main::server_of($port, $ENV{TEST_NGINX_B1})->{admin},
                   'active', "$what: the first instance is active again");
}
Test::More::is(Guard::hostile_log_count($ENV{TEST_NGINX_B9}), 0,
               'the redirect was not followed: the token went nowhere else');
Guard::stop_hostile($ENV{TEST_NGINX_B8});
Guard::stop_hostile($ENV{TEST_NGINX_B9});
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 10: a rollback keeps the end of the override it puts back: a weight for 1h, a drain for 2h (after a resume, after maintenance)
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $port = Guard::_server_port();
my ($b1, $b2) = map { "127.0.0.1:$ENV{\"TEST_NGINX_B$_\"}" } 1, 2;
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $nobody = "http://127.0.0.1:$ENV{TEST_NGINX_B7}/admin/";    # nothing listens
my %olga = (GUARDCTL_TOKEN => 'test-token-olga');
my ($rc, $out) = main::ctl(\%olga, '--instance', $main::One, 'weight', 'app', $b1,
                           '5', '--expires', '1h');
Test::More::is($rc, 0, 'a weight for 1h') or Test::More::diag($out);
($rc, $out) = main::ctl(\%olga, '--instance', $main::One, 'drain', 'app', $b2,
                        '--expires', '2h');
Test::More::is($rc, 0, 'a drain for 2h') or Test::More::diag($out);
($rc, $out) = main::ctl(\%olga, '--instance', $main::One, '--instance', $nobody,
                        'weight', 'app', $b1, '9');
Test::More::is($rc, 3, 'a fleet weight, the second unreachable: exit 3') or Test::More::diag($out);
($rc, $out) = main::ctl(\%olga, '--instance', $main::One, '--instance', $nobody,
                        'resume', 'app', $b2);
Test::More::is($rc, 3, 'a fleet resume, the second unreachable: exit 3') or Test::More::diag($out);
my $now = time * 1000;
my $s1 = main::server_of($port, $ENV{TEST_NGINX_B1});
Test::More::is($s1->{admin_weight}, 5, 'the weight is 5 again');
my $until = ($s1->{weight_override} || {})->{until_ms} // 0;
Test::More::ok(abs($until - $now - 3600_000) < 120_000,
               "and ends in about 1h, not never: until_ms $until");
my $s2 = main::server_of($port, $ENV{TEST_NGINX_B2});
Test::More::like($s2->{admin}, qr/^drain/, 'the second server is drained again');
$until = ($s2->{admin_override} || {})->{until_ms} // 0;
Test::More::ok(abs($until - $now - 7200_000) < 120_000,
               "and ends in about 2h, not never: until_ms $until");
# maintenance over that drain, rolled back: drained again, until the same end
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-adam' }, '--instance', $main::One,
                        '--instance', $nobody, 'maintenance', 'app', $b2);
Test::More::is($rc, 3, 'a fleet maintenance, the second unreachable: exit 3') or Test::More::diag($out);
$s2 = main::server_of($port, $ENV{TEST_NGINX_B2});
Test::More::like($s2->{admin}, qr/^drain/, 'drained again, not in maintenance');
$until = ($s2->{admin_override} || {})->{until_ms} // 0;
Test::More::ok(abs($until - $now - 7200_000) < 120_000,
               "and still ends in about 2h: until_ms $until");
($rc, $out) = main::ctl(\%olga, '--instance', $main::One, 'resume', 'app', $b2);
($rc, $out) = main::ctl(\%olga, '--instance', $main::One, 'weight', 'app', $b1, 'config');
Test::More::is(main::server_of($port, $ENV{TEST_NGINX_B1})->{admin_weight}, undef,
               'cleaned up');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 11: instance URLs: userinfo, a query, a fragment and other bad ones refused before any request, never echoing the password; IPv6, a path prefix, https work
A query went into every API path guardctl built ("admin/?pretty=1/whoami"),
and a password given as userinfo was printed with each answer.
--- http_config eval
$::App . $::Backends . <<"_EOC_";
    server {
        listen [::1]:$ENV{TEST_NGINX_B4};
        listen 127.0.0.1:$ENV{TEST_NGINX_B4} ssl;
        ssl_certificate $ENV{TEST_NGINX_CERTS}/server.crt;
        ssl_certificate_key $ENV{TEST_NGINX_CERTS}/server.key;
        location /ops/guard/ {
            guard_admin;
            guard_admin_tokens $::Tokens;
        }
    }
_EOC_
--- config eval: $::Config
--- init
my $port = Guard::_server_port();
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my %vera = (GUARDCTL_TOKEN => 'test-token-vera');
my $spy = "127.0.0.1:$ENV{TEST_NGINX_B9}";     # logs any request it gets
Guard::start_hostile('ok', $ENV{TEST_NGINX_B9}, lifetime => 60, log => 1);
my $list = "$main::Dir/fleet-bad.txt";

# refused: exit 2, one line that names the part, never the password
for my $t (["http://olga:s3cret-pw\@$spy/admin/",
            qr{http://\*\*\*\@\Q$spy\E/admin/: userinfo}, 'user:password@'],
           ["http://s3cret-pw\@$spy/admin/",
            qr{http://\*\*\*\@\Q$spy\E/admin/: userinfo}, 'a token as userinfo'],
           ["http://olga:s3c/ret-pw\@$spy/admin/",
            qr{http://\*\*\*\@\Q$spy\E/admin/: userinfo}, 'a password with a "/"'],
           ["http://$spy/admin/?pretty=1",
            qr{a query \("\?pretty=1"\)}, 'a query'],
           ["http://$spy/admin?", qr{a query \("\?"\)}, 'an empty query'],
           ["http://$spy/admin/#upstreams", qr{a fragment \("#upstreams"\)}, 'a fragment'],
           ["ftp://$spy/admin/", qr{the scheme "ftp" is not http or https}, 'ftp'],
           ["$spy/admin/", qr{it does not begin with http:// or https://}, 'no scheme'],
           ["http:///admin/", qr{no host}, 'no host'],
           ["http://:$ENV{TEST_NGINX_B9}/admin/", qr{no host}, 'an empty host'],
           ["http://127.0.0.1:65536/admin/", qr{port "65536" is not from 1 to 65535}, 'port 65536'],
           ["http://127.0.0.1:0/admin/", qr{port "0" is not from 1 to 65535}, 'port 0'],
           ["http://127.0.0.1:/admin/", qr{an empty port after ":"}, 'an empty port'],
           ["http://127.0.0.1:8o/admin/", qr{port "8o" is not from 1 to 65535}, 'a port not a number'],
           ["http://::1:$ENV{TEST_NGINX_B4}/ops/guard/", qr{an IPv6 address goes in brackets},
            'IPv6 without brackets'],
           ["http://[::1/ops/guard/", qr{no "\]" after the IPv6 address}, 'no closing bracket'],
           ["http://[::g]:$ENV{TEST_NGINX_B4}/ops/guard/", qr{"::g" is not an IPv6 address},
            'not an IPv6 address']) {
    my ($url, $said, $what) = @$t;
    my ($rc, $out) = main::ctl(\%vera, '--instance', $url, 'whoami');
    Test::More::is($rc, 2, "$what: a usage error, exit 2") or Test::More::diag($out);
    Test::More::like($out, qr{\Aguardctl: instance URL \S+: [^\n]*\n\z}, "$what: one line")
        or Test::More::diag($out);
    Test::More::like($out, $said, "$what: it names the part");
    Test::More::unlike($out, qr/s3c|ret-pw/, "$what: not the password");
}
# from the environment, from a file, and after a good instance in a fleet:
# refused before the first one is changed
my ($rc, $out) = main::ctl({ %vera, GUARDCTL_INSTANCE => "http://olga:s3cret-pw\@$spy/admin/" },
                           'whoami');
Test::More::is($rc, 2, 'userinfo in GUARDCTL_INSTANCE: exit 2') or Test::More::diag($out);
Test::More::unlike($out, qr/s3cret/, 'not the password');
{
    open my $fh, '>', $list or die "$list: $!\n";
    print $fh "$main::One\nhttp://olga:s3cret-pw\@$spy/admin/   # the password in a URL\n";
    close $fh;
}
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instances', $list,
                        'drain', 'app', $b1);
Test::More::is($rc, 2, 'userinfo in --instances FILE: exit 2') or Test::More::diag($out);
Test::More::unlike($out, qr/s3cret/, 'not the password');
($rc, $out) = main::ctl({ GUARDCTL_TOKEN => 'test-token-olga' }, '--instance', $main::One,
                        '--instance', "http://$spy/admin/?x=1", 'drain', 'app', $b1);
Test::More::is($rc, 2, 'a fleet with a query in its second URL: exit 2') or Test::More::diag($out);
Test::More::is(main::server_of($port, $ENV{TEST_NGINX_B1})->{admin}, 'active',
               'the first instance was not changed');
Test::More::is(Guard::hostile_log_count($ENV{TEST_NGINX_B9}), 0,
               'no request went out for any of them');
Guard::stop_hostile($ENV{TEST_NGINX_B9});

# work: no trailing slash, a path prefix, IPv6 in brackets, https, the
# scheme in capitals (https with --cacert: the CA is taken)
for my $url ("http://127.0.0.1:$port/admin", "http://[::1]:$ENV{TEST_NGINX_B4}/ops/guard/",
             "http://[::1]:$ENV{TEST_NGINX_B4}/ops/guard", "HTTP://127.0.0.1:$port/admin/",
             "https://127.0.0.1:$ENV{TEST_NGINX_B4}/ops/guard/",
             "HTTPS://127.0.0.1:$ENV{TEST_NGINX_B4}/ops/guard") {
    ($rc, $out) = main::ctl(\%vera, '--instance', $url, '--cacert',
                            "$ENV{TEST_NGINX_CERTS}/ca.crt", 'whoami');
    Test::More::is($rc, 0, "$url: exit 0") or Test::More::diag($out);
    Test::More::like($out, qr/: vera, role viewer/, "$url: the answer");
}
# the same path with or without the slash: one base, as printed
($rc, $out) = main::ctl(\%vera, '--instance', "http://[::1]:$ENV{TEST_NGINX_B4}/ops/guard",
                        'whoami');
Test::More::like($out, qr{^\Qhttp://[::1]:$ENV{TEST_NGINX_B4}/ops/guard/: \E}m,
                 'the base is printed with one trailing slash');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]
