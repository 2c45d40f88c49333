"""`nimbus exec`: a command runs inside a live instance — its working
directory, environment, cgroup, and (when sandboxed) its own pid namespace
where PID 1 is the instance's runtime and the code is at /var/task."""
import json
import os
import subprocess
import time

from nimbus_testlib import ServerTestCase, COUNTER, fn_files, nimbus_bin, uniq


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
