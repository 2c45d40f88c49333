"""Abuse of the core and the sandbox (issue 17: 1, 5, 6, 9, 10): races between the
control plane and cold starts, runtimes that misbehave on the Runtime API, fd
exhaustion, what an instance can learn about the host, and what a killed daemon
leaves behind. Every case ends by checking the daemon's health (alive, no
sanitizer report, /nimbus/v1/health answers, a normal call works).

These run against `nimbus serve --sandbox` (the spawner's asynchronous start is
what the races need)."""

import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
sys.path.insert(0, HERE)

import nimbus_testlib as lib  # noqa: E402
from abuse_lib import AbuseTestCase, open_fds, sanitizer_report  # noqa: E402


class DeleteDuringColdStartTest(AbuseTestCase):
    """DeleteFunction while the function's first cold start is still in the
    spawner: the instance's end must not touch the function it held the last
    reference to."""

    server_args = ('--sandbox',)

    def test_delete_while_first_cold_start_is_in_the_spawner(self):
        c = self.c
        rng = random.Random(17)
        statuses = []
        for i in range(40):
            name = lib.uniq('uaf')
            st, _h, _b, raw = c.create_function(name, lib.echo_files())
            self.assertEqual(st, 201, raw[:300])
            res = {}

            def call():
                try:
                    res['st'] = c.invoke(name, b'{"i":1}', timeout=30)[0]
                except Exception as e:      # the daemon died: asserted below
                    res['st'] = e
            t = threading.Thread(target=call, daemon=True)
            t.start()
            time.sleep(rng.uniform(0, 0.008))
            st, _h, _b, raw = c.api('DELETE', '/2015-03-31/functions/%s' % name)
            self.assertEqual(st, 204, raw[:300])
            t.join(40)
            self.assertTrue(self.server.alive(), 'iteration %d: %s' % (i, self.server.describe_death()))
            self.assertIsNone(sanitizer_report(self.server))
            statuses.append(res.get('st'))
        # Each call either ran before the delete or was told the function is gone.
        for s in statuses:
            self.assertIn(s, (200, 404), statuses)
        self.assertHealthy()


# A runtime that answers with a body of $SIZE bytes, chunked (no length known
# ahead, as a runtime streaming out a big result would), and then reports
# what the daemon answered it on the next call.
BIG_CHUNKED = lib.bootstrap(r'''
LAST=none
while next; do
  if [ "$EVENT" = '"report"' ]; then respond "\"$LAST\""; continue; fi
  LAST=$(head -c "$SIZE" /dev/zero | curl -sS -o "$T/rb" -w '%{http_code}' -X POST \
      -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' \
      --data-binary @- "$API/invocation/$REQ_ID/response")
  cp "$T/rb" /tmp/last-body 2>/dev/null
done
''')


class OversizedResponseTest(AbuseTestCase):
    """A /response over 6 MB fails at the limit, at once: the caller gets
    Function.ResponseSizeTooLarge in Lambda's words, the runtime 413."""

    server_args = ('--sandbox',)

    def big(self, size, timeout=60):
        name, _ = self.new_function(code=lib.fn_files(BIG_CHUNKED), timeout=timeout,
                                    env={'SIZE': str(size)})
        return name

    def test_100mb_chunked_response_fails_at_the_limit_not_the_timeout(self):
        name = self.big(100 * 1024 * 1024, timeout=60)
        t0 = time.monotonic()
        st, h, body = self.c.invoke(name, b'"go"', timeout=90)
        took = time.monotonic() - t0
        self.assertEqual(st, 200, body[:300])
        self.assertFunctionError(h, body, 'Function.ResponseSizeTooLarge')
        # Not the function's 60 s timeout: the call ends at the cap.
        self.assertLess(took, 30, 'the call took %.1f s (waited for the timeout?)' % took)
        doc = json.loads(body)
        self.assertEqual(doc['errorMessage'],
                         'Response payload size exceeded maximum allowed payload size (6291556 bytes).')
        st, h, body = self.c.invoke(name, b'"report"', timeout=60)
        self.assertEqual((st, body), (200, b'"413"'), body[:300])
        self.assertHealthy()

    def test_10mb_response_error_does_not_claim_zero_bytes(self):
        name = self.big(10 * 1024 * 1024)
        st, h, body = self.c.invoke(name, b'"go"', timeout=90)
        self.assertEqual(st, 200, body[:300])
        self.assertFunctionError(h, body, 'Function.ResponseSizeTooLarge')
        self.assertNotIn(b'(0 bytes)', body)
        self.assertIn(b'(6291556 bytes)', body)
        st, h, body = self.c.invoke(name, b'"report"', timeout=60)
        self.assertEqual((st, body), (200, b'"413"'), body[:300])
        self.assertHealthy()


# ---------------------------------------------------------------- file descriptors

def low_nofile_wrapper(n):
    """A command prefix that runs the daemon with RLIMIT_NOFILE n:n (soft and
    hard, so raising the soft limit at start cannot undo it)."""
    return [sys.executable, '-c',
            'import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); '
            'os.execv(sys.argv[1], sys.argv[1:])' % (n, n)]


def hold_request(server, timeout=10):
    """A connection that sent one keep-alive request: (socket, status or None
    when nothing came, raw answer)."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    s.sendall(b'GET /nimbus/v1/health HTTP/1.1\r\nHost: x\r\n\r\n')
    raw = b''
    try:
        while b'\r\n\r\n' not in raw:
            d = s.recv(65536)
            if not d:
                break
            raw += d
        head, _, rest = raw.partition(b'\r\n\r\n')
        m = re.search(rb'(?i)content-length:\s*(\d+)', head)
        want = int(m.group(1)) if m else 0
        while len(rest) < want:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        raw = head + b'\r\n\r\n' + rest
    except (socket.timeout, ConnectionResetError):
        pass
    st = int(raw[9:12]) if raw.startswith(b'HTTP/1.') else None
    return s, st, raw


def assert_overload_or_ok(test, st, h, body, ok_body=None):
    """A call at fd exhaustion: it ran (200, no function error) or the
    platform said it is overloaded (503 ServiceException naming the fds);
    never blamed on the function."""
    test.assertNotIn('x-amz-function-error', h, 'blamed on the function: %r' % body[:300])
    if st == 200:
        if ok_body is not None:
            test.assertEqual(body, ok_body)
        return 'ok'
    test.assertEqual(st, 503, body[:300])
    test.assertEqual(lib.error_type(h), 'ServiceException', h)
    test.assertIn(b'file descriptor', body, body[:300])
    return 'overload'


SLOW_ECHO = lib.bootstrap('while next; do sleep "${DELAY:-0}"; respond_file "$T/ev"; done')


class FdExhaustionEdgeTest(AbuseTestCase):
    """The daemon at its fd limit (256 here) by client connections: the edge
    sheds new ones with 503 before they eat the reserve; warm and cold calls
    keep working or are refused as an overload, never failed as the
    function's fault."""

    server_args = ('--sandbox',)
    server_kwargs = {'wrapper': low_nofile_wrapper(256)}

    def test_edge_sheds_with_503_and_warm_and_cold_calls_still_work(self):
        c = self.c
        warm, _ = self.new_function()
        self.invoke_ok(warm, b'{"warm":1}')
        cold, _ = self.new_function()
        held, shed = [], None
        try:
            for _ in range(400):
                s, st, raw = hold_request(self.server)
                if st == 200:
                    held.append(s)
                    continue
                s.close()
                shed = (st, raw)
                break
            self.assertIsNotNone(shed, 'no 503 after %d connections held' % len(held))
            self.assertEqual(shed[0], 503, shed[1][:400])
            self.assertIn(b'x-amzn-ErrorType: ServiceException', shed[1])
            self.assertIn(b'out of file descriptors', shed[1])
            # Room for a few more connections at the edge, none in the reserve.
            for s in held[-4:]:
                s.close()
            del held[-4:]
            st, h, body = c.invoke(warm, b'{"warm":2}', timeout=60)
            self.assertEqual((st, body), (200, b'{"warm":2}'), h)
            self.assertNotIn('x-amz-function-error', h)
            st, h, body = c.invoke(cold, b'{"cold":1}', timeout=60)
            assert_overload_or_ok(self, st, h, body, b'{"cold":1}')
        finally:
            for s in held:
                s.close()
        self.assertHealthy()

class FdExhaustionInstancesTest(AbuseTestCase):
    """The daemon at its fd limit (256 here) by instances: the cold starts
    past it are refused as an overload (503), not failed as the function's
    ("spawner sent an incomplete instance"); the ones that started answer."""

    server_args = ('--sandbox',)
    server_kwargs = {'wrapper': low_nofile_wrapper(256)}

    def test_cold_starts_past_the_fd_limit_are_refused_as_overload(self):
        name, _ = self.new_function(code=lib.fn_files(SLOW_ECHO), env={'DELAY': '4'}, timeout=30)
        payloads = [('{"n":%d}' % i).encode() for i in range(40)]
        out = [None] * len(payloads)

        def one(i):
            try:
                out[i] = self.c.invoke(name, payloads[i], timeout=90)
            except Exception as e:     # asserted below
                out[i] = e
        ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(payloads))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        kinds = []
        for i, r in enumerate(out):
            self.assertIsInstance(r, tuple, 'call %d: %r' % (i, r))
            st, h, body = r
            kinds.append(assert_overload_or_ok(self, st, h, body, payloads[i]))
        self.assertIn('ok', kinds)
        self.assertIn('overload', kinds, 'the limit was never reached: %r' % kinds)
        # Once its instances are gone, their descriptors are back.
        st, _h, _b, raw = self.c.api('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw[:300])
        pid = self.server.proc.pid
        lib.wait_for(lambda: (open_fds(pid) or 0) < 128, timeout=30)
        self.assertHealthy()


# A runtime that takes its call, then opens 1,000 more connections to the
# Runtime API and counts those that answer a ping; it answers that count on
# its first connection (kept alive).
MANY_CONNS = r"""#!/usr/bin/python3 -S
import json, os, socket
host, port = os.environ['AWS_LAMBDA_RUNTIME_API'].split(':')
addr = (host, int(port))

def read_answer(s):
    raw = b''
    while b'\r\n\r\n' not in raw:
        d = s.recv(65536)
        if not d:
            raise EOFError
        raw += d
    head, _, body = raw.partition(b'\r\n\r\n')
    hdrs = {}
    for line in head.split(b'\r\n')[1:]:
        k, _, v = line.partition(b':')
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get(b'content-length', b'0'))
    while len(body) < n:
        body += s.recv(65536)
    return head[:12], hdrs, body

main = socket.create_connection(addr)
while True:
    main.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n')
    _, hdrs, event = read_answer(main)
    rid = hdrs[b'lambda-runtime-aws-request-id'].decode()
    socks, opened = [], 0
    for _ in range(1000):
        try:
            socks.append(socket.create_connection(addr, timeout=5))
            opened += 1
        except OSError:
            pass
    alive = 0
    for s in socks:
        try:
            s.sendall(b'GET /2018-06-01/ping HTTP/1.1\r\nHost: x\r\n\r\n')
            status, _, _ = read_answer(s)
            alive += status.endswith(b'200')
        except (OSError, EOFError):
            pass
    for s in socks:
        s.close()
    out = json.dumps({'opened': opened, 'alive': alive}).encode()
    main.sendall(b'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n'
                 b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s'
                 % (rid.encode(), len(out), out))
    read_answer(main)
"""


class RuntimeApiConnectionCapTest(AbuseTestCase):
    """One instance opening 1,000 Runtime API connections is refused past a
    small cap (16 + its concurrency)."""

    server_args = ('--sandbox',)

    def test_instance_opening_1000_connections_is_capped(self):
        name, _ = self.new_function(code=lib.fn_files(MANY_CONNS), timeout=60)
        st, h, body = self.c.invoke(name, b'{}', timeout=90)
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h, body[:300])
        doc = json.loads(body)
        self.assertGreater(doc['opened'], 16, doc)
        # Its /next connection is one of the 17 (16 + InstanceConcurrency 1).
        self.assertLessEqual(doc['alive'], 16, doc)
        self.assertGreater(doc['alive'], 0, doc)
        self.assertHealthy()



# ---------------------------------------------------------------- what an instance sees of the host

class MountinfoTest(AbuseTestCase):
    """An instance's /proc/self/mountinfo names no path of the host: not the
    data dir (its code, its layers), not the checkout (the runtimes), not the
    build dir."""

    server_args = ('--sandbox',)

    def host_paths(self):
        build = os.path.dirname(os.path.abspath(lib.nimbus_bin()))
        return [os.path.realpath(self.server.data_dir), os.path.realpath(self.server.base),
                lib.REPO, os.path.realpath(lib.REPO), build, os.path.realpath(build)]

    def assertNoHostPath(self, text):
        self.assertIn('/var/task', text)
        for p in self.host_paths():
            self.assertNotIn(p, text, 'mountinfo shows %s:\n%s' % (p, text))

    def test_mountinfo_of_a_provided_instance(self):
        code = lib.fn_files(lib.bootstrap(
            'while next; do cat /proc/self/mountinfo > "$T/mi"; respond_file "$T/mi" text/plain; done'))
        name, _ = self.new_function(code=code)
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body[:300])
        self.assertNoHostPath(body.decode())
        self.assertIn('/var/runtime', body.decode())
        self.assertHealthy()

    def test_mountinfo_of_a_python_instance_warm_and_prestarted(self):
        src = 'def handler(e, c):\n    return open("/proc/self/mountinfo").read()\n'
        texts = []
        # The second function of the runtime starts on a pre-started interpreter.
        for _ in range(2):
            name, _ = self.new_function(code={'index.py': (src, 0o644)}, runtime='python3.11',
                                        handler='index.handler')
            st, h, body = self.c.invoke(name, b'{}')
            self.assertEqual(st, 200, body[:300])
            self.assertNotIn('x-amz-function-error', h, body[:300])
            texts.append(json.loads(body))
        for t in texts:
            self.assertNoHostPath(t)
        self.assertHealthy()



# ---------------------------------------------------------------- kill -9

def nimbus_groups(owner_pid):
    """Paths of the cgroups under /sys/fs/cgroup named for daemon `owner_pid`
    ("nimbus-<8 hex><pid as 8 hex>"), v1 controllers and v2 alike."""
    pat = re.compile(r'^nimbus-[0-9a-f]{8}%08x$' % owner_pid)
    out = []
    for root, dirs, _files in os.walk('/sys/fs/cgroup'):
        if root.count('/') > 7:
            dirs[:] = []
            continue
        for d in dirs:
            if pat.match(d):
                out.append(os.path.join(root, d))
    return out


class KilledDaemonCgroupsTest(lib.ServerTestCase):
    """After kill -9 of the daemon, the spawner notices (its sockets close),
    ends the instances and removes every group made for that daemon before
    it exits, not at the next start."""

    server_args = ('--sandbox',)

    def test_kill_9_leaves_no_nimbus_cgroups(self):
        if not os.path.isdir('/sys/fs/cgroup'):
            self.skipTest('no cgroup file system')
        names = [self.new_function()[0] for _ in range(3)]
        for n in names:
            self.invoke_together(n, [b'{"a":1}', b'{"a":2}'])
        pid = self.server.proc.pid
        before = nimbus_groups(pid)
        self.assertTrue(before, 'no group named for daemon %d: nothing to test' % pid)
        os.kill(pid, signal.SIGKILL)   # the daemon alone, not its process group
        self.server.proc.wait(10)
        left = lib.wait_for(lambda: not nimbus_groups(pid), timeout=10) or nimbus_groups(pid)
        srv, type(self).server = self.server, None   # gone on purpose
        srv.kill()
        srv.cleanup()
        self.assertTrue(left is True, 'groups left after kill -9: %r' % (left,))


if __name__ == '__main__':
    unittest.main()
