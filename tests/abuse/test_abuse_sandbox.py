"""Socket families inside the sandbox (issue 17, item 4): socket() is an allow-list —
AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK with NETLINK_ROUTE; socketpair() AF_UNIX only.
Everything else fails with EAFNOSUPPORT (docs/sandbox-sockets.md). Each family is tried from
a real Python function in a real sandbox; the same probe run here on the host, unfiltered,
shows which of the families this kernel has (those are the ones the filter must be seen
to close: AF_VSOCK reaches the VM host whatever the network namespace)."""

import errno
import json
import os
import socket
import unittest

import abuse_lib
from nimbus_testlib import src, uniq

# AF_MAX on Linux 6.x is 46 (AF_MCTP = 45 is the last).
AF_MAX = 46
ALLOWED = {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK}
NETLINK_OTHERS = [1, 2, 4, 5, 6, 9, 10, 11, 12, 15, 16, 18, 20, 21, 22]   # every protocol but ROUTE (0)

# Shared by the function and this test (the host's control run): errno names per probe.
PROBE = src('''
    import errno, json, os, socket

    TYPES = (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET)

    def name(e):
        return errno.errorcode.get(e, str(e))

    def try_socket(fam, proto=0, types=TYPES):
        # 'ok' if some type works, else the most telling errno (not EAFNOSUPPORT if any said otherwise)
        best = 'EAFNOSUPPORT'
        for t in types:
            try:
                socket.socket(fam, t, proto).close()
                return 'ok'
            except OSError as e:
                if e.errno != errno.EAFNOSUPPORT:
                    best = name(e.errno)
        return best

    def try_pair(fam):
        try:
            a, b = socket.socketpair(fam, socket.SOCK_STREAM)
            a.close(); b.close()
            return 'ok'
        except OSError as e:
            return name(e.errno)

    def probe(max_family, netlink_protocols):
        out = {'family': {str(f): try_socket(f) for f in range(max_family)},
               'netlink': {str(p): try_socket(socket.AF_NETLINK, p, (socket.SOCK_RAW, socket.SOCK_DGRAM))
                           for p in netlink_protocols},
               'pair': {str(f): try_pair(f) for f in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6,
                                                     socket.AF_NETLINK, 40)},
               'inet_sock_packet': try_socket(socket.AF_INET, 0, (10,))}
        return out

    def handler(event, context):
        out = probe(event['max_family'], event['netlink'])
        # what the runtimes rely on still works
        out['if_nameindex'] = sorted(n for _, n in socket.if_nameindex())
        out['addrinfo'] = sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80, 0, socket.SOCK_STREAM,
                                                                         0, socket.AI_ADDRCONFIG)})
        return out
''')

NODE = '''
const os = require('os');
exports.handler = async () => ({ lo: Object.keys(os.networkInterfaces()).includes('lo') });
'''


def host_probe():
    ns = {}
    exec(compile(PROBE, 'probe', 'exec'), ns)
    return ns['probe'](AF_MAX, NETLINK_OTHERS)


def skip_unless_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('the sandbox needs root on this host')


class SocketFamilyTest(abuse_lib.AbuseTestCase):
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    @classmethod
    def class_setup(cls):
        super().class_setup()
        cls.fn = uniq('sockets')
        st, h, body, raw = cls.c.create_function(cls.fn, {'app.py': PROBE}, runtime='python3.11',
                                                 handler='app.handler', memory=256, timeout=30)
        assert st == 201, raw
        st, h, out = cls.c.invoke(cls.fn, json.dumps({'max_family': AF_MAX, 'netlink': NETLINK_OTHERS}).encode(),
                                  timeout=60)
        assert st == 200 and 'x-amz-function-error' not in h, out
        cls.inside = json.loads(out)
        cls.host = host_probe()

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    def test_every_family_outside_the_allow_list_is_eafnosupport(self):
        for f in range(AF_MAX):
            if f in ALLOWED:
                continue
            with self.subTest(family=f, host=self.host['family'][str(f)]):
                self.assertEqual(self.inside['family'][str(f)], 'EAFNOSUPPORT')

    def test_the_families_this_kernel_has_are_closed(self):
        # The probe proves something only for families the host can create (or refuses for
        # another reason, e.g. privilege): AF_PACKET, AF_VSOCK, AF_XDP on a usual kernel.
        present = [f for f in range(AF_MAX) if f not in ALLOWED and self.host['family'][str(f)] != 'EAFNOSUPPORT']
        self.assertIn(socket.AF_PACKET, present, self.host['family'])
        for f in present:
            self.assertEqual(self.inside['family'][str(f)], 'EAFNOSUPPORT', 'family %d' % f)
        if self.host['family'][str(socket.AF_VSOCK)] == 'ok':
            self.assertEqual(self.inside['family'][str(socket.AF_VSOCK)], 'EAFNOSUPPORT')

    def test_netlink_is_route_only(self):
        self.assertIn('ok', self.host['netlink'].values())   # e.g. NETLINK_AUDIT, NETLINK_GENERIC
        for p in NETLINK_OTHERS:
            with self.subTest(protocol=p, host=self.host['netlink'][str(p)]):
                self.assertEqual(self.inside['netlink'][str(p)], 'EAFNOSUPPORT')
        self.assertEqual(self.inside['family'][str(socket.AF_NETLINK)], 'ok')   # NETLINK_ROUTE

    def test_inet_sock_packet_is_closed(self):
        # the kernel turns socket(AF_INET, SOCK_PACKET) into an AF_PACKET socket
        self.assertEqual(self.inside['inet_sock_packet'], 'EAFNOSUPPORT')

    def test_socketpair_is_unix_only(self):
        self.assertEqual(self.inside['pair'][str(socket.AF_UNIX)], 'ok')
        for f in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, 40):
            self.assertEqual(self.inside['pair'][str(f)], 'EAFNOSUPPORT', 'family %d' % f)

    def test_allowed_families_and_what_runtimes_use_still_work(self):
        for f in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
            self.assertEqual(self.inside['family'][str(f)], 'ok', 'family %d' % f)
        self.assertIn('lo', self.inside['if_nameindex'])
        self.assertIn('127.0.0.1', self.inside['addrinfo'])

    def test_node_network_interfaces(self):
        name = uniq('node-ifaces')
        st, h, body, raw = self.c.create_function(name, {'index.js': NODE}, runtime='nodejs20.x',
                                                  handler='index.handler', memory=256, timeout=30)
        self.assertEqual(st, 201, raw)
        st, h, out = self.c.invoke(name, b'{}', timeout=60)
        self.assertEqual(st, 200, out)
        self.assertNotIn('x-amz-function-error', h, out)
        self.assertEqual(json.loads(out), {'lo': True})
