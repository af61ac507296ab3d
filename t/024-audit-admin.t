# The audit log on the admin path (issue 12): a pending drain and its
# approval audited with both names; each refused call leaves exactly one
# line and no change; the chain verifies against the head the status
# report publishes; an audit log that cannot be written (a full disk, a
# read-only file) refuses changes (503 audit_unavailable) while reads keep
# working, and changes go on once it is writable; the changes the module
# makes itself (standby promotions and demotions, the floor lost and
# regained, agent weights and drains), one line each; eight clients at
# once on two workers with a reopen in the middle: one whole chain.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use POSIX ();
use IO::Socket::INET ();
use Time::HiRes ();

our $Dir = "/tmp/guard-audit-admin-" . Guard::_server_port();
mkdir $Dir, 0700;
unlink glob "$Dir/*";
our $Tokens = "$Dir/tokens";
# long names (TEST 9): a certificate's DN, and a name of 1,000 bytes
our $Dn = 'CN=oncall-engineer-alice,OU=Site Reliability Engineering,'
        . 'O=Example Corporation,C=US';
our $Big = 'svc-' . join('', map { sprintf 'segment%03d-', $_ } 1 .. 90)
         . 'x' x 6;
our $Key = "$Dir/key";
our $Log = "$Dir/audit.log";
{
    open my $fh, '>', $Tokens or die "$Tokens: $!\n";
    print $fh
        Guard::token_line('olga', 'operator', 'app', 'test-token-olga'),
        Guard::token_line('otto', 'operator', '*', 'test-token-otto'),
        Guard::token_line('vera', 'viewer', '*', 'test-token-vera'),
        Guard::token_line('adam', 'admin', '*', 'test-token-adam'),
        qq{"$Dn" operator * } . Guard::token_hash('sha256', 'test-token-dn') . "\n",
        Guard::token_line($Big, 'admin', '*', 'test-token-big');
    close $fh;
    chmod 0600, $Tokens;
    open $fh, '>', $Key or die "$Key: $!\n";
    print $fh "test-audit-key-for-the-admin-path-0123456789\n";
    close $fh;
    chmod 0600, $Key;
}
our $LongUp = 'erp_orders_eu_west_1_' . 'x' x 80;

# TESTs 9-11: "app" loses no server without a second principal; the long
# upstream has no floor
sub long_http {
    my ($log) = @_;
    return <<"_EOC_" . $::Backends;
    guard_audit_log $log;
    guard_audit_key $::Key;
    guard_admin_two_person share=100% concurrent=4 max_out=100%;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms;
        guard_floor 3;
    }
    upstream $::LongUp {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check tcp interval=100ms;
    }
_EOC_
}

sub read_log {
    my ($log) = @_;
    open my $in, '<', $log or return ();
    return map { JSON::PP->new->utf8->decode($_) } <$in>;
}

sub all_up {
    Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
    Guard::wait_health($::LongUp, $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
}

sub drain_path { "/admin/upstreams/$_[0]/servers/" . srv($_[1]) . '/drain' }
our $Verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";

our $Backends = join '', map { <<"_EOC_" } 1 .. 3;
    server {
        listen 127.0.0.1:$ENV{"TEST_NGINX_B$_"};
        location /health { return 200; }
        location / { return 200 "b$_\\n"; }
    }
_EOC_

our $Upstream = <<"_EOC_";
    guard_admin_two_person max_out=70%;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms;
        guard_floor 2;
    }
    upstream billing {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check tcp interval=100ms;
    }
_EOC_

our $Config = <<"_EOC_";
    location = /guard { guard_status; }
    location /admin/ {
        guard_admin;
        guard_admin_tokens $Tokens;
    }
_EOC_

# a log made immutable by TEST 7, made writable again whatever happens
our $Immutable;
END { system("chattr -i $Immutable") if $Immutable }

sub lines {
    open my $fh, '<', $Log or return ();
    return map { JSON::PP->new->decode($_) } <$fh>;
}

sub srv { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_[0])}" }

sub view {
    my $st = Guard::guard_status() or return 'no status';
    my $u = Guard::upstream_state($st, 'app') or return 'no upstream';
    # a drain in force is "draining" or "drained": the tick moves it on
    return join ' ', map { "$_->{server}=" . ($_->{admin} =~ s/^drained$/draining/r)
                           . "/$_->{admin_version}" } @{ $u->{servers} };
}

sub Guard::expect {
    my ($name, $want, $method, $path, $token, $body, %opt) = @_;
    my ($st, $j, $head) = Guard::admin($method, $path, $token, $body, %opt);
    my $code = $j ? $j->{code} // 'ok' : 'not JSON: ' . ($Guard::BODY // '');
    Test::More::is(($st // 'none') . " $code", $want, $name)
        or Test::More::diag($Guard::BODY);
    return ($j, $head);
}

master_on();
workers(2);
no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: requested then approved, with both names; refusals: one line each
--- http_config eval
"    guard_audit_log $::Log;
    guard_audit_key $::Key;
" . $::Upstream . $::Backends
--- config eval: $::Config
--- init
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
my ($j) = Guard::expect('b1 drains: 1 of 3 is within the share of 34%',
                        '200 ok', 'POST', $d->(1), 'test-token-olga',
                        '{"reason":"patch"}');
($j) = Guard::expect('b2: pending', '202 ok', 'POST', $d->(2), 'test-token-olga',
                     '{"reason":"patch 2"}');
my $id = $j->{request};
Guard::expect('approved by otto', '200 ok', 'POST', "/admin/pending/$id/approve",
              'test-token-otto', '{}');
my @l = main::lines();
my ($asked) = grep { ($_->{request} // 0) == $id && $_->{result} eq 'pending' } @l;
my ($done) = grep { ($_->{request} // 0) == $id && $_->{result} eq 'applied' } @l;
Test::More::ok($asked && $asked->{principal} eq 'olga' && $asked->{op} eq 'drain',
               'audited: requested by olga');
Test::More::ok($done && $done->{principal} eq 'olga' && $done->{approver} eq 'otto'
               && $done->{before} eq 'active' && $done->{after} =~ /^drain/,
               'audited: applied, requested by olga, approved by otto')
    or Test::More::diag(JSON::PP->new->encode($done // {}));
Test::More::is($asked->{client}, '127.0.0.1', 'with the client address');
Test::More::is("$asked->{reason}/$asked->{upstream}/$asked->{server}",
               'patch 2/app/' . main::srv(2), 'the reason given, the target');
# every refused call: exactly one line, and nothing changes
my $before = main::view();
my $b3 = '/admin/upstreams/app/servers/' . main::srv(3);
my @cases = (
    ['no token', '401 unauthenticated', 'POST', "$b3/drain", undef, '{}'],
    ['wrong token', '401 unauthenticated', 'POST', "$b3/drain", 'test-token-x', '{}'],
    ['viewer writing', '403 forbidden', 'POST', "$b3/drain", 'test-token-vera', '{}'],
    ['operator doing maintenance', '403 forbidden', 'POST', "$b3/maintenance",
     'test-token-olga', '{}'],
    ['outside its upstreams', '403 forbidden', 'POST',
     '/admin/upstreams/billing/servers/' . main::srv(1) . '/drain',
     'test-token-olga', '{}'],
    ['GET writing', '405 method_not_allowed', 'GET', "$b3/drain", 'test-token-olga', undef],
    ['bad JSON', '400 bad_json', 'POST', "$b3/drain", 'test-token-olga', '{"a":'],
    ['wrong type', '400 bad_value', 'POST', "$b3/drain", 'test-token-olga', '{"reason":1}'],
    ['oversize', '413 body_too_large', 'POST', "$b3/drain", 'test-token-olga',
     '{"reason":"' . ('x' x 5000) . '"}'],
    ['unknown upstream', '404 unknown_upstream', 'POST',
     '/admin/upstreams/nope/servers/x/drain', 'test-token-otto', '{}'],
    ['unknown server', '404 unknown_server', 'POST',
     '/admin/upstreams/app/servers/127.0.0.1:1/drain', 'test-token-olga', '{}'],
    ['approving an applied request', '409 not_pending', 'POST',
     "/admin/pending/$id/approve", 'test-token-olga', '{}'],
);
for my $c (@cases) {
    my $n0 = scalar(main::lines());
    Guard::expect(@$c);
    my @after = main::lines();
    Test::More::is(scalar(@after) - $n0, 1, "$c->[0]: one audit line");
    Test::More::is($after[-1]{result}, 'refused', "$c->[0]: audited as refused");
    Test::More::is($after[-1]{code}, ($c->[1] =~ /(\S+)$/)[0], "$c->[0]: with its code");
}
Test::More::is(main::view(), $before, 'the refusals changed nothing');
my $st = Guard::guard_status();
my $out = `$::Verify $::Log --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 0, 'the chain verifies against the published head')
    or Test::More::diag($out);
Test::More::like($out, qr/^OK: \d+ lines, last seq $st->{audit_seq}/, $out);
# the same head in the Prometheus and HTML formats: each verifies the log
my (undef, $prom) = Guard::http_get('/guard?format=prometheus');
my ($pseq) = $prom =~ /^nginx_upstream_guard_audit_sequence (\d+)$/m;
my ($hseq, $hmac) = $prom =~ /^nginx_upstream_guard_audit_head_info\{seq="(\d+)",mac="([0-9a-f]{64})"\} 1$/m;
Test::More::ok($pseq && $hseq && $pseq == $hseq, 'Prometheus: audit_sequence and audit_head_info')
    or Test::More::diag($prom);
$out = `$::Verify $::Log --key $::Key --head @{[$hseq // 0]}:@{[$hmac // 'x']} 2>&1`;
Test::More::like(($? >> 8) . " $out", qr/^0 OK: \d+ lines, last seq $hseq,/,
                 'the log verifies against the head Prometheus publishes');
my (undef, $html) = Guard::http_get('/guard?format=html');
my ($tseq, $tmac) = $html =~ m{audit line (\d+), MAC <code>([0-9a-f]{64})</code>};
$out = `$::Verify $::Log --key $::Key --head @{[$tseq // 0]}:@{[$tmac // 'x']} 2>&1`;
Test::More::like(($? >> 8) . " $out", qr/^0 OK: \d+ lines, last seq $tseq,/,
                 'and against the head the HTML page shows');
--- request
GET /guard
--- response_body_like: "audit_seq":[1-9]
--- no_error_log
[error]



=== TEST 2: an audit log that cannot be written refuses changes, not reads
--- http_config eval
"    guard_audit_log /dev/full;
    guard_audit_key $::Key;
" . $::Upstream . $::Backends
--- config eval: $::Config
--- init
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $before = main::view();
my $d = '/admin/upstreams/app/servers/' . main::srv(1) . '/drain';
Guard::expect('drain: refused, it cannot be audited', '503 audit_unavailable',
              'POST', $d, 'test-token-olga', '{}');
Guard::expect('weight: refused too', '503 audit_unavailable', 'POST',
    '/admin/upstreams/app/servers/' . main::srv(1) . '/weight', 'test-token-olga',
    '{"weight":2}');
Guard::expect('reads work', '200 ok', 'GET', '/admin/upstreams/app', 'test-token-vera',
              undef);
Test::More::is(main::view(), $before, 'nothing changed');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 3: a reload that changes servers says which, per upstream; a cut tail is caught
--- http_config eval
"    guard_audit_log $::Log.3;
    guard_audit_key $::Key;
" . $::Upstream . $::Backends
--- config eval: $::Config
--- init
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
my ($b3, $b4) = (main::srv(3), "127.0.0.1:$ENV{TEST_NGINX_B4}");
$text =~ s/server \Q$b3\E;/server $b4;/ or die "no $b3 in $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
Guard::reload();
my @l = do {
    open my $in, '<', "$::Log.3" or die "$::Log.3: $!\n";
    map { JSON::PP->new->decode($_) } <$in>;
};
my @servers = grep { $_->{op} eq 'servers' } @l;
Test::More::is(scalar @servers, 1, 'one line for the upstream whose servers changed');
Test::More::is($servers[0]{upstream}, 'app', 'app');
Test::More::is($servers[0]{principal}, 'reload', 'by reload');
Test::More::is($servers[0]{detail}, "added: $b4; removed: $b3", 'added and removed');
# the status report's head catches a log whose last lines were cut
my $st = Guard::guard_status();
my $cut = "$::Dir/cut.log";
open my $out, '>', $cut or die "$cut: $!\n";
open my $in, '<', "$::Log.3" or die "$::Log.3: $!\n";
my @raw = <$in>;
print $out @raw[0 .. $#raw - 1];
close $out;
my $res = `$::Verify $cut --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 1, 'a cut tail fails against the published head');
Test::More::like($res, qr/truncated: the log ends at seq \d+ but the head is seq $st->{audit_seq}/, $res);
--- request
GET /guard
--- response_body_like: "generation":2
--- no_error_log
[error]



=== TEST 4: the chain goes on after kill -9 of every worker
--- http_config eval
"    guard_audit_log $::Log.4;
    guard_audit_key $::Key;
" . $::Upstream . $::Backends
--- config eval: $::Config
--- init
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $d = '/admin/upstreams/app/servers/' . main::srv(1);
Guard::expect('drain b1', '200 ok', 'POST', "$d/drain", 'test-token-olga', '{}');
my $before = Guard::guard_status();
my $master = Guard::master_pid();
my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
kill 'KILL', @workers;
Guard::wait_for(sub {
    my @now = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
    return @now == 2 && !grep { my $w = $_; grep { $_ == $w } @workers } @now;
}, 10);
Guard::wait_for(sub { Guard::guard_status() }, 10);
Guard::expect('resume b1', '200 ok', 'POST', "$d/resume", 'test-token-olga', '{}');
my $st = Guard::guard_status();
Test::More::ok($st->{audit_seq} > $before->{audit_seq},
               "the head moved on: $before->{audit_seq}, then $st->{audit_seq}");
my $out = `$::Verify $::Log.4 --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 0, 'one unbroken chain across the killed workers')
    or Test::More::diag($out);
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 5: the module's own changes: promotions, the floor, agents; one line each
--- http_config eval
"    guard_audit_log $::Log.5;
    guard_audit_key $::Key;
    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_standby 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    upstream thin {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 2;
    }
    upstream agents {
        server 127.0.0.1:$ENV{TEST_NGINX_B4} weight=10;
        server 127.0.0.1:$ENV{TEST_NGINX_B5};
        server 127.0.0.1:$ENV{TEST_NGINX_B6};
        guard_check http uri=/health interval=100ms;
        guard_agent X-Agent;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { root html; if (-f \$document_root/b1-down) { return 503; } return 200; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        listen 127.0.0.1:$ENV{TEST_NGINX_B3};
        listen 127.0.0.1:$ENV{TEST_NGINX_B6};
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B4};
        location /health { add_header X-Agent 50%; return 200; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B5};
        location /health {
            root html;
            if (-f \$document_root/b5-drain) { add_header X-Agent drain; return 200; }
            return 200;
        }
    }
"
--- config eval: $::Config
--- init
my $log = "$::Log.5";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 2;
Guard::wait_health('thin', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 2;
Guard::wait_health('agents', $ENV{"TEST_NGINX_B$_"}, 'up') for 4 .. 6;
Guard::wait_health('agents', $ENV{TEST_NGINX_B4}, '5', 'effective_weight');
Guard::health_file('b5-drain', 1);
Guard::wait_health('agents', $ENV{TEST_NGINX_B5}, 'draining', 'admin');
Guard::health_file('b5-drain', 0);
Guard::wait_health('agents', $ENV{TEST_NGINX_B5}, 'active', 'admin');
Guard::health_file('b1-down', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up', 'state');
Guard::wait_health('thin', $ENV{TEST_NGINX_B1}, 'down');
Guard::health_file('b1-down', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'standby', 'state');
Guard::wait_health('thin', $ENV{TEST_NGINX_B1}, 'up');
my @l;
my $events = sub {
    open my $in, '<', $log or return ();
    return grep { $_->{principal} ne 'reload' && $_->{principal} ne '-' }
           map { JSON::PP->new->decode($_) } <$in>;
};
Guard::wait_for(sub { @l = $events->(); grep { $_->{op} eq 'floor_regained' } @l }, 10);
my $srv = sub { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_[0])}" };
my $show = sub {
    my ($e) = @_;
    return join ' ', map { $_ // 'null' } @$e{qw(principal op upstream server
        before after result client)};
};
my $one = sub {
    my ($name, $op, $up, $want) = @_;
    my @m = grep { $_->{op} eq $op && $_->{upstream} eq $up } @l;
    Test::More::is(scalar @m, 1, "$name: one line") or Test::More::diag(map { $show->($_) . "\n" } @l);
    Test::More::is($m[0] ? $show->($m[0]) : 'none', $want, "$name: who, what, before, after");
    return $m[0] || {};
};
my $p = $one->('a standby promoted', 'promote', 'app',
               'guard promote app ' . $srv->(3) . ' standby promoted applied null');
my $d = $one->('and demoted', 'demote', 'app',
               'guard demote app ' . $srv->(3) . ' promoted standby applied null');
Test::More::ok($p->{seq} && $d->{seq} && $p->{seq} < $d->{seq}, 'promoted, then demoted');
my $lost = $one->('the floor lost', 'floor_lost', 'thin',
                  'guard floor_lost thin null holds below applied null');
Test::More::is($lost->{detail}, '1 in rotation, floor 2', 'with the numbers');
my $back = $one->('and regained', 'floor_regained', 'thin',
                  'guard floor_regained thin null below holds applied null');
Test::More::ok($lost->{seq} && $back->{seq} && $lost->{seq} < $back->{seq}, 'lost, then regained');
my $w = $one->('an agent weight', 'agent_weight', 'agents',
               'agent:' . $srv->(4) . ' agent_weight agents ' . $srv->(4)
               . ' null null applied null');
Test::More::like($w->{detail} // '', qr/^weight 5 \(configured 10\); \d in rotation, floor 2$/,
                 "the weight set: " . ($w->{detail} // 'none'));
$one->('an agent drain', 'agent_drain', 'agents',
       'agent:' . $srv->(5) . ' agent_drain agents ' . $srv->(5) . ' active draining applied null');
$one->('and its end', 'agent_drain_end', 'agents',
       'agent:' . $srv->(5) . ' agent_drain_end agents ' . $srv->(5) . ' draining active applied null');
my $st = Guard::guard_status();
my $out = `$::Verify $log --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 0, 'the chain verifies') or Test::More::diag($out);
--- request
GET /guard
--- response_body_like: "standbys_promoted":0
--- no_error_log
[alert]
[crit]



=== TEST 6: every refusal of the admin API's list: one audit line each, nothing changes
--- http_config eval
"    guard_audit_log $::Log.6;
    guard_audit_key $::Key;
" . ($::Upstream =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval
$::Config =~ s/guard_admin;/guard_admin;\n        client_body_timeout 1s;/r
--- init
my $log = "$::Log.6";
my $read = sub {
    open my $in, '<', $log or return ();
    return map { JSON::PP->new->decode($_) } <$in>;
};
# the whole state an admin call could touch: every server of every
# upstream, the freeze, the requests
my $state = sub {
    my $st = Guard::guard_status() or return 'no status';
    my @s;
    for my $u (@{ $st->{upstreams} }) {
        push @s, map { "$u->{name}/$_->{server}="
                       . ($_->{admin} =~ s/^drained$/draining/r)
                       . "/$_->{admin_version}/$_->{effective_weight}" }
                 @{ $u->{servers} };
    }
    return join ' ', @s, "frozen=" . ($st->{frozen} ? 1 : 0),
                     'requests=' . scalar @{ $st->{pending_requests} || [] };
};
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my ($b1, $b2) = (main::srv(1), main::srv(2));
Guard::expect('drain b1 first', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
my $before = $state->();
my $d = "/admin/upstreams/app/servers/$b2/drain";
my @cases = (
    ['no token', '401 unauthenticated', 'POST', $d, undef, '{}'],
    ['wrong token', '401 unauthenticated', 'POST', $d, 'test-token-nobody', '{}'],
    ['viewer writing', '403 forbidden', 'POST', $d, 'test-token-vera', '{}'],
    ['operator doing maintenance', '403 forbidden', 'POST',
     "/admin/upstreams/app/servers/$b2/maintenance", 'test-token-olga', '{}'],
    ['principal outside its upstreams', '403 forbidden', 'POST',
     "/admin/upstreams/billing/servers/$b1/drain", 'test-token-olga', '{}'],
    ['GET writing', '405 method_not_allowed', 'GET', $d, 'test-token-olga', undef],
    ['malformed JSON', '400 bad_json', 'POST', $d, 'test-token-olga', '{]'],
    ['truncated JSON', '400 bad_json', 'POST', $d, 'test-token-olga', '{"reason":"x'],
    ['duplicated key', '400 bad_json', 'POST', $d, 'test-token-olga',
     '{"reason":"a","reason":"b"}'],
    ['wrong type', '400 bad_value', 'POST', $d, 'test-token-olga', '{"reason":5}'],
    ['oversize body', '413 body_too_large', 'POST', $d, 'test-token-olga',
     '{"reason":"' . ('x' x 5000) . '"}'],
    ['unknown upstream', '404 unknown_upstream', 'POST',
     "/admin/upstreams/nope/servers/$b2/drain", 'test-token-otto', '{}'],
    ['unknown server', '404 unknown_server', 'POST',
     '/admin/upstreams/app/servers/127.0.0.1:1/drain', 'test-token-olga', '{}'],
    ['floor breach', '409 floor', 'POST', $d, 'test-token-olga', '{}'],
);
for my $c (@cases) {
    my @l0 = $read->();
    Guard::expect(@$c);
    my @l = $read->();
    Test::More::is(scalar(@l) - scalar(@l0), 1, "$c->[0]: one audit line");
    my $e = $l[-1] || {};
    my $code = ($c->[1] =~ /(\S+)$/)[0];
    my ($op, $up, $srv) = $c->[3] =~ m{/upstreams/([^/]+)/servers/([^/]+)/(\w+)$}
        ? ($3, $1, $2) : ('?', '?', '?');
    Test::More::is(join(' ', map { $_ // 'null' }
                            @$e{qw(op upstream server result code client)}),
                   "$op $up $srv refused $code 127.0.0.1",
                   "$c->[0]: audited as refused, what was asked, the code");
    Test::More::is($state->(), $before, "$c->[0]: nothing changed");
}
# a body that never arrives whole: the client goes away after a part
{
    my $n0 = scalar(my @l0 = $read->());
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => Guard::_server_port(),
                                  Proto => 'tcp') or die "connect: $!\n";
    syswrite $s, "POST $d HTTP/1.0\r\nHost: localhost\r\n"
                 . "Authorization: Bearer test-token-olga\r\n"
                 . "Content-Type: application/json\r\nContent-Length: 50\r\n\r\n"
                 . '{"reason":';
    Time::HiRes::sleep(0.5);
    close $s;
    Test::More::ok(Guard::wait_for(sub { scalar(my @l = $read->()) > $n0 }, 5),
                   'a body cut short: audited');
    my @l = $read->();
    Test::More::is(scalar(@l) - $n0, 1, 'a body cut short: one line');
    Test::More::is(join(' ', map { $_ // 'null' } @{ $l[-1] }{qw(principal op server result code)}),
                   "olga drain $b2 refused aborted", 'a body cut short: refused, with what was asked');
    Test::More::is($state->(), $before, 'a body cut short: nothing changed');
}
# a body that stops coming: client_body_timeout ends the call
{
    my $n0 = scalar(my @l0 = $read->());
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => Guard::_server_port(),
                                  Proto => 'tcp') or die "connect: $!\n";
    syswrite $s, "POST $d HTTP/1.0\r\nHost: localhost\r\n"
                 . "Authorization: Bearer test-token-olga\r\n"
                 . "Content-Type: application/json\r\nContent-Length: 50\r\n\r\n"
                 . '{"reason":';
    Test::More::ok(Guard::wait_for(sub { scalar(my @l = $read->()) > $n0 }, 10),
                   'a body timed out: audited');
    close $s;
    my @l = $read->();
    Test::More::is(join(' ', scalar(@l) - $n0, map { $_ // 'null' }
                             @{ $l[-1] }{qw(principal op result code)}),
                   '1 olga drain refused body_timeout', 'a body timed out: one line, its code');
}
my ($floor) = grep { ($_->{code} // '') eq 'floor' } $read->();
Test::More::is(join(' ', map { $_ // 'null' } @$floor{qw(principal upstream server before after)}),
               "olga app $b2 active draining", 'the floor refusal: who, what, the state it would have made');
--- request
GET /guard
--- response_body_like: "admin":"drain(ing|ed)"
--- no_error_log
[error]



=== TEST 7: a read-only audit log refuses changes, reads go on; writable again, changes too
--- http_config eval
"    guard_audit_log $::Log.7;
    guard_audit_key $::Key;
" . ($::Upstream =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval: $::Config
--- init
my $log = "$::Log.7";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $b1 = '/admin/upstreams/app/servers/' . main::srv(1);
Guard::expect('drain b1 while the log is writable', '200 ok', 'POST', "$b1/drain",
              'test-token-olga', '{}');
my $size = -s $log;
# root writes through any mode: the immutable flag makes the open file
# refuse write() (EPERM), as a file system remounted read-only does
SKIP: {
    if (system("chattr +i $log 2>/dev/null") != 0) {
        Test::More::diag('chattr +i failed (no CAP_LINUX_IMMUTABLE, or a file system without it): not tested');
        Test::More::skip('a read-only audit log needs chattr +i', 11);
    }
    $::Immutable = $log;
    my $before = main::view();
    my $st0 = Guard::guard_status();
    Guard::expect('resume: refused, it cannot be audited', '503 audit_unavailable',
                  'POST', "$b1/resume", 'test-token-olga', '{}');
    Guard::expect('weight: refused too', '503 audit_unavailable', 'POST',
        '/admin/upstreams/app/servers/' . main::srv(2) . '/weight', 'test-token-olga',
        '{"weight":2}');
    Guard::expect('admin reads work', '200 ok', 'GET', '/admin/upstreams/app',
                  'test-token-vera', undef);
    my $st = Guard::guard_status();
    Test::More::ok($st, 'the status page works');
    Test::More::is(main::view(), $before, 'nothing changed');
    Test::More::is($st->{audit_seq}, $st0->{audit_seq}, 'the head did not move');
    Test::More::is(-s $log, $size, 'the log is as it was');
    system("chattr -i $log") == 0 or die "chattr -i $log failed\n";
    $::Immutable = undef;
    Guard::expect('writable again: resume applies', '200 ok', 'POST', "$b1/resume",
                  'test-token-olga', '{}');
    my $out = `$::Verify $log --key $::Key 2>&1`;
    Test::More::like("$? $out", qr/^0 OK: /, 'one chain, no gap where lines were refused')
        or Test::More::diag($out);
    # the log lines are asserted here, not in error_log sections, so that
    # a machine without chattr skips them too
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
    for my $re (qr/\[alert\] .*upstream guard: audit log "\S+audit\.log\.7": write\(\) failed, line \d+ \(resume\) is not recorded; admin changes are refused while lines cannot be written \(1: Operation not permitted\)/,
                qr/\[notice\] .*upstream guard: audit log "\S+audit\.log\.7" is written again, from line \d+/) {
        my $found = 0;
        for (1 .. 50) {
            open my $fh, '<', "$root/logs/error.log" or last;
            $found = grep { /$re/ } <$fh>;
            close $fh;
            last if $found;
            select undef, undef, undef, 0.1;
        }
        Test::More::ok($found, "error.log: $re");
    }
}
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 8: two workers, eight clients at once, a reopen in the middle: one whole chain
--- http_config eval
"    guard_audit_log $::Log.8;
    guard_audit_key $::Key;
" . ($::Upstream =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval: $::Config
--- init
my $log = "$::Log.8";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $st0 = Guard::guard_status();
my @pids;
for my $c (1 .. 8) {
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. 10) {
            my ($st) = $i % 2
                ? Guard::admin('GET', '/admin/upstreams/app', 'test-token-vera')
                : Guard::admin('POST', '/admin/upstreams/app/servers/'
                               . main::srv(1 + $c % 3) . '/weight',
                               'test-token-otto', '{"weight":' . (1 + $i % 3) . '}');
            $bad++ unless defined $st && $st == 200;
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}
# rotate while they run: the lines go on in the new file
Guard::wait_for(sub { (-s $log // 0) > 4000 }, 10);
rename $log, "$log.1" or die "rename $log: $!\n";
kill 'USR1', Guard::master_pid();
Test::More::is(Guard::wait_children(@pids), 8, 'every call answered 200');
Test::More::ok(Guard::wait_for(sub { -e $log }, 10), 'reopen made a new file');
my $st = Guard::guard_status();
Test::More::is($st->{audit_seq} - $st0->{audit_seq}, 80, '80 calls, 80 lines');
my $out = `$::Verify $log.1 $log --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::like(($? >> 8) . " $out", qr/^0 OK: \d+ lines, last seq $st->{audit_seq},/,
                 'the two files are one chain, every line whole and in order')
    or Test::More::diag($out);
my $n = () = `cat $log.1 $log`;
Test::More::is($n, $st->{audit_seq}, 'no line lost, none twice');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]
[alert]



=== TEST 9: a long DN is one principal, whole: it cannot approve its own request, and can cancel it
The name is longer than an override keeps (63 bytes): the request keeps
it whole, so that the comparison is exact.
--- http_config eval: main::long_http("$::Log.9")
--- config eval: $::Config
--- init
main::all_up();
my ($j) = Guard::expect('the DN drains b1 below the floor: pending', '202 ok',
                        'POST', main::drain_path('app', 1), 'test-token-dn', '{}');
my $id = $j->{request};
Test::More::like($j->{message}, qr/by \Q$::Dn\E needs a second/,
                 'the message names the DN whole');
Guard::expect('the DN cannot approve its own request', '403 same_principal',
              'POST', "/admin/pending/$id/approve", 'test-token-dn', '{}');
($j) = Guard::expect('read it', '200 ok', 'GET', "/admin/pending/$id",
                     'test-token-vera', undef);
Test::More::is($j->{request}{requester}, $::Dn, 'GET: the requester whole');
Test::More::is($j->{request}{state}, 'pending', 'still pending');
Guard::expect('the DN cancels its own request', '200 ok', 'DELETE',
              "/admin/pending/$id", 'test-token-dn', undef);
my @l = main::read_log("$::Log.9");
my ($asked) = grep { ($_->{request} // 0) == $id && $_->{result} eq 'pending' } @l;
my ($self) = grep { ($_->{request} // 0) == $id && $_->{result} eq 'refused' } @l;
my ($gone) = grep { ($_->{request} // 0) == $id && $_->{op} eq 'cancel' } @l;
Test::More::is($asked && $asked->{principal}, $::Dn, 'audited: asked by the DN');
Test::More::is($self && "$self->{principal}/$self->{code}", "$::Dn/same_principal",
               'audited: its own approval refused');
Test::More::is($gone && "$gone->{principal}/$gone->{result}", "$::Dn/cancelled",
               'audited: cancelled by the DN');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 10: a 1,000-byte name, a long upstream, the longest reason: answers and audit lines right, no crash
--- http_config eval: main::long_http("$::Log.10")
--- config eval: $::Config
--- init
main::all_up();
my $reason = 'r' x 63;
my ($j) = Guard::expect('the long name drains b2 of the long upstream', '200 ok',
                        'POST', main::drain_path($::LongUp, 2), 'test-token-big',
                        qq({"reason":"$reason"}));
Test::More::is(join('/', map { $_ // 'null' } @{$j}{qw(admin_before version)},
                    $j->{pool}{in_rotation_before}),
               'active/1/3', 'the answer: before, version, pool')
    or Test::More::diag($Guard::BODY);
Test::More::like($j->{admin_after} // '', qr/^drain(ing|ed)$/, 'admin_after: draining');
Test::More::like($j->{message} // '', qr/ by \Q$::Big\E: /,
                 'the message has the name whole');
($j) = Guard::expect('the long name asks to drain b2 of app: pending', '202 ok',
                     'POST', main::drain_path('app', 2), 'test-token-big',
                     qq({"reason":"$reason"}));
my $id = $j->{request};
Test::More::is(join('/', map { $_ // 'null' } @{$j}{qw(admin_before version request)},
                    @{ $j->{pool} // {} }{qw(in_rotation_before floor)}),
               "active/0/1/3/3", 'the pending answer: state, version, request, pool')
    or Test::More::diag($Guard::BODY);
Test::More::like($j->{message} // '', qr/ by \Q$::Big\E needs a second principal/,
                 'the message has the name whole');
Guard::expect('the long name cannot approve its own', '403 same_principal', 'POST',
              "/admin/pending/$id/approve", 'test-token-big', '{}');
($j) = Guard::expect('otto approves it', '200 ok', 'POST',
                     "/admin/pending/$id/approve", 'test-token-otto', '{}');
Test::More::is(($j->{requester} // '') . '/' . ($j->{approver} // ''), "$::Big/otto",
               'the approval names both whole');
($j) = Guard::expect('the long name reverts every override', '200 ok', 'DELETE',
                     '/admin/overrides', 'test-token-big', undef);
Test::More::is(join(',', sort map { "$_->{admin_before}>$_->{admin_after}" }
                             @{ $j->{reverted} // [] }),
               'draining>active,draining>active', 'both reverted, states right')
    or Test::More::diag($Guard::BODY);
my @big = grep { $_->{principal} eq $::Big } main::read_log("$::Log.10");
Test::More::is(join(',', map { "$_->{op}:$_->{result}" } @big),
               'drain:applied,drain:pending,drain:refused,drain:applied,'
               . 'revert:applied,revert:applied',
               'audited: every call of the long name, the name whole');
Test::More::is(join('|', map { "$_->{upstream}/$_->{before}/$_->{reason}" } @big[0, 1]),
               "$::LongUp/active/$reason|app/active/$reason",
               'the lines: upstream, before, reason');
my $st = Guard::guard_status();
my $out = `$::Verify $::Log.10 --key $::Key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 0, 'the chain verifies') or Test::More::diag($out);
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]
exited on signal



=== TEST 11: an approved change is its requester's, with the requester's reason
--- http_config eval: main::long_http("$::Log.11")
--- config eval: $::Config
--- init
main::all_up();
my ($j) = Guard::expect('olga drains b1: pending', '202 ok', 'POST',
                        main::drain_path('app', 1), 'test-token-olga',
                        '{"reason":"kernel patch"}');
my $id = $j->{request};
($j) = Guard::expect('otto approves', '200 ok', 'POST', "/admin/pending/$id/approve",
                     'test-token-otto', '{}');
Test::More::is("$j->{requester}/$j->{approver}", 'olga/otto', 'both names');
($j) = Guard::expect('the overrides', '200 ok', 'GET', '/admin/overrides',
                     'test-token-vera', undef);
my ($ov) = grep { $_->{server} eq main::srv(1) } @{ $j->{overrides} // [] };
Test::More::is($ov && "$ov->{by}/$ov->{reason}", 'olga/kernel patch',
               "the override is olga's, with olga's reason")
    or Test::More::diag($Guard::BODY);
my ($done) = grep { ($_->{request} // 0) == $id && $_->{result} eq 'applied' }
             main::read_log("$::Log.11");
Test::More::is($done && join('/', map { $_ // 'null' } @{$done}{qw(principal approver reason)}),
               'olga/otto/kernel patch', 'audited: olga asked, otto approved, her reason');
--- request
GET /guard
--- response_body_like: "admin":"draining|drained"
--- no_error_log
[error]
--- error_log eval
qr/drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga, approved by otto: drain(ing|ed), 2 in rotation \(floor 3\) \(reason: kernel patch\)/



=== TEST 12: a body too large, however it is sent: 413 in JSON, its size told, one audit line, no change
nginx's own client_max_body_size would refuse a large body before the
admin API sees it, with an HTML page and no audit line: a guard_admin
location has the API's limit only.
--- http_config eval
"    guard_audit_log $::Log.12;
    guard_audit_key $::Key;
" . ($::Upstream =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval
$::Config =~ s/guard_admin;/guard_admin;\n        client_max_body_size 100k;/r
--- init
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $drain = '/admin/upstreams/app/servers/' . main::srv(1) . '/drain';
my $json = sub { '{"reason":"' . ('x' x ($_[0] - 13)) . '"}' };
# raw: the body chunked (no Content-Length), in chunks of 64k
my $chunked = sub {
    my ($body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => Guard::_server_port(),
                                  Proto => 'tcp', Timeout => 10)
        or return ("connect: $@", undef);
    my $req = "POST $drain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
              . "Authorization: Bearer test-token-olga\r\n"
              . "Content-Type: application/json\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n";
    for (my $i = 0; $i < length $body; $i += 65536) {
        my $c = substr $body, $i, 65536;
        $req .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    $req .= "0\r\n\r\n";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, $req;
    my $buf = '';
    my $end = time + 20;
    while (time < $end) {
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    my ($head, $raw) = split /\r\n\r\n/, $buf, 2;
    my ($st) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($st // 'none', eval { JSON::PP->new->decode($raw // '') });
};
my $before = main::view();
my @cases = (
    ['Content-Length, 5014 bytes', 5014, 0],
    ['Content-Length, 2 MB, over client_max_body_size', 2 * 1024 * 1024, 0],
    ['chunked, 5014 bytes', 5014, 1],
    ['chunked, 40000 bytes, beyond the body buffer', 40000, 1],
    ['chunked, 2 MB, over client_max_body_size', 2 * 1024 * 1024, 1],
);
for my $c (@cases) {
    my ($name, $n, $chunk) = @$c;
    my $n0 = scalar(main::read_log("$::Log.12"));
    my ($st, $j) = $chunk ? $chunked->($json->($n))
                          : Guard::admin('POST', $drain, 'test-token-olga', $json->($n));
    Test::More::is(($st // 'none') . ' ' . ($j ? $j->{code} // 'ok' : 'not JSON'),
                   '413 body_too_large', "$name: 413 in JSON")
        or Test::More::diag(substr($Guard::BODY // '', 0, 200));
    Test::More::like($j && $j->{error} // '', qr/^the body has $n bytes, at most 4096 /,
                     "$name: its size told");
    my @after = main::read_log("$::Log.12");
    Test::More::is(scalar(@after) - $n0, 1, "$name: one audit line");
    Test::More::is($after[-1] && "$after[-1]{result}/$after[-1]{code}",
                   'refused/body_too_large', "$name: audited as refused");
}
Test::More::is(main::view(), $before, 'nothing changed');
my ($st, $j) = $chunked->('{' . (' ' x 4094) . '}');
Test::More::is(($st // 'none') . ' ' . ($j ? $j->{code} // 'ok' : 'not JSON'),
               '200 ok', 'a chunked body of 4096 bytes is read: the drain is made');
--- request
GET /guard
--- response_body_like: "admin":"drain
--- no_error_log
[error]
[alert]
