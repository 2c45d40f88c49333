"""Shared helpers for the abuse suite (tests/abuse/test_*.py).

The abuse tests send hostile input to a real `nimbus serve` and then check
that the daemon is still well: `assert_healthy` is the common ending of every
case. Built on tests/integration/nimbus_testlib.py (run.py puts both
directories on sys.path, so `import nimbus_testlib` works from here).

Standard library only; every socket has a timeout so no case can hang.
"""

import json
import os
import socket
import threading
import time

import nimbus_testlib as lib

# What the sanitizers print when they find something. The daemon runs with
# halt_on_error for UBSan, but a report may still precede a clean-looking exit.
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                   'AddressSanitizer:DEADLYSIGNAL', 'ThreadSanitizer', 'SUMMARY: UndefinedBehaviorSanitizer')


def sanitizer_report(server):
    """The first sanitizer report on the server's stderr (with some context), or None."""
    err = server.stderr_text()
    for mark in SANITIZER_MARKS:
        i = err.find(mark)
        if i >= 0:
            return err[max(0, i - 200):i + 4000]
    return None


def health(server, timeout=10):
    """GET /nimbus/v1/health: (status, parsed JSON or None)."""
    st, _h, doc, _raw = server.client().api('GET', '/nimbus/v1/health', timeout=timeout)
    return st, doc


def echo_function(client, name=None):
    """Create an echo function (shell bootstrap) and return its name."""
    name = name or lib.uniq('abuse-echo')
    st, _h, _b, raw = client.create_function(name, lib.echo_files())
    if st != 201:
        raise AssertionError('CreateFunction %s -> %s %r' % (name, st, raw[:300]))
    return name


def assert_healthy(test, server, fn=None, payload=b'{"abuse":"after"}'):
    """The common end of every abuse case: the process is alive, has printed no
    sanitizer report, its health endpoint answers 200 "ok", and a normal invoke
    of `fn` (an echo function; one is created when None) returns the payload."""
    test.assertTrue(server.alive(), 'daemon died: ' + server.describe_death())
    rep = sanitizer_report(server)
    test.assertIsNone(rep, 'sanitizer report on the daemon\'s stderr:\n%s' % rep)
    st, doc = health(server)
    test.assertEqual(st, 200, 'health -> %s %r' % (st, doc))
    test.assertEqual((doc or {}).get('status'), 'ok', 'health: %r' % doc)
    c = server.client()
    if fn is None:
        fn = echo_function(c)
    st, h, body = c.invoke(fn, payload, timeout=60)
    test.assertEqual(st, 200, 'invoke after abuse -> %s %r' % (st, body[:300]))
    test.assertNotIn('x-amz-function-error', h, 'function error after abuse: %r' % body[:300])
    test.assertEqual(json.loads(body), json.loads(payload), 'echo after abuse returned %r' % body[:300])
    test.assertTrue(server.alive(), 'daemon died: ' + server.describe_death())


# ---------------------------------------------------------------- raw sockets

def connect(server, timeout=10):
    return socket.create_connection((server.host, server.port), timeout=timeout)


def raw_exchange(server, data, timeout=10, half_close=True, limit=1 << 20):
    """Send `data` (bytes, or a list of byte strings sent one by one) on a fresh
    connection, optionally shut down the write side, and read until the server
    closes, `limit` bytes arrive or `timeout` passes. Returns the bytes read
    (b'' if the server just closed). A reset after sending is not an error:
    closing with unread input makes the kernel send RST."""
    s = connect(server, timeout)
    out = bytearray()
    try:
        parts = data if isinstance(data, (list, tuple)) else [data]
        try:
            for p in parts:
                s.sendall(p)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        end = time.monotonic() + timeout
        while len(out) < limit:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
    finally:
        s.close()
    return bytes(out)


def status_of(raw):
    """The status code of the first HTTP response in `raw`, or None."""
    if not raw.startswith(b'HTTP/1.'):
        return None
    try:
        return int(raw.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return None


def statuses_of(raw):
    """Status codes of every response line found in `raw` (pipelined answers)."""
    out = []
    for line in raw.split(b'\r\n'):
        if line.startswith(b'HTTP/1.') and len(line) >= 12:
            try:
                out.append(int(line[9:12]))
            except ValueError:
                pass
    return out


def parallel(fn, args_list, timeout=120):
    """Run fn(*args) for each args in a thread each; returns the results in order
    (an exception raised in a thread is returned in its place)."""
    res = [None] * len(args_list)

    def one(i, a):
        try:
            res[i] = fn(*a)
        except Exception as e:      # returned to the caller to assert on
            res[i] = e
    ts = [threading.Thread(target=one, args=(i, a), daemon=True) for i, a in enumerate(args_list)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    return res


def open_fds(pid):
    """Number of open file descriptors of process `pid` (None if gone)."""
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return None


class AbuseTestCase(lib.ServerTestCase):
    """ServerTestCase with one echo function made per class (cls.echo) and
    assert_healthy as a method."""

    @classmethod
    def class_setup(cls):
        cls.echo = echo_function(cls.c)

    def assertHealthy(self, fn=None):
        assert_healthy(self, self.server, fn or self.echo)
