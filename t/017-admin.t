# The admin API: drain until drained (with requests in flight, two
# workers, a reload mid-drain, one that resizes the zone), resume,
# maintenance without check traffic, live weights, dry runs, versions, the
# freeze, expiring overrides, and every refusal answering its code and
# changing nothing.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

# the principals (obviously fake tokens), in a file only root can read
our $Dir = "/tmp/guard-admin-" . Guard::_server_port();
mkdir $Dir;
our $Tokens = "$Dir/tokens";
{
    open my $fh, '>', $Tokens or die "$Tokens: $!\n";
    print $fh "# test principals\n",
        Guard::token_line('olga', 'operator', 'app,slow,hashed', 'test-token-olga'),
        Guard::token_line('vera', 'viewer', '*', 'test-token-vera'),
        Guard::token_line('adam', 'admin', '*', 'test-token-adam'),
        Guard::token_line('erin', 'operator', 'erp_*', 'test-token-erin');
    close $fh;
    chmod 0600, $Tokens;
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
        keepalive 8;
    }
    upstream hashed {
        hash \$arg_k consistent;
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
    upstream erp_billing {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check tcp interval=100ms;
    }
_EOC_

our $Config = <<"_EOC_";
    location / {
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
    location = /guard { guard_status; }
    location /admin/ {
        guard_admin;
        guard_admin_tokens $Tokens;
    }
_EOC_

# the admin state of every server of "app", to compare before and after
sub admin_view {
    my $st = Guard::guard_status() or return "no status: $Guard::ERROR";
    my $u = Guard::upstream_state($st, 'app') or return 'no upstream';
    return join ' ', "frozen=" . ($st->{frozen} ? 1 : 0),
        "in_rotation=$u->{in_rotation}",
        map { join ',', $_->{server}, $_->{admin}, $_->{admin_version},
                  $_->{admin_weight} // '-', $_->{in_rotation} ? 'in' : 'out' }
            @{ $u->{servers} };
}

# true once the server has a request in flight (fails the test otherwise)
sub busy {
    my ($addr) = @_;
    my $ok = Guard::wait_for(sub {
        my $s = Guard::server_state(Guard::guard_status(), 'slow', $addr);
        return $s && $s->{in_flight} >= 1;
    }, 10);
    Test::More::ok($ok, "a request in flight to $addr");
    return $ok;
}

sub Guard::expect {
    my ($name, $want, $method, $path, $token, $body, %opt) = @_;
    my ($st, $j, $head) = Guard::admin($method, $path, $token, $body, %opt);
    my $code = $j ? $j->{code} // 'ok' : 'not JSON: ' . ($Guard::BODY // '');
    Test::More::is("$st $code", $want, $name)
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

=== TEST 1: drain, resume, weight: answers, state, shares
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $warm = Guard::who(30, '/');
Test::More::like($warm, qr/b1=/, "b1 serves (and keeps connections alive): $warm");
(my $b1enc = $b1) =~ s/:/%3A/;
my ($j) = Guard::expect('drain b1 (named URL-encoded)', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1enc/drain", 'test-token-olga',
    '{"reason":"kernel patch"}');
Test::More::is($j->{admin_before}, 'active', 'drain: admin before');
Test::More::like($j->{admin_after}, qr/^drain(ing|ed)$/, 'drain: admin after');
Test::More::is($j->{pool}{in_rotation_after}, 2, 'drain: 2 left in rotation');
Test::More::is($j->{version}, 1, 'drain: version 1');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'drained', 'admin');
my $s = Guard::server_state(Guard::guard_status(), 'app', $b1);
Test::More::is($s->{admin_override}{by}, 'olga', 'the override says who');
Test::More::is($s->{admin_override}{reason}, 'kernel patch', 'and why');
Test::More::ok(defined $s->{drain_duration_ms}, 'and how long the drain took');
my $who = Guard::who(30, '/');
Test::More::unlike($who, qr/b1/,
                   "a drained server gets no request, kept-alive or new: $who");
my (undef, $html) = Guard::http_get('/guard?format=html');
Test::More::like($html, qr/drained<br><span class="aside">in [^<]+<\/span><br><span class="aside">by olga: kernel patch<\/span>/,
                 'HTML: drained, in how long, by whom and why');
my (undef, $prom) = Guard::http_get('/guard?format=prometheus&detail=1');
Test::More::like($prom, qr/^nginx_upstream_guard_server_drained\{upstream="app",server="\Q$b1\E"[^}]*\} 1$/m,
                 'Prometheus: server_drained 1');
Test::More::like($prom, qr/^nginx_upstream_guard_server_admin_version\{upstream="app",server="\Q$b1\E"[^}]*\} 1$/m,
                 'Prometheus: server_admin_version 1');
($j) = Guard::expect('resume b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/resume", 'test-token-olga', '');
Test::More::is($j->{admin_after}, 'active', 'resume: active');
($j) = Guard::expect('weight 3 for b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga',
    '{"weight":3}');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '3', 'admin_weight');
my $c = Guard::shares(50, '/');
Test::More::ok(($c->{"b1"} // 0) >= 27 && ($c->{"b1"} // 0) <= 33,
               'weight 3 of 5: b1 takes about 30 of 50')
    or Test::More::diag(join ',', %$c);
Guard::expect('weight on hash consistent', '409 not_live_weights', 'POST',
    "/admin/upstreams/hashed/servers/$b1/weight", 'test-token-olga',
    '{"weight":2}');
--- request
GET /guard
--- response_body_like: "admin_weight":3,
--- error_log eval
[qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga: draining, 2 in rotation \(floor 2\) \(reason: kernel patch\)/,
 qr/upstream guard: server 127\.0\.0\.1:\d+ of upstream "app" is drained: no request in flight \d+ ms after the drain began/,
 qr/upstream guard: resume of server 127\.0\.0\.1:\d+ of upstream "app" by olga: active/]
--- no_error_log
[error]



=== TEST 2: every refusal answers its code and changes nothing
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $b2 = "127.0.0.1:$ENV{TEST_NGINX_B2}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
Guard::expect('drain b1 first', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
# draining turns drained on its own: the view is taken once it has
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'drained', 'admin');
my $before = main::admin_view();
my $d = "/admin/upstreams/app/servers/$b2/drain";
my @cases = (
    ['no token', '401 unauthenticated', 'POST', $d, undef, '{}'],
    ['wrong token', '401 unauthenticated', 'POST', $d, 'test-token-nobody', '{}'],
    ['viewer writing', '403 forbidden', 'POST', $d, 'test-token-vera', '{}'],
    ['operator doing maintenance', '403 forbidden', 'POST',
     "/admin/upstreams/app/servers/$b2/maintenance", 'test-token-olga', '{}'],
    ['principal outside its upstreams', '403 forbidden', 'POST', $d,
     'test-token-erin', '{}'],
    ['GET writing', '405 method_not_allowed', 'GET', $d, 'test-token-olga', undef],
    ['PUT on a drain', '405 method_not_allowed', 'PUT', $d, 'test-token-olga', '{}'],
    ['malformed JSON', '400 bad_json', 'POST', $d, 'test-token-olga', '{'],
    ['truncated JSON', '400 bad_json', 'POST', $d, 'test-token-olga', '{"reason":"x'],
    ['duplicated key', '400 bad_json', 'POST', $d, 'test-token-olga',
     '{"reason":"a","reason":"b"}'],
    ['nested object', '400 bad_json', 'POST', $d, 'test-token-olga',
     '{"reason":{"a":1}}'],
    ['not an object', '400 bad_json', 'POST', $d, 'test-token-olga', '["drain"]'],
    ['unknown field', '400 bad_json', 'POST', $d, 'test-token-olga', '{"force":true}'],
    ['wrong type', '400 bad_value', 'POST', $d, 'test-token-olga', '{"reason":5}'],
    ['dry_run as a string', '400 bad_value', 'POST', $d, 'test-token-olga',
     '{"dry_run":"yes"}'],
    ['invalid UTF-8', '400 bad_json', 'POST', $d, 'test-token-olga',
     qq({"reason":"\xff\xfe"})],
    ['a newline in the reason', '400 bad_value', 'POST', $d, 'test-token-olga',
     '{"reason":"a\\nb"}'],
    ['bad expiry', '400 bad_value', 'POST', $d, 'test-token-olga',
     '{"expires":"soon"}'],
    ['oversize body', '413 body_too_large', 'POST', $d, 'test-token-olga',
     '{"reason":"' . ('x' x 5000) . '"}'],
    ['weight 0', '400 bad_value', 'POST', "/admin/upstreams/app/servers/$b2/weight",
     'test-token-olga', '{"weight":0}'],
    ['weight 1.5', '400 bad_value', 'POST', "/admin/upstreams/app/servers/$b2/weight",
     'test-token-olga', '{"weight":1.5}'],
    ['unknown upstream', '404 unknown_upstream', 'POST',
     "/admin/upstreams/nope/servers/$b2/drain", 'test-token-adam', '{}'],
    ['unknown server', '404 unknown_server', 'POST',
     '/admin/upstreams/app/servers/127.0.0.1:1/drain', 'test-token-olga', '{}'],
    ['unknown operation', '404 unknown_path', 'POST',
     "/admin/upstreams/app/servers/$b2/explode", 'test-token-olga', '{}'],
    ['floor breach', '409 floor', 'POST', $d, 'test-token-olga', '{}'],
    ['stale version', '412 stale_version', 'POST',
     "/admin/upstreams/app/servers/$b1/resume", 'test-token-olga', '{}',
     headers => { 'If-Match' => '"7"' }],
);
for my $c (@cases) {
    Guard::expect(@$c);
}
Test::More::is(main::admin_view(), $before, 'the refusals changed nothing');
my ($j) = Guard::expect('floor breach says the numbers', '409 floor', 'POST', $d,
                        'test-token-olga', '{}');
Test::More::is("$j->{pool}{in_rotation_after}/$j->{pool}{floor}", '1/2',
               'floor: 1 would be left, floor 2');
my (undef, $head) = Guard::expect('no token: a challenge', '401 unauthenticated',
                                  'GET', '/admin/upstreams', undef, undef);
Test::More::like($head, qr/^WWW-Authenticate: Bearer/mi, 'WWW-Authenticate');
(undef, $head) = Guard::expect('GET on a change', '405 method_not_allowed', 'GET',
                               $d, 'test-token-olga', undef);
Test::More::like($head, qr/^Allow: POST\r?$/mi, 'Allow: POST');
--- request
GET /guard
--- response_body_like: "admin":"draining|drained"
--- no_error_log
[error]



=== TEST 3: dry run, If-Match, freeze, expiry, overrides listed and reverted
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $b2 = "127.0.0.1:$ENV{TEST_NGINX_B2}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $before = main::admin_view();
my ($j) = Guard::expect('dry run', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga',
    '{"dry_run":true}');
Test::More::ok($j->{dry_run} && !$j->{applied} && $j->{allowed},
               'dry run: allowed, not applied');
Test::More::is($j->{pool}{in_rotation_after}, 2, 'dry run: 2 would be left');
Test::More::is(main::admin_view(), $before, 'a dry run changes nothing');
my (undef, $head) = Guard::expect('read b1', '200 ok', 'GET',
    "/admin/upstreams/app/servers/$b1", 'test-token-vera', undef);
my ($etag) = $head =~ /^ETag: (\S+)/mi;
Test::More::is($etag, '"0"', 'ETag: the version');
Guard::expect('If-Match the version', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga',
    '{"weight":2,"expires":"2s"}', headers => { 'If-Match' => $etag });
Guard::expect('If-Match an old version', '412 stale_version', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga',
    '{"weight":4}', headers => { 'If-Match' => $etag });
Guard::expect('drain b2 for 2s', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b2/drain", 'test-token-olga',
    '{"expires":"2s","reason":"short"}');
($j) = Guard::expect('overrides', '200 ok', 'GET', '/admin/overrides',
                     'test-token-vera', undef);
Test::More::is(scalar @{ $j->{overrides} || [] }, 2, 'two overrides listed');
Test::More::ok((grep { $_->{by} eq 'olga' && $_->{until_ms} } @{ $j->{overrides} }) == 2,
               'each with who and until when');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'active', 'admin', 10);
Guard::wait_for(sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app', $b1);
    return $s && !defined $s->{admin_weight};
}, 10);
Test::More::is(main::admin_view() =~ s/,\d+,/,V,/gr, $before =~ s/,\d+,/,V,/gr,
               'expired overrides are reverted');
Guard::expect('operator cannot freeze', '403 forbidden', 'PUT', '/admin/freeze',
              'test-token-olga', '{"reason":"incident"}');
Guard::expect('freeze', '200 ok', 'PUT', '/admin/freeze', 'test-token-adam',
              '{"reason":"incident 42"}');
Guard::expect('frozen: no drain', '409 frozen', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
Guard::expect('frozen: no maintenance', '409 frozen', 'POST',
    "/admin/upstreams/app/servers/$b1/maintenance", 'test-token-adam', '{}');
Guard::expect('lift the freeze', '200 ok', 'DELETE', '/admin/freeze',
              'test-token-adam', undef);
Guard::expect('drain b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
Guard::expect('operator cannot revert all', '403 forbidden', 'DELETE',
              '/admin/overrides', 'test-token-olga', undef);
($j) = Guard::expect('revert all', '200 ok', 'DELETE', '/admin/overrides',
                     'test-token-adam', undef);
Test::More::is(scalar @{ $j->{reverted} || [] }, 1, 'one override reverted');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'active', 'admin');
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-vera
--- response_body_like: "principal":"vera","role":"viewer"
--- error_log eval
[qr/upstream guard: expire of server 127\.0\.0\.1:\d+ of upstream "app" by guard: active/,
 qr/upstream guard: adam freezes the admin API \(reason: incident 42\)/]
--- no_error_log
[error]



=== TEST 4: maintenance sends no check, resume goes through rise
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B4;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms fall=1 rise=3;
        guard_floor 2;
    }
" . $::Backends
--- config eval: $::Config
--- init
my $b4 = "127.0.0.1:$ENV{TEST_NGINX_B4}";
Guard::start_hostile('ok', $ENV{TEST_NGINX_B4}, lifetime => 60, log => 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
Guard::expect('maintenance is for admins', '403 forbidden', 'POST',
    "/admin/upstreams/app/servers/$b4/maintenance", 'test-token-olga', '{}');
my ($j) = Guard::expect('maintenance', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b4/maintenance", 'test-token-adam',
    '{"reason":"disk swap"}');
Test::More::is($j->{admin_after}, 'maintenance', 'in maintenance');
select undef, undef, undef, 0.5;    # a check in flight may still land
my $n0 = Guard::hostile_log_count($ENV{TEST_NGINX_B4});
select undef, undef, undef, 1.5;    # 15 intervals
my $n1 = Guard::hostile_log_count($ENV{TEST_NGINX_B4});
Test::More::is($n1 - $n0, 0, "no check traffic in maintenance ($n0, then $n1)");
Test::More::unlike(Guard::who(20, '/'), qr/status|\{/, 'no request reaches it');
Guard::expect('resume', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b4/resume", 'test-token-olga', '{}');
my $s = Guard::server_state(Guard::guard_status(), 'app', $b4);
Test::More::is("$s->{health}/$s->{in_rotation}", 'down/0',
               'resumed: down until it passes rise');
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
# the backend logs a check once it has answered: it may lag the report
Test::More::ok(Guard::wait_for(sub {
    Guard::hostile_log_count($ENV{TEST_NGINX_B4}) >= $n1 + 3 }, 5),
    'checked again after resume');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 5: drained only once the requests in flight end (2 workers, reload)
--- http_config eval
"    upstream slow {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://slow; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
Guard::start_hostile('slow:2500', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('slow', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
main::busy($b5) or die;
my $t0 = Time::HiRes::time();
my ($j) = Guard::expect('drain with requests in flight', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga', '{}');
Test::More::is($j->{admin_after}, 'draining', 'draining, not drained');
Test::More::ok($j->{in_flight} >= 1, "in flight: $j->{in_flight}");
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . '/logs/error.log';
my $from = -s $log;
Guard::reload();
my $s = Guard::server_state(Guard::guard_status(), 'slow', $b5);
Test::More::is($s->{admin}, 'draining', 'still draining after the reload');
($j) = Guard::expect('wait until drained', '200 ok', 'GET',
    "/admin/upstreams/slow/servers/$b5?wait=drained&timeout=15s",
    'test-token-vera', undef, timeout => 20);
Test::More::is($j->{server}{admin}, 'drained', 'drained');
Test::More::ok(!$j->{timed_out}, 'before the timeout');
Test::More::ok(Time::HiRes::time() - $t0 >= 1.5, 'not before the slow requests ended');
Test::More::is(Guard::wait_children(@kids), 6, 'every request in flight finished');
Test::More::ok($j->{server}{drain_duration_ms} >= 1500,
               "drain took $j->{server}{drain_duration_ms} ms");
open my $fh, '<', $log or die "$log: $!\n";
seek $fh, $from, 0;
my $since = do { local $/; <$fh> };
my @said = $since =~ /(admin overrides? of the admin API stays? in force)/g;
Test::More::is(scalar @said, 1, 'the reload said once that the override stays');
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
qr/admin overrides? of the admin API stays? in force/
--- no_error_log
[error]



=== TEST 6: drain with wait: answers at the timeout, then drained later
--- http_config eval
"    upstream slow {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://slow; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
Guard::start_hostile('slow:3000', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('slow', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
main::busy($b5) or die;
my ($j) = Guard::expect('drain, wait 1s', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga',
    '{"wait":"1s"}');
Test::More::ok($j->{timed_out} && !$j->{drained}, 'timed out, not drained');
Test::More::ok($j->{waited_ms} >= 900, "waited $j->{waited_ms} ms");
# the drain in progress in every format: in flight, draining
my (undef, $html) = Guard::http_get('/guard?format=html');
Test::More::like($html, qr/draining<br><span class="aside">[1-9]\d* in flight<\/span>/,
                 'HTML: draining, with the requests in flight');
my (undef, $prom) = Guard::http_get('/guard?format=prometheus&detail=1');
Test::More::like($prom, qr/^nginx_upstream_guard_server_in_flight\{upstream="slow",server="\Q$b5\E"[^}]*\} [1-9]\d*$/m,
                 'Prometheus: server_in_flight');
Test::More::like($prom, qr/^nginx_upstream_guard_server_draining\{upstream="slow",server="\Q$b5\E"[^}]*\} 1$/m,
                 'Prometheus: server_draining 1');
my $js = Guard::server_state(Guard::guard_status(), 'slow', $b5) || {};
Test::More::ok(($js->{in_flight} // 0) >= 1, 'JSON: in_flight');
Guard::expect('resume', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/resume", 'test-token-olga', '{}');
Guard::wait_children(@kids);
@kids = Guard::background_get('/', 6);
main::busy($b5) or die;
($j) = Guard::expect('drain, wait 10s', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga',
    '{"wait":"10s"}', timeout => 15);
Test::More::ok($j->{drained} && !$j->{timed_out}, 'drained within the wait');
Test::More::ok($j->{drain_ms} >= 1000, "drain took $j->{drain_ms} ms");
(undef, $prom) = Guard::http_get('/guard?format=prometheus&detail=1');
my ($secs) = $prom =~ /^nginx_upstream_guard_server_drain_duration_seconds\{upstream="slow",server="\Q$b5\E"[^}]*\} (\S+)$/m;
Test::More::ok(defined $secs && $secs >= 1, 'Prometheus: drain_duration_seconds ' . ($secs // 'none'));
Test::More::is(Guard::wait_children(@kids), 6, 'every request finished');
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- no_error_log
[error]



=== TEST 7: admin state survives kill -9 of every worker
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $b2 = "127.0.0.1:$ENV{TEST_NGINX_B2}";
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
Guard::expect('drain b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
Guard::expect('weight b2', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b2/weight", 'test-token-olga', '{"weight":4}');
my $before = main::admin_view();
my $master = Guard::master_pid();
my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Test::More::is(scalar @workers, 2, 'two workers');
kill 'KILL', @workers;
Guard::wait_for(sub {
    my @now = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
    return @now == 2 && !grep { my $w = $_; grep { $_ == $w } @workers } @now;
}, 10);
Guard::wait_for(sub { Guard::guard_status() }, 10);
Test::More::is(main::admin_view() =~ s/drain(ing|ed)/D/gr,
               $before =~ s/drain(ing|ed)/D/gr, 'the same after kill -9');
--- request
GET /
--- response_body_like: ^b[23]$
--- no_error_log
[error]



=== TEST 8: a worker killed with requests in flight does not hold a drain
--- http_config eval
"    upstream slow {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://slow; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
Guard::start_hostile('slow:8000', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('slow', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
main::busy($b5) or die;
my ($j) = Guard::expect('drain', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga', '{}');
Test::More::is($j->{admin_after}, 'draining', 'draining');
my $master = Guard::master_pid();
my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
kill 'KILL', @workers;
my $t0 = Time::HiRes::time();
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'drained', 'admin', 6);
Test::More::ok(Time::HiRes::time() - $t0 < 6, 'drained long before the slow backend answers');
Guard::wait_children(@kids);
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
qr/upstream guard: process \d+ is gone with \d+ requests in flight to server 127\.0\.0\.1:\d+: no longer counted/
--- no_error_log
[error]



=== TEST 9: a drain is nginx's own drain (1.29.6+): a sticky-bound request still goes, until none came for 5 s
--- skip_nginx: 6: < 1.29.6
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1 route=b1;
        server 127.0.0.1:\$TEST_NGINX_B2 route=b2;
        server 127.0.0.1:\$TEST_NGINX_B3 route=b3;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
" . $::Backends
--- config eval: $::Config
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
Guard::expect('drain b1', '200 ok', 'POST', "/admin/upstreams/app/servers/$b1/drain",
              'test-token-olga', '{}');
my $new = Guard::who(20, '/');
Test::More::unlike($new, qr/b1/, "no new request: $new");
my $bound = Guard::who(10, '/', sub { { Cookie => 'srv=b1' } });
Test::More::is($bound, 'b1=10', "a request whose session names b1 still goes: $bound");
# while bound requests keep coming, b1 is not drained, however often
# nothing is in flight between two of them
my ($n, $end) = (0, Time::HiRes::time() + 1.5);
while (Time::HiRes::time() < $end) {
    Guard::http_get('/', undef, headers => { Cookie => 'srv=b1' });
    $n++;
}
my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) // {};
Test::More::is($s->{admin} // 'none', 'draining',
               "still draining after $n bound requests in 1.5 s");
# drained once none came for 5 s; then a late session goes elsewhere
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'drained', 'admin', 15);
my $late = Guard::who(5, '/', sub { { Cookie => 'srv=b1' } });
Test::More::unlike($late, qr/b1/, "drained: a late session moves: $late");
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- no_error_log
[error]



=== TEST 10: a reload that resizes the zone mid-drain: drained only once the requests end; the freeze stays
--- http_config eval
"    guard_shm_size 1m;
    upstream slow {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://slow; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
Guard::start_hostile('slow:8000', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('slow', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
main::busy($b5) or die;
my $t0 = Time::HiRes::time();
my ($j) = Guard::expect('drain with requests in flight', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga', '{}');
Test::More::is($j->{admin_after}, 'draining', 'draining');
Guard::expect('freeze', '200 ok', 'PUT', '/admin/freeze', 'test-token-adam',
              '{"reason":"resize"}');
# the reload doubles the guard zone: a new zone, the state copied
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/guard_shm_size 1m;/guard_shm_size 2m;/ or die "no guard_shm_size in $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
Guard::reload();
# while the slow requests go on in the old workers, it stays draining
my @seen;
for (1 .. 10) {
    my $s = Guard::server_state(Guard::guard_status(), 'slow', $b5) || {};
    push @seen, $s->{admin} // 'none';
    select undef, undef, undef, 0.1;
}
my $elapsed = Time::HiRes::time() - $t0;
Test::More::ok($elapsed < 7, sprintf 'the slow requests are still in flight (%.1f s)', $elapsed);
Test::More::is(join(',', grep { $_ ne 'draining' } @seen), '',
               'draining all along after the resize');
my $st = Guard::guard_status();
Test::More::ok($st->{frozen}, 'the freeze survives the resize');
Guard::expect('still frozen: no drain', '409 frozen', 'POST',
    "/admin/upstreams/slow/servers/127.0.0.1:$ENV{TEST_NGINX_B2}/drain",
    'test-token-olga', '{}');
($j) = Guard::expect('wait until drained', '200 ok', 'GET',
    "/admin/upstreams/slow/servers/$b5?wait=drained&timeout=20s",
    'test-token-vera', undef, timeout => 25);
Test::More::is($j->{server}{admin}, 'drained', 'drained');
Test::More::ok(Time::HiRes::time() - $t0 >= 3, 'not before the slow requests ended');
Test::More::is(Guard::wait_children(@kids), 6, 'every request in flight finished');
Guard::expect('lift the freeze', '200 ok', 'DELETE', '/admin/freeze',
              'test-token-adam', undef);
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
[qr/upstream guard: zone resized from \d+ to 2097152, state kept/,
 qr/upstream guard: server 127\.0\.0\.1:\d+ of upstream "slow" is drained/]
--- no_error_log
[error]
is gone with



=== TEST 11: nginx -s reload reads the tokens file again; a file others may read fails the reload
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
open my $fh, '<', $main::Tokens or die "$main::Tokens: $!\n";
my $orig = do { local $/; <$fh> };
close $fh;
my $write = sub {
    my ($text, $mode) = @_;
    open my $fh, '>', $main::Tokens or die "$main::Tokens: $!\n";
    print $fh $text;
    close $fh;
    chmod $mode, $main::Tokens;
};
Guard::expect('vera before', '200 ok', 'GET', '/admin/whoami', 'test-token-vera', undef);
Guard::expect('bob before', '401 unauthenticated', 'GET', '/admin/whoami',
              'test-token-bob', undef);
# vera's line goes, bob's comes
(my $text = $orig) =~ s/^vera .*\n//m or die "no vera in $main::Tokens\n";
$text .= Guard::token_line('bob', 'viewer', 'app', 'test-token-bob');
$write->($text, 0600);
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Guard::reload();
# the reload's generation shows in old workers too: wait until they are gone
Test::More::ok(Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10),
               'the old workers are gone');
my ($j) = Guard::expect('bob after the reload', '200 ok', 'GET', '/admin/whoami',
                        'test-token-bob', undef);
Test::More::is($j && "$j->{principal} $j->{role}", 'bob viewer', 'bob is a viewer');
Guard::expect('vera after the reload', '401 unauthenticated', 'GET',
              '/admin/whoami', 'test-token-vera', undef);
# readable by others now: the reload fails, the file read last holds
$write->($text, 0644);
my $before = Guard::guard_status();
kill 'HUP', $master;
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . '/logs/error.log';
Test::More::ok(Guard::wait_for(sub {
    open my $fh, '<', $log or return 0;
    local $/;
    return <$fh> =~ /\[emerg\] .*guard_admin_tokens "\Q$main::Tokens\E": the file is readable by other users/;
}, 10), 'the reload is refused: the file is readable by other users');
Test::More::is(Guard::guard_status()->{generation}, $before->{generation},
               'no new generation');
Guard::expect('bob still', '200 ok', 'GET', '/admin/whoami', 'test-token-bob', undef);
Guard::expect('vera still not', '401 unauthenticated', 'GET', '/admin/whoami',
              'test-token-vera', undef);
$write->($orig, 0600);
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-bob
--- response_body_like: "principal":"bob","role":"viewer"
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens/
--- no_error_log eval
[qr/upstream guard.*test-token/, '[error]']



=== TEST 12: more refusals change nothing: conflict, weight bounds, fixed weights, a refused dry run, the freeze
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 2;
    }
    upstream hashed {
        hash \$arg_k consistent;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
    upstream randomized {
        random two;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
" . $::Backends
--- config eval: $::Config
--- init
my ($b1, $b2, $b3) = map { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_)}" } 1 .. 3;
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
Guard::wait_health('randomized', $ENV{TEST_NGINX_B2}, 'up');
Guard::expect('b3 into maintenance', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b3/maintenance", 'test-token-adam', '{}');
# every server of every upstream: admin state, version, weight, rotation
my $view = sub {
    my $st = Guard::guard_status() or return "no status: $Guard::ERROR";
    return join ' ', 'frozen=' . ($st->{frozen} ? 1 : 0), map {
        my $u = $_;
        "$u->{name}:$u->{in_rotation}", map {
            join ',', $_->{server}, $_->{admin}, $_->{admin_version},
                $_->{admin_weight} // '-', $_->{in_rotation} ? 'in' : 'out'
        } @{ $u->{servers} }
    } @{ $st->{upstreams} };
};
my $before = $view->();
my $w = sub { "/admin/upstreams/$_[0]/servers/$_[1]/weight" };
my @cases = (
    ['drain of a server in maintenance', '409 conflict', 'POST',
     "/admin/upstreams/app/servers/$b3/drain", 'test-token-adam', '{}'],
    ['weight 1001', '400 bad_value', 'POST', $w->('app', $b1), 'test-token-olga',
     '{"weight":1001}'],
    ['weight -1', '400 bad_value', 'POST', $w->('app', $b1), 'test-token-olga',
     '{"weight":-1}'],
    ['weight as a string', '400 bad_value', 'POST', $w->('app', $b1),
     'test-token-olga', '{"weight":"3"}'],
    ['no weight', '400 bad_value', 'POST', $w->('app', $b1), 'test-token-olga',
     '{}'],
    ['weight on hash consistent', '409 not_live_weights', 'POST',
     $w->('hashed', $b1), 'test-token-adam', '{"weight":2}'],
    ['weight on random', '409 not_live_weights', 'POST',
     $w->('randomized', $b1), 'test-token-adam', '{"weight":2}'],
    ['a dry run the floor refuses', '409 floor', 'POST',
     "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga',
     '{"dry_run":true}'],
    ['a maintenance the floor refuses', '409 floor', 'POST',
     "/admin/upstreams/app/servers/$b1/maintenance", 'test-token-adam', '{}'],
);
Guard::expect(@$_) for @cases;
Test::More::is($view->(), $before, 'the refusals changed nothing');
my ($j) = Guard::expect('the refused dry run says the numbers', '409 floor',
    'POST', "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga',
    '{"dry_run":true}');
Test::More::is(join('/', map { $j->{pool}{$_} // '-' } qw(in_rotation_after floor)),
               '1/2', 'the pool it would leave and the floor');
($j) = Guard::expect('the not_live_weights refusal names the balancer',
    '409 not_live_weights', 'POST', $w->('randomized', $b1), 'test-token-adam',
    '{"weight":2}');
Test::More::like($j->{error}, qr/\brandom\b/, "it names the balancer: $j->{error}");
Guard::expect('freeze', '200 ok', 'PUT', '/admin/freeze', 'test-token-adam',
              '{"reason":"incident"}');
$before = $view->();
@cases = (
    ['frozen: drain', '409 frozen', 'POST',
     "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}'],
    ['frozen: weight', '409 frozen', 'POST', $w->('app', $b1), 'test-token-olga',
     '{"weight":2}'],
    ['frozen: maintenance', '409 frozen', 'POST',
     "/admin/upstreams/app/servers/$b2/maintenance", 'test-token-adam', '{}'],
    ['frozen: a dry run', '409 frozen', 'POST',
     "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga',
     '{"dry_run":true}'],
);
Guard::expect(@$_) for @cases;
Test::More::is($view->(), $before, 'the refusals while frozen changed nothing');
Guard::expect('frozen: resume still goes', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b3/resume", 'test-token-olga', '{}');
Guard::expect('lift the freeze', '200 ok', 'DELETE', '/admin/freeze',
              'test-token-adam', undef);
--- request
GET /guard
--- response_body_like: "frozen":false
--- no_error_log
[error]



=== TEST 13: a change that reaches an old worker after a reload: 503 reloading, nothing changed
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $before = main::admin_view();
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
# a request whose headers are not all sent yet holds its worker past the
# reload: the worker shuts down, but finishes what it has begun
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => Guard::_server_port(),
                              Proto => 'tcp', Timeout => 10)
    or die "connect: $@\n";
syswrite $s, "POST /admin/upstreams/app/servers/$b1/drain HTTP/1.0\r\n"
             . "Host: localhost\r\n";
Guard::reload();
Test::More::ok(Guard::wait_for(sub { Guard::old_workers() == 1 }, 10),
               'one old worker, shutting down, holds the request')
    or Test::More::diag('old workers: ' . Guard::old_workers());
syswrite $s, "Authorization: Bearer test-token-olga\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: 2\r\n\r\n{}";
my $buf = '';
my $end = time + 10;
while (time < $end) {
    my $n = sysread $s, $buf, 65536, length $buf;
    last unless $n;
}
close $s;
my ($head, $body) = split /\r\n\r\n/, $buf, 2;
Test::More::like($head // '', qr{^HTTP/1\.\d 503}, 'answered 503');
Test::More::like($body // '', qr/^\{"ok":false,"code":"reloading","error":"this worker is shutting down after a reload: send the change again"/,
                 'code reloading');
Test::More::ok(Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10),
               'the old workers are gone');
Test::More::is(main::admin_view(), $before, 'nothing changed');
Guard::expect('sent again: applied', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/drain", 'test-token-olga', '{}');
--- request
GET /guard
--- response_body_like: "admin":"drain(ing|ed)"
--- no_error_log
[error]



=== TEST 14: a reload keeps an admin weight; one that changes the server's weight in nginx.conf drops it, and says so
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
Guard::expect('weight 3 for b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga',
    '{"weight":3,"reason":"canary"}');
my $weight = sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) || {};
    return ($s->{admin_weight} // '-') . '/' . ($s->{admin_version} // '-');
};
Test::More::is($weight->(), '3/1', 'admin weight 3, version 1');
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Guard::reload();
Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10);
Test::More::is($weight->(), '3/1', 'a reload keeps it');
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/(upstream app \{.*?server \Q$b1\E);/$1 weight=2;/s
    or die "no server $b1 in upstream app of $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
@old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Guard::reload();
Guard::wait_for(sub { !grep { kill 0, $_ } @old }, 10);
Test::More::is($weight->(), '-/2', 'nginx.conf changed the weight: the admin weight goes');
my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) || {};
Test::More::is($s->{weight}, 2, 'the configured weight 2 is in force');
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[notice\] .*upstream guard: nginx\.conf changed the weight of server 127\.0\.0\.1:\d+ of upstream "app" from 1 to 2: the weight 3 set by olga is dropped/
--- no_error_log
[error]



=== TEST 15: chunked bodies over the limit, an unknown request, slow start after resume
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1 weight=10;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=10;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=10;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_slow_start 4s;
        guard_floor 2;
    }
" . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $before = main::admin_view();
# raw: a chunked body (no Content-Length) of $n bytes, in chunks of 1000
my $chunked = sub {
    my ($n) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => Guard::_server_port(),
                                  Proto => 'tcp', Timeout => 10)
        or return "connect: $@";
    my $json = '{"reason":"' . ('x' x ($n - 13)) . '"}';
    my $req = "POST /admin/upstreams/app/servers/$b1/drain HTTP/1.1\r\n"
              . "Host: localhost\r\nConnection: close\r\n"
              . "Authorization: Bearer test-token-olga\r\n"
              . "Content-Type: application/json\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n";
    for (my $i = 0; $i < length $json; $i += 1000) {
        my $c = substr $json, $i, 1000;
        $req .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    $req .= "0\r\n\r\n";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, $req;
    my $buf = '';
    my $end = time + 10;
    while (time < $end) {
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($st) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my ($code) = ($body // '') =~ /"code":"(\w+)"/;
    return ($st // 'none') . ' ' . ($code // 'none');
};
Test::More::is($chunked->(5000), '413 body_too_large', 'chunked, 5000 bytes: 413');
Test::More::is($chunked->(40000), '413 body_too_large',
               'chunked, 40000 bytes (beyond the body buffer): 413');
Test::More::is(main::admin_view(), $before, 'the oversize bodies changed nothing');
Guard::expect('an unknown pending request', '404 unknown_request', 'GET',
              '/admin/pending/999', 'test-token-vera', undef);
# resume: slow start, as after a recovery
Guard::expect('drain b1', '200 ok', 'POST', "/admin/upstreams/app/servers/$b1/drain",
              'test-token-olga', '{}');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'drained', 'admin');
Guard::expect('resume b1', '200 ok', 'POST', "/admin/upstreams/app/servers/$b1/resume",
              'test-token-olga', '{}');
my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) || {};
Test::More::is($s->{state}, 'slow-start', 'resumed: slow start');
Test::More::ok(($s->{effective_weight} // 10) < 10,
               "with a lower weight: " . ($s->{effective_weight} // 'none'));
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '10', 'effective_weight', 10);
--- request
GET /guard
--- response_body_like: "state":"up"
--- no_error_log
[error]



=== TEST 16: least_conn: an admin weight shifts the shares, and back
--- http_config eval
"    upstream app {
        least_conn;
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 2;
    }
" . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $c = Guard::shares(60, '/');
Test::More::ok(abs(($c->{b1} // 0) - 20) <= 2, 'equal weights: b1 about 20 of 60')
    or Test::More::diag(join ',', %$c);
Guard::expect('weight 4 for b1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga', '{"weight":4}');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '4', 'admin_weight');
$c = Guard::shares(60, '/');
# 4 of 6: 40 of 60
Test::More::ok(abs(($c->{b1} // 0) - 40) <= 3, 'weight 4 of 6: b1 about 40 of 60')
    or Test::More::diag(join ',', %$c);
Guard::expect('weight back to 1', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$b1/weight", 'test-token-olga', '{"weight":1}');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '1', 'effective_weight');
$c = Guard::shares(60, '/');
Test::More::ok(abs(($c->{b1} // 0) - 20) <= 2, 'weight 1 again: b1 about 20 of 60')
    or Test::More::diag(join ',', %$c);
--- request
GET /guard
--- response_body_like: "balancer":"least_conn(?: or least_time)?"
--- no_error_log
[error]



=== TEST 17: "weight":null drops the admin weight: nginx.conf's weight, no override left
--- http_config eval: $::App . $::Backends
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $w = "/admin/upstreams/app/servers/$b1/weight";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $state = sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) || {};
    return join ' ', map { $_ // 'null' }
        $s->{admin_weight}, ($s->{weight_override} || {})->{by},
        $s->{effective_weight}, $s->{admin_version};
};
Guard::expect('weight 3', '200 ok', 'POST', $w, 'test-token-olga',
              '{"weight":3,"reason":"canary"}');
Test::More::is($state->(), '3 olga 3 1', 'admin weight 3, an override by olga');
Guard::expect('weight "null" as a string', '400 bad_value', 'POST', $w,
              'test-token-olga', '{"weight":"null"}');
Guard::expect('weight null on hash consistent', '409 not_live_weights', 'POST',
    "/admin/upstreams/hashed/servers/$b1/weight", 'test-token-olga',
    '{"weight":null}');
Guard::expect('viewer: weight null', '403 forbidden', 'POST', $w, 'test-token-vera',
              '{"weight":null}');
Test::More::is($state->(), '3 olga 3 1', 'the refusals changed nothing');
my ($j) = Guard::expect('weight null, dry run', '200 ok', 'POST', $w,
                        'test-token-olga', '{"weight":null,"dry_run":true}');
Test::More::is($state->(), '3 olga 3 1', 'the dry run changed nothing');
($j) = Guard::expect('weight null', '200 ok', 'POST', $w, 'test-token-olga',
                     '{"weight":null}');
Test::More::is($j->{version}, 2, 'version 2');
Test::More::is($state->(), 'null null 1 2', 'no admin weight, no override: weight 1');
($j) = Guard::expect('overrides', '200 ok', 'GET', '/admin/overrides',
                     'test-token-vera', undef);
Test::More::is(scalar @{ $j->{overrides} || [] }, 0, 'none listed');
--- request
GET /guard
--- response_body_like: "admin_weight":null,
--- error_log eval
qr/upstream guard: weight of server 127\.0\.0\.1:\d+ of upstream "app" by olga: active/
--- no_error_log
[error]



=== TEST 18: a server is named as written in nginx.conf or by its address
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 1;
    }
" . $::Backends
--- config eval: $::Config
--- init
# "127.1" is written in nginx.conf; it resolves to 127.0.0.1
my $written = "127.1:$ENV{TEST_NGINX_B1}";
my $addr = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 3;
my $s = Guard::server_state(Guard::guard_status(), 'app', $addr) || {};
Test::More::is("$s->{server} $s->{address}", "$written $addr",
               'the report has both');
my ($j) = Guard::expect('by name: weight 2', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$written/weight", 'test-token-olga',
    '{"weight":2}');
Test::More::is("$j->{server} $j->{address}", "$written $addr", 'the answer names both');
($j) = Guard::expect('by address: read', '200 ok', 'GET',
    "/admin/upstreams/app/servers/$addr", 'test-token-vera', undef);
Test::More::is($j->{server}{admin_weight}, 2, 'the same server');
(my $enc = $addr) =~ s/([.:])/sprintf '%%%02X', ord $1/ge;
($j) = Guard::expect('by address, URL-encoded: drain', '200 ok', 'POST',
    "/admin/upstreams/app/servers/$enc/drain", 'test-token-olga', '{}');
Test::More::is($j->{server}, $written, 'the server as written');
Guard::expect('a name it is not', '404 unknown_server', 'POST',
    "/admin/upstreams/app/servers/127.0.0.2:$ENV{TEST_NGINX_B1}/resume",
    'test-token-olga', '{}');
--- request
GET /guard
--- response_body_like: "server":"127\.1:\d+","address":"127\.0\.0\.1:\d+"
--- no_error_log
[error]



=== TEST 19: after a resizing reload, an old worker killed with requests in flight does not hold the drain
--- http_config eval
"    guard_shm_size 1m;
    upstream slow {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms;
        guard_floor 2;
    }
" . $::Backends
--- config eval
"    location / { proxy_pass http://slow; proxy_read_timeout 20s; }
" . $::Config =~ s{location / \{.*?\}\n}{}sr
--- init
my $b5 = "127.0.0.1:$ENV{TEST_NGINX_B5}";
Guard::start_hostile('slow:10000', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'up');
Guard::wait_health('slow', $ENV{TEST_NGINX_B3}, 'up');
my @kids = Guard::background_get('/', 6);
main::busy($b5) or die;
Guard::expect('drain with requests in flight', '200 ok', 'POST',
    "/admin/upstreams/slow/servers/$b5/drain", 'test-token-olga', '{}');
my $master = Guard::master_pid();
my @old = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $conf = "$root/conf/nginx.conf";
open my $fh, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/guard_shm_size 1m;/guard_shm_size 2m;/ or die "no guard_shm_size in $conf\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $text;
close $fh;
Guard::reload();
my $s = Guard::server_state(Guard::guard_status(), 'slow', $b5) || {};
Test::More::is($s->{admin}, 'draining', 'draining after the resize');
my @alive = grep { kill 0, $_ } @old;
Test::More::ok(@alive >= 1, 'old workers still finish the slow requests');
my $t0 = Time::HiRes::time();
kill 'KILL', @alive;
Test::More::ok(Guard::wait_health('slow', $ENV{TEST_NGINX_B5}, 'drained', 'admin', 6),
               'drained once the old workers are gone');
Test::More::ok(Time::HiRes::time() - $t0 < 6, 'long before the slow backend answers');
Guard::wait_children(@kids);
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
qr/upstream guard: zone resized from \d+ to 2097152, state kept/
--- no_error_log
[error]



=== TEST 20: a message with a long name is whole, not written past its buffer
--- http_config eval
# with the upstream's name (240 bytes), the message takes more than the
# 256 bytes it once had
"    upstream hashed_" . ('n' x 233) . " {
        hash \$arg_k consistent;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
" . $::App . $::Backends
--- config eval: $::Config
--- init
my $up = 'hashed_' . ('n' x 233);
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health($up, $ENV{TEST_NGINX_B1}, 'up');
my ($j) = Guard::expect('weight on hash consistent', '409 not_live_weights',
    'POST', "/admin/upstreams/$up/servers/$b1/weight", 'test-token-adam',
    '{"weight":2}');
my $msg = ($j && $j->{error}) // '';
Test::More::cmp_ok(length $msg, '>', 255, 'the message is longer than 255 bytes');
Test::More::cmp_ok(length $msg, '<', 2048, 'and within its buffer');
Test::More::like($msg, qr/\Aupstream "\Q$up\E" uses the hash consistent balancer, whose weights are fixed [ -~]*\z/,
                 'it names the upstream whole, then says why, in plain text');
Test::More::is($j && $j->{upstream}, $up, 'the upstream is named whole');
($j) = Guard::expect('and the module answers on', '200 ok', 'GET',
    "/admin/upstreams/$up/servers/$b1", 'test-token-adam', undef);
--- request
GET /guard
--- response_body_like: "name":"hashed_n+"
--- no_error_log
[error]


=== TEST 21: an upstream name of 1000 bytes is served like any other
nginx allows such names, and the status report shows them; the admin API
answered 403 forbidden for every name of 256 bytes or more, even to a
principal with "*", because the name was copied into a fixed buffer for
fnmatch.
--- http_config eval
"    upstream erp_" . ('n' x 996) . " {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_floor 1;
    }
" . $::App . $::Backends
--- config eval: $::Config
--- init
my $up = 'erp_' . ('n' x 996);
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
Guard::wait_health($up, $ENV{TEST_NGINX_B1}, 'up');
my ($j) = Guard::expect('adam (*) reads it', '200 ok', 'GET',
    "/admin/upstreams/$up", 'test-token-adam', undef);
Test::More::is(join(',', map { $_->{name} } @{ ($j && $j->{upstreams}) || [] }),
               $up, 'it alone, named whole');
($j) = Guard::expect('vera (*) lists it', '200 ok', 'GET',
    '/admin/upstreams', 'test-token-vera', undef);
Test::More::ok(($j && grep { $_->{name} eq $up } @{ $j->{upstreams} || [] }),
               'in the list');
($j) = Guard::expect('erin (erp_*) drains its server', '200 ok', 'POST',
    "/admin/upstreams/$up/servers/$b1/drain", 'test-token-erin', '{}');
Test::More::ok(Guard::wait_health($up, $ENV{TEST_NGINX_B1}, 'draining', 'admin'),
               'draining');
Guard::expect('olga (app,slow,hashed) may not', '403 forbidden', 'POST',
    "/admin/upstreams/$up/servers/$b1/resume", 'test-token-olga', '{}');
Guard::expect('erin resumes it', '200 ok', 'POST',
    "/admin/upstreams/$up/servers/$b1/resume", 'test-token-erin', '{}');
--- request
GET /guard
--- response_body_like: "name":"erp_n+"
--- no_error_log
[error]



=== TEST 22: guard_admin in an exact location is refused, as in a regex one
It served GET / only: every other path of the API was nginx's 404.
--- http_config eval
"upstream app { server 127.0.0.1:\$TEST_NGINX_B1; guard_check tcp; }"
--- config eval
"    location = /guard-admin {
        guard_admin;
        guard_admin_tokens $::Tokens;
    }"
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_admin" directive must be in a prefix location \("location \/guard\/"\) in \S+nginx\.conf:\d+/



=== TEST 23: guard_admin in a named location is refused
--- http_config eval
"upstream app { server 127.0.0.1:\$TEST_NGINX_B1; guard_check tcp; }"
--- config eval
"    location \@admin {
        guard_admin;
        guard_admin_tokens $::Tokens;
    }"
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_admin" directive must be in a prefix location \("location \/guard\/"\) in \S+nginx\.conf:\d+/



=== TEST 24: out of maintenance a server still down keeps its downtime, and adds to it
Resume set the downtime of a server that was down back to what it had
before that episode (0 here): JSON downtime_duration_ms and the counter
server_downtime_seconds_total went back, and stayed there while the
server kept failing.
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B9;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check tcp interval=100ms fall=1 rise=1;
        guard_floor 2;
    }
" . $::Backends
--- config eval: $::Config
--- init
my $b9 = "127.0.0.1:$ENV{TEST_NGINX_B9}";
my $path = "/admin/upstreams/app/servers/$b9";
# the JSON downtime (ms) and the Prometheus counter (s) of the server
my $down = sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app', $b9) or return;
    my (undef, $p) = Guard::http_get('/guard?format=prometheus&detail=1');
    my ($c) = ($p // '') =~ /^nginx_upstream_guard_server_downtime_seconds_total
                              \{[^}]*server="\Q$b9\E"[^}]*\}\ (\S+)$/mx;
    return ($s->{downtime_duration_ms}, $c, $s->{health});
};
Guard::wait_health('app', $ENV{TEST_NGINX_B9}, 'down');
Test::More::ok(Guard::wait_for(sub { ($down->())[0] >= 500 }, 10),
               'nothing listens: down for half a second');
Guard::expect('maintenance', '200 ok', 'POST', "$path/maintenance",
              'test-token-adam', '{}');
my ($ms0, $c0) = $down->();
Guard::expect('resume', '200 ok', 'POST', "$path/resume",
              'test-token-adam', '{}');
my ($ms1, $c1, $h1) = $down->();
Test::More::is($h1, 'down', 'resumed: down until it passes');
Test::More::cmp_ok($ms1, '>=', $ms0, "the JSON downtime does not go back ($ms0, then $ms1)");
Test::More::cmp_ok($c1, '>=', $c0, "the counter does not go back ($c0, then $c1)");
Test::More::ok(Guard::wait_for(sub { ($down->())[1] >= $c1 + 0.3 }, 10),
               'still refused: the counter keeps counting');
--- request
GET /guard
--- response_body_like: "admin":"active"
