"""bench/nimbus_bench.py — what the Python benchmarks share: a `nimbus serve` started on a fresh
data dir and stopped (SIGTERM, then SIGKILL) with its temp dir removed, JSON calls to its API,
function ZIPs built in memory, and a process's resident memory. Standard library only."""
import base64, http.client, io, json, os, re, shutil, signal, subprocess, sys, tempfile, zipfile


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def call(port, method, path, body=None, headers=None, timeout=120):
    """One request; a dict body is sent as JSON. Returns (status, lower-cased headers, body)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    c.request(method, path, body=data, headers=headers or {'Content-Type': 'application/json'})
    r = c.getresponse()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
    c.close()
    return out


def loadgen(binary, url, conns, dur, warm, body, say):
    """One closed-loop loadgen run; its key=value line as a dict ({} when it measured nothing),
    its lines passed to say()."""
    cmd = [binary, '--url', url, '--connections', str(conns), '--duration', str(dur), '--warmup', str(warm),
           '--timeout', '10', '--body', body, '--header', 'Content-Type: application/json']
    p = subprocess.run(cmd, capture_output=True, timeout=dur + warm + 30)
    if p.stderr:
        say('    ' + p.stderr.decode().strip())
    out = dict(kv.split('=', 1) for kv in p.stdout.decode().split() if '=' in kv)
    say('    ' + p.stdout.decode().strip())
    return out if 'requests' in out else {}


def publish(build, name, lines):
    """The table on stdout and in BUILD/NAME."""
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    with open(os.path.join(build, name), 'w') as f:
        f.write(text)


def zipped(files):
    """{name: (bytes or str, mode)} -> ZIP bytes, modes kept (unix attributes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            z.writestr(info, data)
    return buf.getvalue()


def create_function(port, name, runtime, handler, files, memory=1769, env=None, timeout=30):
    """CreateFunction; exits the benchmark with the reason when it fails."""
    req = {'FunctionName': name, 'Runtime': runtime, 'Handler': handler, 'Timeout': timeout,
           'MemorySize': memory, 'Code': {'ZipFile': base64.b64encode(zipped(files)).decode()}}
    if env:
        req['Environment'] = {'Variables': env}
    st, h, raw = call(port, 'POST', '/2015-03-31/functions', req)
    if st != 201:
        raise SystemExit('bench: deploy %s failed: %s %s' % (name, st, raw[:200]))


class Served:
    """`with Served(build, [args...]) as s:` — s.port, s.pid, s.tmp (removed afterwards)."""

    def __init__(self, build, args=(), prefix='nimbus-bench.'):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.proc = subprocess.Popen([os.path.join(build, 'nimbus'), 'serve', '--listen', '127.0.0.1:0',
                                      '--data-dir', os.path.join(self.tmp, 'data')] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline().decode()
        m = re.search(r':(\d+)\s*$', line)
        if not m:
            self.stop()
            raise SystemExit('bench: nimbus serve did not start: %r' % line)
        self.port = int(m.group(1))
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
