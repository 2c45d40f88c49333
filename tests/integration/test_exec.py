"""`nimbus exec`: a command runs inside a live instance — its working
directory, environment, cgroup, and (when sandboxed) its own pid namespace
where PID 1 is the instance's runtime and the code is at /var/task, confined
as the runtime is (uid 993, seccomp filter, no capabilities, empty bounding
set, no_new_privs). A command past its timeout, and whatever it started, is
killed; nothing it started outlives it.

The helpers at the top are shared with test_sandbox.py (--user) and
test_rootless.py."""
import json
import os
import random
import subprocess
import time
import unittest
import uuid

from nimbus_testlib import ServerTestCase, COUNTER, fn_files, nimbus_bin, uniq, wait_for

# What the exec'd command prints about itself, and what it must say when sandboxed.
CONFINEMENT = ("grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
               "unshare -U true 2>/dev/null; echo \"unshare_user: $?\"")
ZERO = '0000000000000000'
CONFINED = {'Uid': '993 993 993 993', 'Gid': '993 993 993 993', 'CapInh': ZERO, 'CapPrm': ZERO, 'CapEff': ZERO,
            'CapBnd': ZERO, 'CapAmb': ZERO, 'NoNewPrivs': '1', 'Seccomp': '2', 'unshare_user': '1'}


def status_fields(out):
    """{name: value} of `name: value` lines (value whitespace-normalized)."""
    fields = {}
    for line in out.splitlines():
        k, sep, v = line.partition(':')
        if sep:
            fields[k.strip()] = ' '.join(v.split())
    return fields


def processes_with(mark):
    """pids of host processes whose command line has the word `mark`."""
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if mark.encode() in argv[1:]:
            found.append(int(p))
    return found


def sleep_mark():
    """A `sleep` argument no other process has: it names a test's sleepers."""
    return '1000.%06d' % random.randrange(10 ** 6)


def run_exec(c, name, cmd, timeout=None, instance='latest'):
    """POST .../exec (not streamed): (status, document)."""
    req = {'Command': cmd}
    if timeout is not None:
        req['TimeoutSeconds'] = timeout
    st, h, raw = c.request('POST', '/nimbus/v1/functions/%s/instances/%s/exec' % (name, instance),
                           json.dumps(req).encode(), timeout=120)
    return st, json.loads(raw)


def is_sandboxed(pid):
    return os.stat('/proc/%d/ns/pid' % pid).st_ino != os.stat('/proc/self/ns/pid').st_ino


class ExecTest(ServerTestCase):
    def nimbus(self, *args, timeout=60):
        # --endpoint before the command: everything after `--` is the command's
        return subprocess.run([nimbus_bin(), args[0], '--endpoint', 'http://127.0.0.1:%d' % self.server.port]
                              + list(args[1:]), capture_output=True, timeout=timeout)

    def warm(self):
        name, _ = self.new_function(uniq('exec'), fn_files(COUNTER), env={'EXEC_MARK': 'in-the-instance'})
        st, h, body = self.c.invoke(name)
        self.assertEqual(st, 200)
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
        inst = json.loads(raw)['Instances'][0]
        return name, inst

    def test_exec_runs_inside_the_instance(self):
        name, inst = self.warm()
        pid = inst['Pid']
        p = self.nimbus('exec', name, '--instance', inst['Id'], '--', 'sh', '-c',
                        'pwd; echo "mark=$EXEC_MARK"; echo "root=$LAMBDA_TASK_ROOT"; ls; cat /proc/self/cgroup; '
                        'cat /proc/1/cmdline | tr "\\0" " "; echo')
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn('mark=in-the-instance', out)
        self.assertIn('bootstrap', out.split('root=')[1])          # it sees the function's code
        task_root = [l for l in out.splitlines() if l.startswith('root=')][0][5:]
        self.assertEqual(out.splitlines()[0], task_root, 'runs in the instance working directory')
        sandboxed = os.stat('/proc/%d/ns/pid' % pid).st_ino != os.stat('/proc/self/ns/pid').st_ino
        cgroup_ns = os.stat('/proc/%d/ns/cgroup' % pid).st_ino != os.stat('/proc/self/ns/cgroup').st_ino
        with open('/proc/%d/cgroup' % pid) as f:
            want = [l.strip() for l in f if ':memory:' in l or l.startswith('0::')]
        for line in want:
            if 'nimbus' not in line:
                continue
            if cgroup_ns:
                # Inside its own cgroup namespace the instance's group is "/":
                # a process outside it would see "/.." paths.
                mem = [l for l in out.splitlines() if ':memory:' in l or l.startswith('0::')]
                self.assertTrue(mem and all(l.endswith(':/') for l in mem), mem)
            else:
                self.assertIn(line.split(':', 2)[2], out, 'joined the instance cgroup')
        if sandboxed:
            self.assertEqual(task_root, '/var/task')
            first = out.strip().splitlines()[-1]
            self.assertIn('nimbus-init', first, 'PID 1 is the instance\'s own init')
            self.assertNotIn(self.server.data_dir, out, 'nothing of the daemon leaks in')

    def test_exit_code_default_instance_and_errors(self):
        name, inst = self.warm()
        p = self.nimbus('exec', name, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7')
        self.assertEqual(p.returncode, 7)
        self.assertIn(b'out', p.stdout)
        self.assertIn(b'err', p.stdout)
        p = self.nimbus('exec', name, '--instance', 'nope', '--', 'true')
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1)
        p = self.nimbus('exec', name)
        self.assertEqual(p.returncode, 2)
        t = time.time()
        p = self.nimbus('exec', name, '--timeout', '1', '--', 'sleep', '30')
        self.assertLess(time.time() - t, 10)
        self.assertNotEqual(p.returncode, 0)
        # the instance still serves calls
        st, h, body = self.c.invoke(name)
        self.assertEqual(st, 200)


class ExecStreamTest(ServerTestCase):
    def test_output_streams_while_the_command_runs(self):
        name, _ = self.new_function(uniq('xstream'), fn_files(COUNTER))
        self.assertEqual(self.c.invoke(name)[0], 200)
        url = 'http://127.0.0.1:%d' % self.server.port
        p = subprocess.Popen([nimbus_bin(), 'exec', name, '--endpoint', url, '--', 'sh', '-c',
                              'echo first; sleep 4; echo second'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        first = p.stdout.readline()
        t_first = time.time() - t0
        rest, err = p.communicate(timeout=30)
        self.assertEqual(first, b'first\n')
        self.assertLess(t_first, 3.5, 'the first line arrived before the command ended (4 s later)')
        self.assertEqual(rest, b'second\n')
        self.assertEqual(p.returncode, 0, err)

    def test_stream_api_offsets(self):
        name, _ = self.new_function(uniq('xapi'), fn_files(COUNTER))
        self.assertEqual(self.c.invoke(name)[0], 200)
        st, h, raw = self.c.request('POST', '/nimbus/v1/functions/%s/instances/latest/exec' % name,
                                    json.dumps({'Command': ['sh', '-c', 'printf abc; exit 4'], 'Stream': True}).encode())
        self.assertEqual(st, 201, raw)
        xid = json.loads(raw)['ExecId']
        out, off, done = b'', 0, False
        while not done:
            st, h, raw = self.c.request('GET', '/nimbus/v1/execs/%s?offset=%d' % (xid, off))
            self.assertEqual(st, 200, raw)
            doc = json.loads(raw)
            out += doc['Output'].encode()
            off, done = doc['Offset'], doc['Done']
        self.assertEqual((out, doc['ExitCode']), (b'abc', 4))
        st, h, raw = self.c.request('GET', '/nimbus/v1/execs/%s?offset=0' % xid)
        self.assertEqual(st, 404, 'a finished stream that was read to its end is gone')


class ExecConfinementTest(ServerTestCase):
    """What an exec'd command may do, and what it leaves behind."""

    def warm(self, files=None, **kw):
        name, _ = self.new_function(uniq('xconf'), files or fn_files(COUNTER), **kw)
        self.assertEqual(self.c.invoke(name)[0], 200)
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
        return name, json.loads(raw)['Instances'][0]

    def test_command_is_confined_as_the_runtime(self):
        name, inst = self.warm()
        if not is_sandboxed(inst['Pid']):
            raise unittest.SkipTest('the server runs unsandboxed (NIMBUS_SANDBOX=0)')
        st, doc = run_exec(self.c, name, ['sh', '-c', CONFINEMENT])
        self.assertEqual((st, doc['ExitCode']), (200, 0), doc)
        self.assertEqual(status_fields(doc['Output']), CONFINED, doc['Output'])
        # the instance's own filter: the runtime has the same one
        with open('/proc/%d/status' % inst['Pid']) as f:
            runtime = status_fields(f.read())
        self.assertEqual((runtime['Seccomp'], runtime['CapBnd']), ('2', ZERO))

    def test_output_is_capped_at_one_mib(self):
        name, _ = self.warm()
        st, doc = run_exec(self.c, name, ['sh', '-c', "head -c 1100000 /dev/zero | tr '\\0' a; echo tail >&2"])
        self.assertEqual((st, doc['ExitCode'], doc.get('Truncated')), (200, 0, True), str(doc)[:300])
        self.assertEqual(doc['Output'], 'a' * (1024 * 1024))

    def test_a_command_past_its_timeout_leaves_no_process_behind(self):
        name, _ = self.warm()
        mark = sleep_mark()
        t = time.time()
        # a child in its process group, one in a group of its own (as a shell's job), then a wait
        own_group = ('/usr/bin/python3 -c "import os, sys; os.setpgid(0, 0); '
                     'os.execvp(\'sleep\', [\'sleep\', sys.argv[1]])" %s' % mark)
        st, doc = run_exec(self.c, name, ['sh', '-c', 'sleep %s & %s & sleep %s; echo never'
                                          % (mark, own_group, mark)], timeout=1)
        self.assertLess(time.time() - t, 8)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc['ExitCode'], 137, doc)
        self.assertNotIn('never', doc['Output'])
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=5), processes_with(mark))
        self.assertEqual(self.c.invoke(name)[0], 200, 'the instance still serves calls')

    def test_what_a_command_started_ends_with_it(self):
        name, _ = self.warm()
        mark = sleep_mark()
        st, doc = run_exec(self.c, name, ['sh', '-c', 'sleep %s >/dev/null 2>&1 & echo started' % mark], timeout=60)
        self.assertEqual((st, doc['ExitCode'], doc['Output']), (200, 0, 'started\n'), doc)
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=5), processes_with(mark))


    def test_output_held_open_past_the_timeout_does_not_hold_the_answer(self):
        # setsid: a process of a session of its own, which the kill cannot find, keeps the output
        # open; the answer comes a moment after the timeout all the same
        name, _ = self.warm()
        mark = sleep_mark()
        t = time.time()
        st, doc = run_exec(self.c, name, ['sh', '-c', 'setsid sleep %s & echo started' % mark], timeout=1)
        self.assertLess(time.time() - t, 6)
        self.assertEqual((st, doc['ExitCode'], doc['Output']), (200, 0, 'started\n'), doc)
        # it ends with its instance
        st, h, d, raw = self.c.api('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw)
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=10), processes_with(mark))


PRESTART_PY = """import os
def handler(e, c):
    return {'fn': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'), 'mine': os.environ.get('MINE')}
"""


class ExecPrestartedTest(ServerTestCase):
    """The same, in an instance whose python runtime was started ahead of its request: exec
    takes the environment the function was given (not the runtime's start-up one)."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest('pre-started runtimes need a root spawner')
        super().setUpClass()

    def prestarted(self):
        """A python function whose warm instance had a pre-started runtime."""
        files = {'app.py': PRESTART_PY}
        first, _ = self.new_function(uniq('xpre-a'), files, runtime='python3.11', handler='app.handler')
        self.assertEqual(self.c.invoke(first)[0], 200)   # from now on the spawner keeps one ready
        name, _ = self.new_function(uniq('xpre-b'), files, runtime='python3.11', handler='app.handler',
                                    env={'MINE': 'given'})
        for _ in range(20):
            st, h, body = self.c.invoke(name)
            self.assertEqual(st, 200, body)
            st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
            inst = [i for i in json.loads(raw)['Instances'] if i['State'] == 'Ready'][-1]
            if inst['SandboxPhases']['Prestarted']:
                return name, inst
            # retire it: the next call cold-starts, by then on a pre-started runtime
            time.sleep(0.3)
            st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                         {'Description': uuid.uuid4().hex})
            self.assertEqual(st, 200, raw)
        self.fail('no cold start took a pre-started runtime')

    def test_exec_in_a_prestarted_instance(self):
        name, inst = self.prestarted()
        st, doc = run_exec(self.c, name, ['sh', '-c', 'pwd; echo "mine=$MINE fn=$AWS_LAMBDA_FUNCTION_NAME"; '
                                          'echo "api=${AWS_LAMBDA_RUNTIME_API%:*}"; ' + CONFINEMENT])
        self.assertEqual((st, doc['ExitCode']), (200, 0), doc)
        lines = doc['Output'].splitlines()
        self.assertEqual(lines[:3], ['/var/task', 'mine=given fn=' + name, 'api=127.0.0.1'], doc['Output'])
        self.assertEqual(status_fields('\n'.join(lines[3:])), CONFINED, doc['Output'])
        # streamed, through the CLI
        url = 'http://127.0.0.1:%d' % self.server.port
        p = subprocess.run([nimbus_bin(), 'exec', name, '--endpoint', url, '--', 'sh', '-c', 'echo one; exit 3'],
                           capture_output=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout), (3, b'one\n'), p.stderr)
        # the timeout kills it, and what it started
        mark = sleep_mark()
        st, doc = run_exec(self.c, name, ['sh', '-c', 'sleep %s & sleep %s' % (mark, mark)], timeout=1)
        self.assertEqual((st, doc['ExitCode']), (200, 137), doc)
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=5), processes_with(mark))
        # the output cap
        st, doc = run_exec(self.c, name, ['sh', '-c', "head -c 1100000 /dev/zero | tr '\\0' b"])
        self.assertEqual((st, len(doc['Output']), doc.get('Truncated')), (200, 1024 * 1024, True))
        self.assertEqual(self.c.invoke(name)[0], 200, 'the instance still serves calls')
