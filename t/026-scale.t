# 10,000 servers: every one has its first result within two intervals of
# nginx's start, and every one is marked down within fall x interval + 2 s
# of its backend stopping; both for 1,000 upstreams of 10 and for one
# upstream of 10,000 (where a result once cost a walk of the whole
# upstream: first results took 7 s at a 1 s interval and the checking
# lease was lost several times).
#
# The servers are 127.1.x.y on one port, all answered by a backend nginx
# of its own listening on that port's wildcard address (loopback only is
# ever connected to).  Times come from the master's start in /proc, not
# from when the runner hands over, so that a slow start is not hidden.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();

our $INTERVAL = 2;      # seconds
our $FALL = 2;

master_on();
workers(2);
worker_connections(4096);
no_shuffle();
no_root_location();
# what production runs: debug logging of 10,000 checks a second would
# measure the disk, not the module
log_level("notice");

# the upstreams: $nup of $nsrv servers each, 127.1.x.y:$port
sub upstreams {
    my ($nup, $nsrv, $port) = @_;
    my ($k, $conf) = (0, '');
    for my $u (1 .. $nup) {
        $conf .= sprintf "upstream svc_%04d {\n", $u;
        for (1 .. $nsrv) {
            $conf .= sprintf "    server 127.1.%d.%d:%d;\n",
                             int($k / 250), 1 + $k % 250, $port;
            $k++;
        }
        $conf .= "    guard_check tcp interval=${INTERVAL}s fall=$FALL"
                 . " rise=1 timeout=1s;\n}\n";
    }
    return $conf;
}

our $BE = "$ENV{TEST_NGINX_PWD}/t/servroot-scale-backend";

# seconds since the test nginx's master started (from /proc)
sub since_start {
    my $pid = Guard::master_pid() or return undef;
    open my $st, '<', "/proc/$pid/stat" or return undef;
    my $stat = <$st>;
    $stat =~ s/^.*\) //;
    my $start = (split ' ', $stat)[19];
    open my $up, '<', '/proc/uptime' or return undef;
    my ($uptime) = split ' ', scalar <$up>;
    my $hz = 100;   # USER_HZ: 100 on every Linux this runs on
    return $uptime - $start / $hz;
}

# the raw JSON report (the whole report is megabytes: no decoding)
sub report {
    my ($query) = @_;
    my ($status, $body) = Guard::http_get("/guard?$query", undef,
                                          timeout => 10);
    return defined $status && $status == 200 ? $body : undef;
}

sub count_health {
    my ($body, $health) = @_;
    my $n = () = $body =~ /"health":"\Q$health\E"/g;
    return $n;
}

# the whole block, run from --- init once nginx is up
sub scale_test {
    my ($total) = @_;
    my $first;

    # 1. every server has a result: nothing is left "checking"
    my $done = Guard::wait_for(sub {
        my $body = report('format=json&state=checking') // return 0;
        return 0 if $body =~ /"health":"checking"/;
        $first = since_start();
        return 1;
    }, 30);
    Test::More::ok($done, "every server has a result") or return;

    my $body = report('format=json') // '';
    Test::More::is(count_health($body, 'up'), $total,
                   "all $total servers are up");
    Test::More::cmp_ok($first, '<=', 2 * $INTERVAL,
                       "first results within two intervals "
                       . "(${first}s after the start)");
    # 10,000 servers every 2 s: 5,000 checks a second, the finest grid
    my ($grid) = $body =~ /"check_grid_duration_ms":(\d+)/;
    Test::More::is($grid, 10, 'check starts on a 10 ms grid');

    # 2. the backend stops: every server down within fall x interval + 2 s
    Guard::stop_nginx($BE);
    Test::More::ok(!Guard::nginx_pid($BE), 'the backend stopped');
    my $t0 = Time::HiRes::time();
    my $down = Guard::wait_for(sub {
        my $body = report('format=json&state=up') // return 0;
        return $body !~ /"health":"up"/;
    }, 60);
    my $took = Time::HiRes::time() - $t0;
    Test::More::ok($down, 'every server is down');
    Test::More::cmp_ok($took, '<=', $FALL * $INTERVAL + 2,
                       "all down within fall x interval + 2 s "
                       . "(${took}s)");

    # 3. one checking worker all along: the lease was never lost
    my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
              . '/logs/error.log';
    open my $fh, '<', $log or die "$log: $!";
    my $takeovers = grep { /runs the checks/ } <$fh>;
    Test::More::is($takeovers, 1, 'one worker ran the checks all along');

    # for the next block
    Test::More::ok(backend(), 'the backend starts again');
}

sub backend {
    my ($ok) = Guard::nginx_run($BE,
        "    server { listen $ENV{TEST_NGINX_B1} backlog=4096;"
        . " return 200; }\n");
    return $ok == 0;
}

# up before the test nginx starts, so that the first checks pass; each
# block stops it and starts it again for the next
Guard::stop_nginx($BE);
backend() or die "the backend nginx did not start";

# every block is the same test on another shape of 10,000 servers: its
# name says which; the sections are set here
add_block_preprocessor(sub {
    my $block = shift;
    my ($nup, $nsrv) = $block->name =~ /1,000 upstreams/ ? (1000, 10)
                                                         : (1, 10000);
    $block->set_value(http_config => upstreams($nup, $nsrv,
                                               $ENV{TEST_NGINX_B1}));
    $block->set_value(config => "    location = /guard"
                                . " { guard_status json; }\n");
    $block->set_value(init => 'main::scale_test(10000);');
    $block->set_value(request => "GET /guard?format=json&state=checking");
    $block->set_value(response_body_like => '"upstreams":\[\]');
    $block->set_value(no_error_log => "[alert]\n[emerg]\n");
});

run_tests();

Guard::stop_nginx($BE);

__DATA__

=== TEST 1: 10,000 servers over 1,000 upstreams, from the first second



=== TEST 2: one upstream of 10,000 servers, from the first second
