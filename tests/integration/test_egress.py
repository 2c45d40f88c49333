"""Network: egress, end to end. The test makes its own network namespace
standing in for the internet (a veth to the host, 10.251.0.1/30 on the host's
side, 10.251.0.2 inside, a tiny HTTP server there). From an instance with
Network: egress that server is reachable (through NAT: it sees the host's
address); the daemon's port, a test server on the host (its loopback and the
host's address of a veth), the host's end of the instance's own veth,
another instance's address and 169.254.169.254 are not, and each refusal
comes at once; Network: none still has no network. Every address used is
one the test or the daemon made. The table the daemon installed is gone
after it stops."""
import json
import os
import shutil
import socket
import subprocess
import threading
import unittest

from nimbus_testlib import Server, uniq

PROBE = r'''
import socket
def handler(event, context):
    out = {}
    for host, port in event.get("targets", []):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((host, port))
            if event.get("get"):
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                out["%s:%d" % (host, port)] = s.recv(200).decode(errors="replace")
            else:
                out["%s:%d" % (host, port)] = "ok"
        except OSError as e:
            out["%s:%d" % (host, port)] = "errno %s" % e.errno
        finally:
            s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.connect(("10.251.0.2", 9))   # sends nothing: picks the source address
        out["self"] = u.getsockname()[0]
    except OSError as e:
        out["self"] = "errno %s" % e.errno
    gw = [l.split() for l in open("/proc/net/route").read().splitlines()[1:]]
    gw = [g for g in gw if g[1] == "00000000"]
    out["gateway"] = socket.inet_ntoa(bytes.fromhex(gw[0][2])[::-1]) if gw else None
    out["ipv6"] = open("/proc/sys/net/ipv6/conf/all/disable_ipv6").read().strip() if __import__("os").path.exists("/proc/sys/net/ipv6/conf/all/disable_ipv6") else "absent"
    return out
'''

NS = 'nimbus-inet-%d' % os.getpid()
HOST_IF = 'nbi%dh' % (os.getpid() % 100000)
REFUSED = ('errno 113', 'errno 111', 'errno 101')   # EHOSTUNREACH, ECONNREFUSED, ENETUNREACH


def ip(*args):
    subprocess.run(['ip'] + list(args), check=True, capture_output=True)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('nft') and shutil.which('ip'),
                     'needs root, nft and ip')
class EgressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ip('netns', 'add', NS)
        ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'inet0', 'netns', NS)
        ip('addr', 'add', '10.251.0.1/30', 'dev', HOST_IF)
        ip('link', 'set', HOST_IF, 'up')
        ip('-n', NS, 'addr', 'add', '10.251.0.2/30', 'dev', 'inet0')
        ip('-n', NS, 'link', 'set', 'inet0', 'up')
        ip('-n', NS, 'link', 'set', 'lo', 'up')
        # The "internet": answers with the address it saw the call come from.
        cls.inet = subprocess.Popen(
            ['ip', 'netns', 'exec', NS, '/usr/bin/python3', '-c',
             'import socket\n'
             's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
             's.bind(("10.251.0.2", 8000)); s.listen(16)\n'
             'while True:\n'
             '    c, a = s.accept(); c.recv(1000)\n'
             '    c.sendall(("HTTP/1.0 200 OK\\r\\n\\r\\nfrom " + a[0]).encode()); c.close()\n'])
        # Services on the host: on loopback, and on the host's address of a veth.
        cls.host_srv = []
        for addr in ('127.0.0.1', '10.251.0.1'):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, 0))
            s.listen(16)
            cls.host_srv.append(s)
        cls.accepted = []
        for s in cls.host_srv:
            threading.Thread(target=cls._accept, args=(s,), daemon=True).start()
        cls.server = Server().start()
        cls.c = cls.server.client()
        cls.fn = {}
        for net in ('egress', 'none'):
            name = uniq('net-' + net)
            st, _, body, raw = cls.c.create_function(name, {'app.py': PROBE}, runtime='python3.11',
                                                      handler='app.handler', timeout=30,
                                                      extra={'Network': net})
            assert st == 201, raw
            assert body['Network'] == net, body
            cls.fn[net] = name

    @classmethod
    def _accept(cls, s):
        while True:
            try:
                c, a = s.accept()
            except OSError:
                return
            cls.accepted.append(a)
            c.close()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, 'server', None):
            cls.server.stop()
            cls.server.cleanup()
        for s in cls.host_srv:
            s.close()
        cls.inet.kill()
        cls.inet.wait()
        subprocess.run(['ip', 'link', 'del', HOST_IF], capture_output=True)
        subprocess.run(['ip', 'netns', 'del', NS], capture_output=True)

    def probe(self, net, targets, get=False, name=None):
        st, h, out = self.c.invoke(name or self.fn[net], json.dumps({'targets': targets, 'get': get}).encode())
        self.assertEqual(st, 200, out)
        self.assertNotIn('x-amz-function-error', h, out)
        return json.loads(out)

    def assertRefused(self, got, key):
        self.assertTrue(got[key].startswith(REFUSED), '%s: %s' % (key, got[key]))

    def test_reaches_the_outside_through_nat(self):
        got = self.probe('egress', [['10.251.0.2', 8000]], get=True)
        self.assertTrue(got['10.251.0.2:8000'].startswith('HTTP/1.0 200'), got)
        # Masqueraded: the outside sees the host's address, not the instance's.
        self.assertTrue(got['10.251.0.2:8000'].endswith('from 10.251.0.1'), got)
        self.assertTrue(got['self'].startswith('10.254.'), got)
        self.assertIn(got['ipv6'], ('1', 'absent'))

    def test_never_the_host(self):
        lo_port = self.host_srv[0].getsockname()[1]
        veth_port = self.host_srv[1].getsockname()[1]
        first = self.probe('egress', [])
        gw = first['gateway']
        self.assertTrue(gw.startswith('10.254.'), first)
        before = len(self.accepted)
        targets = [['127.0.0.1', lo_port], ['127.0.0.1', self.server.port],
                   ['10.251.0.1', veth_port], ['10.251.0.1', self.server.port],
                   [gw, self.server.port], [gw, lo_port], ['169.254.169.254', 80]]
        got = self.probe('egress', targets)
        for host, port in targets:
            # Loopback is the instance's own (nothing listens there); every
            # other address is rejected on the host's side: EHOSTUNREACH.
            want = 'errno 111' if host == '127.0.0.1' else 'errno 113'
            self.assertEqual(got['%s:%d' % (host, port)], want, (host, port, got))
        self.assertEqual(len(self.accepted), before)

    def test_never_another_instance(self):
        # Another egress function's instance, listening on every address from
        # a thread that outlives its call, says its address; the probe's
        # instance cannot reach it, and it accepted nothing.
        other = uniq('net-listen')
        st, _, body, raw = self.c.create_function(other, {'app.py': LISTENER}, runtime='python3.11',
                                                  handler='app.handler', timeout=30,
                                                  extra={'Network': 'egress'})
        self.assertEqual(st, 201, raw)
        st, _, out = self.c.invoke(other, b'{}')
        first = json.loads(out)
        addr = first['self']
        self.assertTrue(addr.startswith('10.254.'), first)
        got = self.probe('egress', [[addr, 7000]])
        self.assertEqual(got['%s:7000' % addr], 'errno 113', got)   # EHOSTUNREACH: rejected on the way
        st, _, out = self.c.invoke(other, b'{}')
        again = json.loads(out)
        self.assertEqual(again['self'], addr, 'not the same instance')
        self.assertEqual(again['accepted'], 0, again)

    def test_none_has_no_network(self):
        got = self.probe('none', [['10.251.0.2', 8000], ['169.254.169.254', 80]])
        self.assertRefused(got, '10.251.0.2:8000')
        self.assertRefused(got, '169.254.169.254:80')
        self.assertIsNone(got['gateway'])

    def test_z_rules_removed_at_stop(self):
        tables = subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True).stdout
        mine = [l.split()[-1] for l in tables.splitlines() if 'nimbus_egress_' in l]
        self.assertTrue(mine, tables)
        links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout
        self.assertIn('nbe', links)
        before = set(mine)
        type(self).server.stop()
        server, type(self).server = type(self).server, None
        server.cleanup()
        tables = subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True).stdout
        left = {l.split()[-1] for l in tables.splitlines() if 'nimbus_egress_' in l}
        # Other daemons (tests in parallel) may hold tables of their own; ours is gone.
        self.assertTrue(before - left, (before, left))


LISTENER = r'''
import socket, threading
S = {"n": 0}
def serve():
    s = socket.socket()
    s.bind(("0.0.0.0", 7000))
    s.listen(4)
    while True:
        c, a = s.accept()
        S["n"] += 1
        c.close()
threading.Thread(target=serve, daemon=True).start()
def handler(event, context):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("10.251.0.2", 9))
    return {"self": u.getsockname()[0], "accepted": S["n"]}
'''


if __name__ == '__main__':
    unittest.main()
