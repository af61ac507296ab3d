package Test::Nginx::Util;

# Compatibility runner for Test::Nginx test files: configuration and nginx
# process management.  Our own implementation of the documented behaviour
# of the CPAN Test::Nginx (openresty/test-nginx); it is used only when that
# distribution is not installed (scripts/test adds -I t/compat then).
#
# Differences in mechanism, not in meaning: nginx runs in the foreground
# ("daemon off;") as a child of this process and is waited for with waitpid,
# and it gets "-e logs/error.log" so that start-up errors land in the same
# file as with a stock nginx build.
#
# TEST_NGINX_USE_VALGRIND runs nginx under valgrind, as the CPAN module does:
# a number (e.g. 1) means memcheck with its options (--leak-check=full
# --show-possibly-lost=no --gen-suppressions=all, valgrind.suppress in the
# current directory when there is one, --exit-on-first-error with
# TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR), any other value is the option
# string itself ("valgrind -q VALUE nginx ...").  master_process stays as the
# test file sets it, "--- must_die" blocks run without valgrind, and the
# block's name is printed on stderr before nginx starts.  Valgrind writes to
# the runner's stderr (a --log-file in the value wins), not to nginx's
# stderr file; nginx gets more time to exit (its leak check runs then).

use strict;
use warnings;

our $VERSION = '0.29';

use base 'Exporter';

use POSIX qw(:sys_wait_h);
use Cwd ();
use File::Spec ();
use File::Path qw(make_path remove_tree);
use File::Find ();
use List::Util qw(shuffle min);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use IO::Select ();
use Test::More ();
use Test::LongString ();
use Carp qw(croak);

our $UseHup       = $ENV{TEST_NGINX_USE_HUP};
our $Verbose      = $ENV{TEST_NGINX_VERBOSE};
our $LoadModules  = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoShuffle    = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout      = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $NoNginxManager   = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $Randomize    = $ENV{TEST_NGINX_RANDOMIZE};
our $WorkerUser   = $ENV{TEST_NGINX_WORKER_USER};
our $UseValgrind  = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindExitOnFirstErr = $ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR};

our $ServerAddr   = '127.0.0.1';
our $ServerName   = 'localhost';
our $NginxBinary  = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers      = 1;
our $WorkerConnections = 64;
our $LogLevel     = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerPort   = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation = 0;
our $TestNginxSleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our $RepeatEach   = 1;
our $NoLongString;
our $ConfigPreamble = '';
our $FirstTime    = 1;

our ($ConfigVersion, $PrevConfig, $PrevBlock, $ErrLogFilePos, $NginxVersion,
     $NginxRawVersion, $HaveErrLogOpt, $RunTestHelper, $CheckErrorLog,
     $FilterHttpConfig, $InSubprocess, $NginxPid, $NginxGone, @NginxCmd,
     $NginxValgrind);
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);

srand $$;

sub gen_rand_port (;$$);
sub bail_out (@);

if ($Randomize) {
    $ServerPort = gen_rand_port(1000)
        // die "Cannot find an available listening port number\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize ? File::Spec->rel2abs("t/servroot_$ServerPort")
              : ($ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot'));
$ServRoot = File::Spec->rel2abs($ServRoot);
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $StderrFile = "$LogDir/nginx.stderr";

our @EXPORT = qw(
    env_to_nginx is_str is_running $NoLongString no_long_string
    $ServerAddr server_addr $ServerName server_name parse_time verbose
    sleep_time bail_out add_cleanup_handler access_log_data error_log_data
    setup_server_root write_config_file get_canon_version get_nginx_version
    trim show_all_chars parse_headers run_tests get_pid_from_pidfile
    $ServerPortForClient $ServerPort $NginxVersion $PidFile $ServRoot
    $ConfFile $RunTestHelper $CheckErrorLog $FilterHttpConfig
    $NoNginxManager $RepeatEach add_block_preprocessor timeout
    worker_connections workers master_on master_off config_preamble
    repeat_each master_process_enabled log_level no_shuffle
    no_root_location html_dir server_root server_port
    server_port_for_client no_nginx_manager use_hup check_accum_error_log
);

# ---------------------------------------------------------------- settings

sub no_long_string ()      { $NoLongString = 1 }
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub no_nginx_manager ()    { $NoNginxManager = 1 }
sub use_hup ()             { $UseHup = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on ()           { $MasterProcessEnabled = 'on' }
sub master_off ()          { $MasterProcessEnabled = 'off' }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub sleep_time ()          { $TestNginxSleep }
sub verbose ()             { $Verbose }
sub html_dir ()            { $HtmlDir }
sub server_root ()         { $ServRoot }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub is_running ($)         { kill 0, $_[0] }

sub server_addr (@)        { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_name (@)        { @_ ? ($ServerName = shift) : $ServerName }
sub server_port (@)        { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client (@) {
    @_ ? ($ServerPortForClient = shift) : $ServerPortForClient
}
sub timeout (@)            { @_ ? ($Timeout = shift) : $Timeout }
sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)            { @_ ? ($Workers = shift) : $Workers }
sub worker_connections (@) {
    @_ ? ($WorkerConnections = shift) : $WorkerConnections
}
sub log_level (@)          { @_ ? ($LogLevel = shift) : $LogLevel }

sub master_process_enabled (@) {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# ---------------------------------------------------------------- helpers

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub parse_time ($) {
    my $tm = shift;
    return $tm unless defined $tm;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        $tm /= 1000;
    } else {
        $tm =~ s/([^_a-zA-Z])s$/$1/;
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

sub parse_headers ($) {
    my %headers;
    for my $line (split /\n/, shift) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val;
        }
    }
    return \%headers;
}

sub gen_rand_str ($) {
    my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join '', map { $chars[int rand @chars] } 1 .. shift;
}

sub gen_rand_port (;$$) {
    my ($tries, $used) = @_;
    $tries //= 1000;
    $used //= {};
    for (1 .. $tries) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(LocalAddr => $ServerAddr,
                                         LocalPort => $port, Proto => 'tcp',
                                         Listen => 1, ReuseAddr => 1);
        next unless $sock;
        close $sock;
        return $port;
    }
    return undef;
}

sub slurp ($) {
    open my $in, '<', $_[0] or return '';
    local $/;
    my $s = <$in>;
    return $s // '';
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# $TEST_NGINX_FOO in config-like sections is replaced by $ENV{TEST_NGINX_FOO}
# (an undefined one aborts the run); $TEST_NGINX_RAND_PORT_N by a free port,
# the same one for the same N within one block.
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            $rand_ports->{$var} //= do {
                my $p = gen_rand_port(1000, \%used)
                    // bail_out("$name - Cannot find an available listening "
                                . "port number for $var.\n");
                $used{$p} = 1;
                $p;
            };
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }eg;
    return $text;
}

sub get_canon_version (@) {
    sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_nginx_version () {
    my $out = `'$NginxBinary' -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: "
                 . ($out // ''));
    }
    if ($out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s) {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pid_from_pidfile ($) {
    my $pid = slurp($PidFile);
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub log_data ($$) {
    my ($file, $pos) = @_;
    # leave time for log-phase messages written after the response
    sleep $TestNginxSleep * 3;
    open my $in, '<', $file or return ([], $pos);
    seek $in, $pos, 0 if $pos;
    my @lines = <$in>;
    my $end = tell $in;
    close $in;
    return (\@lines, $end);
}

sub error_log_data () {
    my ($lines, $end) = log_data($ErrLogFile,
                                 $CheckAccumErrLog ? 0 : ($ErrLogFilePos || 0));
    $ErrLogFilePos = $end unless $CheckAccumErrLog;
    return $lines;
}

sub access_log_data () {
    return (log_data($AccLogFile, 0))[0];
}

# ---------------------------------------------------------------- server root

sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"),
                    glob("$ServRoot/*_temp"));
        if ($UseHup) {
            # keep the running master's pid file and sockets, drop the rest
            File::Find::find({ no_chdir => 1, bydepth => 1, wanted => sub {
                return if -d $_;
                return if !$first_time
                          && /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
                unlink $_ or warn "Failed to remove $_: $!\n";
            }}, $ServRoot);
        } else {
            remove_tree($HtmlDir, $LogDir);
            rmdir $ServRoot
                or bail_out("Can't remove $ServRoot (not empty?): $!");
        }
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }

    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;
        $body = expand_env_in_text($body // '', $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to set the time of $path\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    master_on() if $UseHup;    # reloading needs a master process

    my $http_config = expand_env_in_text($block->http_config, $name,
                                         $rand_ports) // '';
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;

    my $main_config = $block->main_config // '';
    if ($LoadModules) {
        $main_config .= join ' ', map { "load_module $_;" }
                                  grep { $_ ne '' } split /\s+/, $LoadModules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);
    my $post_main_config = expand_env_in_text($block->post_main_config,
                                              $name, $rand_ports) // '';
    $config //= '';
    my $err_log_file = $block->error_log_file || $ErrLogFile;
    my $server_name = $block->server_name // $ServerName;
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
                           @EnvToNginx;

    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon off;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
$env
$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    $conf .= <<"_EOC_" unless $NoRootLocation;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    $conf .= "    }\n";

    $conf .= <<"_EOC_" if $UseHup;
    server {
        listen          $ServerPort;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_

    $conf .= <<"_EOC_";
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
_EOC_

    if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

# ---------------------------------------------------------------- processes

# The nginx we started and have not reaped yet, or a live nginx named by a
# pid file left over from an earlier run.
sub running_nginx_pid () {
    if (defined $NginxPid) {
        my $r = waitpid($NginxPid, WNOHANG);
        return $NginxPid if $r == 0;
        undef $NginxPid;
    }
    my $pid = get_pid_from_pidfile('');
    return undef unless $pid && kill 0, $pid;
    my $cmd = slurp("/proc/$pid/cmdline");
    return $cmd =~ /nginx/ ? $pid : undef;
}

sub set_parent_death_signal () {
    # prctl(PR_SET_PDEATHSIG, SIGTERM): nginx goes away even if this runner
    # is killed with SIGKILL.
    my %nr = (x86_64 => 157, aarch64 => 167);
    require Config;
    my ($arch) = $Config::Config{archname} =~ /^([^-]+)/;
    syscall($nr{$arch}, 1, 15, 0, 0, 0) if $nr{$arch};
}

# The valgrind command line nginx runs under (TEST_NGINX_USE_VALGRIND, see
# the top).  Valgrind's own output goes to $ValgrindLogFd: the runner's
# stderr, duplicated there in the child (nginx's stderr is a file).
our $ValgrindLogFd = 63;

sub valgrind_cmd () {
    require Text::ParseWords;
    my @cmd = ('valgrind', "--log-fd=$ValgrindLogFd");
    if ($UseValgrind =~ /^\d+$/) {
        push @cmd, '--num-callers=100', '-q', '--tool=memcheck',
                   '--leak-check=full', '--keep-debuginfo=yes',
                   '--show-possibly-lost=no';
        if ($ValgrindExitOnFirstErr) {
            if (`valgrind --help 2>&1` =~ /exit-on-first-error/) {
                push @cmd, '--exit-on-first-error=yes', '--error-exitcode=1';
            } else {
                warn "WARNING: valgrind does not support "
                     . "--exit-on-first-error option\n";
            }
        }
        push @cmd, '--gen-suppressions=all';
        push @cmd, '--suppressions=valgrind.suppress'
            if -f 'valgrind.suppress';
    } else {
        push @cmd, '-q', Text::ParseWords::shellwords($UseValgrind);
    }
    return @cmd;
}

sub spawn_nginx () {
    @NginxCmd = ($NginxBinary, '-p', "$ServRoot/",
                 ($HaveErrLogOpt ? ('-e', $ErrLogFile) : ()),
                 '-c', $ConfFile);
    unshift @NginxCmd, valgrind_cmd() if $UseValgrind;
    warn "starting nginx: @NginxCmd\n" if $Verbose;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $InSubprocess = 1;
        # (not close-on-exec: valgrind gets it, moves it out of nginx's way)
        POSIX::dup2(fileno(STDERR), $ValgrindLogFd) if $UseValgrind;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $StderrFile or open STDERR, '>', '/dev/null';
        set_parent_death_signal() unless $ENV{TEST_NGINX_NO_CLEAN};
        { no warnings 'exec'; exec { $NginxCmd[0] } @NginxCmd; }
        print STDERR "failed to execute $NginxCmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $NginxPid = $pid;
    $NginxGone = 0;
    $NginxValgrind = $UseValgrind;
    return $pid;
}

# Waits until nginx has written our pid into its pid file (configuration
# loaded, listening sockets bound) or has exited.  Returns (1) when it is
# up, (0, $wait_status) when it exited.
sub wait_nginx_start ($$) {
    my ($pid, $limit) = @_;
    my $deadline = time + $limit;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            undef $NginxPid;
            return (0, $status);
        }
        my $p = get_pid_from_pidfile('');
        return (1) if defined $p && $p == $pid;
        if (time > $deadline) {
            warn "WARNING: nginx $pid wrote no pid file in ${limit}s\n";
            return (1);
        }
        sleep 0.005;
    }
}

sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;
    my $ours = defined $NginxPid && $pid == $NginxPid;
    my $gone = sub {
        if ($ours) {
            my $r = waitpid($pid, WNOHANG);
            return $r == $pid || $r == -1;
        }
        return !kill 0, $pid;
    };
    my $wait_for = sub {
        my $deadline = time + shift;
        until ($gone->()) {
            return 0 if time > $deadline;
            sleep 0.01;
        }
        return 1;
    };

    warn "sending QUIT to $pid\n" if $Verbose;
    kill 'QUIT', $pid;
    # under valgrind every process runs its leak check on the way out
    if (!$wait_for->($NginxValgrind ? 60 : $Timeout)) {
        warn "$name - timeout when waiting for the process $pid to exit\n";
        kill 'TERM', $pid;
        if (!$wait_for->(2)) {
            warn "$name - WARNING: killing the process $pid with force...\n";
            # a daemonized master leads its own process group (setsid):
            # kill its workers too, as Test::Nginx does, or an orphaned
            # worker keeps the ports and fails every later block
            if (getpgrp($pid) == $pid) {
                kill 'KILL', -$pid;
            } else {
                kill 'KILL', $pid;
            }
            $wait_for->(5);
        }
    }
    undef $NginxPid if $ours;
}

sub start_nginx ($) {
    my $name = shift;
    my $waited = 0;
    for (my $try = 1; ; $try++) {
        my $pid = spawn_nginx();
        my ($up, $status) = wait_nginx_start($pid, $UseValgrind ? 120 : 30);
        return $pid if $up;
        my $err = slurp($StderrFile);
        if ($err =~ /Address already in use/ && $waited < 10) {
            # the port is still held by an earlier instance: retry a while
            my $delay = min(1, 0.1 * $try);
            sleep $delay;
            $waited += $delay;
            unlink $StderrFile;
            next;
        }
        Test::More::diag("nginx stderr:\n$err") if $err ne '';
        my ($why) = $err =~ /^(.*\S)/m;
        bail_out("$name - Cannot start nginx using command \"@NginxCmd\" "
                 . "(status code $status): " . ($why // 'no output'));
    }
}

sub http_get_body ($$) {
    my ($host, $uri) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                     PeerPort => $ServerPort,
                                     Proto => 'tcp', Timeout => 2)
        or return undef;
    syswrite $sock, "GET $uri HTTP/1.0\r\nHost: $host\r\n\r\n";
    my ($resp, $sel) = ('', IO::Select->new($sock));
    while ($sel->can_read(2)) {
        my $n = sysread $sock, my $buf, 4096;
        last unless $n;
        $resp .= $buf;
    }
    close $sock;
    return $resp =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
}

# After a HUP, poll the version server until the new configuration has
# answered 20 times in a row (so the old workers no longer accept).
sub test_config_version ($) {
    my $name = shift;
    my ($total, $nsucc) = (200, 0);
    for my $tries (1 .. $total) {
        my $ver = http_get_body('Test-Nginx', '/ver');
        if (defined $ver && $ver eq $ConfigVersion) {
            $nsucc++;
            sleep $TestNginxSleep if $nsucc == 5;
            return 1 if $nsucc >= 20;
            next;
        }
        $nsucc = 0;
        if (!defined running_nginx_pid()) {
            last;
        }
        my $emerg = (grep { /\[emerg\]/ } @{(log_data($ErrLogFile, 0))[0]})[0];
        if ($emerg) {
            warn "$name - reload failed: $emerg";
            last;
        }
        my $wait = min(1, ($TestNginxSleep + $TestNginxSleep * $tries)
                          * $tries / 2);
        warn "$name - waiting $wait sec for nginx to reload the "
             . "configuration\n" if $wait > 0.5;
        sleep $wait;
    }
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration after $total "
                     . "failed test requests");
    return 0;
}

sub cleanup () {
    warn "cleaning up everything\n" if $Verbose;
    $_->() for @CleanupHandlers;
    return if $ENV{TEST_NGINX_NO_CLEAN} || !defined $NginxPid;
    # only the nginx started here; a stale one from an earlier run is
    # stopped before the first block starts its own
    my $pid = $NginxPid;
    if (waitpid($pid, WNOHANG) == 0) {
        kill_process($pid, 1, 'cleanup');
    } else {
        undef $NginxPid;
    }
}

for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        $SIG{$sig} = 'DEFAULT';
        cleanup() unless $InSubprocess;
        kill $sig, $$;
    };
}

END {
    if (!$InSubprocess) {
        local $?;
        cleanup();
    }
}

# ---------------------------------------------------------------- running

sub run_tests () {
    $NginxVersion = get_nginx_version();
    $HaveErrLogOpt = $NginxVersion >= 1.019005;    # nginx -e
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }
}

sub check_skip ($) {
    my $block = shift;
    my $name = $block->name;
    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code "
                     . "\"$code\": $@") if $@;
            return ($n, 'skip_eval') if $skip;
        }
    }
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                  (?:\s*:\s*(.*))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $ver = get_canon_version($3, $4, $5);
        return ($n, $reason || "nginx version $op $3.$4.$5")
            if eval "$NginxVersion $op $ver";
    }
    return;
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $first_time = $FirstTime;
    undef $FirstTime;

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);
    my $dry_run = 0;

    local $LogLevel = $block->log_level || $LogLevel;
    my $must_die = $block->must_die;
    local $UseHup = defined $must_die ? undef : $UseHup;
    local $UseValgrind = defined $must_die ? undef : $UseValgrind;

    my ($should_restart, $should_reconfig) = (0, 0);
    if (!defined $config) {
        bail_out("$name - No '--- config' section specified and could not "
                 . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?")
            if !$NoNginxManager && !defined $PrevConfig;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name "
                         . "ignored");
    } else {
        $should_reconfig = !defined $PrevConfig || $config ne $PrevConfig;
        $should_restart = $should_reconfig || $ForceRestartOnTest;
    }

    my ($tests_to_skip, $skip_reason) = check_skip($block);
    my $should_skip = defined $tests_to_skip;

    my $reloaded;
    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $ConfigVersion = gen_rand_str(10) if $UseHup;
        $PrevConfig = $config if $should_reconfig;

        my $pid = running_nginx_pid();
        if (defined $pid && $UseHup && !$first_time) {
            setup_server_root(0);
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);
            warn "sending USR1 and HUP to $pid\n" if $Verbose;
            kill 'USR1', $pid;    # reopen the log files removed above
            sleep $TestNginxSleep;
            kill 'HUP', $pid;
            sleep $TestNginxSleep * 3;
            if (defined $block->reload_fails) {
                sleep 0.3;
            } else {
                test_config_version($name);
            }
            $reloaded = 1;
        } elsif (defined $pid) {
            kill_process($pid, 1, $name);
        }

        if (!$reloaded) {
            unlink $PidFile if -f $PidFile;
            setup_server_root($first_time);
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);
            $ErrLogFilePos = 0;

            if (defined $must_die) {
                run_must_die($block, $must_die, $dry_run);
                return;
            }

            warn "$name\n" if $UseValgrind;
            start_nginx($name);
            sleep $TestNginxSleep;
        }
    }

    # like Test::Nginx: --- init runs once per block, after nginx has been
    # (re)started or reloaded and before the first request
    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;
        if ($should_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
        }
    }

    if (my $total_errlog = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (open my $out, '>>', $total_errlog) {
            print $out "\n=== $name\n", slurp($ErrLogFile);
            close $out;
        }
    }
}

sub run_must_die ($$$) {
    my ($block, $must_die, $dry_run) = @_;
    my $name = $block->name;

    for my $i (0 .. $RepeatEach - 1) {
        my $pid = spawn_nginx();
        my ($up, $status) = wait_nginx_start($pid, 30);
        $status = 0 if $up;
        my $exit_code = $status >> 8;
        my $signal = $status & 127;

        if ($exit_code == 127 && slurp($StderrFile) =~ /failed to execute/) {
            Test::More::fail("$name - failed to execute the nginx command "
                             . "line");
        } elsif ($signal) {
            Test::More::fail("$name - nginx crashed (signal $signal)");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $exit_code,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        if (!$HaveErrLogOpt) {
            # nginx without -e (< 1.19.5): start-up errors may have gone to
            # stderr only; let the error_log checks see them
            my $log = slurp($ErrLogFile);
            if (open my $out, '>>', $ErrLogFile) {
                print $out grep { index($log, substr($_, 7)) < 0 }
                           grep { /^nginx: \[/ } split /^/, slurp($StderrFile);
                close $out;
            }
        }

        $CheckErrorLog->($block, undef, $dry_run, $i, 0);

        if ($up) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $i)\n";
            kill_process($pid, 1, $name);
        }
    }
}

1;
