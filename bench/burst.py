#!/usr/bin/python3
"""bench/burst.py BUILD_DIR — scale-out: a burst of N concurrent calls on a
cold function (N = BENCH_BURST, default 100) with the native echo bootstrap.

Measures, in one run:
  - time from the burst's start until all N calls are answered, and until
    N instances are ready (the instances API), with calls lost or errored;
  - the same burst again on the now-warm pool (the floor: no cold starts);
  - the daemon's resident memory before and with the N idle warm instances,
    and the difference per instance.
Target here: 0 -> 100 ready instances serving 100 calls in <= 1 s, 0 errors.
"""
import base64, http.client, io, json, os, re, signal, shutil, subprocess, sys, tempfile, threading, time, zipfile

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
N = int(os.environ.get('BENCH_BURST', '100'))
NIMBUS = os.path.join(BUILD, 'nimbus')
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def request(port, method, path, body=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def burst(port, name):
    """N calls released together; returns (seconds until all answered, errors)."""
    results = [None] * N
    gate = threading.Barrier(N + 1)

    def call(i):
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        c.connect()
        gate.wait()
        try:
            c.request('POST', '/2015-03-31/functions/%s/invocations' % name, body=b'{"n":%d}' % i)
            r = c.getresponse()
            body = r.read()
            results[i] = (r.status, r.getheader('X-Amz-Function-Error'), body)
        except Exception as e:       # a lost call is what this counts
            results[i] = (0, str(e), b'')
        c.close()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    took = time.perf_counter() - t0
    errors = sum(1 for r in results if not r or r[0] != 200 or r[1] or r[2] != b'{"n":%d}' % results.index(r))
    return took, errors, t0


def main():
    if not os.access(NATIVE, os.X_OK):
        sys.exit('bench: missing %s (make build)' % NATIVE)
    tmp = tempfile.mkdtemp(prefix='nimbus-burst.')
    srv = subprocess.Popen([NIMBUS, 'serve', '--listen', '127.0.0.1:0', '--data-dir', os.path.join(tmp, 'd'),
                            '--max-instances', str(max(N, 100))], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        m = re.search(r':(\d+)\s*$', srv.stdout.readline().decode())
        if not m:
            sys.exit('bench: nimbus serve did not start')
        port = int(m.group(1))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w') as z:
            info = zipfile.ZipInfo('bootstrap', (2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100755 << 16
            z.writestr(info, open(NATIVE, 'rb').read())
        st, raw = request(port, 'POST', '/2015-03-31/functions', json.dumps({
            'FunctionName': 'burst', 'Runtime': 'provided', 'Handler': 'x.y', 'Timeout': 30, 'MemorySize': 1769,
            'Code': {'ZipFile': base64.b64encode(buf.getvalue()).decode()}}).encode())
        if st != 201:
            sys.exit('bench: deploy failed: %s %s' % (st, raw[:200]))
        time.sleep(0.3)
        rss0 = rss_kb(srv.pid)
        cold, cold_err, t0 = burst(port, 'burst')
        ready_at = None
        while time.perf_counter() - t0 < 30:
            st, raw = request(port, 'GET', '/nimbus/v1/functions/burst/instances')
            inst = json.loads(raw)['Instances']
            if sum(1 for i in inst if i['State'] == 'Ready') >= N:
                ready_at = time.perf_counter() - t0
                break
            time.sleep(0.005)
        n_inst = len(inst)
        time.sleep(0.5)
        rss1 = rss_kb(srv.pid)
        warm, warm_err, _ = burst(port, 'burst')
        lines = [
            'Nimbus scale-out benchmark: %s, burst of %d concurrent calls, native echo bootstrap' %
            (time.strftime('%Y-%m-%d %H:%M:%S'), N), '',
            '%-44s | %10s | %s' % ('measure', 'value', 'note'),
            '-' * 44 + '-+-' + '-' * 10 + '-+-' + '-' * 30,
            '%-44s | %8.0f ms | target <= 1000 ms: %s' % ('cold burst: all %d calls answered' % N, cold * 1000,
                                                          'PASS' if cold <= 1.0 else 'MISS'),
            '%-44s | %8s    | %s' % ('cold burst: %d instances ready' % N,
                                     '%.0f ms' % (ready_at * 1000) if ready_at else 'never',
                                     '%d instances started' % n_inst),
            '%-44s | %10d | target 0' % ('cold burst: calls lost or errored', cold_err),
            '%-44s | %8.0f ms | the floor: same burst, warm pool' % ('warm burst: all %d calls answered' % N, warm * 1000),
            '%-44s | %10d |' % ('warm burst: calls lost or errored', warm_err),
            '%-44s | %7.1f MB |' % ('daemon RSS before', rss0 / 1024.0),
            '%-44s | %7.1f MB |' % ('daemon RSS with %d idle warm instances' % n_inst, rss1 / 1024.0),
            '%-44s | %7.1f KB |' % ('daemon memory per idle warm instance', (rss1 - rss0) / max(n_inst, 1)),
        ]
        text = '\n'.join(lines)
        print(text)
        with open(os.path.join(BUILD, 'bench-burst.txt'), 'w') as f:
            f.write(text + '\n')
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(20)
        except subprocess.TimeoutExpired:
            srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
