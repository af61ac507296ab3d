# The pool report: one location, three formats chosen by ?format= or
# Accept, filters, valid JSON against the documented schema whatever the
# names, Prometheus text that promtool accepts, an HTML page without
# inline styles or scripts, and 10,000 servers.
use lib 't/lib';
use Guard;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Schema = do {
    open my $fh, '<', 'conf-examples/guard-status.schema.json' or die $!;
    local $/;
    JSON::PP->new->decode(<$fh>);
};

# GET a status URL, decode strictly (UTF-8), validate against the schema
sub Guard::check_json {
    my ($path, $name) = @_;
    my ($st, $body) = Guard::http_get($path);
    my $doc = eval { JSON::PP->new->utf8->decode($body) };
    Test::More::ok($doc, "$name: valid JSON") or Test::More::diag($@);
    my @err = $doc ? Guard::schema_errors($doc, $::Schema) : ('no document');
    Test::More::is_deeply(\@err, [], "$name: matches the schema");
    return $doc;
}

# run promtool check metrics on a status URL's body
sub Guard::promtool {
    my ($path, $name) = @_;
    my ($st, $body) = Guard::http_get($path, undef, timeout => 30);
    my $out = '';
    my $rc = -1;
    if (open my $p, '|-', 'promtool check metrics >/tmp/guard-promtool.out 2>&1') {
        print $p $body;
        close $p;
        $rc = $? >> 8;
        $out = do { local (@ARGV, $/) = '/tmp/guard-promtool.out'; <> } // '';
    }
    Test::More::is($rc, 0, "$name: promtool check metrics") or Test::More::diag($out);
    return $body;
}

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health { return 503; }
    }
_EOC_

no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: JSON stays valid and matches the schema whatever the names
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
    }
    upstream \"we\\\"ird\\\\name\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
    upstream \"\xd0\xb7\xd0\xb0\xd0\xba\xd0\xb0\xd0\xb7\xd1\x8b\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
    upstream \"bad\xffutf8\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
my $doc = Guard::check_json('/guard', 'all upstreams');
my @names = map { $_->{name} } @{ $doc->{upstreams} || [] };
Test::More::is_deeply(\@names, ['app', "we\"ird\\name", "\x{0437}\x{0430}\x{043a}\x{0430}\x{0437}\x{044b}", "bad\x{fffd}utf8"],
                      'names escaped, UTF-8 kept, invalid bytes replaced');
Guard::check_json('/guard?state=down', 'state filter');
Test::More::is($doc->{upstreams}[0]{balancer}, 'round robin',
               'the default balancer is reported as round robin');
Guard::check_json('/guard?state=maintenance', 'filter matching nothing');
--- request
GET /guard?upstream=app&state=down
--- response_body_like eval
qr/\A\{"version":2,.*"upstreams":\[\{"name":"app",.*"servers":\[\{"server":"127\.0\.0\.1:$ENV{TEST_NGINX_B2}",[^\]]*\]\}\]\}\n\z/s
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- no_error_log
[error]



=== TEST 2: bad queries get a 400 with a JSON reason, an unknown upstream a 404; only GET and HEAD
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- request eval
["GET /guard?state=sleepy", "GET /guard?format=xml", "GET /guard?refresh=-1", "POST /guard\nx=1", "HEAD /guard",
 "GET /guard?upstream=nosuch", "GET /guard?upstream=nosuch&format=html", "GET /guard?upstream=nosuch&format=prometheus",
 "GET /guard?upstream=app&state=maintenance", "GET /guard?format=prometheus&detail=2"]
--- error_code eval
[400, 400, 400, 405, 200, 404, 404, 404, 200, 400]
--- response_body_like eval
[qr/\A\{"error":"unknown state \\"sleepy\\", expected a health, admin or summary state","status":400\}\n\z/,
 qr/\A\{"error":"unknown format, expected json, html or prometheus","status":400\}\n\z/,
 qr/\A\{"error":"invalid refresh \\"-1\\", expected 0 to 3600 seconds","status":400\}\n\z/,
 qr/\A\{"error":"POST is not allowed here, only GET and HEAD: a report changes nothing","status":405\}\n\z/,
 qr/\A\z/,
 qr/\A\{"error":"no checked upstream \\"nosuch\\"","status":404\}\n\z/,
 qr/\A\{"error":"no checked upstream \\"nosuch\\"","status":404\}\n\z/,
 qr/\A\{"error":"no checked upstream \\"nosuch\\"","status":404\}\n\z/,
 qr/"upstreams":\[\]\}\n\z/,
 qr/\A\{"error":"invalid detail \\"2\\", expected 0 or 1","status":400\}\n\z/]



=== TEST 3: the format follows Accept, and the location's default
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
    location = /metrics { guard_status prometheus; }
--- request eval
["GET /guard", "GET /guard", "GET /guard", "GET /metrics", "GET /metrics?format=json",
 "GET /guard", "GET /guard", "GET /guard", "GET /metrics", "GET /guard"]
--- more_headers eval
["Accept: text/html,application/xhtml+xml,*/*;q=0.8",
 "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
 "Accept: application/json",
 "Accept: */*",
 "Accept: text/html",
 "Accept: application/json, text/plain, */*",
 "Accept: application/json, text/html;q=0.1",
 "Accept: text/html;q=0, application/json",
 "Accept: text/html;q=0.5, Application/JSON;q=0.9",
 "Accept: text/plain;q=0.2, text/html;Q=0.25"]
--- response_headers_like eval
["Content-Type: text/html; charset=utf-8",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8",
 "Content-Type: application/json",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8",
 "Content-Type: application/json",
 "Content-Type: application/json",
 "Content-Type: application/json",
 "Content-Type: application/json",
 "Content-Type: application/json",
 "Content-Type: text/html; charset=utf-8"]



=== TEST 4: Prometheus text passes promtool, with the floor for the alert
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
    }
    upstream \"quote\\\"d\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::promtool('/guard?format=prometheus', 'all upstreams');
Guard::promtool('/guard?format=prometheus&state=down', 'state filter');
Guard::promtool('/guard?format=prometheus&detail=1', 'detail');
Guard::promtool('/guard?format=prometheus&detail=1&state=down', 'detail, state filter');
--- request
GET /guard?format=prometheus&upstream=app&detail=1
--- response_body_like eval
qr/^# TYPE nginx_upstream_guard_upstream_in_rotation gauge\n
    nginx_upstream_guard_upstream_in_rotation\{upstream="app"\}\ 1\n.*
    ^nginx_upstream_guard_upstream_floor\{upstream="app"\}\ 2\n.*
    ^nginx_upstream_guard_upstream_status\{upstream="app",status="critical"\}\ 1\n.*
    ^nginx_upstream_guard_server_healthy\{upstream="app",server="127\.0\.0\.1:\d+",
      address="127\.0\.0\.1:\d+",role="primary",id="1"\}\ 0\n.*
    ^\#\ TYPE\ nginx_upstream_guard_server_checks_total\ counter\n/msx
--- no_error_log
[error]



=== TEST 5: the HTML page: failing services first, no inline style or script
--- http_config eval
"    upstream a_fine {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms fall=1;
    }
    upstream b_broken {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
    }
    upstream \"c_<script>\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status html; }
--- init
Guard::wait_health('b_broken', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /guard", "GET /guard?format=css", "GET /guard?refresh=0"]
--- response_body_like eval
[qr/\A<!DOCTYPE\ html>(?!.*<script)(?!.*\bstyle=)(?!.*<style).*<meta\ http-equiv="refresh"\ content="5">.*
   <link\ rel="stylesheet"\ href="\?format=css">.*b_broken.*panic.*a_fine.*c_&lt;script&gt;/sx,
 qr/\{/,
 qr/\A(?!.*http-equiv="refresh").*refresh=5/s]
--- response_headers_like eval
["Content-Type: text/html; charset=utf-8", "Content-Type: text/css; charset=utf-8", "Content-Type: text/html; charset=utf-8"]
--- no_error_log
[error]



=== TEST 6: 10,000 servers in every format
--- http_config eval
"    upstream big {\n"
. CORE::join('', map { sprintf("        server 127.%d.%d.%d:1;\n", 1 + int($_ / 62500), int($_ / 250) % 250, 1 + $_ % 250) } 0 .. 9999)
. "        guard_check tcp interval=1h timeout=1s;\n    }\n"
--- config
    location = /guard { guard_status; }
--- init
my $doc = Guard::check_json('/guard', '10,000 servers');
Test::More::is(scalar @{ $doc->{upstreams}[0]{servers} || [] }, 10000, '10,000 servers reported');
Guard::promtool('/guard?format=prometheus', '10,000 servers');
Guard::promtool('/guard?format=prometheus&detail=1', '10,000 servers, detail');
--- request
GET /guard?format=html
--- response_body_like eval
qr/127\.1\.39\.250:1.*<\/html>\s*\z/s
--- timeout: 30
--- no_error_log
[alert]



=== TEST 7: requests in flight are counted per server, and released
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check tcp interval=100ms;
    }
--- config
    location / { proxy_pass http://slow; proxy_read_timeout 30s; }
    location = /guard { guard_status; }
--- init
Guard::start_hostile('silent', $ENV{TEST_NGINX_B4}, lifetime => 30);
Guard::wait_health('slow', $ENV{TEST_NGINX_B4}, 'up');
my @clients;
for (1 .. 3) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT} || 1984)
        or die "connect: $!";
    print $s "GET /hang HTTP/1.0\r\nHost: localhost\r\n\r\n";
    push @clients, $s;
}
my $busy = Guard::wait_health('slow', $ENV{TEST_NGINX_B4}, '3', 'in_flight');
Test::More::ok($busy, 'three requests in flight to the silent server');
close $_ for @clients;
my $idle = Guard::wait_health('slow', $ENV{TEST_NGINX_B4}, '0', 'in_flight');
Test::More::ok($idle, 'released when the clients went away');
Guard::stop_hostile($ENV{TEST_NGINX_B4});
--- request
GET /guard?format=prometheus&detail=1
--- response_body_like: nginx_upstream_guard_server_in_flight\{upstream="slow",[^}]*\} 0



=== TEST 8: the balancer each upstream uses, as far as nginx lets us see
--- http_config eval
my @u = (['rr', ''], ['lc', 'least_conn;'], ['h', 'hash $arg_k;'],
    ['ch', 'hash $arg_k consistent;'], ['ih', 'ip_hash;'],
    ['rnd', 'random two;'], ['rrka', 'keepalive 4;'],
    ['lcka', 'least_conn; keepalive 4;'], ['hka', 'hash $arg_k; keepalive 4;'],
    ['rrzone', 'zone rrzone 64k;'], ['chzone', 'zone chzone 64k; hash $arg_k consistent;']);
# sticky came with 1.29.6
push @u, ['st', 'sticky cookie srv;'], ['lcst', 'least_conn; sticky cookie srv;']
    if Guard::nginx_version() >= 1029006;
CORE::join '', map { my ($n, $d) = @$_; "    upstream $n { $d server 127.0.0.1:\$TEST_NGINX_B1; guard_check tcp interval=1s; }\n" } @u
--- config
    location = /guard { guard_status; }
    location /ch { proxy_pass http://chzone; }
--- init
# a request through chzone first: from 1.27.3 on, its worker then has the
# points the others lack
Guard::http_get("/ch?k=$_") for 1 .. 3;
my $doc = Guard::check_json('/guard', 'balancers');
my %b = map { $_->{name} => $_->{balancer} } @{ $doc->{upstreams} || [] };
my $v = Guard::nginx_version();
my $lc = $v >= 1031000 ? 'least_conn or least_time' : 'least_conn';
my %want = (
    rr => 'round robin', lc => $lc, h => 'hash, ip_hash or random',
    ch => 'hash consistent', ih => 'hash, ip_hash or random',
    rnd => 'hash, ip_hash or random', rrzone => 'round robin',
    # from 1.27.3 on, its points are made at a worker's first request
    chzone => $v >= 1027003 ? 'hash, ip_hash or random' : 'hash consistent');
if ($v >= 1029007) {
    # keepalive is on by default and no longer hides the balancer
    %want = (%want, rrka => 'round robin', lcka => $lc,
             hka => 'hash, ip_hash or random');
} else {
    %want = (%want, rrka => 'round robin or least_conn, with keepalive',
             lcka => 'round robin or least_conn, with keepalive',
             hka => 'hash, ip_hash or random, with keepalive');
}
%want = (%want, st => 'round robin, sticky', lcst => "$lc, sticky")
    if $v >= 1029006;
Test::More::ok($v > 0, "nginx version known ($v)");
Test::More::is_deeply(\%b, \%want, 'balancer names');
--- request
GET /guard?upstream=lc
--- response_body_like eval
# 1.31 added least_time, which nginx does not tell apart from least_conn
my $lc = Guard::nginx_version() >= 1031000 ? 'least_conn or least_time'
                                           : 'least_conn';
qr/"balancer":"\Q$lc\E"/



=== TEST 9: bytes that are not UTF-8 become U+FFFD in every format
--- http_config eval
# well-formed UTF-8 only: nginx's own decoder lets \xc3\xc3, surrogates
# and more through; each maximal invalid subpart becomes one U+FFFD
my @names = ("bad\xc3\xc3seq", "sur\xed\xa0\x80rogate", "cut\xe2\x82",
             "over\xc0\xaflong", "big\xf4\x90\x80\x80", "mid\xe2\x82x",
             "smile\xf0\x9f\x98\x80");
CORE::join('', map { "    upstream \"$_\" { server 127.0.0.1:\$TEST_NGINX_B1; guard_check tcp interval=1s; }\n" } @names)
. $::Backends
--- config
    location = /guard { guard_status; }
--- init
use Encode ();
my @want = ("bad\x{fffd}\x{fffd}seq", "sur\x{fffd}\x{fffd}\x{fffd}rogate",
            "cut\x{fffd}", "over\x{fffd}\x{fffd}long",
            "big\x{fffd}\x{fffd}\x{fffd}\x{fffd}", "mid\x{fffd}x",
            "smile\x{1f600}");
# strict UTF-8: no surrogates, nothing above U+10FFFF, no overlong forms
my $text = sub {
    my ($path) = @_;
    my ($st, $body) = Guard::http_get($path);
    my $t = eval { Encode::decode('UTF-8', my $b = $body // '',
                                  Encode::FB_CROAK()) };
    Test::More::ok(defined $t && $st == 200, "$path: well-formed UTF-8")
        or Test::More::diag("status " . ($st // 'none') . ": "
                            . ($@ || $Guard::ERROR));
    return ($t, $body);
};
my ($json) = $text->('/guard');
my $doc = eval { JSON::PP->new->decode($json // '') };
Test::More::ok($doc, 'JSON parses') or Test::More::diag($@);
Test::More::is_deeply([map { $_->{name} } @{ $doc->{upstreams} || [] }],
                      \@want, 'JSON names');
my ($prom, $raw) = $text->('/guard?format=prometheus');
Test::More::is_deeply([Guard::prom_errors($raw)], [],
                      'Prometheus text is valid');
Test::More::is_deeply(
    [($prom // '') =~ /^nginx_upstream_guard_upstream_servers\{upstream="([^"]*)"\} 1$/mg],
    \@want, 'Prometheus upstream labels');
my ($html) = $text->('/guard?format=html');
for my $name (@want) {
    Test::More::ok(defined $html && index($html, $name) >= 0,
                   'HTML shows ' . Encode::encode('UTF-8', $name));
}
--- request
GET /guard?upstream=smile%F0%9F%98%80
--- response_body_like: "name":"smile\xf0\x9f\x98\x80"
--- no_error_log
[error]



=== TEST 10: two server lines with one address make no duplicate series
--- http_config eval
"    upstream dup {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B1 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B1 backup;
        server 127.0.0.1:\$TEST_NGINX_B1 backup;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('dup', $ENV{TEST_NGINX_B1}, 'up');
my ($st, $body) = Guard::http_get('/guard?format=prometheus&detail=1');
Test::More::is($st, 200, 'Prometheus text served');
Test::More::is_deeply([Guard::prom_errors($body)], [],
                      'valid, and no series twice');
my @ids = ($body // '') =~ /^nginx_upstream_guard_server_in_rotation\{[^}]*,id="(\d+)"\} \d+$/mg;
Test::More::is("@ids", "0 1 2 3 4", 'each server has its own id');
($st, $body) = Guard::http_get('/guard?format=prometheus');
Test::More::is_deeply([Guard::prom_errors($body)], [],
                      'compact: valid, and no series twice');
my @rows = ($body // '') =~ /^(nginx_upstream_guard_server_in_rotation\{.*)$/mg;
Test::More::is(scalar @rows, 1, 'compact: one series per address')
    or Test::More::diag(join "\n", @rows);
--- request
GET /guard?format=prometheus&state=up&detail=1
--- response_body_like eval
qr/^nginx_upstream_guard_server_weight\{upstream="dup",server="127\.0\.0\.1:\d+",address="127\.0\.0\.1:\d+",role="primary",id="2"\} 2$/m
--- no_error_log
[error]



=== TEST 11: a report changes nothing: other methods get 405 with Allow and a JSON reason
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check tcp interval=100ms;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
    location = /cs { check_status; }
--- request eval
["POST /guard\nx=1", "DELETE /cs", "PUT /guard?format=prometheus"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: GET, HEAD\nCache-Control: no-store\nContent-Type: application/json",
 "Allow: GET, HEAD\nCache-Control: no-store\nContent-Type: application/json",
 "Allow: GET, HEAD\nCache-Control: no-store\nContent-Type: application/json"]
--- response_body_like eval
[qr/\A\{"error":"POST is not allowed here, only GET and HEAD: a report changes nothing","status":405\}\n\z/,
 qr/\A\{"error":"DELETE is not allowed here, only GET and HEAD: a report changes nothing","status":405\}\n\z/,
 qr/\A\{"error":"PUT is not allowed here/]
--- no_error_log
[error]



=== TEST 12: a backup is in rotation only while no primary is
The upstream's in_rotation counted a backup only when no primary was in
rotation, but the backup's own field said in rotation while the primary
took every request.
--- http_config eval
"    upstream bk {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3 backup;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    upstream bk2 {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3 backup;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
my $B1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $B2 = "127.0.0.1:$ENV{TEST_NGINX_B2}";
my $B3 = "127.0.0.1:$ENV{TEST_NGINX_B3}";
Guard::wait_health('bk', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('bk', $ENV{TEST_NGINX_B3}, 'up');
Guard::wait_health('bk2', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('bk2', $ENV{TEST_NGINX_B3}, 'up');
my $doc = Guard::guard_status('/guard');
my %want = (bk => [1, $B1, 1, 0], bk2 => [1, $B2, 0, 1]);
for my $up (sort keys %want) {
    my ($n, $prim, $pin, $bin) = @{ $want{$up} };
    Test::More::is((Guard::upstream_state($doc, $up) // {})->{in_rotation}, $n,
                   "$up: one in rotation");
    Test::More::is(0 + !!(Guard::server_state($doc, $up, $prim) // {})->{in_rotation},
                   $pin, "$up: the primary's in_rotation");
    Test::More::is(0 + !!(Guard::server_state($doc, $up, $B3) // {})->{in_rotation},
                   $bin, "$up: the backup's in_rotation");
    my ($st, $prom) = Guard::http_get("/guard?upstream=$up&format=prometheus");
    Test::More::like($prom // '',
        qr/^nginx_upstream_guard_server_in_rotation\{upstream="$up",server="\Q$B3\E"\} $bin$/m,
        "$up: Prometheus says the same of the backup");
}
--- request
GET /guard?upstream=bk&format=prometheus
--- response_body_like eval
qr/^nginx_upstream_guard_upstream_in_rotation\{upstream="bk"\} 1$/m
--- no_error_log
[error]



=== TEST 13: compact Prometheus: an address serves when any of its lines does
The first line with an address gave the series, so a config-down first
line made a serving address look out of rotation.
--- http_config eval
"    upstream dup {
        server 127.0.0.1:\$TEST_NGINX_B1 down;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('dup', $ENV{TEST_NGINX_B3}, 'up');
Guard::wait_for(sub {
    my $u = Guard::upstream_state(Guard::guard_status('/guard'), 'dup');
    $u && $u->{in_rotation} == 2
}, 10) or Test::More::diag('dup never had 2 in rotation');
--- request
GET /guard?upstream=dup&format=prometheus
--- response_body_like eval
qr/^nginx_upstream_guard_server_in_rotation\{upstream="dup",server="127\.0\.0\.1:$ENV{TEST_NGINX_B1}"\} 1$/m
--- no_error_log
[error]
