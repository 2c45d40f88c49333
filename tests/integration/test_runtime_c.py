"""The C runtime library (libnimbus-runtime) and `nimbus init`.

Functions are compiled here with the C compiler against the library of the
build under test (the directory of NIMBUS_BIN: <build>/sdk/c), then
deployed with runtime `provided` and invoked for real. CConformance runs the
shared runtime conformance suite (runtime_conformance.py) with PROBE_C;
RuntimeCTest holds what only the library has (the handler's return code, an
error set on a successful return, the one keep-alive connection, no
AWS_LAMBDA_RUNTIME_API, the c-hello example) and `nimbus init` for every
template; RuntimeCWireTest runs the library against a scripted Runtime API.
`nimbus init`: the C template
builds (against the build tree and against a `cmake --install` prefix) and
answers; the others create their files, deploy with the runtime and handler
init printed, and answer; a non-empty directory is refused.

When the build under test is sanitized (build-asan), the functions are
linked with the same sanitizers (dynamically: ASan cannot be static), so the
library itself runs under ASan+UBSan.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from nimbus_testlib import REPO, HeldRuntimeApi, ServerTestCase, dir_files, init_template, nimbus_bin, run_cli, uniq
from runtime_conformance import ENV_NAMES, ConformanceSuite

PROBE_C = r'''
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nimbus_runtime.h"

static int calls;   /* warm state */

static const char *const env_names[] = { ENV_NAMES NULL };

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

/* The sockets this process holds: "socket:[inode]" joined by ','. */
static void sockets(char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[300], t[128];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, t, sizeof t - 1);
        if (n <= 0) continue;
        t[n] = '\0';
        if (strncmp(t, "socket:", 7) != 0) continue;
        if (out[0]) strncat(out, ",", len - strlen(out) - 1);
        strncat(out, t, len - strlen(out) - 1);
    }
    if (d) closedir(d);
}

/* ,"key":"val" (JSON null for NULL) */
static void add_str(nimbus_response *res, const char *key, const char *val)
{
    nimbus_response_printf(res, ",\"%s\":", key);
    if (val) nimbus_response_json_string(res, val, strlen(val));
    else nimbus_response_printf(res, "null");
}

static int handler(const nimbus_request *req, nimbus_response *res)
{
    char op[32] = "";
    if (strncmp(req->body, "{\"op\":\"", 7) == 0) sscanf(req->body + 7, "%31[a-z0-9_]", op);

    if (strcmp(op, "count") == 0) {
        calls++;
        nimbus_response_printf(res, "{\"calls\":%d,\"pid\":%d", calls, (int)getpid());
        add_str(res, "rid", req->request_id);
        return nimbus_response_append(res, "}", 1);
    }
    if (strcmp(op, "fail") == 0) {
        nimbus_response_printf(res, "this body is dropped");
        nimbus_response_errorf(res, "MyError", "it \"failed\" \\ %s \u00fcn\u00efc\u00f6de \U0001F600", "badly");
        return 1;
    }
    if (strcmp(op, "exit") == 0) exit(3);
    if (strcmp(op, "sleep") == 0) {
        const char *s = strstr(req->body, "\"secs\":");
        long secs = s ? strtol(s + 7, NULL, 10) : 0;
        printf("going to sleep\n");
        fflush(stdout);
        sleep_ms(secs * 1000);
        return nimbus_response_printf(res, "\"slept\"");
    }
    if (strcmp(op, "context") == 0) {
        long long r1 = nimbus_remaining_ms(req);
        sleep_ms(200);
        long long r2 = nimbus_remaining_ms(req);
        char socks[512], cwd[4096];
        sockets(socks, sizeof socks);
        nimbus_response_printf(res, "{\"r1\":%lld,\"r2\":%lld,\"deadline_ms\":%lld,\"now_ms\":%lld,"
                               "\"memory\":%d,\"pid\":%d,\"client_context\":%s",
                               r1, r2, req->deadline_ms, now_ms(), req->memory_mb, (int)getpid(),
                               req->client_context[0] ? req->client_context : "null");
        add_str(res, "request_id", req->request_id);
        add_str(res, "invoked_function_arn", req->function_arn);
        add_str(res, "function_name", req->function_name);
        add_str(res, "function_version", req->function_version);
        add_str(res, "trace_id", req->trace_id);
        add_str(res, "trace", getenv("_X_AMZN_TRACE_ID"));
        add_str(res, "content_type", req->content_type);
        add_str(res, "log_group_name", req->log_group_name);
        add_str(res, "log_stream_name", req->log_stream_name);
        add_str(res, "handler", getenv("_HANDLER"));
        add_str(res, "cwd", getcwd(cwd, sizeof cwd));
        add_str(res, "task_root", getenv("LAMBDA_TASK_ROOT"));
        add_str(res, "exec_env", getenv("AWS_EXECUTION_ENV"));
        add_str(res, "sockets", socks);
        return nimbus_response_append(res, "}", 1);
    }
    if (strcmp(op, "env") == 0) {
        nimbus_response_printf(res, "{\"_\":0");
        for (int i = 0; env_names[i]; i++) add_str(res, env_names[i], getenv(env_names[i]));
        return nimbus_response_append(res, "}", 1);
    }
    if (strcmp(op, "binary") == 0) {
        unsigned char b[256];
        for (int i = 0; i < 256; i++) b[i] = (unsigned char)i;
        return nimbus_response_set(res, b, sizeof b, "application/octet-stream");
    }
    if (strcmp(op, "log") == 0) {
        printf("out-line %s\n", req->request_id);     /* a pipe: fully buffered */
        fprintf(stderr, "err-line %s\n", req->request_id);
        return nimbus_response_printf(res, "\"logged\"");
    }
    if (strcmp(op, "concurrent") == 0) {
        long long start = now_ms();
        sleep_ms(1000);
        nimbus_response_printf(res, "{\"pid\":%d,\"start\":%lld,\"end\":%lld", (int)getpid(), start, now_ms());
        add_str(res, "rid", req->request_id);
        return nimbus_response_append(res, "}", 1);
    }
    /* the library's own */
    if (strcmp(op, "failrc") == 0) return 7;
    if (strcmp(op, "errset") == 0) {   /* error set, handler still returns 0 */
        nimbus_response_error(res, "Set.Error", "set but returned 0");
        return 0;
    }
    /* anything else: echoed byte for byte */
    return nimbus_response_set(res, req->body, req->body_len, NULL);
}

int main(void)
{
    printf("init-marker\n");
    return nimbus_runtime_run(handler);
}
'''.replace('ENV_NAMES', ' '.join('"%s",' % n for n in ENV_NAMES))

INIT_ERROR_C = r'''
#include <stdio.h>
#include "nimbus_runtime.h"

static int handler(const nimbus_request *req, nimbus_response *res)
{
    (void)req;
    return nimbus_response_printf(res, "\"never\"");
}

int main(void)
{
    if (1)   /* e.g. a configuration file that is missing */
        return nimbus_runtime_init_error("Custom.InitError", "config.json missing: \u00e9t\u00e9 \"quoted\"");
    return nimbus_runtime_run(handler);
}
'''

TEMPLATES = ('python', 'node', 'c', 'bash', 'scf', 'fc')
CREATED_RE = re.compile(r'^created (\S+) \((\S+), handler (\S+)\): (.+)$')


def build_dir():
    return os.path.dirname(nimbus_bin())


def lib_dir():
    return os.path.join(build_dir(), 'sdk', 'c')


def sanitized():
    """Whether the build under test was configured with NIMBUS_SANITIZE."""
    try:
        with open(os.path.join(build_dir(), 'CMakeCache.txt')) as f:
            return 'NIMBUS_SANITIZE:BOOL=ON' in f.read()
    except OSError:
        return False


def link_flags():
    """Static for a release build; the build's sanitizers (dynamic) for ASan."""
    if sanitized():
        return ['-fsanitize=address,undefined', '-fno-omit-frame-pointer']
    return ['-static']


def make_flags():
    """Variables for the template's Makefile matching link_flags()."""
    if sanitized():
        return ['STATIC=', 'CFLAGS=-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer',
                'LDFLAGS=-fsanitize=address,undefined']
    return []


def fn_env():
    # LeakSanitizer needs ptrace-like powers the sandbox may not grant, and a
    # runtime never frees its workers anyway.
    return {'ASAN_OPTIONS': 'detect_leaks=0'} if sanitized() else None


_compiled = {}


def compile_c(source):
    """Compile `source` with libnimbus-runtime into a bootstrap; its bytes."""
    if source in _compiled:
        return _compiled[source]
    lib = os.path.join(lib_dir(), 'libnimbus-runtime.a')
    if not os.path.exists(lib):
        raise AssertionError('%s not found: build the project (make build) first' % lib)
    d = tempfile.mkdtemp(prefix='nimbus-c-')
    try:
        src = os.path.join(d, 'main.c')
        with open(src, 'w') as f:
            f.write(source)
        out = os.path.join(d, 'bootstrap')
        cmd = (['cc', '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror'] + link_flags() +
               ['-I', os.path.join(REPO, 'sdk', 'c'), '-o', out, src, '-L', lib_dir(),
                '-lnimbus-runtime', '-lpthread'])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if p.returncode != 0:
            raise AssertionError('compile failed: %s\n%s' % (' '.join(cmd), p.stdout.decode()))
        with open(out, 'rb') as f:
            data = f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    _compiled[source] = data
    return data




class CConformance(ConformanceSuite, ServerTestCase):
    """The C runtime library: a bootstrap compiled from PROBE_C, runtime `provided`."""
    RUNTIME = 'provided'
    HANDLER = 'bootstrap'
    DEPLOY = {'env': fn_env()} if fn_env() else {}
    BYTE_EXACT = True
    ERROR_TYPE = 'MyError'
    ERROR_MESSAGE = 'it "failed" \\ badly \u00fcn\u00efc\u00f6de \U0001F600'
    INIT_OUTPUT_IN_FIRST_TAIL = True     # the program starts for its first call
    NO_INIT = ('the bootstrap is the function\'s own program: there is no module or handler for '
               'a runtime to look up (init errors are the ones the program posts: init_error_raised_at_init)')
    UNSUPPORTED = {
        'string_and_null_results': 'the handler sets the response bytes itself: there is no value to serialise',
        'unicode_strings': 'the handler sees bytes: C has no string type to measure or case-map',
        'init_error_missing_module': NO_INIT,
        'init_error_missing_dependency': NO_INIT,
        'init_error_handler_not_found': NO_INIT,
        'init_error_syntax_error': 'the function is compiled before it is deployed',
        'init_error_malformed_handler': NO_INIT,
        'init_error_every_call_until_fixed': NO_INIT,
    }

    @classmethod
    def class_setup(cls):
        cls.MAIN = {'bootstrap': (compile_c(PROBE_C), 0o755)}
        cls.INIT_ERRORS = {
            'raised_at_init': {'files': {'bootstrap': (compile_c(INIT_ERROR_C), 0o755)}, 'type': 'Custom.InitError',
                               'message': 'config.json missing: \u00e9t\u00e9 "quoted"'},
        }

    def check_handler_error(self, h, doc, tail):
        self.assertEqual(doc['stackTrace'], [])
        self.assertIn('[ERROR] MyError: it "failed"', tail)

    def check_context(self, h, doc, name):
        self.assertEqual(doc['content_type'], 'application/json')
        self.assertEqual(doc['trace'], doc['trace_id'])


class RuntimeCTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.probe = compile_c(PROBE_C)

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='nimbus-c-test-')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    # -- helpers
    def deploy(self, binary=None, name=None, **kw):
        name = name or uniq('c')
        env = kw.pop('env', None) or {}
        env.update(fn_env() or {})
        files = {'bootstrap': (binary if binary is not None else self.probe, 0o755)}
        st, h, body, raw = self.c.create_function(name, files, runtime='provided', handler='bootstrap',
                                                  env=env or None, **kw)
        self.assertEqual(st, 201, 'CreateFunction -> %s %s' % (st, raw[:500]))
        return name

    def call(self, name, payload, headers=None, timeout=60):
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload, separators=(',', ':'))
        return self.invoke_ok(name, payload, headers, timeout)

    def call_json(self, name, payload, headers=None):
        h, body = self.call(name, payload, headers)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('not JSON: %r' % body[:500])

    # -- the library
    def test_nonzero_return_without_error_is_handler_error(self):
        name = self.deploy()
        st, h, body = self.c.invoke(name, b'{"op":"failrc"}')
        doc = self.assertFunctionError(h, body, 'HandlerError')
        self.assertEqual(doc['errorMessage'], 'handler returned 7')

    def test_error_set_with_zero_return_still_fails(self):
        name = self.deploy()
        st, h, body = self.c.invoke(name, b'{"op":"errset"}')
        doc = self.assertFunctionError(h, body, 'Set.Error')
        self.assertEqual(doc['errorMessage'], 'set but returned 0')

    def test_one_keep_alive_connection_across_calls(self):
        name = self.deploy()
        seen = set()
        for _ in range(4):
            _, doc = self.call_json(name, {'op': 'context'})
            seen.add((doc['pid'], doc['sockets']))
        self.assertEqual(len(seen), 1, 'pid and sockets changed between calls: %r' % seen)
        socks = seen.pop()[1]
        self.assertRegex(socks, r'^socket:\[\d+\]$', 'one socket expected')

    def test_runtime_api_unset_fails_cleanly(self):
        p = os.path.join(self.tmp, 'bootstrap')
        with open(p, 'wb') as f:
            f.write(self.probe)
        os.chmod(p, 0o755)
        env = {k: v for k, v in os.environ.items() if k != 'AWS_LAMBDA_RUNTIME_API'}
        r = subprocess.run([p], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'AWS_LAMBDA_RUNTIME_API is not set', r.stderr)

    def test_example_c_hello_builds_and_answers(self):
        work = init_template('c-hello', 'c', self.tmp)
        args = ['make', '-C', work, 'NIMBUS_RUNTIME_DIR=' + build_dir()] + make_flags()
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        name = self.deploy(open(os.path.join(work, 'bootstrap'), 'rb').read())
        _, doc = self.call_json(name, {'name': 'Ada'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['function'], name)
        st, h, body = self.c.invoke(name, b'{"fail":true}')
        self.assertFunctionError(h, body, 'HelloError')

    # -- nimbus init
    def init(self, name, template, dest=None, extra=()):
        dest = dest or os.path.join(self.tmp, name)
        r = run_cli(['init', name, '--template', template, '--dir', dest] + list(extra))
        return r, dest

    def init_ok(self, name, template):
        r, dest = self.init(name, template)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b'')
        out = r.stdout.decode()
        self.assertEqual(out.count('\n'), 1, out)
        m = CREATED_RE.match(out.strip())
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), name)
        self.assertIn('nimbus deploy %s %s --runtime %s --handler %s' % (name, dest, m.group(2), m.group(3)),
                      m.group(4))
        return dest, m.group(2), m.group(3), m.group(4)

    def assert_template_copied(self, template, name, dest):
        src = os.path.join(REPO, 'templates', template)
        want = dir_files(src)
        want = {k: v for k, v in want.items() if '__pycache__' not in k and not k.endswith('.pyc')}
        self.assertTrue(want, 'template %s is empty' % template)
        got = dir_files(dest)
        self.assertEqual(sorted(got), sorted(k.replace('{{NAME}}', name) for k in want))
        for k, (data, mode) in want.items():
            gdata, gmode = got[k.replace('{{NAME}}', name)]
            self.assertEqual(gmode & 0o111, mode & 0o111, 'exec bits of %s' % k)
            self.assertNotIn(b'{{NAME}}', gdata, k)
            if b'{{NAME}}' in data:
                self.assertIn(name.encode(), gdata, k)
            if b'{{' not in data:
                self.assertEqual(gdata, data, k)

    def test_init_c_template_builds_against_the_build_tree_and_answers(self):
        name = uniq('cinit')
        dest, runtime, handler, nxt = self.init_ok(name, 'c')
        self.assertEqual((runtime, handler), ('provided', 'bootstrap'))
        self.assert_template_copied('c', name, dest)
        # from a build tree, init points make at it
        self.assertIn('make -C %s NIMBUS_RUNTIME_DIR=%s && ' % (dest, build_dir()), nxt)
        with open(os.path.join(dest, 'Makefile')) as f:
            self.assertIn('PREFIX ?= /usr/local\n', f.read())
        p = subprocess.run(['make', '-C', dest, 'NIMBUS_RUNTIME_DIR=' + build_dir()] + make_flags(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertTrue(os.access(os.path.join(dest, 'bootstrap'), os.X_OK))
        fn = uniq('cinit')
        st, h, body, raw = self.c.create_function(fn, dir_files(dest), runtime=runtime, handler=handler,
                                                  env=fn_env())
        self.assertEqual(st, 201, raw)
        _, doc = self.call_json(fn, {'name': 'Ada'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['function'], fn)
        _, doc = self.call_json(fn, {})
        self.assertEqual((doc['message'], doc['calls']), ('Hello, world!', 2))

    def test_init_c_template_builds_against_an_installed_prefix(self):
        prefix = os.path.join(self.tmp, 'prefix')
        p = subprocess.run(['cmake', '--install', build_dir(), '--prefix', prefix], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        for f in ('bin/nimbus', 'lib/libnimbus-runtime.a', 'include/nimbus_runtime.h',
                  'share/nimbus/templates/c/main.c', 'share/nimbus/templates/c/Makefile'):
            self.assertTrue(os.path.exists(os.path.join(prefix, f)), f)
        self.assertFalse(os.path.exists(os.path.join(prefix, 'share/nimbus/runtimes/c')))
        self.assertFalse(os.path.exists(os.path.join(prefix, 'share/nimbus/runtimes/templates')))
        self.assertTrue(os.access(os.path.join(prefix, 'share/nimbus/templates/scf/bootstrap'), os.X_OK))
        dest = os.path.join(self.tmp, 'fn')
        r = subprocess.run([os.path.join(prefix, 'bin', 'nimbus'), 'init', 'inst', '--template', 'c',
                            '--dir', dest], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(b'NIMBUS_RUNTIME_DIR', r.stdout)
        self.assertIn(b'make -C %s && nimbus deploy inst' % dest.encode(), r.stdout)
        with open(os.path.join(dest, 'Makefile')) as f:
            self.assertIn('PREFIX ?= %s\n' % os.path.realpath(prefix), f.read())
        p = subprocess.run(['make', '-C', dest] + make_flags(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        fn = uniq('cinst')
        st, h, body, raw = self.c.create_function(fn, dir_files(dest), runtime='provided', handler='bootstrap',
                                                  env=fn_env())
        self.assertEqual(st, 201, raw)
        _, doc = self.call_json(fn, {'name': 'Grace'})
        self.assertEqual(doc['message'], 'Hello, Grace!')

    def check_template_deploys(self, template):
        name = uniq(template + 'init')
        dest, runtime, handler, nxt = self.init_ok(name, template)
        self.assert_template_copied(template, name, dest)
        self.assertTrue(nxt.startswith('nimbus deploy '), nxt)
        st, h, body, raw = self.c.create_function(name, dir_files(dest), runtime=runtime, handler=handler,
                                                  timeout=10)
        self.assertEqual(st, 201, raw)
        h, body = self.call(name, {'name': 'Ada'})
        self.assertIn(b'Ada', body)
        return runtime, handler

    def test_init_python_template(self):
        self.assertEqual(self.check_template_deploys('python')[0], 'python3.11')

    def test_init_node_template(self):
        self.assertEqual(self.check_template_deploys('node')[0], 'nodejs20.x')

    def test_init_bash_template(self):
        self.assertEqual(self.check_template_deploys('bash'), ('bash', 'function.handler'))

    def test_init_scf_template(self):
        self.assertEqual(self.check_template_deploys('scf'), ('provided.scf', 'index.main_handler'))

    def test_init_fc_template(self):
        self.assertEqual(self.check_template_deploys('fc'), ('provided.fc', 'index.handler'))

    def test_every_template_folder_is_an_init_template(self):
        # A folder added to templates/ without an entry in init's table (or the tests above, or
        # make run's one example per template) is caught here.
        root = os.path.join(REPO, 'templates')
        templates = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.assertEqual(templates, ['bash', 'c', 'fc', 'node', 'python', 'scf'])
        self.assertEqual(sorted(TEMPLATES), templates)

    def test_init_refuses_a_non_empty_directory(self):
        for template in TEMPLATES:
            dest = os.path.join(self.tmp, 'busy-' + template)
            os.mkdir(dest)
            with open(os.path.join(dest, 'keep.txt'), 'w') as f:
                f.write('mine')
            r, _ = self.init('busy', template, dest)
            self.assertEqual(r.returncode, 1, r)
            self.assertEqual(r.stdout, b'')
            err = r.stderr.decode()
            self.assertEqual(err.count('\n'), 1, err)
            self.assertRegex(err, r'^nimbus init: .*not empty')
            self.assertEqual(os.listdir(dest), ['keep.txt'])

    def test_init_into_an_existing_empty_directory_and_default_dir(self):
        dest = os.path.join(self.tmp, 'empty')
        os.mkdir(dest)
        r, _ = self.init('emptyok', 'bash', dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(dest, 'function.sh')))
        # without --dir: ./NAME
        r = subprocess.run([nimbus_bin(), 'init', 'here', '--template', 'c'], cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, 'here', 'main.c')))
        self.assertIn(b'nimbus deploy here here --runtime provided', r.stdout)

    def test_init_usage_errors(self):
        for args, msg in ((['init', 'x'], 'missing --template'),
                          (['init', 'x', '--template', 'cobol'], "unknown template 'cobol'"),
                          (['init', '--template', 'c'], 'missing NAME'),
                          (['init', 'bad/name', '--template', 'c'], 'must be 1 to 64')):
            r = run_cli(args + ['--dir', os.path.join(self.tmp, 'u')])
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertIn(msg.encode(), r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, 'u')))
        r = run_cli(['init', '--help'])
        self.assertEqual(r.returncode, 0)
        self.assertIn(b'--template', r.stdout)
        r = run_cli(['--help'])
        self.assertIn(b'init NAME --template', r.stdout)


# ---------------------------------------------------------------- the wire, without the daemon

import socket  # noqa: E402
import unittest  # noqa: E402


class FakeRuntimeApi:
    """A scripted Runtime API on a raw socket, to see what the library sends and
    how it copes with framings and closes Nimbus itself never produces.

    Each event is (request_id, body, framing, close_after_post) where framing
    is 'length' (Content-Length), 'chunked', or 'eof' (no length, then close);
    close_after_post closes the connection silently after answering the POST
    (an idle keep-alive connection dropped by the server). Once the script is
    used up, /next is held open (a long poll that never ends)."""

    def __init__(self, events):
        self.events = list(events)
        self.expected = len(events)
        self.posts = []            # (path, headers, body)
        self.connections = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn, buf):
        while b'\r\n\r\n' not in buf:
            d = conn.recv(65536)
            if not d:
                return None, buf
            buf += d
        head, buf = buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        method, path, _ = lines[0].split(' ', 2)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get('content-length', '0'))
        while len(buf) < n:
            d = conn.recv(1 << 20)
            if not d:
                return None, buf
            buf += d
        return (method, path, headers, bytes(buf[:n])), buf[n:]

    def _serve(self, conn):
        buf = b''
        try:
            while True:
                req, buf = self._read_request(conn, buf)
                if req is None:
                    return
                method, path, headers, body = req
                if method == 'GET' and path.endswith('/invocation/next'):
                    with self.lock:
                        ev = self.events.pop(0) if self.events else None
                    if ev is None:
                        while not self.stop:
                            time.sleep(0.05)
                        return
                    rid, data, framing, _ = ev
                    self.current = ev
                    hdr = ('HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: %s\r\n'
                           'Lambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: arn:x\r\n'
                           'Lambda-Runtime-Trace-Id: Root=1-abc\r\nContent-Type: application/json\r\n'
                           % (rid, int(time.time() * 1000) + 60000))
                    hdr = hdr.encode('latin-1')   # ids are raw bytes here
                    if framing == 'length':
                        conn.sendall(hdr + b'Content-Length: %d\r\n\r\n' % len(data))
                        for i in range(0, len(data), 100000):   # in pieces
                            conn.sendall(data[i:i + 100000])
                    elif framing == 'chunked':
                        out = hdr + b'Transfer-Encoding: chunked\r\n\r\n'
                        for i in range(0, len(data), 7):
                            piece = data[i:i + 7]
                            out += b'%x;ext=1\r\n%s\r\n' % (len(piece), piece)
                        conn.sendall(out + b'0\r\nX-Trailer: t\r\n\r\n')
                    else:
                        conn.sendall(hdr + b'Connection: close\r\n\r\n' + data)
                        conn.close()
                        return
                    continue
                with self.lock:
                    self.posts.append((path, headers, body))
                    if len(self.posts) >= self.expected:
                        self.done.set()
                close = method == 'POST' and getattr(self, 'current', (0, 0, 0, False))[3]
                conn.sendall(b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n'
                             b'Content-Length: 16\r\n\r\n{"status":"OK"}\n')
                if close or '/init/error' in path:
                    conn.close()
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass


class RuntimeCWireTest(unittest.TestCase):
    """The library against FakeRuntimeApi: framings, closes, what it posts."""

    def run_bootstrap(self, source, events, extra_env=None, wait=20):
        binary = compile_c(source)
        api = FakeRuntimeApi(events)
        d = tempfile.mkdtemp(prefix='nimbus-c-wire-')
        p = os.path.join(d, 'bootstrap')
        with open(p, 'wb') as f:
            f.write(binary)
        os.chmod(p, 0o755)
        env = {'PATH': '/usr/bin:/bin', 'AWS_LAMBDA_RUNTIME_API': '127.0.0.1:%d' % api.port,
               'AWS_LAMBDA_FUNCTION_NAME': 'wire', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE': '512'}
        env.update(fn_env() or {})
        env.update(extra_env or {})
        proc = subprocess.Popen([p], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            finished = api.done.wait(wait) if events else None
            if not events:
                proc.wait(wait)
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=10)
            api.close()
            shutil.rmtree(d, ignore_errors=True)
        if events:
            self.assertTrue(finished, 'script not finished; posts %r\nstderr: %s'
                            % ([x[0] for x in api.posts], err[-2000:]))
        return api, proc.returncode, out, err

    def test_framings_closes_and_reconnects(self):
        big = json.dumps({'d': 'x' * (7 * 1024 * 1024)}).encode()
        events = [('id-1', b'{"a":1}', 'length', False),
                  ('id-2', b'"chunked body, in pieces of seven bytes"', 'chunked', False),
                  ('id-3', b'{"until":"eof"}', 'eof', False),
                  ('id-4', b'{"after":"eof"}', 'length', True),    # POST answered, then dropped
                  ('id-5', big, 'length', False),
                  ('id 6/\xe9'.encode('utf-8').decode('latin-1'), b'{"op":"fail"}', 'length', False),
                  ('id-7', b'{"op":"count"}', 'length', False)]
        api, rc, out, err = self.run_bootstrap(PROBE_C, events)
        paths = [x[0] for x in api.posts]
        self.assertEqual(paths, ['/2018-06-01/runtime/invocation/id-1/response',
                                 '/2018-06-01/runtime/invocation/id-2/response',
                                 '/2018-06-01/runtime/invocation/id-3/response',
                                 '/2018-06-01/runtime/invocation/id-4/response',
                                 '/2018-06-01/runtime/invocation/id-5/response',
                                 '/2018-06-01/runtime/invocation/id%206%2F%C3%A9/error',
                                 '/2018-06-01/runtime/invocation/id-7/response'], err)
        bodies = [x[2] for x in api.posts]
        self.assertEqual(bodies[0], b'{"a":1}')
        self.assertEqual(bodies[1], b'"chunked body, in pieces of seven bytes"')
        self.assertEqual(bodies[2], b'{"until":"eof"}')
        self.assertEqual(bodies[3], b'{"after":"eof"}')
        self.assertTrue(bodies[4] == big, 'the 7 MB event was not echoed intact')
        h = api.posts[5][1]
        self.assertEqual(h.get('lambda-runtime-function-error-type'), 'MyError')
        self.assertEqual(h.get('content-type'), 'application/json')
        doc = json.loads(bodies[5])
        self.assertEqual(doc['errorType'], 'MyError')
        self.assertEqual(doc['stackTrace'], [])
        self.assertEqual(json.loads(bodies[6])['calls'], 1)
        for path, headers, body in api.posts:
            self.assertEqual(headers.get('content-length'), str(len(body)))
            self.assertEqual(headers.get('host'), '127.0.0.1:%d' % api.port)
        # reconnections: after the 'eof' event, after the dropped connection
        # (a retried /next), and nothing more
        self.assertEqual(api.connections, 3, err)

    def test_init_error_request(self):
        api, rc, out, err = self.run_bootstrap(INIT_ERROR_C, [])
        self.assertEqual(rc, 1)
        self.assertEqual(len(api.posts), 1, err)
        path, headers, body = api.posts[0]
        self.assertEqual(path, '/2018-06-01/runtime/init/error')
        self.assertEqual(headers.get('lambda-runtime-function-error-type'), 'Custom.InitError')
        self.assertEqual(json.loads(body), {'errorMessage': 'config.json missing: \u00e9t\u00e9 "quoted"',
                                            'errorType': 'Custom.InitError', 'stackTrace': []})
        self.assertIn(b'[ERROR] Custom.InitError', err)

    def test_threads_each_with_its_own_connection(self):
        n = 3
        events = [('c-%d' % i, b'{"op":"concurrent"}', 'length', False) for i in range(n)]
        t0 = time.monotonic()
        api, rc, out, err = self.run_bootstrap(PROBE_C, events, {'AWS_LAMBDA_MAX_CONCURRENCY': str(n)})
        self.assertEqual(sorted(x[0] for x in api.posts),
                         ['/2018-06-01/runtime/invocation/c-%d/response' % i for i in range(n)])
        docs = [json.loads(x[2]) for x in api.posts]
        self.assertLess(max(d['start'] for d in docs), min(d['end'] for d in docs), 'no overlap')
        self.assertLess(time.monotonic() - t0, 2.8)
        self.assertEqual(api.connections, n)

    def test_unreachable_api_gives_up_with_a_message(self):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()   # nothing listens there now
        binary = compile_c(PROBE_C)
        d = tempfile.mkdtemp(prefix='nimbus-c-wire-')
        try:
            p = os.path.join(d, 'bootstrap')
            with open(p, 'wb') as f:
                f.write(binary)
            os.chmod(p, 0o755)
            env = {'AWS_LAMBDA_RUNTIME_API': '127.0.0.1:%d' % port}
            env.update(fn_env() or {})
            r = subprocess.run([p], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'cannot get the next call from 127.0.0.1:%d' % port, r.stderr)


PIPELINE_C = r'''#include <string.h>
#include "nimbus_runtime.h"
static int handler(const nimbus_request *req, nimbus_response *res)
{
    if (strstr(req->body, "\"fail\"")) return nimbus_response_error(res, "Asked", "asked to") ? 1 : 0;
    return nimbus_response_printf(res, "{\"got\":%.*s}", (int)req->body_len, req->body) ? 1 : 0;
}
int main(void) { return nimbus_runtime_run(handler); }
'''


class CRuntimePipeliningTest(unittest.TestCase):
    """libnimbus-runtime sends its next /next right behind each /response or /error, in one
    write, without waiting for the 202 (the daemon then sends the 202 with the next event)."""

    def setUp(self):
        self.api = HeldRuntimeApi(self)
        path = self.api.write('bootstrap', compile_c(PIPELINE_C), 0o755)
        self.api.start([path], fn_env())

    def tearDown(self):
        self.api.close()

    def test_next_goes_out_behind_the_response_without_waiting_for_202(self):
        self.api.check_pipelining(lambda n: {'got': {'n': n}}, 'Asked', 'asked to')
