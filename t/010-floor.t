# The floor: when primaries in rotation drop below it, standbys are promoted
# in their configured order and demoted once primaries are back; the
# episode is logged (error, then notice).  Agents: weights within bounds,
# drains that obey the floor.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { root html; if (-f \$document_root/b1-up) { return 200 "up\\n"; } return 503; }
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
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B4};
        location /health { return 200; }
        location / { return 200 "b4\\n"; }
    }
_EOC_

no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: round robin: standbys in order below the floor, demoted after
--- http_config eval
"    upstream app {
        
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B4;
        guard_standby 127.0.0.1:\$TEST_NGINX_B4 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
my $keys = sub { "/?k=key$_[0]" };
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
my $before = Guard::who(40, $keys);
Test::More::unlike($before, qr/b[34]/, "standbys get nothing while the floor holds: $before");
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up', 'state');
my $during = Guard::who(40, $keys);
Test::More::like($during, qr/\Ab2=\d+,b4=\d+\z/,
                 "b1 down: the first standby (b4) is promoted, b3 is not: $during");
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'standby', 'state');
my $after = Guard::who(40, $keys);
Test::More::unlike($after, qr/b[34]/, "b1 back: the standby is demoted: $after");
--- request
GET /guard
--- response_body_like: "standbys":2,"standbys_promoted":0,"untracked":0,"floor":2,
--- error_log eval
[qr/upstream guard: standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" promoted \(1 primaries in rotation, floor 2\)/,
 qr/standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" demoted \(2 primaries in rotation, floor 2\)/]
--- no_error_log
[error]



=== TEST 2: least_conn: standbys in order below the floor, demoted after
--- http_config eval
"    upstream app {
        least_conn;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B4;
        guard_standby 127.0.0.1:\$TEST_NGINX_B4 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
my $keys = sub { "/?k=key$_[0]" };
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
my $before = Guard::who(40, $keys);
Test::More::unlike($before, qr/b[34]/, "standbys get nothing while the floor holds: $before");
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up', 'state');
my $during = Guard::who(40, $keys);
Test::More::like($during, qr/\Ab2=\d+,b4=\d+\z/,
                 "b1 down: the first standby (b4) is promoted, b3 is not: $during");
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'standby', 'state');
my $after = Guard::who(40, $keys);
Test::More::unlike($after, qr/b[34]/, "b1 back: the standby is demoted: $after");
--- request
GET /guard
--- response_body_like: "standbys":2,"standbys_promoted":0,"untracked":0,"floor":2,
--- error_log eval
[qr/upstream guard: standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" promoted \(1 primaries in rotation, floor 2\)/,
 qr/standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" demoted \(2 primaries in rotation, floor 2\)/]
--- no_error_log
[error]



=== TEST 3: hash: standbys in order below the floor, demoted after
--- http_config eval
"    upstream app {
        hash \$arg_k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B4;
        guard_standby 127.0.0.1:\$TEST_NGINX_B4 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
my $keys = sub { "/?k=key$_[0]" };
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
my $before = Guard::who(40, $keys);
Test::More::unlike($before, qr/b[34]/, "standbys get nothing while the floor holds: $before");
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up', 'state');
my $during = Guard::who(40, $keys);
Test::More::like($during, qr/\Ab2=\d+,b4=\d+\z/,
                 "b1 down: the first standby (b4) is promoted, b3 is not: $during");
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'standby', 'state');
my $after = Guard::who(40, $keys);
Test::More::unlike($after, qr/b[34]/, "b1 back: the standby is demoted: $after");
--- request
GET /guard
--- response_body_like: "standbys":2,"standbys_promoted":0,"untracked":0,"floor":2,
--- error_log eval
[qr/upstream guard: standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" promoted \(1 primaries in rotation, floor 2\)/,
 qr/standby 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" demoted \(2 primaries in rotation, floor 2\)/]
--- no_error_log
[error]



=== TEST 4: below the floor with no standby: one error per episode, then a notice
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_floor 3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
select(undef, undef, undef, 0.5);
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /guard
--- response_body_like: "in_rotation":3,"draining":0,"standbys":0,"standbys_promoted":0,"untracked":0,"floor":3,
--- grep_error_log eval
qr/upstream "app" is (?:below|back at) its floor: \d+ in rotation, floor \d+/
--- grep_error_log_out
upstream "app" is below its floor: 2 in rotation, floor 3
upstream "app" is back at its floor: 3 in rotation, floor 3
--- error_log eval
[qr/\[error\] .*upstream guard: server 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" is down: status 503 /,
 qr/\[error\] .*upstream guard: upstream "app" is below its floor/,
 qr/\[notice\] .*upstream guard: server 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" is up /,
 qr/\[notice\] .*upstream guard: upstream "app" is back at its floor/]



=== TEST 5: guard_floor 0 disables the floor
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_standby 127.0.0.1:\$TEST_NGINX_B3;
        guard_floor 0;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
--- request
GET /guard
--- response_body_like: "in_rotation":1,"draining":0,"standbys":1,"standbys_promoted":0,"untracked":0,"floor":0,"
--- no_error_log
below its floor



=== TEST 6: agent weights are applied and bounded
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1 weight=10;
        server 127.0.0.1:$TEST_NGINX_B2 weight=10;
        server 127.0.0.1:$TEST_NGINX_B3 weight=10;
        server 127.0.0.1:$TEST_NGINX_B4 weight=10;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Capacity min=20% max=150%;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { add_header X-Capacity 50%; return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { add_header X-Capacity 500%; return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { add_header X-Capacity "1%"; return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B4;
        location /health { add_header X-Capacity "7"; return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{"TEST_NGINX_B$_->[0]"}, $_->[1], 'effective_weight')
    for [1, 5], [2, 15], [3, 2], [4, 7];
--- request
GET /guard
--- response_body_like eval
qr/"weight":10,"effective_weight":5,"agent_weight":5,.*"weight":10,"effective_weight":15,"agent_weight":15,.*"weight":10,"effective_weight":2,"agent_weight":2,.*"weight":10,"effective_weight":7,"agent_weight":7,/
--- error_log eval
qr/upstream guard: agent:127\.0\.0\.1:\d+ sets the weight of server 127\.0\.0\.1:\d+ of upstream "app" to 15 \(configured 10\)/
--- no_error_log
[error]



=== TEST 7: an agent drain that would break the floor is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Agent;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { add_header X-Agent drain; return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '3', 'checks');
my $who = Guard::who(10, '/');
Test::More::is($who, 'b1=5,b2=5', "a refused drain leaves the server in rotation: $who");
--- request
GET /guard
--- response_body_like: "admin":"active","state":"up","in_rotation":true
--- grep_error_log eval
qr/agent:127\.0\.0\.1:\d+ asks to drain server 127\.0\.0\.1:\d+ of upstream "app": refused, it would break the floor \(2 in rotation, floor 2\)/
--- grep_error_log_out eval
qr/\A[^\n]+\n\z/



=== TEST 8: an agent drain within the floor is applied, and ends
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Agent;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health {
            root html;
            if (-f $document_root/drain) { add_header X-Agent drain; return 200; }
            return 200;
        }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> drain
drain
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'draining', 'admin');
my $who = Guard::who(10, '/');
Test::More::is($who, 'b2=5,b3=5', "a drained server gets no new request: $who");
Guard::health_file('drain', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'active', 'admin');
$who = Guard::who(9, '/');
Test::More::is($who, 'b1=3,b2=3,b3=3', "after the drain it serves again: $who");
--- request
GET /guard
--- response_body_like: "admin":"active"
--- error_log eval
[qr/upstream guard: agent:127\.0\.0\.1:\d+ drains server 127\.0\.0\.1:\d+ of upstream "app"/,
 qr/upstream guard: agent:127\.0\.0\.1:\d+ ends the drain of server/]



=== TEST 9: agent percentages with default weights: 25% of weight 1
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Capacity;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { add_header X-Capacity 25%; return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '0.25', 'effective_weight');
my $s = Guard::shares(50, '/');
my $b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 8 && $b1 <= 12,
               "25% of weight 1 takes a fifth: b1 has $b1 of 50 requests");
--- request
GET /guard
--- response_body_like: "weight":1,"effective_weight":0.25,"agent_weight":0.25,
--- error_log eval
qr/upstream guard: agent:127\.0\.0\.1:\d+ sets the weight of server 127\.0\.0\.1:\d+ of upstream "app" to 0\.25 \(configured 1\)/
--- no_error_log
[error]



=== TEST 10: the floor wins over an agent drain granted before it broke
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_agent X-Agent;
        guard_floor 2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { add_header X-Agent drain; return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { root html; if (-f $document_root/b2-up) { return 200 "up\n"; } return 503; }
        location / { return 200 "b2\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { root html; if (-f $document_root/b3-up) { return 200 "up\n"; } return 503; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b2-up
up
>>> b3-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'draining', 'admin');
my $who = Guard::who(10, '/');
Test::More::is($who, 'b2=5,b3=5', "the drain is granted while 3 serve: $who");
Guard::health_file('b2-up', 0);
Guard::health_file('b3-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'active', 'admin');
$who = Guard::who(6, '/');
Test::More::is($who, 'b1=6', "below the floor the drained server serves: $who");
my $st = Guard::guard_status();
my $up = Guard::upstream_state($st, 'app');
Test::More::is($up->{status}, 'critical', 'critical, not panic');
Guard::health_file('b2-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
$st = Guard::guard_status();
Test::More::is(Guard::server_state($st, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}")->{admin},
               'active', 'with 2 in rotation the drain stays suspended');
Guard::health_file('b3-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'draining', 'admin');
$who = Guard::who(10, '/');
Test::More::is($who, 'b2=5,b3=5', "the floor holds without it: drained again: $who");
--- request
GET /guard
--- response_body_like: "status":"degraded"
--- grep_error_log eval
qr/agent:127\.0\.0\.1:\d+ drain of server 127\.0\.0\.1:\d+ of upstream "app" (suspended, the floor wins|resumed, the floor holds without it)/
--- grep_error_log_out eval
qr/\A[^\n]+suspended, the floor wins\n[^\n]+resumed, the floor holds without it\n\z/



=== TEST 11: agent percentages with default weights under least_conn
--- http_config
    upstream app {
        least_conn;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Capacity;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { add_header X-Capacity 25%; return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '0.25', 'effective_weight');
my $s = Guard::shares(50, '/');
my $b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 8 && $b1 <= 12,
               "25% of weight 1 takes a fifth: b1 has $b1 of 50 requests");
--- request
GET /guard
--- response_body_like: "balancer":"least_conn[^"]*".*"weight":1,"effective_weight":0.25,"agent_weight":0.25,
--- no_error_log
[error]
