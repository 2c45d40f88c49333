"""Shared helpers for the Nimbus end-to-end tests.

Starts `nimbus serve` on a fresh data directory, talks to it over HTTP
(http.client, or a raw socket for pipelining / chunked / malformed input),
builds function ZIPs in memory and provides shell bootstraps that speak the
Lambda Runtime API with curl.

Standard library only. Every socket and subprocess has a timeout: the suite
must never hang.
"""

import base64
import hashlib
import http.client
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

LISTEN_RE = re.compile(r'^nimbus: listening on https?://([0-9.]+):(\d+)\s*$')
ACCOUNT = '000000000000'
REGION = 'us-east-1'
ROLE = 'arn:aws:iam::000000000000:role/nimbus-test-role'


def nimbus_bin():
    """Path of the binary under test (NIMBUS_BIN, default build-asan/nimbus)."""
    b = os.environ.get('NIMBUS_BIN', 'build-asan/nimbus')
    if os.path.isabs(b):
        return b
    if os.path.exists(b):
        return os.path.abspath(b)
    return os.path.join(REPO, b)


_shared_copy = None


def nimbus_bin_for_any_user():
    """The binary under test, copied with the runtimes beside it (<dir>/bin/nimbus and
    <dir>/runtimes, which the binary finds as ../runtimes) and this file into a directory
    every user may read: a server run as, or dropping to, another user must not depend on where the checkout
    lives (a clone under /root is not searchable by others). Made once per run, removed at exit."""
    global _shared_copy
    if _shared_copy is None:
        import atexit
        d = tempfile.mkdtemp(prefix='nimbus-it-bin-')
        os.chmod(d, 0o755)
        os.mkdir(os.path.join(d, 'bin'), 0o755)
        shutil.copy2(nimbus_bin(), os.path.join(d, 'bin', 'nimbus'))
        shutil.copy2(os.path.join(HERE, 'nimbus_testlib.py'), os.path.join(d, 'bin'))   # no_userns_wrapper()
        shutil.copytree(os.path.join(REPO, 'runtimes'), os.path.join(d, 'runtimes'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        for root, dirs, names in os.walk(d):
            for n in dirs + names:
                f = os.path.join(root, n)
                os.chmod(f, os.stat(f).st_mode | 0o444 | (0o111 if os.stat(f).st_mode & 0o111 else 0))
        atexit.register(shutil.rmtree, d, True)
        _shared_copy = os.path.join(d, 'bin', 'nimbus')
    return _shared_copy


def function_arn(name):
    return 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT, name)


_name_counter = itertools.count(1)


def uniq(prefix):
    """A function name unique within the run (Lambda name charset)."""
    return '%s-%d-%s' % (prefix, next(_name_counter), uuid.uuid4().hex[:6])


def tail(data, n=4000):
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    return data if len(data) <= n else '...' + data[-n:]


# ---------------------------------------------------------------- server

_live_servers = []          # every Server started and not yet stopped
_live_lock = threading.Lock()


def kill_all_servers():
    """Last resort (watchdog): SIGKILL the process groups of servers we started."""
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        s.kill()


class Server:
    """One `nimbus serve` process on a fresh (or given) data directory.

    The data directory is <base>/data where <base> is a private temp dir, so
    a ZIP entry escaping with ../ lands in <base> where tests can look for it.
    """

    def __init__(self, extra_args=(), data_dir=None, base_dir=None, user=None, group=None,
                 wrapper=(), sandbox_env=True):
        """Opt-in (defaults change nothing): `user`/`group` run the server as that
        uid/gid with no supplementary groups (a fresh base dir is chowned to it);
        `wrapper` is a command prefix that execs the server (e.g. no_userns_wrapper());
        sandbox_env=False ignores NIMBUS_SANDBOX."""
        self.extra_args = list(extra_args)
        self.user = user
        self.group = user if group is None and user is not None else group
        self.wrapper = list(wrapper)
        self.sandbox_env = sandbox_env
        self.own_base = data_dir is None
        if data_dir is None:
            self.base = tempfile.mkdtemp(prefix='nimbus-it-')
            self.data_dir = os.path.join(self.base, 'data')
            os.mkdir(self.data_dir)
            if user is not None:
                for d in (self.base, self.data_dir):
                    os.chown(d, user, self.group)
        else:
            self.base = base_dir or os.path.dirname(data_dir)
            self.data_dir = data_dir
        self.proc = None
        self.host = None
        self.port = None
        self._out = []
        self._err = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._threads = []
        self.exit_code = None

    # -- output buffers
    def stdout_text(self):
        with self._lock:
            return b''.join(self._out).decode('utf-8', 'replace')

    def stderr_text(self):
        with self._lock:
            return b''.join(self._err).decode('utf-8', 'replace')

    def _drain(self, stream, buf, watch_ready):
        pending = b''
        while True:
            try:
                chunk = stream.read1(65536) if hasattr(stream, 'read1') else stream.read(65536)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            with self._lock:
                buf.append(chunk)
            if watch_ready and not self._ready.is_set():
                pending += chunk
                while b'\n' in pending:
                    line, pending = pending.split(b'\n', 1)
                    m = LISTEN_RE.match(line.decode('utf-8', 'replace'))
                    if m:
                        self.host, self.port = m.group(1), int(m.group(2))
                        self._ready.set()
                        break
        if watch_ready:
            self._ready.set()   # wake the waiter: the process closed stdout

    def start(self, timeout=15.0):
        binary = nimbus_bin()
        if self.user is not None or '--user' in self.extra_args:
            binary = nimbus_bin_for_any_user()
        if not os.path.exists(binary):
            self.cleanup()
            raise AssertionError('nimbus binary not found: %s (set NIMBUS_BIN)' % binary)
        cmd = [binary, 'serve', '--listen', '127.0.0.1:0', '--data-dir', self.data_dir] + self.extra_args
        # NIMBUS_SANDBOX=1 / 0: run the whole suite with the sandbox on / off.
        sbx = os.environ.get('NIMBUS_SANDBOX')
        if self.sandbox_env and sbx in ('0', '1') and \
                not any(a in ('--sandbox', '--insecure-no-sandbox') for a in self.extra_args):
            cmd.append('--sandbox' if sbx == '1' else '--insecure-no-sandbox')
        self.cmd = cmd
        kw = {}
        if self.user is not None:
            kw = {'user': self.user, 'group': self.group, 'extra_groups': []}
        self.proc = subprocess.Popen(self.wrapper + cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, **kw)
        with _live_lock:
            _live_servers.append(self)
        for stream, buf, watch in ((self.proc.stdout, self._out, True), (self.proc.stderr, self._err, False)):
            t = threading.Thread(target=self._drain, args=(stream, buf, watch), daemon=True)
            t.start()
            self._threads.append(t)
        self._ready.wait(timeout)
        if self.port is None:
            rc = self.proc.poll()
            self.kill()
            self.cleanup()
            raise AssertionError(
                'server did not print "nimbus: listening on http://127.0.0.1:<port>" within %.0f s '
                '(exit code %s)\ncommand: %s\nstdout:\n%s\nstderr:\n%s'
                % (timeout, rc, ' '.join(cmd), tail(self.stdout_text()), tail(self.stderr_text())))
        return self

    @property
    def url(self):
        return 'http://%s:%d' % (self.host, self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def describe_death(self):
        return 'server exited with code %s; stderr tail:\n%s' % (self.proc.poll(), tail(self.stderr_text()))

    def _forget(self):
        with _live_lock:
            if self in _live_servers:
                _live_servers.remove(self)

    def kill(self):
        """SIGKILL the server's process group (it was started in its own session)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                try:
                    self.proc.kill()
                except OSError:
                    pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._join()
        self._forget()

    def _join(self):
        for t in self._threads:
            t.join(2)

    def terminate(self, timeout=10.0):
        """SIGTERM and wait. Returns (exit_code or None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.kill()
        self._join()
        self._forget()
        self.exit_code = rc
        return rc

    def stop(self, timeout=10.0):
        """SIGTERM; assert exit code 0 within `timeout` (then SIGKILL)."""
        already_dead = self.proc is not None and self.proc.poll() is not None
        rc = self.terminate(timeout)
        self.cleanup()
        if already_dead:
            raise AssertionError('server had already exited before SIGTERM: code %s\nstderr:\n%s'
                                 % (rc, tail(self.stderr_text())))
        if rc is None:
            raise AssertionError('server did not exit within %.0f s of SIGTERM (killed)\nstderr:\n%s'
                                 % (timeout, tail(self.stderr_text())))
        if rc != 0:
            raise AssertionError('server exited with code %s after SIGTERM (expected 0)\nstderr:\n%s'
                                 % (rc, tail(self.stderr_text())))

    def cleanup(self):
        if self.own_base and not os.environ.get('NIMBUS_KEEP'):
            shutil.rmtree(self.base, ignore_errors=True)

    def client(self):
        return Client(self.host, self.port)


# ---------------------------------------------------------------- HTTP

def lower_headers(pairs):
    d = {}
    for k, v in pairs:
        k = k.lower()
        d[k] = v if k not in d else d[k] + ', ' + v
    return d


def error_type(headers):
    """x-amzn-ErrorType without an optional ':<uri>' suffix (the SDK strips it)."""
    return headers.get('x-amzn-errortype', '').split(':')[0].strip()


class Client:
    """One fresh connection per request (keep-alive is tested with RawHttp)."""

    def __init__(self, host, port):
        self.host = host
        self.port = port

    @property
    def url(self):
        return 'http://%s:%d' % (self.host, self.port)

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, lower_headers(r.getheaders()), data
        finally:
            conn.close()

    def api(self, method, path, obj=None, timeout=30):
        """JSON request; returns (status, headers, parsed JSON or None, raw body)."""
        body = None
        headers = {}
        if obj is not None:
            body = json.dumps(obj).encode()
            headers['Content-Type'] = 'application/json'
        st, h, data = self.request(method, path, body, headers, timeout)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return st, h, parsed, data

    def create_function(self, name, code, runtime='provided', handler='x.handler', memory=128,
                        timeout=3, env=None, extra=None, http_timeout=60):
        """CreateFunction. `code` is a dict for make_zip or raw zip bytes.
        memory/timeout None leaves them out of the request."""
        zbytes = code if isinstance(code, (bytes, bytearray)) else make_zip(code)
        req = {'FunctionName': name, 'Role': ROLE, 'Runtime': runtime, 'Handler': handler,
               'Code': {'ZipFile': base64.b64encode(zbytes).decode()}}
        if memory is not None:
            req['MemorySize'] = memory
        if timeout is not None:
            req['Timeout'] = timeout
        if env is not None:
            req['Environment'] = {'Variables': env}
        if extra:
            req.update(extra)
        return self.api('POST', '/2015-03-31/functions', req, timeout=http_timeout)

    def update_code(self, name, code):
        zbytes = code if isinstance(code, (bytes, bytearray)) else make_zip(code)
        return self.api('PUT', '/2015-03-31/functions/%s/code' % name,
                        {'ZipFile': base64.b64encode(zbytes).decode()}, timeout=60)

    def invoke(self, name, payload=b'{}', headers=None, timeout=60):
        if isinstance(payload, str):
            payload = payload.encode()
        h = {'Content-Type': 'application/json'}
        h.update(headers or {})
        return self.request('POST', '/2015-03-31/functions/%s/invocations' % name, payload, h, timeout)


class RawHttp:
    """A raw HTTP/1.1 connection: write exactly the bytes given, parse responses."""

    def __init__(self, host, port, timeout=15):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise EOFError('connection closed by server')
        self.buf += d

    def _take_line(self):
        while True:
            i = self.buf.find(b'\r\n')
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, head_request=False):
        """Returns (status, headers lowercased, body). 1xx responses are skipped."""
        while True:
            status_line = self._take_line()
            parts = status_line.split(b' ', 2)
            if len(parts) < 2 or not parts[0].startswith(b'HTTP/1.'):
                raise AssertionError('bad status line: %r' % status_line)
            status = int(parts[1])
            pairs = []
            while True:
                line = self._take_line()
                if not line:
                    break
                k, _, v = line.partition(b':')
                pairs.append((k.decode('latin-1').strip(), v.decode('latin-1').strip()))
            headers = lower_headers(pairs)
            if 100 <= status < 200:
                continue
            break
        if head_request or status in (204, 304):
            return status, headers, b''
        if 'chunked' in headers.get('transfer-encoding', '').lower():
            body = bytearray()
            while True:
                size = int(self._take_line().split(b';')[0], 16)
                if size == 0:
                    while self._take_line():
                        pass
                    break
                body += self._take(size)
                self._take_line()
            return status, headers, bytes(body)
        if 'content-length' in headers:
            return status, headers, self._take(int(headers['content-length']))
        body = bytearray(self.buf)
        self.buf.clear()
        while True:
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not d:
                break
            body += d
        return status, headers, bytes(body)

    def read_response_tolerant(self):
        """Like read_response but survives a reset after the response bytes arrived
        (a server that closes with unread input makes the kernel send RST)."""
        try:
            return self.read_response()
        except (ConnectionResetError, BrokenPipeError, EOFError) as e:
            if self.buf:
                raise AssertionError('partial response before %s: %r' % (type(e).__name__, bytes(self.buf[:300])))
            raise AssertionError('no response, connection ended with %s' % type(e).__name__)

    def at_eof(self, timeout=5):
        """True if the server closes the connection (EOF or reset) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1)
            return d == b''
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def request_bytes(method, path, body=b'', headers=None, host='127.0.0.1'):
    """Serialise one HTTP/1.1 request with Content-Length (unless headers set framing)."""
    h = [('Host', host)]
    h += list((headers or {}).items())
    names = {k.lower() for k, _ in h}
    if body and 'content-length' not in names and 'transfer-encoding' not in names:
        h.append(('Content-Length', str(len(body))))
    elif not body and method in ('POST', 'PUT') and 'content-length' not in names \
            and 'transfer-encoding' not in names:
        h.append(('Content-Length', '0'))
    out = ('%s %s HTTP/1.1\r\n' % (method, path)).encode()
    for k, v in h:
        out += ('%s: %s\r\n' % (k, v)).encode('latin-1')
    return out + b'\r\n' + body


def chunked(body, sizes, trailers=None):
    """Encode `body` as chunks of the given sizes (the last size repeats)."""
    out = bytearray()
    i = 0
    k = 0
    while i < len(body):
        n = sizes[min(k, len(sizes) - 1)]
        piece = body[i:i + n]
        out += b'%x\r\n' % len(piece) + piece + b'\r\n'
        i += n
        k += 1
    out += b'0\r\n'
    for name, value in (trailers or {}).items():
        out += ('%s: %s\r\n' % (name, value)).encode()
    out += b'\r\n'
    return bytes(out)


def send_streaming_and_read(host, port, head, body_len, chunk=1 << 16, timeout=30):
    """Send request `head` then `body_len` filler bytes from a thread while reading the
    response on this one, so a server that answers 413 early does not deadlock us."""
    raw = RawHttp(host, port, timeout=timeout)
    raw.send(head)
    stop = threading.Event()

    def pump():
        left = body_len
        block = b'"' + b'a' * (chunk - 1)
        try:
            while left > 0 and not stop.is_set():
                n = min(left, len(block))
                raw.sock.sendall(block[:n])
                left -= n
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        return raw.read_response_tolerant()
    finally:
        stop.set()
        raw.close()
        t.join(5)


# ---------------------------------------------------------------- ZIP

def dir_files(path):
    """A folder's files as a make_zip dict: relative paths, permission bits kept, symlinks as
    symlinks; Python's bytecode caches left out."""
    out = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for n in names:
            full = os.path.join(root, n)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(full, path)] = (os.readlink(full), st.st_mode)
                continue
            with open(full, 'rb') as f:
                out[os.path.relpath(full, path)] = (f.read(), st.st_mode & 0o777)
    return out


def make_zip(files):
    """files: {path: bytes | str | (bytes|str, mode)} -> ZIP bytes.
    mode is the full st_mode-style value or permission bits (0o755 -> regular file);
    use S_IFLNK|0o777 (0o120777) for a symlink whose content is the target."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for path, spec in files.items():
            if isinstance(spec, tuple):
                data, mode = spec
            else:
                data, mode = spec, 0o644
            if isinstance(data, str):
                data = data.encode()
            if mode & 0o170000 == 0:
                mode |= 0o100000
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3        # Unix, so external_attr's high half is the mode
            info.external_attr = (mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- bootstraps

# Shell prelude for bootstraps: a tiny Lambda runtime in POSIX sh + curl.
#   next            GET /next; sets REQ_ID, EVENT; the raw event is in "$T/ev", headers in "$T/h"
#   hdr NAME        value of response header NAME from the last /next
#   respond STR     POST STR as the response for REQ_ID
#   respond_file F [CT]  POST file F (byte exact) with Content-Type CT (default application/json)
#   probe ARGS...   run curl ARGS, set P_STATUS (HTTP code) and P_BODY (base64 of the body)
PRELUDE = r'''
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
T=$(mktemp -d)
hdr() { grep -i "^$1:" "$T/h" | head -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'; }
next() {
  : > "$T/ev"; : > "$T/h"
  curl -sS -D "$T/h" -o "$T/ev" "$API/invocation/next" || return 1
  REQ_ID=$(hdr Lambda-Runtime-Aws-Request-Id)
  EVENT=$(cat "$T/ev")
}
respond_file() {
  curl -sS -o /dev/null -X POST -H "Content-Type: ${2:-application/json}" --data-binary @"$1" \
    "$API/invocation/$REQ_ID/response"
}
respond() { printf '%s' "$1" > "$T/out"; respond_file "$T/out"; }
probe() { P_STATUS=$(curl -sS -o "$T/pb" -w '%{http_code}' "$@"); P_BODY=$(base64 -w0 < "$T/pb"); }
'''


def bootstrap(body, shell='/bin/sh'):
    """A bootstrap script: shebang + PRELUDE + body."""
    return '#!%s\n%s\n%s\n' % (shell, PRELUDE, body)


def fn_files(script, extra=None):
    files = {'bootstrap': (script, 0o755)}
    files.update(extra or {})
    return files


ECHO = bootstrap('while next; do respond_file "$T/ev"; done')

# Returns the number of calls this instance has served (warm-start counter).
COUNTER = bootstrap('N=0\nwhile next; do N=$((N+1)); respond "$N"; done')



# A shell bootstrap that sleeps for the number of seconds in its event ({"sleep": S}) and
# answers its pid: calls that hold their instance for as long as a test needs.
SLEEPY = bootstrap('''
while next; do
  S=$(printf '%s' "$EVENT" | sed -n 's/.*"sleep"[^0-9.]*\\([0-9.]*\\).*/\\1/p')
  [ -n "$S" ] && sleep "$S"
  respond "\\"$$\\""
done''')


def parallel(fn, n, timeout=60):
    """fn(i) for i in 0..n-1, each on a thread of its own; the results in order."""
    out = [None] * n

    def run(i):
        out[i] = fn(i)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    return out


def comm(pid):
    """A process' command name, or '' once it is gone."""
    try:
        with open('/proc/%s/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def parent_of(pid):
    """A process' parent pid, or -1 once it is gone."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1

def echo_files():
    return fn_files(ECHO)


# ---------------------------------------------------------------- logs

REPORT_RE_TMPL = (r'REPORT RequestId: %s\s+Duration: \d+\.\d\d ms\s+Billed Duration: \d+ ms\s+'
                  r'Memory Size: %d MB\s+Max Memory Used: \d+ MB')


def report_re(request_id, memory=128):
    return re.compile(REPORT_RE_TMPL % (re.escape(request_id), memory))


def decode_log_result(headers):
    v = headers.get('x-amz-log-result')
    if v is None:
        raise AssertionError('no X-Amz-Log-Result header; headers: %r' % headers)
    return base64.b64decode(v)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- test base

class ServerTestCase(unittest.TestCase):
    """One server per class. A failure to start it fails every test of the class
    (with the reason) instead of a single class-level error. If the server dies
    during a test, that test fails with the server's stderr and a fresh server
    is started for the following tests."""

    server_args = ()
    server_kwargs = {}          # more Server(...) arguments (user=, wrapper=, ...)
    server = None
    server_error = None

    @classmethod
    def class_setup(cls):
        """Hook: create shared functions etc. (cls.c is the client)."""

    @classmethod
    def _start_server(cls):
        cls.server = None
        cls.server_error = None
        try:
            cls.server = Server(cls.server_args, **cls.server_kwargs).start()
            cls.c = cls.server.client()
            cls.class_setup()
        except Exception as e:   # reported by every test's setUp
            cls.server_error = '%s: %s' % (type(e).__name__, e)

    @classmethod
    def setUpClass(cls):
        cls._start_server()

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            s, cls.server = cls.server, None
            s.stop()

    def setUp(self):
        cls = type(self)
        if cls.server is not None and not cls.server.alive():
            old = cls.server
            old.terminate(1)
            old.cleanup()
            cls._start_server()
        if cls.server_error:
            self.fail('server setup failed: ' + cls.server_error)

    def tearDown(self):
        s = type(self).server
        if s is not None and not s.alive():
            self.fail('server died during this test: ' + s.describe_death())

    # -- helpers that assert
    def new_function(self, name=None, code=None, **kw):
        name = name or uniq('fn')
        st, h, body, raw = self.c.create_function(name, code if code is not None else echo_files(), **kw)
        self.assertEqual(st, 201, 'CreateFunction %s -> %s %s' % (name, st, raw[:500]))
        return name, body

    def invoke_together(self, name, payloads, headers=None, timeout=30):
        """Invoke `name` once per payload, all at the same time (a thread each). Every call must
        answer 200 without a function error. Returns (seconds until all answered, [(headers, doc)])."""
        results = [None] * len(payloads)

        def one(i):
            try:
                results[i] = self.c.invoke(name, payloads[i], headers, timeout=timeout)
            except Exception as e:     # reported below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 10)
        elapsed = time.monotonic() - t0
        out = []
        for i, r in enumerate(results):
            self.assertIsInstance(r, tuple, 'call %d failed: %r' % (i, r))
            st, h, body = r
            self.assertEqual(st, 200, body[:300])
            self.assertNotIn('x-amz-function-error', h, body[:300])
            out.append((h, json.loads(body)))
        return elapsed, out

    def assertOverlappedOnOneInstance(self, docs, elapsed, limit):
        """Calls (docs with pid, start, end) ran on one instance, at the same time, within `limit` s."""
        self.assertEqual(len({d['pid'] for d in docs}), 1, 'calls ran on several instances: %r' % docs)
        self.assertLess(max(d['start'] for d in docs), min(d['end'] for d in docs), 'calls did not overlap')
        self.assertLess(elapsed, limit, 'calls took %.2f s: not concurrent' % elapsed)

    def invoke_ok(self, name, payload=b'{}', headers=None, timeout=60):
        st, h, body = self.c.invoke(name, payload, headers, timeout)
        self.assertEqual(st, 200, 'invoke %s -> %s %r' % (name, st, body[:500]))
        self.assertNotIn('x-amz-function-error', h, 'unexpected function error: %r' % body[:500])
        return h, body

    def assertJsonError(self, status, headers, raw, want_status, want_type):
        self.assertEqual(status, want_status, 'body: %r' % raw[:500])
        self.assertEqual(error_type(headers), want_type, 'headers: %r body: %r' % (headers, raw[:500]))

    def assertFunctionError(self, headers, body, want_type):
        self.assertEqual(headers.get('x-amz-function-error'), 'Unhandled',
                         'headers: %r body: %r' % (headers, body[:500]))
        try:
            doc = json.loads(body)
        except ValueError:
            self.fail('function error body is not JSON: %r' % body[:500])
        self.assertEqual(doc.get('errorType'), want_type, 'body: %r' % body[:500])
        return doc


def wait_for(pred, timeout=5.0, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def run_cli(args, timeout=30, input=None):
    """Run `nimbus ARGS...`; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([nimbus_bin()] + list(args), input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


# ---------------------------------------------------------------- no user namespaces

def install_no_userns_filter():
    """Make this process (and everything it execs) a host without user namespaces, as a
    container under Docker's default seccomp profile: unshare/clone with CLONE_NEWUSER
    fail with EPERM, clone3 with ENOSYS (so libc falls back to clone). Sets
    no_new_privs. x86_64 only."""
    import ctypes
    import struct
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06       # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JSET|K, RET|K
    allow, errno_ = 0x7fff0000, 0x00050000             # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO
    eperm, enosys = 1, 38
    prog = [
        (ld, 0, 0, 4),                                 # seccomp_data.arch
        (jeq, 1, 0, 0xC000003E),                       # AUDIT_ARCH_X86_64
        (ret, 0, 0, errno_ | enosys),
        (ld, 0, 0, 0),                                 # seccomp_data.nr
        (jeq, 0, 1, 435),                              # clone3
        (ret, 0, 0, errno_ | enosys),
        (jeq, 2, 0, 272),                              # unshare -> test flags
        (jeq, 1, 0, 56),                               # clone -> test flags
        (ret, 0, 0, allow),
        (ld, 0, 0, 16),                                # args[0], low 32 bits
        (jset, 0, 1, 0x10000000),                      # CLONE_NEWUSER
        (ret, 0, 0, errno_ | eperm),
        (ret, 0, 0, allow),
    ]
    raw = b''.join(struct.pack('=HBBI', *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
    fprog = SockFprog(len(prog), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:                          # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), 'PR_SET_NO_NEW_PRIVS')
    if libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:       # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), 'PR_SET_SECCOMP')


def no_userns_wrapper():
    """Command prefix: `no_userns_wrapper() + [cmd, args...]` runs cmd under
    install_no_userns_filter(), from the copy beside nimbus_bin_for_any_user() (the commands
    run as another user, who may not reach the checkout)."""
    where = os.path.dirname(nimbus_bin_for_any_user())
    return ['/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable, '-B', '-c',
            'import os, sys; sys.path.insert(0, %r)\n'
            'from nimbus_testlib import install_no_userns_filter\n'
            'install_no_userns_filter(); os.execvp(sys.argv[1], sys.argv[1:])' % where]


# ---------------------------------------------------------------- runtime tests

TAIL = {'X-Amz-Log-Type': 'Tail'}


def src(text):
    """Dedent a source written inline (its first line decides the indent)."""
    lines = text.strip('\n').split('\n')
    pad = len(lines[0]) - len(lines[0].lstrip())
    return '\n'.join(line[pad:] for line in lines) + '\n'


def tail_text(headers):
    """The call's log tail (X-Amz-Log-Result) as text."""
    return decode_log_result(headers).decode('utf-8', 'replace')


def function_log_text(client, name, wanted=(), timeout=5.0, regex=False):
    """All stored log messages of function `name` (the logs API), polled until every entry of
    `wanted` is there (a substring, or a regex with regex=True) or `timeout` passes."""
    import urllib.parse
    path = '/nimbus/v1/functions/%s/logs?limit=10000' % urllib.parse.quote(name)
    end = time.monotonic() + timeout
    while True:
        st, h, body, raw = client.api('GET', path)
        if st != 200:
            raise AssertionError('GET %s -> %s %r' % (path, st, raw[:300]))
        text = '\n'.join(e.get('message', '') for e in body.get('events', []))
        found = all((re.search(w, text) if regex else w in text) for w in wanted)
        if found or time.monotonic() > end:
            return text
        time.sleep(0.1)


class HeldRuntimeApi:
    """A Runtime API of a test's own on loopback, for driving a runtime client (a bootstrap run as
    a plain process, no daemon) byte by byte: it answers only what the test tells it to, so a test
    can hold a 202 back and see what the runtime sends meanwhile."""

    def __init__(self, test):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix='nimbus-fakeapi.')
        self.lsock = socket.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(4)
        self.lsock.settimeout(10)
        self.proc = self.conn = None
        self.buf = b''

    def write(self, name, data, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def start(self, argv, env=None):
        """Run the runtime with Lambda's environment pointing at this API; wait for its connection."""
        e = {'AWS_LAMBDA_RUNTIME_API': '127.0.0.1:%d' % self.lsock.getsockname()[1],
             'LAMBDA_TASK_ROOT': self.dir, 'PATH': '/usr/bin:/bin', 'AWS_LAMBDA_FUNCTION_NAME': 'fake',
             'AWS_LAMBDA_FUNCTION_VERSION': '$LATEST', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE': '128'}
        e.update(env or {})
        self.proc = subprocess.Popen(argv, env=e, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.conn, _ = self.lsock.accept()
        self.conn.settimeout(10)

    def close(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
        if self.conn:
            self.conn.close()
        self.lsock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _more(self):
        d = self.conn.recv(65536)
        if not d:
            self.proc.kill()
            self.test.fail('runtime closed its connection; stderr: %r' % self.proc.stderr.read())
        self.buf += d

    def request(self):
        """The runtime's next whole request: (request line, {lower-case name: value}, body)."""
        while b'\r\n\r\n' not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        hdrs = dict((k.strip().lower(), v.strip()) for k, v in (l.split(':', 1) for l in lines[1:]))
        n = int(hdrs.get('content-length', '0'))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return lines[0], hdrs, body

    def event(self, rid, doc, accepted=False):
        """Answer the parked /next with a call (JSON `doc`), after a 202 for the last answer if
        `accepted`: the two in one write, as the daemon sends them to a pipelining runtime."""
        body = json.dumps(doc).encode()
        out = b''
        if accepted:
            out += b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"status":"OK"}\n'
        out += (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ' +
                rid.encode() + b'\r\nLambda-Runtime-Deadline-Ms: 99999999999999\r\n'
                b'Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:fake\r\n'
                b'Content-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
        self.conn.sendall(out)

    def check_pipelining(self, answer_of, error_type, error_message):
        """The runtime sends its next /next right behind each /response or /error without waiting
        for the 202, which this API never sends on its own: three calls, the second a failure
        (event {"fail": true}). `answer_of(n)` is the JSON the handler answers to {"n": n}."""
        t = self.test
        nxt = 'GET /2018-06-01/runtime/invocation/next HTTP/1.1'
        t.assertEqual(self.request()[0], nxt)
        self.event('r1', {'n': 1})
        line, hdrs, body = self.request()
        t.assertEqual(line, 'POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1')
        t.assertEqual(json.loads(body), answer_of(1))
        t.assertEqual(self.request()[0], nxt)   # no 202 yet, and the next /next is here
        self.event('r2', {'fail': True}, accepted=True)
        line, hdrs, body = self.request()
        t.assertEqual(line, 'POST /2018-06-01/runtime/invocation/r2/error HTTP/1.1')
        t.assertEqual(hdrs.get('lambda-runtime-function-error-type'), error_type)
        t.assertEqual(json.loads(body)['errorMessage'], error_message)
        t.assertEqual(self.request()[0], nxt)
        self.event('r3', {'n': 3}, accepted=True)
        line, hdrs, body = self.request()
        t.assertEqual(line, 'POST /2018-06-01/runtime/invocation/r3/response HTTP/1.1')
        t.assertEqual(json.loads(body), answer_of(3))
        t.assertEqual(self.request()[0], nxt)


def native_echo_bytes():
    """The native echo bootstrap built beside the binary under test (bench/bootstrap_native), or
    None when this build has none."""
    native = os.path.join(os.path.dirname(nimbus_bin()), 'bench', 'bootstrap_native')
    if not os.access(native, os.X_OK):
        return None
    with open(native, 'rb') as f:
        return f.read()


def instances_of(client, name):
    """The function's instances as GET /nimbus/v1/functions/NAME/instances lists them."""
    st, h, raw = client.request('GET', '/nimbus/v1/functions/%s/instances' % name)
    if st != 200:
        raise AssertionError('instances of %s -> %s %r' % (name, st, raw[:300]))
    return json.loads(raw)['Instances']


# ---------------------------------------------------------------- templates

def init_template(name, template, parent=None):
    """`nimbus init NAME --template TEMPLATE` by the binary under test, into <parent>/<name>
    (parent: a fresh temp dir, removed at exit, when not given); returns that directory. The
    repository keeps no generated copies of the templates: an example function is made this way."""
    if parent is None:
        import atexit
        parent = tempfile.mkdtemp(prefix='nimbus-it-init-')
        atexit.register(shutil.rmtree, parent, True)
    dest = os.path.join(parent, name)
    r = run_cli(['init', name, '--template', template, '--dir', dest])
    if r.returncode != 0:
        raise AssertionError('nimbus init %s --template %s failed (%d): %s'
                             % (name, template, r.returncode, tail(r.stderr)))
    return dest


AWS_CLI = '/usr/bin/aws'


def aws_cli():
    """Debian's AWS CLI, or None when it is not installed (scripts/deps.sh installs it)."""
    return AWS_CLI if os.path.exists(AWS_CLI) else None


def run_aws(test, endpoint, *args, ok=True, region=None):
    """`aws lambda ARGS` against `endpoint` with throw-away credentials, one attempt, JSON out.
    ok: asserts exit 0 and returns the parsed output (None when empty); else asserts a failure
    and returns its stderr. region: the client's region (environment and --region); default
    us-east-1 from the environment alone."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID='test', AWS_SECRET_ACCESS_KEY='test',
               AWS_DEFAULT_REGION=region or 'us-east-1',
               AWS_PAGER='', AWS_CONFIG_FILE='/dev/null', AWS_SHARED_CREDENTIALS_FILE='/dev/null',
               AWS_MAX_ATTEMPTS='1')
    cmd = [aws_cli(), '--endpoint-url', endpoint] + (['--region', region] if region else []) + \
        ['--output', 'json', 'lambda'] + list(args)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if ok:
        test.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else None
    test.assertNotEqual(p.returncode, 0, p.stdout)
    return p.stderr
