# Invalid agent values (guard_agent): ignored, the last valid one still
# applies, and logged once per change of the value, not on every check.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
run_tests();

# checks($upstream, $port) -> the server's check count in /guard, or 0
sub checks {
    my $s = Guard::server_state(Guard::guard_status(), $_[0],
                                "127.0.0.1:$_[1]");
    return $s ? $s->{checks} : 0;
}

__DATA__

=== TEST 1: an invalid agent value is logged once per change
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1 weight=10;
        guard_check http uri=/health interval=100ms;
        guard_agent X-Agent;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health {
            root html;
            if (-f $document_root/neg) { add_header X-Agent -5; return 200; }
            if (-f $document_root/half) { add_header X-Agent 50%; return 200; }
            add_header X-Agent garbage;
            return 200;
        }
    }
--- config
    location = /guard { guard_status; }
--- init
my $b1 = $ENV{TEST_NGINX_B1};
my $after = sub {
    my ($n, $what) = @_;
    my $want = main::checks('app', $b1) + $n;
    Guard::wait_for(sub { main::checks('app', $b1) >= $want }, 10)
        or die "$what: fewer than $n more checks: "
               . ($Guard::ERROR // main::checks('app', $b1));
};
$after->(5, 'garbage');
Guard::health_file('neg', 1);
$after->(5, '-5');
Guard::health_file('neg', 0);
Guard::health_file('half', 1);
Guard::wait_health('app', $b1, 5, 'effective_weight')
    or die "50% never applied: " . ($Guard::ERROR // 'no error');
Guard::health_file('half', 0);
$after->(5, 'garbage again');
--- request
GET /guard
--- response_body_like: "weight":10,"effective_weight":5,"agent_weight":5,
--- grep_error_log eval
qr/\[warn\] .*upstream guard: agent:127\.0\.0\.1:\d+ sends an invalid value "[^"]*" for server 127\.0\.0\.1:\d+ of upstream "app": ignored, the last valid one still applies/
--- grep_error_log_out eval
qr/\A[^\n]*value "garbage"[^\n]*\n[^\n]*value "-5"[^\n]*\n[^\n]*value "garbage"[^\n]*\n\z/
--- no_error_log
[error]
