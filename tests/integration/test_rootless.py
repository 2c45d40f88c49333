"""Rootless mode: `nimbus serve` started as an ordinary user (uid/gid 65534, nobody/nogroup)
sandboxes with a user namespace, no flag needed; on a host without user namespaces it refuses
to start unless given --insecure-no-sandbox, and then says so at start and in every REPORT.

The tests run as root and start the server as uid 65534 on a fresh base dir chowned to it.
A host "without user namespaces" is simulated with a seccomp filter (nimbus_testlib
no_userns_wrapper()) that makes unshare/clone with CLONE_NEWUSER fail with EPERM, as Docker's
default profile does."""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from nimbus_testlib import (ECHO, Server, ServerTestCase, bootstrap, decode_log_result, fn_files,
                            nimbus_bin_for_any_user, no_userns_wrapper, report_re, run_cli, tail, uniq,
                            wait_for)

NOBODY = 65534
AS_NOBODY = {'user': NOBODY, 'group': NOBODY, 'extra_groups': []}
NAMESPACES = ('user', 'pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup')


def run_as_nobody(cmd, wrapper=(), timeout=15):
    return subprocess.run(list(wrapper) + list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, cwd='/', **AS_NOBODY)


def must_run_as_nobody():
    """Skip unless we can start processes as nobody; fail if nobody cannot run the binary."""
    if os.geteuid() != 0:
        raise unittest.SkipTest('these tests run as root to start the server as uid 65534')
    if not shutil.which('unshare'):
        raise unittest.SkipTest('unshare(1) is not installed')
    binary = nimbus_bin_for_any_user()
    runtimes = os.path.join(os.path.dirname(os.path.dirname(binary)), 'runtimes')
    r = run_as_nobody(['sh', '-c', 'test -x "$0" && test -r "$1" && test -x "$1"', binary, runtimes])
    if r.returncode != 0:
        raise AssertionError('uid 65534 cannot execute %s or read %s' % (binary, runtimes))


def userns_unavailable():
    """None if uid 65534 can create a user namespace here, else why not."""
    r = run_as_nobody(['unshare', '-U', 'true'])
    if r.returncode == 0:
        return None
    return 'unprivileged user namespaces are unavailable (unshare -U true as uid 65534: rc %d, %s)' % (
        r.returncode, r.stderr.decode(errors='replace').strip())


def report_line(h):
    lines = [l for l in decode_log_result(h).decode('utf-8', 'replace').splitlines()
             if l.startswith('REPORT')]
    assert len(lines) == 1, lines
    return lines[0]


# Reports what the instance can see and do, one key=value per line.
PROBE = bootstrap(r'''
while next; do
  {
    echo "uid=$(id -u)"
    echo "gid=$(id -g)"
    echo "init=$(cat /proc/1/comm)"
    echo "hostname=$(cat /proc/sys/kernel/hostname)"
    for n in user pid mnt net ipc uts cgroup; do echo "ns_$n=$(readlink /proc/self/ns/$n)"; done
    grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Seccomp|NoNewPrivs):' /proc/self/status | tr -d ' \t' | sed 's/:/=/'
    echo "uid_map=$(cat /proc/self/uid_map | tr -s ' \n' ' ')"
    touch /var/task/.probe 2>/dev/null && echo task_writable=yes || echo task_writable=no
    touch /tmp/.probe 2>/dev/null && echo tmp_writable=yes || echo tmp_writable=no
    cat /etc/shadow >/dev/null 2>&1 && echo shadow_readable=yes || echo shadow_readable=no
    ls "$DATA_DIR" >/dev/null 2>&1 && echo data_dir_visible=yes || echo data_dir_visible=no
    P=""; for p in /proc/[0-9]*; do P="$P ${p#/proc/}:$(cat $p/comm 2>/dev/null)"; done
    echo "procs=$P"
    kill -0 "$DAEMON_PID" 2>/dev/null; echo "kill_daemon_rc=$?"
    curl -sS --noproxy '*' --max-time 3 -o /dev/null "http://127.0.0.1:$DAEMON_PORT/" 2>/dev/null
    echo "connect_daemon_rc=$?"
    unshare -U true 2>/dev/null; echo "unshare_user_rc=$?"
    unshare -m true 2>/dev/null; echo "unshare_mnt_rc=$?"
  } > "$T/out" 2>&1
  respond_file "$T/out" text/plain
done''')

# Leaves two sleepers behind: a child of the bootstrap and an orphan (double fork).
BACKGROUND = bootstrap(r'''
while next; do
  sleep "$MARK" </dev/null >/dev/null 2>&1 &
  sh -c 'sleep "$MARK" </dev/null >/dev/null 2>&1 & exit 0'
  respond '{"started":true}'
done''')


def host_sleepers(mark):
    """[(pid, host uid)] of processes on the host running `sleep MARK`."""
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                argv = f.read().split(b'\0')
            if os.path.basename(argv[0]) != b'sleep' or mark.encode() not in argv[1:]:
                continue
            with open('/proc/%s/status' % p) as f:
                uid = int(re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1))
            found.append((int(p), uid))
        except (OSError, AttributeError, IndexError):
            pass
    return found


class RootlessSandboxTest(ServerTestCase):
    """The server as uid 65534 with NO flags: it must sandbox with a user namespace."""
    server_args = ()
    server_kwargs = {'user': NOBODY, 'sandbox_env': False}

    @classmethod
    def setUpClass(cls):
        must_run_as_nobody()
        why = userns_unavailable()
        if why:
            raise unittest.SkipTest(why)
        super().setUpClass()

    def probe(self, name):
        h, body = self.invoke_ok(name, timeout=60)
        doc = {}
        for line in body.decode('utf-8', 'replace').splitlines():
            k, sep, v = line.partition('=')
            if sep:
                doc[k] = v.strip()
        return doc

    def test_starts_without_flags_as_nobody_and_not_insecure(self):
        err = self.server.stderr_text()
        self.assertNotIn('insecure-no-sandbox', err)
        self.assertNotIn('unsandboxed', err)
        with open('/proc/%d/status' % self.server.proc.pid) as f:
            uids = re.search(r'^Uid:\s+(.*)$', f.read(), re.M).group(1).split()
        self.assertEqual(set(uids), {str(NOBODY)}, 'the daemon is not running as nobody')

    def test_function_is_contained(self):
        s = self.server
        name, _ = self.new_function(uniq('rl-probe'), fn_files(PROBE), timeout=20,
                                    env={'DAEMON_PORT': str(s.port), 'DAEMON_PID': str(s.proc.pid),
                                         'DATA_DIR': s.data_dir})
        doc = self.probe(name)
        msg = json.dumps(doc, indent=1)
        self.assertEqual(doc.get('uid'), '993', msg)
        self.assertEqual(doc.get('gid'), '993', msg)
        self.assertEqual(doc.get('init'), 'nimbus-init', msg)
        self.assertTrue(doc.get('hostname'), msg)
        self.assertNotEqual(doc['hostname'], socket.gethostname(), 'host hostname leaks: ' + msg)
        for n in NAMESPACES:   # all its own: not the host's, and (but for user) not the daemon's
            inside = doc.get('ns_' + n)
            self.assertTrue(inside, msg)
            self.assertNotEqual(inside, os.readlink('/proc/self/ns/' + n), 'host %s namespace: %s' % (n, msg))
            if n != 'user':
                self.assertNotEqual(inside, os.readlink('/proc/%d/ns/%s' % (s.proc.pid, n)),
                                    'the daemon\'s %s namespace: %s' % (n, msg))
        for cap in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
            self.assertEqual(int(doc.get(cap, 'x'), 16), 0, '%s: %s' % (cap, msg))
        self.assertEqual(doc.get('Seccomp'), '2', msg)
        self.assertEqual(doc.get('NoNewPrivs'), '1', msg)
        self.assertEqual(doc.get('task_writable'), 'no', msg)
        self.assertEqual(doc.get('tmp_writable'), 'yes', msg)
        self.assertEqual(doc.get('shadow_readable'), 'no', msg)
        self.assertEqual(doc.get('data_dir_visible'), 'no', msg)
        procs = dict(p.split(':', 1) for p in doc.get('procs', '').split())
        self.assertEqual(procs.get('1'), 'nimbus-init', msg)
        self.assertLess(len(procs), 10, msg)
        self.assertFalse({'nimbus', 'nimbus-spawner', 'python3'} & set(procs.values()),
                         'host processes visible: ' + msg)
        self.assertNotEqual(doc.get('kill_daemon_rc'), '0', msg)
        self.assertNotEqual(doc.get('connect_daemon_rc'), '0', 'reached the daemon\'s API: ' + msg)
        self.assertNotEqual(doc.get('unshare_user_rc'), '0', msg)
        self.assertNotEqual(doc.get('unshare_mnt_rc'), '0', msg)
        # after the escape attempts the platform answers and the next call succeeds
        self.assertEqual(self.probe(name).get('uid'), '993')

    def test_report_is_sandboxed_with_max_memory_used(self):
        name, _ = self.new_function(uniq('rl-echo'), fn_files(ECHO))
        for i in range(2):
            h, body = self.invoke_ok(name, json.dumps({'i': i}), {'X-Amz-Log-Type': 'Tail'})
            self.assertEqual(json.loads(body), {'i': i})
            line = report_line(h)
            self.assertNotIn('unsandboxed', line)
            self.assertRegex(line, report_re(h.get('x-amzn-requestid', '?'), 128))

    def _instances(self, name):
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name, timeout=10)
        self.assertEqual(st, 200, raw[:300])
        return json.loads(raw)['Instances']

    def _start_sleepers(self, name, mark):
        h, body = self.invoke_ok(name)
        self.assertEqual(json.loads(body), {'started': True})
        self.assertTrue(wait_for(lambda: len(host_sleepers(mark)) >= 2, timeout=5),
                        'the function\'s background sleepers never showed up on the host: %r'
                        % host_sleepers(mark))
        self.assertNotIn(0, [uid for pid, uid in host_sleepers(mark)], 'sleepers run as host root')

    def _no_survivors(self, mark, after):
        gone = wait_for(lambda: not host_sleepers(mark), timeout=5)
        self.assertTrue(gone, 'processes survived %s: [(pid, host uid)] %r' % (after, host_sleepers(mark)))

    def test_background_processes_do_not_survive_reclaim_or_delete(self):
        mark = '1000.%06d' % random.randrange(10 ** 6)
        name, _ = self.new_function(uniq('rl-bg'), fn_files(BACKGROUND), timeout=5,
                                    env={'MARK': mark}, extra={'KeepAliveSeconds': 1})
        self._start_sleepers(name, mark)
        # idle for its 1 s keep-alive: the instance is reclaimed, and everything in it dies
        self.assertTrue(wait_for(lambda: not self._instances(name), timeout=10, interval=0.2),
                        'instance not reclaimed: %r' % self._instances(name))
        self._no_survivors(mark, 'the reclaim')
        # the next call gets a fresh instance, which dies with the function
        self._start_sleepers(name, mark)
        st, h, doc, raw = self.c.api('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw[:300])
        self._no_survivors(mark, 'DeleteFunction')


    def test_exec_enters_the_instance(self):
        # the runtime's user namespace is nested in the init's: exec must join both, in order
        name, _ = self.new_function(uniq('rl-exec'), fn_files(ECHO))
        self.invoke_ok(name, b'{}')
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--', 'sh', '-c',
                     'id -u; id -g; cat /proc/1/comm; hostname; ls /var/task; grep CapEff /proc/self/status'],
                    timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode().split()
        self.assertEqual(out[:4], ['993', '993', 'nimbus-init', 'nimbus'], out)
        self.assertIn('bootstrap', out)
        self.assertEqual(out[-1], '0000000000000000', out)


    def test_exec_is_confined_as_the_runtime_and_ends_at_its_timeout(self):
        from test_exec import CONFINED, CONFINEMENT, processes_with, sleep_mark, status_fields
        name, _ = self.new_function(uniq('rl-xconf'), fn_files(ECHO))
        self.invoke_ok(name, b'{}')
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--', 'sh', '-c', CONFINEMENT], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(status_fields(p.stdout.decode()), CONFINED, p.stdout)
        mark = sleep_mark()
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--timeout', '1', '--', 'sh', '-c',
                     'sleep %s & sleep %s' % (mark, mark)], timeout=60)
        self.assertEqual(p.returncode, 124, p.stderr)   # timeout(1)'s code: --timeout ended it
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=5), processes_with(mark))
        self.invoke_ok(name, b'{}')

    def test_exec_on_a_terminal(self):
        # the init's devpts, mounted in a user namespace, and its ptmx opened by the spawner
        from test_exec_tty import Terminal
        from nimbus_testlib import nimbus_bin
        name, _ = self.new_function(uniq('rl-tty'), fn_files(ECHO))
        self.invoke_ok(name, b'{}')
        t = Terminal([nimbus_bin(), 'exec', '--endpoint', self.server.url, name, '-it', '--', 'sh'], 30, 90)
        try:
            t.type('tty; stty size; id -u; echo EN""D\n')
            out = t.read_until('END')
            self.assertRegex(out, r'/dev/pts/\d+\r?\n30 90\r?\n993\r?\n', out)
            t.type('exit 4\n')
            self.assertEqual(t.wait(), 4, t.seen)
        finally:
            t.close()


class NoUserNamespaceTest(unittest.TestCase):
    """A non-root server where user namespaces are blocked (seccomp, as in a container)."""

    @classmethod
    def setUpClass(cls):
        must_run_as_nobody()

    def test_filter_really_blocks_user_namespaces(self):
        r = run_as_nobody(['unshare', '-U', 'true'], wrapper=no_userns_wrapper())
        self.assertNotEqual(r.returncode, 0, 'unshare -U succeeded under the filter')
        self.assertIn(b'Operation not permitted', r.stderr)
        r = run_as_nobody(['sh', '-c', 'true & wait; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'],
                          wrapper=no_userns_wrapper())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb'Seccomp:\s+2')

    def test_refuses_to_start_without_flags(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-')
        self.addCleanup(shutil.rmtree, base, True)
        os.chown(base, NOBODY, NOBODY)
        cmd = [nimbus_bin_for_any_user(), 'serve', '--listen', '127.0.0.1:0', '--data-dir', os.path.join(base, 'data')]
        t0 = time.monotonic()
        try:
            r = run_as_nobody(cmd, wrapper=no_userns_wrapper(), timeout=10)
        except subprocess.TimeoutExpired as e:
            self.fail('the server did not refuse to start (still running after 10 s); stdout %r stderr %r'
                      % (e.stdout, e.stderr))
        err = r.stderr.decode('utf-8', 'replace')
        self.assertNotEqual(r.returncode, 0, err)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertNotIn(b'listening', r.stdout)
        self.assertIn('--insecure-no-sandbox', err)
        self.assertEqual(len(err.strip().splitlines()), 1, 'want a one-line error, got:\n' + tail(err))

    def test_insecure_flag_runs_unsandboxed_and_says_so(self):
        s = Server(['--insecure-no-sandbox'], user=NOBODY, wrapper=no_userns_wrapper(),
                   sandbox_env=False).start()
        try:
            err = s.stderr_text()
            self.assertIn('WARNING', err)
            self.assertIn('--insecure-no-sandbox', err)
            c = s.client()
            name = uniq('nouserns')
            st, h, body, raw = c.create_function(name, fn_files(ECHO))
            self.assertEqual(st, 201, raw[:300])
            for i in range(2):
                st, h, out = c.invoke(name, json.dumps({'i': i}), {'X-Amz-Log-Type': 'Tail'})
                self.assertEqual(st, 200, out[:300])
                self.assertEqual(json.loads(out), {'i': i})
                self.assertIn('(unsandboxed)', report_line(h))
        finally:
            s.stop()


if __name__ == '__main__':
    unittest.main()
