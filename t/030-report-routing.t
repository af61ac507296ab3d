# What a report shows, every balancer does from the next request on: the
# checking worker settles a batch of results up to 20 ms after the first
# (leader.c), and a report read meanwhile showed a drain or a down server
# that the balancers still sent requests to.  Tests act the moment a report
# shows the change, with two workers, while another upstream keeps the
# checking worker settling.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();
no_root_location();
check_accum_error_log();

our $App = <<"_EOC_";
    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms;
        guard_agent X-Agent;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health {
            root html;
            if (-f \$document_root/drain) { add_header X-Agent drain; return 200; }
            if (-f \$document_root/sick) { return 503; }
            return 200;
        }
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

my $B1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";

# report_field($field) -> a reader of b1's $field in the JSON report
sub report_field {
    my ($field) = @_;
    return sub {
        my $s = Guard::server_state(Guard::guard_status('/guard?upstream=app'),
                                    'app', $B1);
        return $s ? $s->{$field} : '';
    };
}

# compat() -> b1's status in check_status json
sub compat {
    my ($st, $body) = Guard::http_get('/status?format=json');
    my $j = eval { JSON::PP->new->decode($body // '') } or return '';
    my ($s) = grep { $_->{upstream} eq 'app' && $_->{name} eq $B1 }
                   @{ $j->{servers}{server} || [] };
    return $s ? $s->{status} : '';
}

# rounds($file, $read, $shown, $undone): once b1 is up, 12 times: creates
# $file in html/ (b1's check turns), polls $read without a pause until it
# returns $shown, sends 10 requests at once, as an operator's script acting
# on the report would, removes $file and waits for $undone; returns what
# went wrong
sub rounds {
    my ($file, $read, $shown, $undone) = @_;
    my @bad;
    Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
    for my $round (1 .. 12) {
        Guard::health_file($file, 1);
        Guard::wait_for(sub { $read->() eq $shown }, 10, 0)
            or push @bad, "round $round: the report never showed $shown";
        my $who = Guard::who(10, '/');
        push @bad, "round $round: $who" if $who =~ /b1/;
        Guard::health_file($file, 0);
        Guard::wait_for(sub { $read->() eq $undone }, 10)
            or push @bad, "round $round: never $undone again";
    }
    return join '; ', @bad;
}

# flapped() -> the up->down transitions of "flap" so far: the load was real
sub flapped {
    my $flap = Guard::upstream_state(Guard::guard_status(), 'flap');
    my $n = 0;
    $n += $_->{down_transitions} // 0 for @{ $flap->{servers} || [] };
    return $n;
}

# Twenty servers whose checks pass or fail at random (fall=1 rise=1): the
# checking worker always has results waiting to be settled, so that a
# result of "app" often lands while the batch before it waits for its
# settle (up to 20 ms later).
our $Flap = "    upstream flap {\n"
    . join('', map { "        server 127.0.0.$_:\$TEST_NGINX_B4;\n" } 1 .. 20)
    . "        guard_check http uri=/flap interval=100ms fall=1 rise=1;\n"
    . "    }\n    server {\n"
    . join('', map { "        listen 127.0.0.$_:\$TEST_NGINX_B4;\n" } 1 .. 20)
    . "        location /flap { if (\$msec ~ \"[02468]\$\") { return 503; } return 200; }\n"
    . "    }\n";


run_tests();

__DATA__

=== TEST 1: an agent drain the JSON report shows takes no new request
--- http_config eval
$::App . $::Flap
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
my $bad = main::rounds('drain', main::report_field('admin'), 'draining', 'active');
Test::More::ok(main::flapped() >= 50, 'flap went down and up meanwhile');
Test::More::is($bad, '', 'no request reached b1 once it showed draining');
--- request
GET /guard
--- response_body_like: "admin":"active"



=== TEST 2: a server the JSON report shows down takes no new request
--- http_config eval
$::App . $::Flap
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
my $bad = main::rounds('sick', main::report_field('health'), 'down', 'up');
Test::More::ok(main::flapped() >= 50, 'flap went down and up meanwhile');
Test::More::is($bad, '', 'no request reached b1 once it showed down');
--- request
GET /guard
--- response_body_like: "health":"up"



=== TEST 3: a server check_status shows down takes no new request
--- http_config eval
$::App . $::Flap
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
    location = /status { check_status json; }
--- init
my $bad = main::rounds('sick', \&main::compat, 'down', 'up');
Test::More::ok(main::flapped() >= 50, 'flap went down and up meanwhile');
Test::More::is($bad, '', 'no request reached b1 once check_status showed it down');
--- request
GET /guard
--- response_body_like: "health":"up"
