#!/usr/bin/python3
"""Run the Nimbus end-to-end tests.

    NIMBUS_BIN=build-asan/nimbus /usr/bin/python3 tests/integration/run.py [NAME ...]

NAME is optional: a module, class or test (e.g. test_http, test_http.HttpTest,
test_http.HttpTest.test_keep_alive_three_requests_one_connection). Without
names every tests/integration/test_*.py and tests/abuse/test_*.py is run
(both directories are on sys.path, so abuse tests import nimbus_testlib and
name their modules the same way: test_abuse_sandbox, ...).

The last line printed is exactly `N passed, M failed` (`, K skipped` appended
when tests were skipped); the exit code is 0 only if M == 0. A watchdog stops
the run (and the servers it started) if it ever exceeds NIMBUS_IT_DEADLINE
seconds (default 1500).
"""

import faulthandler
import os
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ABUSE = os.path.join(os.path.dirname(HERE), 'abuse')
sys.path.insert(0, ABUSE)
sys.path.insert(0, HERE)

import nimbus_testlib  # noqa: E402


class CountingResult(unittest.TextTestResult):
    """Counts each test once: passed = succeeded; failed = distinct tests (or class
    fixtures) with a failure or error, so a test that fails in both its body and
    tearDown is still one failure."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.failed_ids = []

    def _mark_failed(self, test):
        tid = test.id()
        if tid not in self.failed_ids:
            self.failed_ids.append(tid)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._mark_failed(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._mark_failed(test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._mark_failed(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._mark_failed(test)


def watchdog(seconds):
    def fire():
        sys.stdout.write('\nWATCHDOG: run exceeded %d s; killing servers and aborting\n' % seconds)
        sys.stdout.flush()
        faulthandler.dump_traceback(file=sys.stdout)
        nimbus_testlib.kill_all_servers()
        sys.stdout.write('0 passed, 1 failed\n')
        sys.stdout.flush()
        os._exit(1)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def main(argv):
    watchdog(int(os.environ.get('NIMBUS_IT_DEADLINE', '1500')))
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv)
    else:
        suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
        if os.path.isdir(ABUSE):
            suite.addTests(loader.discover(ABUSE, pattern='test_*.py', top_level_dir=ABUSE))
    sys.stdout.write('nimbus binary: %s\n' % nimbus_testlib.nimbus_bin())
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=CountingResult)
    try:
        result = runner.run(suite)
    finally:
        nimbus_testlib.kill_all_servers()
    failed = len(result.failed_ids)
    line = '%d passed, %d failed' % (result.passed, failed)
    if result.skipped:
        line += ', %d skipped' % len(result.skipped)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.write(line + '\n')
    sys.stdout.flush()
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
