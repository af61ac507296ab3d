# The two-person rule: a high-risk drain is a pending request that the
# requester cannot approve and a second principal can; re-evaluation at
# approval, expiry (15 min by default, on time across a reload), cancel,
# the share-in-window rule (drains older than the window do not count),
# the concurrency rule (a pending change counts), the blast-radius cap,
# requests surviving a reload, and the requester refused under a second
# token of the same name or another way in.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use Time::HiRes ();

our $Dir = "/tmp/guard-two-person-" . Guard::_server_port();
mkdir $Dir;
our $Tokens = "$Dir/tokens";
{
    open my $fh, '>', $Tokens or die "$Tokens: $!\n";
    print $fh
        Guard::token_line('olga', 'operator', '*', 'test-token-olga'),
        Guard::token_line('otto', 'operator', '*', 'test-token-otto'),
        Guard::token_line('vera', 'viewer', '*', 'test-token-vera'),
        Guard::token_line('adam', 'admin', '*', 'test-token-adam'),
        Guard::token_line('erin', 'operator', 'erp_*', 'test-token-erin');
    close $fh;
    chmod 0600, $Tokens;
}

# a second tokens file, for another location: the same names, other tokens
our $Tokens2 = "$Dir/tokens2";
{
    open my $fh, '>', $Tokens2 or die "$Tokens2: $!\n";
    print $fh
        Guard::token_line('olga', 'operator', '*', 'test-token-olga-second'),
        Guard::token_line('otto', 'operator', '*', 'test-token-otto-second');
    close $fh;
    chmod 0600, $Tokens2;
}

our $Backends = join '', map { <<"_EOC_" } 1 .. 4;
    server {
        listen 127.0.0.1:$ENV{"TEST_NGINX_B$_"};
        location /health { root html; if (-f \$document_root/b$_-down) { return 503; } return 200; }
        location / { return 200 "b$_\\n"; }
    }
_EOC_

our $Http = <<"_EOC_";
    guard_admin_two_person share=50% window=10m expire=5s concurrent=2 max_out=75%;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        server 127.0.0.1:$ENV{TEST_NGINX_B4};
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 3;
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

sub Guard::expect {
    my ($name, $want, $method, $path, $token, $body, %opt) = @_;
    my ($st, $j, $head) = Guard::admin($method, $path, $token, $body, %opt);
    my $code = $j ? $j->{code} // 'ok' : 'not JSON: ' . ($Guard::BODY // '');
    Test::More::is(($st // 'none') . " $code", $want, $name)
        or Test::More::diag($Guard::BODY);
    return ($j, $head);
}

sub srv { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_[0])}" }

sub admin_of {
    my ($n) = @_;
    my $s = Guard::server_state(Guard::guard_status(), 'app', srv($n));
    return $s ? $s->{admin} : 'none';
}

sub all_up {
    Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 4;
}

master_on();
workers(2);
no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: a floor-breaking drain: pending, not by its requester, by a second
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d1 = '/admin/upstreams/app/servers/' . main::srv(1) . '/drain';
my ($j) = Guard::expect('b1: one out of four, 4-1 >= floor 3: allowed', '200 ok',
    'POST', $d1, 'test-token-olga', '{}');
my $d2 = '/admin/upstreams/app/servers/' . main::srv(2) . '/drain';
($j) = Guard::expect('b2: would break the floor: pending', '202 ok', 'POST', $d2,
                     'test-token-olga', '{"reason":"disk swap"}');
my $id = $j->{request};
Test::More::ok($id && $j->{pending} && !$j->{applied}, "pending request $id");
Test::More::like($j->{why}, qr/below the floor/, "why: $j->{why}");
Test::More::is($j->{needs}, 'operator', 'needs an operator');
Test::More::is(main::admin_of(2), 'active', 'nothing applied yet');
my $st = Guard::guard_status();
my $schema = do {
    open my $fh, '<', 'conf-examples/guard-status.schema.json' or die $!;
    local $/;
    JSON::PP->new->decode(<$fh>);
};
# before any string use of its numbers: the check looks at how they came
Test::More::is_deeply([Guard::schema_errors($st, $schema)], [],
                      'the report with a pending request matches the schema');
Test::More::is(join(',', map { "$_->{id}:$_->{requester}" } @{ $st->{pending_requests} }),
               "$id:olga", 'the status report lists the pending request');
my (undef, $html) = Guard::http_get('/guard?format=html');
Test::More::like($html, qr{Waiting for a second principal.*<td>$id</td><td>drain 127\.0\.0\.1:\d+ of app</td><td>olga</td><td>below the floor}s,
                 'and the HTML page');
my (undef, $prom) = Guard::http_get('/guard?format=prometheus');
Test::More::like($prom, qr/^nginx_upstream_guard_admin_pending_requests 1$/m,
                 'and Prometheus');
Guard::expect('the requester cannot approve', '403 same_principal', 'POST',
    "/admin/pending/$id/approve", 'test-token-olga', '{}');
Guard::expect('a viewer cannot approve', '403 forbidden', 'POST',
    "/admin/pending/$id/approve", 'test-token-vera', '{}');
Guard::expect('nor a principal outside the upstream', '403 forbidden', 'POST',
    "/admin/pending/$id/approve", 'test-token-erin', '{}');
Test::More::is(main::admin_of(2), 'active', 'still nothing applied');
($j) = Guard::expect('listed', '200 ok', 'GET', '/admin/pending', 'test-token-vera', undef);
Test::More::is($j->{requests}[0]{id}, $id, 'the request is listed');
Test::More::is($j->{requests}[0]{requester}, 'olga', 'with its requester');
Test::More::is($j->{requests}[0]{state}, 'pending', 'pending');
Test::More::ok(exists $j->{requests}[0]{approver}
               && !defined $j->{requests}[0]{approver},
               'no approver yet: null, as every field not set');
($j) = Guard::expect('a second principal approves', '200 ok', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
Test::More::ok($j->{applied}, 'applied');
Test::More::is("$j->{requester}/$j->{approver}", 'olga/otto', 'both names');
Test::More::like(main::admin_of(2), qr/^drain(ing|ed)$/, 'b2 drains');
Guard::expect('an applied request cannot be approved again', '409 not_pending',
    'POST', "/admin/pending/$id/approve", 'test-token-adam', '{}');
($j) = Guard::expect('read it', '200 ok', 'GET', "/admin/pending/$id",
                     'test-token-vera', undef);
Test::More::is("$j->{request}{state}/$j->{request}{approver}", 'applied/otto',
               'applied, by otto');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- error_log eval
[qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga needs a second principal \(operator\) to approve request \d+: below the floor/,
 qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga, approved by otto: draining/]
--- no_error_log
[error]



=== TEST 2: re-evaluation at approval, cancel, expiry, dry run
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('b1 out', '200 ok', 'POST', $d->(1), 'test-token-olga', '{}');
my ($j) = Guard::expect('dry run of a high-risk drain', '200 ok', 'POST', $d->(2),
                        'test-token-olga', '{"dry_run":true}');
Test::More::ok($j->{pending} && !$j->{allowed} && !$j->{request},
               'dry run: needs approval, no request made');
($j) = Guard::expect('b2: pending', '202 ok', 'POST', $d->(2), 'test-token-olga', '{}');
my $id = $j->{request};
# b3 dies: approving now would leave 1 in rotation, not 2 as when asked
Guard::health_file('b3-down', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'down');
Guard::expect('approval refused: less safe than when asked', '409 unsafe_now',
    'POST', "/admin/pending/$id/approve", 'test-token-otto', '{}');
Test::More::is(main::admin_of(2), 'active', 'not applied');
($j) = Guard::expect('it stays pending', '200 ok', 'GET', "/admin/pending/$id",
                     'test-token-vera', undef);
Test::More::is($j->{request}{state}, 'pending', 'still pending');
Guard::expect('another operator cannot cancel it', '403 forbidden', 'DELETE',
    "/admin/pending/$id", 'test-token-otto', undef);
Guard::expect('its requester cancels it', '200 ok', 'DELETE',
    "/admin/pending/$id", 'test-token-olga', undef);
Guard::expect('a cancelled request cannot be approved', '409 not_pending', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
Guard::health_file('b3-down', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
($j) = Guard::expect('b2 again: pending', '202 ok', 'POST', $d->(2),
                     'test-token-olga', '{}');
$id = $j->{request};
Guard::wait_for(sub {
    my (undef, $r) = Guard::admin('GET', "/admin/pending/$id", 'test-token-vera');
    return $r && $r->{request}{state} eq 'expired';
}, 15);
Guard::expect('an expired request cannot be approved', '409 not_pending', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
Test::More::is(main::admin_of(2), 'active', 'never applied');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- error_log eval
qr/upstream guard: request \d+ of olga \(drain of server 127\.0\.0\.1:\d+ of upstream "app"\) expired without a second principal/
--- no_error_log
[error]



=== TEST 3: the share within the window, the cap, also at approval
--- http_config eval
"    guard_admin_two_person share=25% window=10m concurrent=5 max_out=50%;
    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B4;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 1;
    }
" . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('1 of 4 out: 25%, not over it', '200 ok', 'POST', $d->(1),
              'test-token-olga', '{}');
my ($j) = Guard::expect('2 of 4 within the window: over 25%', '202 ok', 'POST',
                        $d->(2), 'test-token-olga', '{}');
Test::More::like($j->{why}, qr/2 of 4 servers out within 600 s, over 25%/,
                 "why: $j->{why}");
my ($j3) = Guard::expect('b3 too, while b2 waits: within the cap then, pending',
                         '202 ok', 'POST', $d->(3), 'test-token-olga', '{}');
Guard::expect('b2 approved', '200 ok', 'POST', "/admin/pending/$j->{request}/approve",
              'test-token-adam', '{}');
Guard::expect('b3 approved now: 3 of 4 out, over the cap of 50%, even for two',
              '409 blast_radius', 'POST', "/admin/pending/$j3->{request}/approve",
              'test-token-adam', '{}');
Guard::expect('b4 by an admin: over the cap', '409 blast_radius',
              'POST', $d->(4), 'test-token-adam', '{}');
Test::More::is(main::admin_of(3) . ' ' . main::admin_of(4), 'active active',
               'the cap changes nothing');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- no_error_log
[error]



=== TEST 4: pending requests survive a reload; maintenance=on
--- http_config eval
"    guard_admin_two_person maintenance=on;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my ($j) = Guard::expect('maintenance of a server in rotation: pending', '202 ok', 'POST',
    '/admin/upstreams/app/servers/' . main::srv(1) . '/maintenance',
    'test-token-adam', '{"reason":"firmware"}');
my $id = $j->{request};
Test::More::is($j->{needs}, 'admin', 'needs an admin');
Guard::expect('an operator cannot approve it', '403 forbidden', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
Guard::reload();
($j) = Guard::expect('after a reload', '200 ok', 'GET', "/admin/pending/$id",
                     'test-token-vera', undef);
Test::More::is($j->{request}{state}, 'pending', 'still pending after the reload');
Test::More::is($j->{request}{reason}, 'firmware', 'with its reason');
Test::More::is($j->{request}{expires_ms} - $j->{request}{created_ms}, 15 * 60 * 1000,
               'it expires 15 min after it was asked: the default');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 5: concurrent=1: a second capacity-reducing change waits for a second principal
--- http_config eval
"    guard_admin_two_person share=100% concurrent=1 max_out=100%;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r =~ s/guard_floor 3;/guard_floor 1;/r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('the first drain: one principal may', '200 ok', 'POST', $d->(1),
              'test-token-olga', '{}');
my ($j) = Guard::expect('the second, while the first is in force: pending', '202 ok',
                        'POST', $d->(2), 'test-token-olga', '{}');
Test::More::is($j->{why}, '1 other change in force or pending', "why: $j->{why}");
--- request
GET /guard
--- response_body_like: "in_rotation":3,
--- no_error_log
[error]



=== TEST 6: guard_admin_two_person refuses bad parameters at nginx -t
--- http_config
    guard_admin_two_person share=150%;
--- config
--- must_die
--- error_log eval
qr/invalid parameter "share=150%" of guard_admin_two_person/



=== TEST 7: the requester cannot approve with a second token of the same name, nor by another way in
--- http_config eval: $::Http . $::Backends
--- config eval
$::Config . "
    location /admin2/ {
        guard_admin;
        guard_admin_tokens $::Tokens2;
    }
    location /sso/ {
        guard_admin;
        guard_admin_tokens $::Tokens;
        guard_admin_principal \$http_x_sso_user;
    }
"
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('b1 out', '200 ok', 'POST', $d->(1), 'test-token-olga', '{}');
my ($j) = Guard::expect('b2: pending', '202 ok', 'POST', $d->(2), 'test-token-olga', '{}');
my $id = $j->{request};
($j) = Guard::expect('olga\'s second token, in another tokens file, is olga',
    '200 ok', 'GET', '/admin2/whoami', 'test-token-olga-second', undef);
Test::More::is($j->{principal}, 'olga', 'whoami: olga');
Guard::expect('olga cannot approve with her second token', '403 same_principal',
    'POST', "/admin2/pending/$id/approve", 'test-token-olga-second', '{}');
Guard::expect('nor as olga named by an authenticated variable', '403 same_principal',
    'POST', "/sso/pending/$id/approve", undef, '{}',
    headers => { 'X-SSO-User' => 'olga' });
Test::More::is(main::admin_of(2), 'active', 'nothing applied');
($j) = Guard::expect('otto, through the second location, approves', '200 ok', 'POST',
    "/admin2/pending/$id/approve", 'test-token-otto-second', '{}');
Test::More::is("$j->{requester}/$j->{approver}", 'olga/otto', 'olga asked, otto approved');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- no_error_log
[error]



=== TEST 8: a request expires on time across a reload
--- http_config eval: $::Http =~ s/expire=5s/expire=3s/r . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('b1 out', '200 ok', 'POST', $d->(1), 'test-token-olga', '{}');
my ($j) = Guard::expect('b2: pending', '202 ok', 'POST', $d->(2), 'test-token-olga', '{}');
my ($id, $until) = ($j->{request}, $j->{expires_ms});
Guard::reload();
my $r;
Test::More::ok(Guard::wait_for(sub {
    (undef, my $a) = Guard::admin('GET', "/admin/pending/$id", 'test-token-vera');
    $r = $a && $a->{request};
    return $r && $r->{state} eq 'expired';
}, 15), 'it expires after the reload') or Test::More::diag($Guard::BODY);
Test::More::is($r->{expires_ms}, $until, 'at the time it was given');
Test::More::ok($r->{closed_ms} >= $until, "not before: closed $r->{closed_ms}, due $until");
Guard::expect('it cannot be approved', '409 not_pending', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
--- request
GET /guard
--- response_body_like: "pending_requests":\[\]
--- no_error_log
[error]



=== TEST 9: the share counts drains within the window only
--- http_config eval
"    guard_admin_two_person share=25% window=2s concurrent=5 max_out=75%;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r =~ s/guard_floor 3;/guard_floor 1;/r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
Guard::expect('b1 out: 1 of 4, not over 25%', '200 ok', 'POST', $d->(1),
              'test-token-olga', '{}');
my $since = Guard::server_state(Guard::guard_status(), 'app', main::srv(1))
                ->{admin_override}{since_ms};
my ($j) = Guard::expect('b2 within the window: 2 of 4, over 25%', '202 ok', 'POST',
                        $d->(2), 'test-token-olga', '{}');
Test::More::like($j->{why}, qr/^2 of 4 servers out within 2 s, over 25%$/, "why: $j->{why}");
Guard::expect('withdrawn', '200 ok', 'DELETE', "/admin/pending/$j->{request}",
              'test-token-olga', undef);
# the window ends 2 s after b1 went out; b1 is still out, but no longer recent
Guard::wait_for(sub { Time::HiRes::time() * 1000 > $since + 2500 }, 10);
($j) = Guard::expect('b2 after the window: one principal may', '200 ok', 'POST',
                     $d->(2), 'test-token-olga', '{}');
Test::More::ok($j->{applied}, 'applied at once');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- no_error_log
[error]



=== TEST 10: concurrent=1: a pending change counts, not only one in force
--- http_config eval
"    guard_admin_two_person share=20% concurrent=1 max_out=100%;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r =~ s/guard_floor 3;/guard_floor 1;/r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $d = sub { '/admin/upstreams/app/servers/' . main::srv($_[0]) . '/drain' };
my ($j) = Guard::expect('b1: 1 of 4 is over 20%: pending', '202 ok', 'POST', $d->(1),
                        'test-token-olga', '{}');
Test::More::unlike($j->{why}, qr/other change/, "the first: the share only: $j->{why}");
($j) = Guard::expect('b2, while b1 is only pending: pending', '202 ok', 'POST', $d->(2),
                     'test-token-olga', '{}');
Test::More::like($j->{why}, qr/(^|; )1 other change in force or pending$/,
                 "the second: the pending one counts: $j->{why}");
--- request
GET /guard
--- response_body_like: "in_rotation":4,
--- no_error_log
[error]



=== TEST 11: maintenance=off (the default): maintenance of a server in rotation is no second person's
--- http_config eval
"    guard_admin_two_person share=100% concurrent=5 max_out=100%;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r =~ s/guard_floor 3;/guard_floor 1;/r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my ($j) = Guard::expect('maintenance of b1, in rotation: applied at once', '200 ok', 'POST',
    '/admin/upstreams/app/servers/' . main::srv(1) . '/maintenance', 'test-token-adam', '{}');
Test::More::ok($j->{applied} && !$j->{pending}, 'applied, nothing pending');
--- request
GET /guard
--- response_body_like: "admin":"maintenance"



=== TEST 12: a pending request survives a reload that resizes the zone, and is approved after it
--- http_config eval
"    guard_shm_size 1m;
    guard_admin_two_person expire=60s;
" . ($::Http =~ s/guard_admin_two_person[^;]*;//r) . $::Backends
--- config eval: $::Config
--- init
main::all_up();
Guard::expect('b1 out: 3 left, floor 3: allowed', '200 ok', 'POST',
    '/admin/upstreams/app/servers/' . main::srv(1) . '/drain', 'test-token-olga', '{}');
my ($j) = Guard::expect('b2 out would break the floor: pending', '202 ok', 'POST',
    '/admin/upstreams/app/servers/' . main::srv(2) . '/drain', 'test-token-olga',
    '{"reason":"disk swap"}');
my $id = $j->{request};
Test::More::ok($id, "request $id");
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/guard_shm_size 1m;/guard_shm_size 2m;/ or die "no guard_shm_size in $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Guard::reload();
Test::More::ok(Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10),
               'the old workers are gone');
($j) = Guard::expect('after the resize', '200 ok', 'GET', "/admin/pending/$id",
                     'test-token-vera', undef);
Test::More::is($j->{request}{state} // 'none', 'pending', 'still pending');
Test::More::is($j->{request}{reason} // 'none', 'disk swap', 'with its reason');
Guard::expect('the requester still cannot approve', '403 same_principal', 'POST',
    "/admin/pending/$id/approve", 'test-token-olga', '{}');
($j) = Guard::expect('a second principal approves it', '200 ok', 'POST',
    "/admin/pending/$id/approve", 'test-token-otto', '{}');
Test::More::like(main::admin_of(2), qr/^drain(ing|ed)$/, 'b2 drains');
--- request
GET /guard
--- response_body_like: "admin":"drain(ing|ed)"
--- error_log eval
qr/upstream guard: zone resized from \d+ to 2097152, state kept/
--- no_error_log
[error]



=== TEST 13: an upstream name too long for a request's record: never applied to another upstream
--- http_config eval
my $long = ('u' x 127) . '_canary';
my $short = 'u' x 127;
my $up = ($::Http =~ s/guard_admin_two_person[^;]*;//r);
"    guard_admin_two_person expire=60s;
" . ($up =~ s/upstream app/upstream $long/r) . ($up =~ s/upstream app/upstream $short/r)
  . "    upstream app { server 127.0.0.1:$ENV{TEST_NGINX_B1}; }
" . $::Backends
--- config eval: $::Config
--- init
my $long = ('u' x 127) . '_canary';
my $short = 'u' x 127;
for my $u ($long, $short) {
    Guard::wait_health($u, $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 4;
}
my $d = sub { "/admin/upstreams/$_[0]/servers/" . main::srv($_[1]) . '/drain' };
Guard::expect('b1 of the long one out: allowed', '200 ok', 'POST', $d->($long, 1),
              'test-token-olga', '{}');
my ($j) = Guard::expect('b2 of the long one would break its floor: refused, named',
                        '409 name_too_long', 'POST', $d->($long, 2),
                        'test-token-olga', '{}');
Test::More::like($j->{error} // '', qr/at most 127 bytes/, 'says the limit');
my $st = Guard::guard_status();
Test::More::is(Guard::server_state($st, $short, main::srv(2))->{admin}, 'active',
               'the other upstream untouched');
Test::More::is(Guard::server_state($st, $long, main::srv(2))->{admin}, 'active',
               'nothing applied');
Test::More::is(scalar @{ $st->{pending_requests} || [] }, 0, 'no request recorded');
--- request
GET /guard
--- response_body_like: "pending_requests":\[\]
--- no_error_log
[error]
