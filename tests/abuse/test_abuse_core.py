"""Abuse of the core and the sandbox (issue 17: 1, 5, 6, 9, 10): races between the
control plane and cold starts, runtimes that misbehave on the Runtime API, fd
exhaustion, what an instance can learn about the host, and what a killed daemon
leaves behind. Every case ends by checking the daemon's health (alive, no
sanitizer report, /nimbus/v1/health answers, a normal call works).

These run against `nimbus serve --sandbox` (the spawner's asynchronous start is
what the races need)."""

import os
import random
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
sys.path.insert(0, HERE)

import nimbus_testlib as lib  # noqa: E402
from abuse_lib import AbuseTestCase, sanitizer_report  # noqa: E402


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


if __name__ == '__main__':
    unittest.main()
