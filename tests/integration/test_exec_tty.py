"""`nimbus exec` with input: stdin passed through (its end is the command's end of
input), `-it` for an interactive shell on a terminal inside the instance (raw mode
here, restored at the end; the window size follows ours), the exit codes a shell
gives (127 no such command, 126 not executable) and timeout(1)'s 124 when
--timeout ends the command. The terminal tests drive the real CLI from a pty, as a
user's terminal would."""
import errno
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time
import unittest

from nimbus_testlib import ServerTestCase, COUNTER, fn_files, nimbus_bin, uniq


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


class Terminal:
    """The CLI on a pty of ours, as its controlling terminal."""

    def __init__(self, argv, rows, cols):
        self.master, self.slave = os.openpty()
        set_size(self.master, rows, cols)
        self.before = termios.tcgetattr(self.slave)

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     preexec_fn=ctty, close_fds=True)
        self.seen = b''

    def type(self, text):
        os.write(self.master, text.encode())

    def read_until(self, marker, timeout=20):
        """Everything up to `marker` (which must come from the command's output)."""
        deadline = time.time() + timeout
        while marker.encode() not in self.seen:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError('no %r within %.0f s; the terminal showed %r' % (marker, timeout, self.seen))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    chunk = b''
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError('the CLI ended (%s) before %r: %r' % (self.proc.returncode, marker, self.seen))
                self.seen += chunk
        head, _, self.seen = self.seen.partition(marker.encode())
        return head.decode(errors='replace')

    def wait(self, timeout=20):
        code = self.proc.wait(timeout=timeout)
        try:   # drain what it printed last
            while select.select([self.master], [], [], 0.2)[0]:
                chunk = os.read(self.master, 65536)
                if not chunk:
                    break
                self.seen += chunk
        except OSError:
            pass
        return code

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


class ExecInputTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        if not hasattr(type(self), 'fn'):
            name, _ = self.new_function(uniq('xin'), fn_files(COUNTER))
            self.assertEqual(self.c.invoke(name)[0], 200)
            st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
            type(self).fn = name
            type(self).inst = json.loads(raw)['Instances'][0]['Id']
        self.url = 'http://127.0.0.1:%d' % self.server.port

    def cli(self, *args, input=None, timeout=60):
        return subprocess.run([nimbus_bin(), 'exec', '--endpoint', self.url] + list(args), input=input,
                              capture_output=True, timeout=timeout)

    def test_stdin_reaches_the_command(self):
        # as in the brief: NAME ID -- cat
        p = self.cli(self.fn, self.inst, '--', 'cat', input=b'hi\n')
        self.assertEqual((p.returncode, p.stdout), (0, b'hi\n'), p.stderr)

    def test_our_end_of_input_is_the_commands(self):
        p = self.cli(self.fn, '--', 'sh', '-c', 'wc -l; echo after-eof', input=b'one\ntwo\nthree\n')
        self.assertEqual((p.returncode, p.stdout.split()), (0, [b'3', b'after-eof']), p.stderr)
        p = self.cli(self.fn, '--', 'sh', '-c', 'cat; echo after-eof', input=b'')
        self.assertEqual((p.returncode, p.stdout), (0, b'after-eof\n'), p.stderr)

    def test_megabytes_both_ways_nothing_lost(self):
        # more than the pipes hold and more than the daemon keeps unread (1 MiB): both sides wait
        data = b''.join(b'%07d\n' % i for i in range(400000))   # 3.2 MB
        p = self.cli(self.fn, '--', 'cat', input=data, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout), len(data))
        self.assertTrue(p.stdout == data, 'the bytes came back as sent')

    def test_command_not_found_127_not_executable_126(self):
        p = self.cli(self.fn, '--', 'no-such-command-here', input=b'')
        self.assertEqual(p.returncode, 127, (p.stdout, p.stderr))
        self.assertIn(b'no-such-command-here: command not found', p.stdout)
        p = self.cli(self.fn, '--', '/etc/passwd', input=b'')
        self.assertEqual(p.returncode, 126, (p.stdout, p.stderr))
        st, h, raw = self.c.request('POST', '/nimbus/v1/functions/%s/instances/latest/exec' % self.fn,
                                    json.dumps({'Command': ['no-such-command-here']}).encode())
        self.assertEqual((st, json.loads(raw)['ExitCode']), (200, 127), raw)

    def test_timeout_says_so_and_exits_124(self):
        t = time.time()
        p = self.cli(self.fn, '--timeout', '1', '--', 'sleep', '30', input=b'')
        self.assertLess(time.time() - t, 10)
        self.assertEqual(p.returncode, 124, p.stderr)
        self.assertEqual(p.stderr, b'nimbus exec: command ended by --timeout after 1 s\n')
        # the API says why too
        st, h, raw = self.c.request('POST', '/nimbus/v1/functions/%s/instances/latest/exec' % self.fn,
                                    json.dumps({'Command': ['sleep', '30'], 'TimeoutSeconds': 1}).encode())
        doc = json.loads(raw)
        self.assertEqual((st, doc['ExitCode'], doc.get('TimedOut')), (200, 137, True), raw)
        p = self.cli(self.fn, '--timeout', '5', '--', 'true', input=b'')
        self.assertEqual((p.returncode, p.stderr), (0, b''))

    def test_json_output(self):
        p = self.cli(self.fn, '-o', 'json', '--', 'sh', '-c', 'cat; exit 5', input=b'in\n')
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(json.loads(p.stdout), {'ExitCode': 5, 'Output': 'in\n', 'TimedOut': False})

    def test_t_without_a_terminal_runs_without_one(self):
        p = self.cli(self.fn, '-t', '--', 'sh', '-c', 'tty; cat', input=b'piped\n')
        self.assertEqual(p.stdout, b'not a tty\npiped\n', p.stderr)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b'not both a terminal', p.stderr)

    def test_stdin_api(self):
        def start(doc):
            st, h, raw = self.c.request('POST', '/nimbus/v1/functions/%s/instances/latest/exec' % self.fn,
                                        json.dumps(doc).encode())
            return st, json.loads(raw)
        st, doc = start({'Command': ['cat'], 'Stdin': True})
        self.assertEqual(st, 400, 'Stdin needs Stream')
        st, doc = start({'Command': ['sh', '-c', 'cat; echo done'], 'Stdin': True, 'Stream': True})
        self.assertEqual(st, 201, doc)
        xid = doc['ExecId']
        path = '/nimbus/v1/execs/%s' % xid
        st, h, raw = self.c.request('POST', path + '/stdin', b'abc')
        self.assertEqual(st, 204, raw)
        st, h, raw = self.c.request('POST', path + '/resize', json.dumps({'Rows': 10, 'Columns': 10}).encode())
        self.assertEqual(st, 409, 'no terminal to resize')
        st, h, raw = self.c.request('POST', path + '/stdin?end=true', b'def\n')
        self.assertEqual(st, 204, raw)
        st, h, raw = self.c.request('POST', path + '/stdin', b'late')
        self.assertEqual(st, 409, raw)
        out, off, done = '', 0, False
        while not done:
            st, h, raw = self.c.request('GET', '%s?offset=%d' % (path, off))
            self.assertEqual(st, 200, raw)
            d = json.loads(raw)
            out, off, done = out + d['Output'], d['Offset'], d['Done']
        self.assertEqual((out, d['ExitCode']), ('abcdef\ndone\n', 0))
        st, doc = start({'Command': ['cat'], 'Stream': True})
        st, h, raw = self.c.request('POST', '/nimbus/v1/execs/%s/stdin' % doc['ExecId'], b'x')
        self.assertEqual(st, 409, 'started without Stdin')
        st, h, raw = self.c.request('POST', '/nimbus/v1/execs/nope/stdin', b'x')
        self.assertEqual(st, 404)


class ExecTtyTest(ServerTestCase):
    def test_interactive_shell_on_a_terminal(self):
        name, _ = self.new_function(uniq('xtty'), fn_files(COUNTER))
        self.assertEqual(self.c.invoke(name)[0], 200)
        url = 'http://127.0.0.1:%d' % self.server.port
        t = Terminal([nimbus_bin(), 'exec', '--endpoint', url, name, '-it', '--timeout', '120', '--', 'sh'], 33, 101)
        try:
            # a marker the shell prints but its echo of our typing does not contain
            t.type('tty; echo EN""D1\n')
            out = t.read_until('END1')
            self.assertRegex(out, r'(^|\s)/dev/pts/\d+\r?\n', 'tty names a terminal of the instance')
            # raw here while it runs: our terminal neither echoes nor cooks lines
            lflag = termios.tcgetattr(t.slave)[3]
            self.assertFalse(lflag & (termios.ECHO | termios.ICANON), 'raw mode while the shell runs')
            t.type('stty size; echo EN""D2\n')
            self.assertIn('33 101', t.read_until('END2'))
            set_size(t.master, 40, 120)      # the kernel sends the CLI SIGWINCH
            time.sleep(0.5)
            t.type('stty size; echo EN""D3\n')
            self.assertIn('40 120', t.read_until('END3'))
            # ^C reaches the command's foreground, not the CLI
            t.type('sleep 50\n')
            time.sleep(0.5)
            t.type('\x03')
            t.type('echo EN""D4 $?\n')
            t.read_until('END4 130')
            t.type('exit 3\n')
            self.assertEqual(t.wait(), 3, t.seen)
            after = termios.tcgetattr(t.slave)
            self.assertEqual(after[3], t.before[3], 'our terminal is as it was')
        finally:
            t.close()

    def test_terminal_command_exit_code_and_output(self):
        name, _ = self.new_function(uniq('xtty2'), fn_files(COUNTER))
        self.assertEqual(self.c.invoke(name)[0], 200)
        url = 'http://127.0.0.1:%d' % self.server.port
        t = Terminal([nimbus_bin(), 'exec', '--endpoint', url, name, '-t', '--', 'sh', '-c',
                      'test -t 0 && test -t 1 && echo both-terminals; exit 9'], 24, 80)
        try:
            self.assertEqual(t.wait(), 9, t.seen)
            self.assertIn(b'both-terminals', t.seen)
            self.assertEqual(termios.tcgetattr(t.slave)[3], t.before[3])
        finally:
            t.close()
