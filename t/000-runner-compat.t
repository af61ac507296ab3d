# Checks the compat runner in t/compat itself (skipped when the CPAN
# Test::Nginx is the one in use): broken expectations are reported as
# failures, and no nginx outlives the runner, whether it ends normally,
# bails out, or is killed with SIGTERM or SIGKILL.
use strict;
use warnings;
use Test::More;
use File::Spec;
use Time::HiRes qw(sleep time);

my ($lib) = grep { !ref && -f "$_/Test/Nginx/Socket.pm" } @INC;
plan skip_all => 'checks the t/compat runner; the CPAN Test::Nginx is in use'
    unless defined $lib && File::Spec->rel2abs($lib) =~ m{/t/compat/?$};

my $servroot = File::Spec->rel2abs('t/servroot-compat');
my @perl = ($^X, map { "-I" . File::Spec->rel2abs($_) } grep { !ref } @INC);

sub run_fixture {
    my ($fixture, %env) = @_;
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    local $ENV{TEST_NGINX_USE_HUP};
    local $ENV{TEST_NGINX_NO_CLEAN};
    local @ENV{keys %env} = values %env;
    my $pid = open my $out, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT or die;
        exec @perl, "t/compat/fixtures/$fixture" or die "exec: $!";
    }
    my $text = do { local $/; <$out> };
    close $out;
    return ($?, $text);
}

# nginx processes started from the fixture's server root, after giving
# them up to 5 seconds to go away
sub nginx_left {
    my $deadline = time + 5;
    while (1) {
        my @left;
        for my $dir (glob '/proc/[0-9]*') {
            open my $fh, '<', "$dir/cmdline" or next;
            my $cmd = do { local $/; <$fh> } // '';
            push @left, $dir =~ s{/proc/}{}r if index($cmd, $servroot) >= 0;
        }
        return @left if !@left || time > $deadline;
        sleep 0.05;
    }
}

my ($status, $out) = run_fixture('fails.fixture');
isnt($status, 0, 'a test file with failing blocks exits non-zero');
my %fails = (
    'TEST 1: wrong body' => 'response_body',
    'TEST 2: wrong status' => 'status code ok',
    'TEST 3: unwanted error.log line' => 'should not match any line',
    'TEST 4: missing error.log line' => 'should match a line',
    'TEST 5: must_die but nginx starts' => 'die as expected',
    'TEST 6: wrong header' => 'header X-Got ok',
    'TEST 7: one request of several is wrong' => 'req 1\)',
);
for my $test (sort keys %fails) {
    like($out, qr/^not ok \d+ - \S+ \Q$test\E - .*$fails{$test}/m,
         "failure reported: $test");
}
is(scalar(() = $out =~ /^not ok /mg), scalar(keys %fails),
   'no other failures') or diag $out;
like($out, qr/^ok \d+ - \S+ TEST 8: passing block - response_body/m,
     'the passing block passes');
is(join(' ', nginx_left()), '', 'no nginx left after a normal end');

($status, $out) = run_fixture('dies.fixture', RUNNER_FIXTURE_DEATH => 'die');
is($status >> 8, 255, 'a dying init bails out');
like($out, qr/init failed: init died on purpose/, 'the bail-out says why');
is(join(' ', nginx_left()), '', 'no nginx left after a bail-out');

my $t0 = time;
($status, $out) = run_fixture('crash.fixture');
my $took = time - $t0;
like($out, qr/nginx process \d+ is already gone \(killed by signal 9\)/,
     'a crashed nginx is reported with its signal');
is(scalar(() = $out =~ /^not ok \d+ - \S+ TEST 1: .* - Can't connect/mg), 2,
   'each request to a crashed nginx fails');
like($out, qr/^ok \d+ - \S+ TEST 2: .* - response_body/m,
     'the next block gets a new nginx');
cmp_ok($took, '<', 15, 'requests to a crashed nginx fail without long retries');
is(join(' ', nginx_left()), '', 'no nginx left after a crash');

for my $sig (qw(TERM KILL)) {
    ($status) = run_fixture('dies.fixture', RUNNER_FIXTURE_DEATH => $sig);
    is($status & 127, $sig eq 'TERM' ? 15 : 9, "the runner got SIG$sig");
    is(join(' ', nginx_left()), '', "no nginx left after SIG$sig");
}

done_testing();
