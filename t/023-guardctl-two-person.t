# scripts/guardctl and the two-person rule: a floor-breaking drain prints
# the request id and the approve command and exits 6; pending lists it;
# approve by the requester fails, by a second principal applies; drain
# --wait waits for the approval and then for drained; cancel by the
# requester, by another operator refused; --wait ended by a cancel; on a
# fleet a pending instance is no refusal (the others keep the change), and
# a rollback cancels the requests made; a rollback answered pending is a
# failed rollback (exit 5), its request left for a second principal.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use File::Path ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

# the principals (obviously fake tokens), in a file only root can read
our $Dir = "/tmp/guard-cli2-" . Guard::_server_port();
mkdir $Dir;
our $Tokens = "$Dir/tokens";
{
    open my $fh, '>', $Tokens or die "$Tokens: $!\n";
    print $fh "# test principals\n",
        Guard::token_line('olga', 'operator', '*', 'test-token-olga'),
        Guard::token_line('otto', 'operator', '*', 'test-token-otto'),
        Guard::token_line('vera', 'viewer', '*', 'test-token-vera'),
        Guard::token_line('adam', 'admin', '*', 'test-token-adam');
    close $fh;
    chmod 0600, $Tokens;
}

our $Backends = join '', map { <<"_EOC_" } 1 .. 4;
    server {
        listen 127.0.0.1:$ENV{"TEST_NGINX_B$_"};
        location /health { return 200; }
        location / { return 200 "b$_\\n"; }
    }
_EOC_

# b1 out alone is fine; a second out breaks the floor: pending
our $Http = <<"_EOC_";
    guard_admin_two_person share=50% window=10m expire=2m concurrent=2 max_out=75%;
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

our $Ctl = "$ENV{TEST_NGINX_PWD}/scripts/guardctl";
our $One = "http://127.0.0.1:" . Guard::_server_port() . "/admin/";
our $Two = "http://127.0.0.1:$ENV{TEST_NGINX_B6}/admin/";
our $Nobody = "http://127.0.0.1:$ENV{TEST_NGINX_B7}/admin/";  # nothing listens

sub srv { "127.0.0.1:$ENV{qq(TEST_NGINX_B$_[0])}" }

sub all_up {
    Guard::wait_health('app', $ENV{"TEST_NGINX_B$_"}, 'up') for 1 .. 4;
}

# the admin state of server $n of "app" on the nginx on port $port
sub admin_of {
    my ($n, $port) = @_;
    my $s = Guard::server_state(Guard::guard_status('/guard', $port), 'app', srv($n));
    return $s ? $s->{admin} : 'none';
}

# ---------------------------------------------------------------- a second nginx

our $SecondDir = "$Dir/second";

# start_second() -> true once a second nginx WITHOUT the two-person rule
# (upstream "app" over b1..b4, floor 1, the same tokens file) answers on
# TEST_NGINX_B6
sub start_second {
    my $servers = join '', map { "        server 127.0.0.1:$ENV{qq(TEST_NGINX_B$_)};\n" } 1 .. 4;
    return Guard::start_nginx($SecondDir, <<"_EOC_", $ENV{TEST_NGINX_B6});
    upstream app {
        zone app_second 64k;
$servers        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 1;
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

sub _ctl_env {
    my ($env) = @_;
    delete @ENV{qw(GUARDCTL_TOKEN GUARDCTL_INSTANCE)};
    for my $k (keys %$env) {
        if (defined $env->{$k}) { $ENV{$k} = $env->{$k} } else { delete $ENV{$k} }
    }
}

# ctl(\%env, @args) -> ($exit_code, $output): stdout and stderr together
sub ctl {
    my ($env, @args) = @_;
    local %ENV = %ENV;
    _ctl_env($env);
    my $cmd = join ' ', 'python3', map { quotemeta } $Ctl, @args;
    my $out = `$cmd 2>&1 </dev/null`;
    my $rc = $? == -1 ? -1 : $? >> 8;
    return ($rc, $out);
}

# ctl_start(\%env, @args) -> ($pid, $fh): guardctl running in the
# background, its stdout and stderr on $fh; ctl_finish($pid, $fh) ->
# ($exit_code, $output) once it ends
sub ctl_start {
    my ($env, @args) = @_;
    my $pid = open(my $fh, '-|');
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        _ctl_env($env);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(99);
        open STDIN, '<', '/dev/null' or POSIX::_exit(99);
        exec 'python3', $Ctl, @args or POSIX::_exit(98);
    }
    return ($pid, $fh);
}

sub ctl_finish {
    my ($pid, $fh) = @_;
    local $/;
    my $out = <$fh> // '';
    close $fh;                      # waits for the child: its status in $?
    my $rc = $? == -1 ? -1 : $? >> 8;
    return ($rc, $out);
}

# the newest request of the main nginx (as vera sees them) in state
# $state for server $n, waited for up to 10 s -> the request or undef
sub request_for {
    my ($n, $state) = @_;
    my $found;
    Guard::wait_for(sub {
        my (undef, $j) = Guard::admin('GET', '/admin/pending', 'test-token-vera');
        ($found) = grep { $_->{server} eq srv($n) && $_->{state} eq $state }
            @{ ($j || {})->{requests} || [] };
        return $found;
    }, 10);
    return $found;
}

our %Olga = (GUARDCTL_TOKEN => 'test-token-olga');
our %Otto = (GUARDCTL_TOKEN => 'test-token-otto');
our %Vera = (GUARDCTL_TOKEN => 'test-token-vera');
our %Adam = (GUARDCTL_TOKEN => 'test-token-adam');

master_on();
workers(2);
no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: pending: exit 6 with the approve command; pending lists it; approve by olga fails, by otto applies
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my ($b1, $b2) = (main::srv(1), main::srv(2));
my @one = ('--instance', $main::One);
my ($rc, $out) = main::ctl(\%main::Olga, @one, 'drain', 'app', $b1);
Test::More::is($rc, 0, 'b1: one out of four, allowed: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl(\%main::Olga, @one, 'drain', 'app', $b2, '--reason', 'disk swap');
Test::More::is($rc, 6, 'b2: breaks the floor: pending approval, exit 6')
    or Test::More::diag($out);
my ($id) = $out =~ /^request (\d+) on \Q$main::One\E needs a second principal \(operator\) to approve within \dm: below the floor/m;
Test::More::ok($id, "the request id printed: " . ($id // 'none')) or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: drain app/\Q$b2\E: PENDING request $id, needs a second principal \(operator\)}m,
                 'the instance\'s answer: pending');
Test::More::like($out, qr{^  the second principal runs: guardctl --instance \Q$main::One\E approve $id$}m,
                 'the exact approve command');
Test::More::like($out, qr{^  to withdraw it: +guardctl --instance \Q$main::One\E cancel $id$}m,
                 'and the cancel command');
Test::More::like($out, qr/^not applied there until approved \(exit 6: pending approval\)$/m,
                 'not applied until approved');
Test::More::is(main::admin_of(2), 'active', 'b2: nothing applied yet');

($rc, $out) = main::ctl(\%main::Vera, @one, 'pending');
Test::More::is($rc, 0, 'pending: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^id\s+state\s+operation\s+upstream\s+server\s+requester\s+needs\s+expires in\s+why$/m,
                 'pending: the table header');
Test::More::like($out, qr/^$id\s+pending\s+drain\s+app\s+\Q$b2\E\s+olga\s+operator\s+1m\s+below the floor \(2 in rotation, floor 3\)/m,
                 'pending: the request\'s row') or Test::More::diag($out);
($rc, $out) = main::ctl(\%main::Vera, @one, '--json', 'pending');
my $j = eval { JSON::PP->new->decode($out) } || {};
my $req = $j->{instances}[0]{answer}{requests}[0] || {};
Test::More::is("$req->{id}/$req->{state}/$req->{requester}/$req->{reason}",
               "$id/pending/olga/disk swap", 'pending --json: the API\'s answer');

($rc, $out) = main::ctl(\%main::Olga, @one, 'approve', $id);
Test::More::is($rc, 1, 'approve by the requester herself: exit 1');
Test::More::like($out, qr/HTTP 403 same_principal: /, 'same_principal printed');
($rc, $out) = main::ctl(\%main::Vera, @one, 'approve', $id);
Test::More::is($rc, 1, 'approve by a viewer: exit 1');
Test::More::like($out, qr/HTTP 403 forbidden: /, 'forbidden printed');
($rc, $out) = main::ctl(\%main::Otto, @one, '--instance', $main::Two, 'approve', $id);
Test::More::is($rc, 2, 'approve with two instances: a usage error, exit 2');
Test::More::like($out, qr/approve takes exactly one instance, not 2: a request id belongs to one nginx/,
                 'the usage error says why');
($rc, $out) = main::ctl(\%main::Otto, @one, 'cancel', '0');
Test::More::is($rc, 2, 'cancel 0: a usage error, exit 2');
Test::More::is(main::admin_of(2), 'active', 'b2: still nothing applied');

($rc, $out) = main::ctl(\%main::Otto, @one, 'approve', $id);
Test::More::is($rc, 0, 'approve by otto: exit 0') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: drain app/\Q$b2\E: active -> drain(ing|ed).*, request $id of olga approved by otto}m,
                 'the change\'s answer');
Test::More::like($out, qr/^request $id of olga approved by otto: applied$/m, 'applied');
Test::More::like(main::admin_of(2), qr/^drain(ing|ed)$/, 'b2 drains');
($rc, $out) = main::ctl(\%main::Otto, @one, 'approve', $id);
Test::More::is($rc, 1, 'approve again: exit 1');
Test::More::like($out, qr/HTTP 409 not_pending: /, 'not_pending printed');
($rc, $out) = main::ctl(\%main::Vera, @one, 'pending');
Test::More::like($out, qr/^$id\s+applied\s+drain\s+app\s+\Q$b2\E\s+olga\s+operator\s+-\s+below/m,
                 'pending: now applied');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- error_log eval
[qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga needs a second principal \(operator\) to approve request \d+: below the floor/,
 qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga, approved by otto: draining/]
--- no_error_log
[error]



=== TEST 2: drain --wait: waits for the approval (adam approves meanwhile), then for drained
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my ($b1, $b2) = (main::srv(1), main::srv(2));
my @one = ('--instance', $main::One);
my ($rc, $out) = main::ctl(\%main::Olga, @one, 'drain', 'app', $b1);
Test::More::is($rc, 0, 'b1 out: exit 0') or Test::More::diag($out);
my ($pid, $fh) = main::ctl_start(\%main::Olga, @one, 'drain', 'app', $b2, '--wait',
                                 '--timeout', '20s', '--reason', 'disk swap');
my $req = main::request_for(2, 'pending');
Test::More::ok($req, 'the waiting guardctl made a request') or Test::More::diag($Guard::BODY);
my $id = $req->{id};
Time::HiRes::sleep(2.5);        # it polls, once a second
Test::More::is(main::admin_of(2), 'active', 'b2: not applied while it waits');
($rc, $out) = main::ctl(\%main::Adam, @one, 'approve', $id);
Test::More::is($rc, 0, 'adam approves: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl_finish($pid, $fh);
Test::More::is($rc, 0, 'the waiting drain: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^request $id on \Q$main::One\E needs a second principal \(operator\)/m,
                 'it said what it waits for');
Test::More::like($out, qr/^  the second principal runs: guardctl --instance \Q$main::One\E approve $id$/m,
                 'and the command');
Test::More::unlike($out, qr/exit 6/, 'no exit 6 with --wait');
Test::More::like($out, qr/^waiting for a second principal to approve request $id \(expires in 1m\)$/m,
                 'the progress line');
Test::More::like($out, qr/^approved: request $id by adam$/m, 'approved by adam');
Test::More::like($out, qr{^\S+ \Q$main::One\E: app/\Q$b2\E drained}m, 'then drained');
Test::More::like($out, qr/^drained on 1 instance$/m, 'drained on 1 instance');
Test::More::is(main::admin_of(2), 'drained', 'b2 drained');
--- request
GET /guard
--- response_body_like: "in_rotation":2,
--- error_log eval
qr/upstream guard: drain of server 127\.0\.0\.1:\d+ of upstream "app" by olga, approved by adam: draining/
--- no_error_log
[error]



=== TEST 3: cancel: by another operator refused, by the requester; --wait ended by a cancel
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my ($b1, $b2) = (main::srv(1), main::srv(2));
my @one = ('--instance', $main::One);
my ($rc, $out) = main::ctl(\%main::Olga, @one, 'drain', 'app', $b1);
Test::More::is($rc, 0, 'b1 out: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl(\%main::Olga, @one, '--json', 'drain', 'app', $b2);
Test::More::is($rc, 6, 'b2 --json: exit 6') or Test::More::diag($out);
my $j = eval { JSON::PP->new->decode($out) } || {};
my $id = $j->{pending}[0]{request};
Test::More::ok($id && !$j->{ok} && $j->{exit} == 6, "--json: request $id, exit 6");
Test::More::is($j->{pending}[0]{approve}, "guardctl --instance $main::One approve $id",
               '--json: the approve command');
Test::More::is($j->{instances}[0]{status}, 202, '--json: the 202 answer');
($rc, $out) = main::ctl(\%main::Otto, @one, 'cancel', $id);
Test::More::is($rc, 1, 'cancel by another operator: exit 1');
Test::More::like($out, qr/HTTP 403 forbidden: /, 'forbidden printed');
($rc, $out) = main::ctl(\%main::Olga, @one, 'cancel', $id);
Test::More::is($rc, 0, 'cancel by the requester: exit 0') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: request $id cancelled: drain app/\Q$b2\E by olga \(needs operator\): below the floor}m,
                 'cancelled');
($rc, $out) = main::ctl(\%main::Vera, @one, 'pending');
Test::More::like($out, qr/^$id\s+cancelled\s+drain/m, 'pending: cancelled');
($rc, $out) = main::ctl(\%main::Otto, @one, 'approve', $id);
Test::More::is($rc, 1, 'a cancelled request cannot be approved: exit 1');
Test::More::like($out, qr/HTTP 409 not_pending: /, 'not_pending');

# a drain --wait whose request an admin cancels
my ($pid, $fh) = main::ctl_start(\%main::Olga, @one, 'drain', 'app', $b2, '--wait');
my $req = main::request_for(2, 'pending');
Test::More::ok($req, 'the waiting guardctl made a request');
Time::HiRes::sleep(1.5);
($rc, $out) = main::ctl(\%main::Adam, @one, 'cancel', $req->{id});
Test::More::is($rc, 0, 'an admin cancels it: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl_finish($pid, $fh);
Test::More::is($rc, 1, 'the waiting drain: exit 1') or Test::More::diag($out);
Test::More::like($out, qr/^\Q$main::One\E: request $req->{id} was cancelled: not applied there$/m,
                 'it says the request was cancelled');
Test::More::is(main::admin_of(2), 'active', 'b2 never drained');
--- request
GET /guard
--- response_body_like: "in_rotation":3,
--- error_log eval
qr/upstream guard: .*request \d+/
--- no_error_log
[error]



=== TEST 4: a fleet: pending on one, applied on the other (kept); a rollback cancels the request
--- http_config eval: $::Http . $::Backends
--- config eval: $::Config
--- init
main::all_up();
main::start_second();
my ($b1, $b2, $b3) = (main::srv(1), main::srv(2), main::srv(3));
my @two = ('--instance', $main::One, '--instance', $main::Two);
my ($rc, $out) = main::ctl(\%main::Olga, @two, 'drain', 'app', $b1);
Test::More::is($rc, 0, 'b1 out on both: exit 0') or Test::More::diag($out);
($rc, $out) = main::ctl(\%main::Olga, @two, 'drain', 'app', $b2);
Test::More::is($rc, 6, 'b2: pending on the first, applied on the second: exit 6')
    or Test::More::diag($out);
my ($id) = $out =~ /^request (\d+) on \Q$main::One\E needs a second principal/m;
Test::More::ok($id, 'the first instance\'s request id') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::Two\E: drain app/\Q$b2\E: active -> drain(ing|ed)}m,
                 'the second applied');
Test::More::like($out, qr/^applied on 1 instance \(kept: a pending request is no refusal\); pending on 1:$/m,
                 'which instances applied, which are pending');
Test::More::like($out, qr/^  the second principal runs: guardctl --instance \Q$main::One\E approve $id$/m,
                 'the approve command names the pending instance');
Test::More::unlike($out, qr/^rollback/m, 'no rollback');
Test::More::is(main::admin_of(2), 'active', 'the first: not applied');
Test::More::like(main::admin_of(2, $ENV{TEST_NGINX_B6}), qr/^drain(ing|ed)$/,
                 'the second: drained, kept');
($rc, $out) = main::ctl(\%main::Vera, @two, 'pending');
Test::More::like($out, qr/^\Q$main::One\E\s+$id\s+pending\s+drain\s+app\s+\Q$b2\E\s+olga/m,
                 'pending on two instances: the instance column');
($rc, $out) = main::ctl(\%main::Olga, '--instance', $main::One, 'cancel', $id);
Test::More::is($rc, 0, 'cancelled') or Test::More::diag($out);
main::stop_second();

# pending on the first, the second unreachable: the request is cancelled
($rc, $out) = main::ctl(\%main::Olga, '--instance', $main::One, '--instance',
                        $main::Nobody, 'drain', 'app', $b3);
Test::More::is($rc, 3, 'the second unreachable: exit 3') or Test::More::diag($out);
($id) = $out =~ m{^\Q$main::One\E: drain app/\S+: PENDING request (\d+)}m;
Test::More::ok($id, 'the first answered pending') or Test::More::diag($out);
Test::More::like($out, qr/^rollback \Q$main::One\E: request $id cancelled$/m,
                 'the rollback cancels the request');
Test::More::unlike($out, qr/approve $id/, 'and offers no approve command');
my (undef, $r) = Guard::admin('GET', "/admin/pending/$id", 'test-token-vera');
Test::More::is($r->{request}{state}, 'cancelled', 'the request is cancelled');
--- request
GET /guard
--- response_body_like: "in_rotation":3,
--- no_error_log
[error]



=== TEST 5: a fleet resume whose rollback needs a second principal: the rollback failed (exit 5), the request left to approve
--- http_config eval
(my $h = $::Http) =~ s/share=50%/share=10%/;
$h . $::Backends
--- config eval: $::Config
--- init
main::all_up();
my $b1 = main::srv(1);
my @one = ('--instance', $main::One);
# b1 out is a quarter of the servers, over share=10%: drained through an approval
my ($rc, $out) = main::ctl(\%main::Olga, @one, 'drain', 'app', $b1);
Test::More::is($rc, 6, 'b1 out: over the share, pending') or Test::More::diag($out);
my ($id) = $out =~ /^request (\d+) on /m;
($rc, $out) = main::ctl(\%main::Adam, @one, 'approve', $id // 0);
Test::More::is($rc, 0, 'adam approves') or Test::More::diag($out);
Test::More::like(main::admin_of(1), qr/^drain(ing|ed)$/, 'b1 drains');

# resume on the first, the second unreachable: the rollback (drain b1
# again) is high-risk too, so the first answers it 202: not rolled back
($rc, $out) = main::ctl(\%main::Otto, @one, '--instance', $main::Nobody,
                        'resume', 'app', $b1);
Test::More::is($rc, 5, 'a rollback that is only pending failed: exit 5') or Test::More::diag($out);
Test::More::like($out, qr{^\Q$main::One\E: resume app/\Q$b1\E: drain(ing|ed) -> active}m,
                 'the resume applied on the first');
Test::More::like($out, qr{^\Q$main::Nobody\E: unreachable}m, 'the second unreachable');
my ($rid) = $out =~ m{^rollback \Q$main::One\E: drain app/\Q$b1\E: PENDING request (\d+)}m;
Test::More::ok($rid, 'the rollback answered pending') or Test::More::diag($out);
$rid //= 0;
Test::More::like($out, qr/^rollback \Q$main::One\E: request $rid needs a second principal \(operator\): not rolled back until approved$/m,
                 'the rollback is said not to have happened');
Test::More::like($out, qr/^  to complete the rollback: guardctl --instance \Q$main::One\E approve $rid$/m,
                 'the command that completes it');
Test::More::like($out, qr/^  to withdraw it: +guardctl --instance \Q$main::One\E cancel $rid$/m,
                 'the command that withdraws it');
Test::More::like($out, qr/^\*\*\* ROLLBACK FAILED: the fleet is in a mixed state/m,
                 'the mixed-state report');
Test::More::like($out, qr{^  \Q$main::One\E: app/\Q$b1\E admin active,}m,
                 'which shows b1 active on the first');
Test::More::unlike($out, qr/^not applied there until approved/m,
                   'not the text of a pending change');
Test::More::is(main::admin_of(1), 'active', 'b1 stays active on the first');
my (undef, $r) = Guard::admin('GET', "/admin/pending/$rid", 'test-token-vera');
Test::More::is("$r->{request}{state}/$r->{request}{requester}/$r->{request}{reason}",
               'pending/otto/guardctl rollback', 'the rollback request waits for approval');

--- request
GET /guard
--- response_body_like: "in_rotation":4,
--- no_error_log
[error]
