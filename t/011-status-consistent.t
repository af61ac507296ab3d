# The pool report is rendered from one copy of the shared state, taken
# under the zone's lock: while checks change the state all the time, every
# report parses and agrees with itself (each row's health with its
# in_rotation and state, the upstream's totals and status with its rows).
# Two workers, so that the report is built while the other one checks.
use lib 't/lib';
use Guard;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: every report agrees with itself while 100 servers flap
--- http_config eval
# 100 addresses (127.0.0.1-100, one listener on all of them), each
# health check failing at random half the time: with fall=1 rise=1 about
# 500 state changes a second
"    upstream flap {\n"
. CORE::join('', map { "        server 127.0.0.$_:\$TEST_NGINX_B1;\n" } 1 .. 100)
. "        guard_check http uri=/health interval=100ms timeout=1s fall=1 rise=1
                    initial=down;
    }
    server {
        listen \$TEST_NGINX_B1;
        location /health {
            if (\$request_id ~ \"^[0-7]\") {
                return 503;
            }
            return 200;
        }
    }
"
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('flap', $ENV{TEST_NGINX_B1}, '10', 'checks');
my @bodies;
my $end = Time::HiRes::time() + 5;
while (Time::HiRes::time() < $end && @bodies < 500) {
    my ($st, $body) = Guard::http_get('/guard?upstream=flap');
    die "status: " . ($st // $Guard::ERROR) . "\n" unless ($st // 0) == 200;
    push @bodies, $body;
}
# JSON::PP takes a tenth of a second per report: check that two parse,
# read the fields of all of them with patterns
for my $i (0, $#bodies) {
    Test::More::ok(eval { JSON::PP->new->utf8->decode($bodies[$i]) },
                   "report $i parses") or Test::More::diag($@);
}
my (@bad, %health, %last);
my $changes = 0;
for my $i (0 .. $#bodies) {
    my ($head, $rows) = $bodies[$i] =~ /^(.*?"servers":\[)(.*)\z/s
        or do { push @bad, "report $i: no servers"; next };
    my %u = $head =~ /"(healthy|in_rotation|floor|status)":"?(\w+)/g;
    my ($n, $up, $in) = (0, 0, 0);
    while ($rows =~ /"address":"([^"]+)",.*?"health":"(\w+)",.*?
                     "state":"([\w-]+)","in_rotation":(true|false)/gx) {
        my ($addr, $h, $state, $rot) = ($1, $2, $3, $4 eq 'true');
        $n++;
        $health{$h}++;
        $changes++ if defined $last{$addr} && $last{$addr} ne $h;
        $last{$addr} = $h;
        $up++ if $h eq 'up';
        $in++ if $rot;
        push @bad, "report $i: $addr health $h, in_rotation "
                   . ($rot ? 'true' : 'false')
            if ($h eq 'up') != $rot;
        push @bad, "report $i: $addr health $h, state $state"
            if $state ne $h;
    }
    push @bad, "report $i: $n servers" unless $n == 100;
    my $status = $in == 0 ? 'panic' : $in < $u{floor} ? 'critical'
               : $in < 100 ? 'degraded' : 'ok';
    push @bad, "report $i: healthy $u{healthy}, rows say $up"
        if $u{healthy} != $up;
    push @bad, "report $i: in_rotation $u{in_rotation}, rows say $in"
        if $u{in_rotation} != $in;
    push @bad, "report $i: status $u{status}, rows say $status"
        if $u{status} ne $status;
}
Test::More::cmp_ok(scalar @bodies, '>=', 20, "reports read (" . @bodies . ")");
Test::More::cmp_ok($changes, '>=', 20,
                   "health changed between reports ($changes times; seen "
                   . CORE::join(', ', map { "$_ $health{$_}" } sort keys %health)
                   . ")");
Test::More::is(scalar @bad, 0, "every report agrees with itself")
    or Test::More::diag(CORE::join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));
--- request
GET /guard?upstream=flap
--- response_body_like: "name":"flap"
--- timeout: 30
