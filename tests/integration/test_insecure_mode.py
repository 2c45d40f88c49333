"""Sandboxed by default; --insecure-no-sandbox runs instances as plain
processes and says so loudly: at start and in every REPORT line."""
import base64

from nimbus_testlib import ServerTestCase, ECHO, fn_files, uniq


def report(h):
    tail = base64.b64decode(h['x-amz-log-result']).decode()
    return [l for l in tail.splitlines() if l.startswith('REPORT')][0]


class DefaultIsSandboxedTest(ServerTestCase):
    server_args = ()

    def test_report_does_not_say_unsandboxed(self):
        if '--insecure-no-sandbox' in self.server.cmd:
            self.skipTest('suite run with NIMBUS_SANDBOX=0')
        name, _ = self.new_function(uniq('sbx'), fn_files(ECHO))
        st, h, body = self.c.invoke(name, b'{}', {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(st, 200)
        self.assertNotIn('unsandboxed', report(h))
        self.assertNotIn('WARNING', self.server.stderr_text())


class InsecureModeTest(ServerTestCase):
    server_args = ('--insecure-no-sandbox',)

    def test_warns_at_start_and_in_every_report(self):
        self.assertIn('WARNING', self.server.stderr_text())
        self.assertIn('insecure-no-sandbox', self.server.stderr_text())
        name, _ = self.new_function(uniq('insec'), fn_files(ECHO))
        for _ in range(2):
            st, h, body = self.c.invoke(name, b'{}', {'X-Amz-Log-Type': 'Tail'})
            self.assertEqual(st, 200)
            self.assertIn('(unsandboxed)', report(h))
