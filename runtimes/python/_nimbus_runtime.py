"""The Nimbus Python runtime: binds the user's handler and serves calls
from the Lambda Runtime API (see docs/runtimes.md).

Loaded by bootstrap.py (kept as a module so its compiled form is cached in
__pycache__; a main script is recompiled on every start).

Start-up cost is the point of most choices here. The interpreter runs with
-S, and this file imports only built-in or tiny modules: `_socket` and
`_json` (the C halves of socket and json) instead of http.client and json,
which drag in re, enum, email.* and ssl and would triple the start time.
`json`, `traceback` and `threading` are imported only when a call needs
them (a decode error, an exception, AWS_LAMBDA_MAX_CONCURRENCY > 1), and
`logging` is configured Lambda's way the moment the user's code imports it.

Must never: print anything of its own on a successful call, let a user's
exception escape a call (it becomes the call's error document), or keep
running after an init failure (it posts /init/error and exits 1).
"""

import os
import sys
import time

import _json
import _socket

API = '/2018-06-01/runtime'
NEXT = API + '/invocation/next'
USER_AGENT = 'nimbus-python/1 (Python %d.%d)' % sys.version_info[:2]
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- HTTP

class _ClosedEarly(ConnectionError):
    """The peer closed a reused connection before answering: safe to retry once."""


class RuntimeApiConnection:
    """One persistent HTTP/1.1 connection to the Runtime API.

    A minimal client (Content-Length and chunked bodies, keep-alive): the
    peer is always the Nimbus daemon, and http.client alone costs more to
    import than the whole interpreter takes to start. One per puller thread.
    """

    def __init__(self, api):
        host, _, port = api.rpartition(':')
        self.host = host.strip('[]') or '127.0.0.1'
        self.port = int(port)
        self.host_header = api
        self.sock = None
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = bytearray()

    def _connect(self):
        err = None
        # bytes, not str: a str host makes getaddrinfo load the idna codec
        # (and with it re, enum, unicodedata), a third of the start time.
        host = self.host.encode('ascii', 'replace')
        for family, kind, proto, _, addr in _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM):
            s = _socket.socket(family, kind, proto)
            try:
                s.connect(addr)
            except OSError as e:
                s.close()
                err = e
                continue
            # Responses go out in one or two writes; without NODELAY the tail
            # of a large body can wait for a delayed ACK.
            s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = s
            self.buf = bytearray()
            return
        raise err or ConnectionError('cannot connect to %s' % self.host_header)

    def _head(self, method, path, body, headers):
        head = '%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n' % (method, path, self.host_header, USER_AGENT)
        if body is not None:
            head += 'Content-Length: %d\r\n' % len(body)
        for name, value in headers:
            head += '%s: %s\r\n' % (name, value.replace('\r', ' ').replace('\n', ' '))
        return (head + '\r\n').encode('latin-1', 'replace')

    def request(self, method, path, body=None, headers=(), then=b''):
        """Returns (status, {lower-case name: value}, body bytearray).

        `then`: the head of a body-less request to pipeline right behind
        this one, in the same write; its response stays buffered for
        read_next()."""
        head = self._head(method, path, body, headers)
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                if not body:
                    self.sock.sendall(head + then)
                elif len(body) < 65536:
                    self.sock.sendall(head + body + then)
                else:
                    # A big body is sent as it is, not copied to append `then`.
                    self.sock.sendall(head)
                    self.sock.sendall(body)
                    if then:
                        self.sock.sendall(then)
                return self._read_response(method)
            except _ClosedEarly:
                self.close()
                if attempt or not reused:
                    raise
            except BaseException:
                self.close()
                raise
        raise ConnectionError('unreachable')

    def read_next(self):
        """The response to the request pipelined with request(then=...), or
        None if the connection closed after the first response (the daemon
        said Connection: close): the caller asks again."""
        if self.sock is None:
            return None
        try:
            return self._read_response('GET')
        except BaseException:
            self.close()
            raise

    def _fill(self, first):
        data = self.sock.recv(65536)
        if not data:
            if first:
                raise _ClosedEarly('connection closed before the response')
            raise ConnectionError('connection closed in the middle of a response')
        self.buf += data

    def _read_response(self, method):
        buf = self.buf
        while True:
            first = True
            while True:
                end = buf.find(b'\r\n\r\n')
                if end >= 0:
                    break
                self._fill(first and not buf)
                first = False
            lines = buf[:end].decode('latin-1').split('\r\n')
            del buf[:end + 4]
            parts = lines[0].split(' ', 2)
            if len(parts) < 2 or not parts[0].startswith('HTTP/'):
                raise ConnectionError('bad status line %r' % lines[0][:100])
            status = int(parts[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(':')
                headers[name.strip().lower()] = value.strip()
            if status >= 200 or status == 101:
                break
        if 'chunked' in headers.get('transfer-encoding', '').lower():
            body = self._read_chunked()
        elif 'content-length' in headers:
            body = self._read_exact(int(headers['content-length']))
        elif method == 'HEAD' or status in (204, 304):
            body = bytearray()
        else:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
            body = buf
            self.sock.close()
            self.sock = None
            self.buf = bytearray()
            return status, headers, body
        if headers.get('connection', '').lower() == 'close':
            self.close()
        return status, headers, body

    def _read_exact(self, n):
        buf = self.buf
        if len(buf) >= n:
            body = buf[:n]
            del buf[:n]
            return body
        body = bytearray(n)
        have = len(buf)
        body[:have] = buf
        buf.clear()
        view = memoryview(body)
        try:
            while have < n:
                got = self.sock.recv_into(view[have:], n - have)
                if not got:
                    raise ConnectionError('connection closed in the middle of a body')
                have += got
        finally:
            view.release()
        return body

    def _read_line(self):
        buf = self.buf
        while True:
            i = buf.find(b'\r\n')
            if i >= 0:
                line = bytes(buf[:i])
                del buf[:i + 2]
                return line
            self._fill(False)

    def _read_chunked(self):
        body = bytearray()
        while True:
            size = int(self._read_line().split(b';', 1)[0].strip(), 16)
            if size == 0:
                while self._read_line():
                    pass    # trailers
                return body
            body += self._read_exact(size)
            self._read_line()


# ---------------------------------------------------------------- JSON

class _DecodeContext:
    """What _json.make_scanner reads: json.JSONDecoder's defaults."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {'-Infinity': float('-inf'), 'Infinity': float('inf'), 'NaN': float('nan')}.__getitem__


def _json_default(o):
    # Lambda's own runtime serialises Decimal (DynamoDB returns them).
    if type(o).__name__ == 'Decimal' and type(o).__module__ == 'decimal':
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError('Object of type %s is not JSON serializable' % o.__class__.__name__)


def _make_encoder():
    # json.dumps' defaults: ensure_ascii, check_circular, allow_nan, ', ' / ': '.
    return _json.make_encoder({}, _json_default, _json.encode_basestring_ascii, None,
                              ': ', ', ', False, False, True)


try:
    _scan_once = _json.make_scanner(_DecodeContext())
    _make_encoder()
    _FAST_JSON = True
except Exception:    # another interpreter's _json: use the json package
    _FAST_JSON = False
_WS = ' \t\n\r'


def json_loads(data):
    """json.loads(data) without importing json. Anything unusual (other
    encodings, a BOM, an error) is handed to the real json.loads, which gives
    the same result or the same exception."""
    if _FAST_JSON:
        try:
            s = data.decode('utf-8') if not isinstance(data, str) else data
            n = len(s)
            i = 0
            while i < n and s[i] in _WS:
                i += 1
            if i < n and s[i] != '\ufeff':
                obj, end = _scan_once(s, i)
                while end < n and s[end] in _WS:
                    end += 1
                if end == n:
                    return obj
        except Exception:
            pass
    import json
    return json.loads(bytes(data) if isinstance(data, bytearray) else data)


def json_dumps(obj):
    """json.dumps(obj) with default settings (plus Decimal), via the C encoder."""
    if _FAST_JSON:
        return ''.join(_make_encoder()(obj, 0))
    import json
    return json.dumps(obj, default=_json_default)


def prepare():
    """What every interpreter pays once, paid before the request by a runtime
    started ahead (pre-started, or the zygote before its first fork).

    The first compile() in a process builds the compiler's own types: about
    1-1.5 ms here, against 0.1 ms for each compile after it. A handler's
    module is compiled from source on every cold start (/var/task is read-only,
    so its bytecode is never cached), so without this the handler's import
    paid it on the request's path."""
    compile('pass', '<nimbus>', 'exec')


def rehearse():
    """In a runtime forked from the zygote ahead of its request, while it waits
    for it: go once through what the request's path writes to, so that the
    pages it touches are copied from the zygote now, not on that path (a first
    write to a shared page is a copy-on-write fault, tens of microseconds
    each in a VM). Leaves nothing behind: the variables it sets are gone,
    the socket it makes is closed, nothing is connected or imported."""
    env = os.environb
    names = [b'_NIMBUS_REHEARSAL_%d' % i for i in range(24)]
    for name in names:
        env[name] = b'x' * 48
    for name in names:
        del env[name]
    compile('pass', '<nimbus>', 'exec')
    json_dumps(json_loads(b'{"rehearsal": [1, 2.5, "s", true, null, {"k": []}]}')).encode()
    LambdaContext('rehearsal', 0, None, None, None, None).get_remaining_time_in_millis()
    RuntimeApiConnection('127.0.0.1:9001')._head('POST', NEXT, b'{}', [('Content-Type', 'application/json')])
    _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM).close()
    try:
        import importlib.machinery
        importlib.machinery.PathFinder.find_spec('_nimbus_rehearsal', [RUNTIME_DIR])
    except Exception:
        pass


# ---------------------------------------------------------------- context

class CognitoIdentity:
    __slots__ = ('cognito_identity_id', 'cognito_identity_pool_id')

    def __init__(self, doc=None):
        doc = doc or {}
        self.cognito_identity_id = doc.get('cognitoIdentityId')
        self.cognito_identity_pool_id = doc.get('cognitoIdentityPoolId')

    def __repr__(self):
        return 'CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])' % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ('installation_id', 'app_title', 'app_version_name', 'app_version_code', 'app_package_name')

    def __init__(self, doc):
        for name in self.__slots__:
            setattr(self, name, doc.get(name))

    def __repr__(self):
        return 'Client([%s])' % ','.join('%s=%s' % (n, getattr(self, n)) for n in self.__slots__)


class ClientContext:
    __slots__ = ('custom', 'env', 'client')

    def __init__(self, doc):
        self.custom = doc.get('custom')
        self.env = doc.get('env')
        client = doc.get('client')
        self.client = Client(client) if isinstance(client, dict) else None

    def __repr__(self):
        return 'ClientContext([custom=%s,env=%s,client=%s])' % (self.custom, self.env, self.client)


def _env_int(name, default):
    try:
        return int(os.environ.get(name, ''))
    except ValueError:
        return default


class LambdaContext:
    """The handler's second argument, with the fields of Lambda's Python context."""

    def __init__(self, request_id, deadline_ms, function_arn, client_context, identity, tenant_id):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get('AWS_LAMBDA_LOG_GROUP_NAME')
        self.log_stream_name = env.get('AWS_LAMBDA_LOG_STREAM_NAME')
        self.function_name = env.get('AWS_LAMBDA_FUNCTION_NAME')
        self.memory_limit_in_mb = _env_int('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 0)
        self.function_version = env.get('AWS_LAMBDA_FUNCTION_VERSION')
        self.invoked_function_arn = function_arn
        self.tenant_id = tenant_id
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        # Lambda always passes an identity object (fields None without Cognito).
        self.identity = CognitoIdentity(identity if isinstance(identity, dict) else None)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        left = self._deadline_ms - int(time.time() * 1000)
        return left if left > 0 else 0

    def log(self, msg):
        out = sys.__stdout__ or sys.stdout
        out.write(str(msg))
        out.flush()

    def __repr__(self):
        return ('LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,'
                'memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,'
                'identity=%s,tenant_id=%s])' % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                    self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                    self.client_context, self.identity, self.tenant_id))


# ---------------------------------------------------------------- logging

class _Current:
    """The request id of the running call (a threading.local when N > 1)."""
    request_id = ''


_current = _Current()


def _setup_logging(logging):
    """Lambda's root-logger set-up, applied right after `logging` first loads."""

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = getattr(_current, 'request_id', '')
            return True

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                out = sys.__stdout__ or sys.stdout
                out.write(self.format(record) + '\n')
                out.flush()
            except Exception:
                self.handleError(record)

    fmt = logging.Formatter('[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s',
                            '%Y-%m-%dT%H:%M:%S')
    fmt.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(fmt)
    handler.addFilter(LambdaLoggerFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get('AWS_LAMBDA_LOG_LEVEL', '').upper()
    if level in ('TRACE', 'DEBUG', 'INFO', 'WARN', 'WARNING', 'ERROR', 'FATAL', 'CRITICAL'):
        root.setLevel({'TRACE': 'DEBUG', 'WARN': 'WARNING', 'FATAL': 'CRITICAL'}.get(level, level))


class _LoggingHook:
    """A meta-path finder that waits for the first `import logging`.

    Importing logging eagerly would cost more than the interpreter's whole
    start; most handlers never use it. It finds the real spec with the other
    finders and runs _setup_logging after the module body, so a handler's
    own basicConfig() finds the root handler in place, as on Lambda.
    """

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != 'logging':
            return None
        try:
            sys.meta_path.remove(_LoggingHook)
        except ValueError:
            pass
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            try:
                _setup_logging(module)
            except Exception as e:   # never let our set-up break the user's import
                sys.stderr.write('nimbus: logging set-up failed: %r\n' % (e,))

        spec.loader.exec_module = exec_module
        return spec


# ---------------------------------------------------------------- errors

class InitFault(Exception):
    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace if trace is not None else []


def _is_runtime_frame(filename):
    return os.path.dirname(filename) == RUNTIME_DIR


def fault_document(exc, request_id=''):
    """Lambda's error document for an exception: the user's frames only."""
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    i = 0
    while i < len(frames) and _is_runtime_frame(frames[i].filename):
        i += 1
    # format_list of plain tuples: Lambda's "  File ..., line N, in f\n    code\n"
    # (no 3.11 caret lines).
    stack = traceback.format_list([(f.filename, f.lineno, f.name, f.line) for f in frames[i:]])
    try:
        message = str(exc)
    except Exception:
        message = '<exception str() failed>'
    return error_document(message, type(exc).__name__, stack, request_id)


def error_document(message, error_type, stack, request_id=''):
    """Lambda's Python error document; requestId is "" for init errors, as there."""
    return {'errorMessage': message, 'errorType': error_type, 'requestId': request_id, 'stackTrace': stack}


def log_error(doc):
    """The [ERROR] block Lambda's runtime writes to the function's log."""
    lines = ['[ERROR] %s: %s' % (doc['errorType'], doc['errorMessage'])]
    if doc.get('stackTrace'):
        lines.append('Traceback (most recent call last):')
        for item in doc['stackTrace']:
            lines.extend(item.splitlines())
    try:
        out = sys.__stdout__ or sys.stdout
        out.write('\n'.join(lines) + '\n')
        out.flush()
    except Exception:
        pass


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# ---------------------------------------------------------------- handler

def load_handler(spec):
    """`module.function` (module dotted or with '/', packages included) ->
    the callable, or InitFault with Lambda's error type."""
    try:
        modname, fname = spec.rsplit('.', 1)
    except ValueError as e:
        raise InitFault('Runtime.MalformedHandlerName', "Bad handler '%s': %s" % (spec, e))
    if not modname or not fname:
        raise InitFault('Runtime.MalformedHandlerName', "Bad handler '%s': empty module or function name" % spec)
    dotted = modname.replace('/', '.')
    if dotted.split('.')[0] in sys.builtin_module_names:
        raise InitFault('Runtime.BuiltInModuleConflict',
                        'Cannot use built-in module %s as a handler module' % modname)
    try:
        __import__(dotted)
        module = sys.modules[dotted]
    except ImportError as e:
        raise InitFault('Runtime.ImportModuleError', "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise InitFault('Runtime.UserCodeSyntaxError', "Syntax error in module '%s': %s" % (modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise InitFault('Runtime.HandlerNotFound', "Handler '%s' missing on module '%s'" % (fname, modname))


# ---------------------------------------------------------------- the loop

class Runtime:
    def __init__(self, api, handler):
        self.api = api
        self.handler = handler

    def answer(self, conn, path, payload, headers):
        """POST the answer with the next /next pipelined behind it (one
        write; the daemon sends the 202 with the next event, so this thread
        wakes once per call). Returns the next /next's response, or None when
        it must be asked for again."""
        conn.request('POST', path, payload, headers, then=self.next_head)
        return conn.read_next()

    @staticmethod
    def error_request(doc, error_type):
        body = json_dumps(doc).encode()
        headers = [('Content-Type', 'application/json')]
        if error_type:
            headers.append(('Lambda-Runtime-Function-Error-Type', error_type))
        return body, headers

    def serve(self):
        """Pull calls forever on this thread's own connection."""
        conn = RuntimeApiConnection(self.api)
        self.next_head = conn._head('GET', NEXT, None, ())
        failures = 0
        following = None   # the pipelined /next's response, when the last answer brought one
        while True:
            try:
                if following is not None:
                    status, headers, body = following
                    following = None
                else:
                    status, headers, body = conn.request('GET', NEXT)
            except OSError as e:
                status, headers, body = 0, {}, repr(e)
            if status != 200:
                failures += 1
                if failures >= 3:
                    sys.stderr.write('nimbus: runtime API /next failed (%s %s); exiting\n' % (status, body[:200]))
                    flush_stdio()
                    os._exit(1)
                time.sleep(0.05)
                continue
            failures = 0
            following = self.handle(conn, headers, body)

    def handle(self, conn, headers, body):
        """Serve one call; returns the next /next's response if it came
        pipelined behind the answer, else None."""
        request_id = headers.get('lambda-runtime-aws-request-id', '')
        trace = headers.get('lambda-runtime-trace-id')
        if trace:
            os.environ['_X_AMZN_TRACE_ID'] = trace
        else:
            os.environ.pop('_X_AMZN_TRACE_ID', None)
        _current.request_id = request_id
        base = '%s/invocation/%s/' % (API, request_id)
        try:
            deadline = int(headers.get('lambda-runtime-deadline-ms') or 0)
        except ValueError:
            deadline = 0
        client_context = identity = None
        try:
            if headers.get('lambda-runtime-client-context'):
                client_context = json_loads(headers['lambda-runtime-client-context'])
            if headers.get('lambda-runtime-cognito-identity'):
                identity = json_loads(headers['lambda-runtime-cognito-identity'])
        except ValueError:
            pass
        ctx = LambdaContext(request_id, deadline, headers.get('lambda-runtime-invoked-function-arn'),
                            client_context, identity, headers.get('lambda-runtime-aws-tenant-id'))
        doc = None
        content_type = headers.get('content-type', 'application/json').split(';', 1)[0].strip().lower()
        try:
            if content_type == 'application/json':
                try:
                    event = json_loads(body)
                except ValueError as e:
                    doc = error_document('Unable to unmarshal input: %s' % e, 'Runtime.UnmarshalError', [],
                                         request_id)
            else:
                event = bytes(body)
            if doc is None:
                result = self.handler(event, ctx)
        except Exception as e:
            doc = fault_document(e, request_id)
        except BaseException as e:
            exit_from_handler(e)
        if doc is None:
            try:
                if isinstance(result, (bytes, bytearray, memoryview)):
                    payload, ctype = bytes(result), 'application/octet-stream'
                else:
                    payload, ctype = json_dumps(result).encode(), 'application/json'
            except Exception as e:
                doc = error_document('Unable to marshal response: %s' % e, 'Runtime.MarshalError', [],
                                     request_id)
        try:
            if doc is not None:
                log_error(doc)
                flush_stdio()
                return self.answer(conn, base + 'error', *self.error_request(doc, doc['errorType']))
            flush_stdio()
            return self.answer(conn, base + 'response', payload, [('Content-Type', ctype)])
        finally:
            _current.request_id = ''


def exit_from_handler(e):
    """sys.exit() / KeyboardInterrupt in a handler ends the process (Lambda:
    Runtime.ExitError), even from a puller thread."""
    code = getattr(e, 'code', 1) if isinstance(e, SystemExit) else 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        try:
            sys.stderr.write('%s\n' % (code,))
        except Exception:
            pass
        code = 1
    flush_stdio()
    os._exit(code)


def _serve_or_die(rt):
    try:
        rt.serve()
    except BaseException as e:
        try:
            sys.stderr.write('nimbus: runtime loop failed: %r\n' % (e,))
        except Exception:
            pass
        flush_stdio()
        os._exit(1)


def main():
    env = os.environ
    api = env.get('AWS_LAMBDA_RUNTIME_API')
    if not api:
        sys.stderr.write('nimbus: AWS_LAMBDA_RUNTIME_API is not set\n')
        return 1
    task_root = env.get('LAMBDA_TASK_ROOT') or os.getcwd()
    # -S: no site module. The user's code first; Debian's package dirs last.
    # The runtime's own directory (the script's, sys.path[0]) is dropped so
    # it can never shadow a user module.
    path = [p for p in sys.path if p and os.path.abspath(p) != RUNTIME_DIR]
    ver = 'python%d.%d' % sys.version_info[:2]
    # Layers, as Lambda orders them: right after the function's own code.
    # Unsandboxed, NIMBUS_OPT_DIR names the merged tree ('' for none).
    opt = env.get('NIMBUS_OPT_DIR', '/opt')
    layers = [opt + '/python/lib/%s/site-packages' % ver, opt + '/python'] if opt else []
    sys.path[:] = [task_root] + layers + path + ['/usr/local/lib/%s/dist-packages' % ver,
                                        '/usr/lib/python3/dist-packages',
                                        '/usr/lib/%s/dist-packages' % ver]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    sys.meta_path.insert(0, _LoggingHook)

    try:
        handler = load_handler(env.get('_HANDLER', ''))
    except InitFault as f:
        doc = error_document(f.message, f.error_type, f.trace)
    except Exception as e:
        doc = fault_document(e)
    except BaseException as e:
        exit_from_handler(e)
    else:
        doc = None
    if doc is not None:
        log_error(doc)
        flush_stdio()
        try:
            body, headers = Runtime.error_request(doc, doc['errorType'])
            RuntimeApiConnection(api).request('POST', API + '/init/error', body, headers)
        except OSError as e:
            sys.stderr.write('nimbus: could not post init error: %r\n' % (e,))
        return 1

    try:
        n = int(env.get('AWS_LAMBDA_MAX_CONCURRENCY') or 1)
    except ValueError:
        n = 1
    rt = Runtime(api, handler)
    if n > 1:
        import threading
        global _current
        _current = threading.local()
        for i in range(n - 1):
            threading.Thread(target=_serve_or_die, args=(rt,), name='nimbus-puller-%d' % (i + 1),
                             daemon=True).start()
    _serve_or_die(rt)
    return 0
