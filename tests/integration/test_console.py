"""The web console at /console, driven in a real headless Chromium.

Debian's chromium + chromium-driver + python3-selenium (scripts/deps.sh). One
browser and one daemon for the class; each case works through the page as a
user would (clicks, typing, file uploads) and checks what the page shows
against what the API itself answers. A failing case leaves a screenshot and
the page's HTML in <build>/console-screenshots/. The class is skipped, by
name, only when Chromium cannot be started at all.
"""

import base64
import json
import os
import re
import tempfile
import time
import unittest
import urllib.request

from nimbus_testlib import (ServerTestCase, error_type, make_zip, nimbus_bin, report_re, uniq,
                            wait_for)

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    SELENIUM_ERROR = None
except ImportError as e:      # reported as a failure: deps.sh installs it
    SELENIUM_ERROR = e

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
MAX_ZIP = 262144             # the daemon's --max-zip-bytes here, so a too-large upload is small

HANDLER_V1 = 'def handler(event, context):\n    return {"version": 1, "got": event}\n'


def screenshot_dir():
    d = os.path.join(os.path.dirname(nimbus_bin()), 'console-screenshots')
    os.makedirs(d, exist_ok=True)
    return d


def keep_failure(test, driver, prefix=''):
    """Keep what the page showed (screenshot, HTML, browser log) when `test` failed."""
    result = getattr(getattr(test, '_outcome', None), 'result', None)
    failed = result is not None and any(t is test for t, _ in result.failures + result.errors)
    if failed and driver is not None:
        base = os.path.join(screenshot_dir(), prefix + test.id().split('.')[-1])
        try:
            driver.save_screenshot(base + '.png')
            with open(base + '.html', 'w') as f:
                f.write(driver.page_source)
            with open(base + '.console.txt', 'w') as f:
                for e in driver.get_log('browser'):
                    f.write('%s %s\n' % (e.get('level'), e.get('message')))
        except WebDriverException:
            pass


def start_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
              '--window-size=1400,1000', '--no-first-run', '--disable-extensions',
              '--disable-background-networking', '--disable-sync', '--metrics-recording-only'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
    except WebDriverException as e:
        raise unittest.SkipTest('chromium cannot start headless: %s' % str(e).splitlines()[0])
    return driver


class BrowserCase(ServerTestCase):
    """One browser and one daemon for the class; a failed case keeps what the page showed."""
    driver = None
    screenshot_prefix = ''

    @classmethod
    def setUpClass(cls):
        if SELENIUM_ERROR is None:
            cls.driver = start_browser()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        if cls.driver is not None:
            cls.driver.quit()
            cls.driver = None
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if SELENIUM_ERROR is not None:
            self.fail('python3-selenium is not installed (scripts/deps.sh): %s' % SELENIUM_ERROR)
        self.d = type(self).driver

    def tearDown(self):
        keep_failure(self, self.d, self.screenshot_prefix)
        super().tearDown()


class ConsoleTest(BrowserCase):
    server_args = ('--max-zip-bytes', str(MAX_ZIP))
    browser_error = None

    # -- helpers

    def rendered(self, before):
        """Wait until the page has finished a route after `before` (app.js counts them)."""
        WebDriverWait(self.d, 30, 0.1).until(
            lambda d: int(d.execute_script('return document.body.dataset.rendered || 0')) > before)

    def open(self, route='#/'):
        self.d.get(self.server.url + '/console' + route)
        self.rendered(0)

    def go(self, route):
        """Show `route` in the loaded page, as a link click does (anew if it is the one shown)."""
        if not self.d.current_url.startswith(self.server.url + '/console'):
            self.open(route)
            return
        before = int(self.d.execute_script('return document.body.dataset.rendered || 0'))
        self.d.execute_script('if (location.hash === arguments[0]) route(); else location.hash = arguments[0];',
                              route)
        self.rendered(before)

    def el(self, css, timeout=15):
        return WebDriverWait(self.d, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, css))

    def text_of(self, css, pred, timeout=20):
        """The text of `css` once pred(text) holds; fails with what it showed last."""
        last = ['']

        def ok(d):
            try:
                last[0] = d.find_element(By.CSS_SELECTOR, css).text
            except WebDriverException:
                return False
            return pred(last[0])
        try:
            WebDriverWait(self.d, timeout, 0.2).until(ok)
        except Exception:
            self.fail('%s never showed what was expected; it showed: %r' % (css, last[0][:2000]))
        return last[0]

    def submit_deploy(self, name, upload, field='#deploy-zip', runtime='python3', handler='main.handler'):
        """Fill the deploy form with `upload` (a ZIP's or a folder's path) and send it."""
        self.go('#/new')
        self.el('#deploy-name').send_keys(name)
        for css, value in (('#deploy-runtime', runtime), ('#deploy-handler', handler)):
            box = self.el(css)
            box.clear()
            box.send_keys(value)
        self.el(field).send_keys(upload)
        self.el('#deploy-submit').click()

    def deploy_python(self, name, handler_src=HANDLER_V1):
        zpath = os.path.join(tempfile.mkdtemp(prefix='nimbus-console-'), name + '.zip')
        with open(zpath, 'wb') as f:
            f.write(make_zip({'main.py': handler_src, 'lib/helper.txt': 'kept as it is\n'}))
        self.submit_deploy(name, zpath)
        self.text_of('#fn-name', lambda t: t == name)

    def invoke_from_page(self, name, payload):
        self.go('#/fn/%s/test' % name)
        box = self.el('#invoke-payload')
        self.d.execute_script('arguments[0].value = arguments[1]', box, payload)
        self.el('#invoke').click()
        return self.text_of('#invoke-status', lambda t: t and 'Invoking' not in t, timeout=60)

    # -- the cases

    def test_assets_headers(self):
        """The page and its files come from the daemon with their type, a validator and the CSP."""
        for path, ctype in (('/console', 'text/html'), ('/console/app.js', 'text/javascript'),
                            ('/console/style.css', 'text/css')):
            st, h, body = self.c.request('GET', path)
            self.assertEqual(st, 200, path)
            self.assertTrue(h['content-type'].startswith(ctype), h)
            self.assertIn("script-src 'self'", h['content-security-policy'])
            self.assertNotIn('unsafe-inline', h['content-security-policy'])
            st2, h2, body2 = self.c.request('GET', path, headers={'If-None-Match': h['etag']})
            self.assertEqual((st2, body2), (304, b''), path)
            st3, h3, body3 = self.c.request('GET', path, headers={'If-None-Match': '"other", W/' + h['etag']})
            self.assertEqual(st3, 304, 'a list with the weak form of the tag: ' + path)
            st4, h4, body4 = self.c.request('GET', path, headers={'If-None-Match': '"' + '0' * 32 + '"'})
            self.assertEqual((st4, body4), (200, body), 'another tag gets the file: ' + path)
        st, h, body = self.c.request('GET', '/console/missing.js')
        self.assertEqual(st, 404)
        self.assertEqual(error_type(h), 'ResourceNotFoundException')
        # The page itself carries no inline script (what the CSP would refuse).
        st, h, page = self.c.request('GET', '/console/')
        self.assertEqual(st, 200)
        self.assertIsNone(re.search(rb'<script(?![^>]*\bsrc=)[^>]*>', page), page)

    def test_deploy_edit_invoke_logs(self):
        """Deploy a ZIP from the page, edit the handler in the browser, save, invoke the new code
        and see its result and REPORT line; the live log gains the call's lines."""
        name = uniq('console-py')
        self.deploy_python(name)
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/' + name)
        self.assertEqual(st, 200, raw)
        cfg = json.loads(raw)['Configuration']
        self.assertEqual((cfg['Runtime'], cfg['Handler']), ('python3', 'main.handler'))

        # The function list shows it.
        self.go('#/')
        self.text_of('#fn-list', lambda t: name in t and 'python3' in t)

        # Code: the tree has both files; edit main.py and save.
        self.go('#/fn/%s/code' % name)
        self.text_of('#code-tree', lambda t: 'main.py' in t and 'lib/helper.txt' in t)
        ed = self.el('#code-editor')
        self.assertEqual(ed.get_attribute('value'), HANDLER_V1)
        ed.clear()
        ed.send_keys('def handler(event, context):\n'
                     '    return {"version": 2, "edited": "in the browser"}\n')
        self.el('#code-save').click()
        self.text_of('#code-status', lambda t: t.startswith('Deployed'), timeout=30)
        # The package the daemon has now is the edited one, the other file kept.
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/' + name)
        loc = json.loads(raw)['Code']['Location']
        with urllib.request.urlopen(loc, timeout=10) as r:
            import io
            import zipfile
            z = zipfile.ZipFile(io.BytesIO(r.read()))
        self.assertIn('"version": 2', z.read('main.py').decode())
        self.assertEqual(z.read('lib/helper.txt'), b'kept as it is\n')

        # Invoke from the page: the new result and the call's REPORT line.
        got = self.invoke_from_page(name, '{"n": 1}')
        self.assertIn('200', got)
        res = self.text_of('#invoke-result', lambda t: t.strip() != '')
        self.assertEqual(json.loads(res), {'version': 2, 'edited': 'in the browser'})
        log = self.text_of('#invoke-log', lambda t: 'REPORT' in t)
        rid = re.search(r'START RequestId: (\S+)', log)
        self.assertIsNotNone(rid, log)
        self.assertRegex(log, report_re(rid.group(1)))
        self.assertIn('END RequestId: ' + rid.group(1), log)

        # Live logs: open the page, then call from outside; the page gains the new call's lines.
        self.go('#/fn/%s/logs' % name)
        self.text_of('#live-logs', lambda t: rid.group(1) in t)
        st, h, body = self.c.invoke(name, b'{"n": 2}')
        self.assertEqual(st, 200, body)
        rid2 = h['x-amzn-requestid']
        self.text_of('#live-logs', lambda t: ('REPORT RequestId: ' + rid2) in t)

    def test_invalid_json_payload_shows_api_error(self):
        """An invalid JSON payload from the test box: the API's own error type and message."""
        name = uniq('console-bad')
        st, h, body, raw = self.c.create_function(name, make_zip({'main.py': HANDLER_V1}), runtime='python3',
                                                  handler='main.handler')
        self.assertEqual(st, 201, raw)
        st, h, raw = self.c.invoke(name, b'{not json')
        self.assertEqual(st, 400)
        want = json.loads(raw)
        want_msg = want.get('Message') or want.get('message')
        self.assertTrue(want_msg, raw)
        shown = self.invoke_from_page(name, '{not json')
        self.assertIn(error_type(h), shown)
        self.assertIn(want_msg, shown)

    def test_too_large_payload_shows_api_error(self):
        """A payload over Invoke's limit: RequestEntityTooLargeException with the API's message."""
        name = uniq('console-big')
        st, h, body, raw = self.c.create_function(name, make_zip({'main.py': HANDLER_V1}), runtime='python3',
                                                  handler='main.handler')
        self.assertEqual(st, 201, raw)
        big = '"' + 'x' * (6 * 1024 * 1024 + 10) + '"'
        st, h, raw = self.c.invoke(name, big.encode())
        self.assertEqual((st, error_type(h)), (413, 'RequestEntityTooLargeException'), raw[:300])
        want = json.loads(raw)
        shown = self.invoke_from_page(name, big)
        self.assertIn('RequestEntityTooLargeException', shown)
        self.assertIn(want.get('Message') or want.get('message'), shown)

    def test_too_large_upload_shows_api_error(self):
        """A ZIP over the deployment package limit: the page shows the API's answer to it."""
        zpath = os.path.join(tempfile.mkdtemp(prefix='nimbus-console-'), 'big.zip')
        blob = os.urandom(MAX_ZIP * 5)
        with open(zpath, 'wb') as f:
            f.write(make_zip({'main.py': HANDLER_V1, 'blob.bin': blob}))
        with open(zpath, 'rb') as f:
            zb = f.read()
        name = uniq('console-huge')
        doc = {'FunctionName': name, 'Runtime': 'python3', 'Handler': 'main.handler', 'MemorySize': 128,
               'Timeout': 3, 'Role': 'arn:aws:iam::000000000000:role/nimbus-console',
               'Code': {'ZipFile': base64.b64encode(zb).decode()}}
        st, h, raw = self.c.request('POST', '/2015-03-31/functions', json.dumps(doc).encode(),
                                    {'Content-Type': 'application/json'})
        self.assertEqual(st, 413, raw[:300])
        want = json.loads(raw)
        want_msg = want.get('Message') or want.get('message')
        self.submit_deploy(name, zpath)
        shown = self.text_of('#deploy-status', lambda t: 'Deploying' not in t and t != '', timeout=30)
        self.assertIn(error_type(h), shown)
        self.assertIn(want_msg, shown)
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/' + name)
        self.assertEqual(st, 404)

    def test_api_error_is_shown_not_a_blank_page(self):
        """A function that does not exist: the API's 404 message, and a page with a way back."""
        name = uniq('console-none')
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/' + name)
        self.assertEqual(st, 404)
        want = json.loads(raw)['Message']
        self.open('#/fn/%s/config' % name)
        shown = self.text_of('#error', lambda t: 'ResourceNotFoundException' in t)
        self.assertIn(want, shown)
        self.assertTrue(self.el('main a[href="#/"]').is_displayed())
        # A bad configuration value: the API's validation message in the form's status line.
        fn = uniq('console-cfg')
        st, h, body, raw = self.c.create_function(fn, make_zip({'main.py': HANDLER_V1}), runtime='python3',
                                                  handler='main.handler')
        self.assertEqual(st, 201, raw)
        st, h, raw = self.c.request('PUT', '/2015-03-31/functions/%s/configuration' % fn,
                                    json.dumps({'MemorySize': 1}).encode(), {'Content-Type': 'application/json'})
        self.assertEqual(st // 100, 4)
        want = json.loads(raw)
        self.go('#/fn/%s/config' % fn)
        mem = self.el('#config-memory')
        mem.clear()
        mem.send_keys('1')
        self.d.execute_script('arguments[0].removeAttribute("min")', mem)
        self.el('#config-save').click()
        shown = self.text_of('#config-status', lambda t: t != '')
        self.assertIn(error_type(h), shown)
        self.assertIn(want.get('Message') or want.get('message'), shown)
        # And a good one is saved through UpdateFunctionConfiguration.
        mem.clear()
        mem.send_keys('256')
        self.el('#config-save').click()
        self.text_of('#config-status', lambda t: t.startswith('Saved'))
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/%s/configuration' % fn)
        self.assertEqual(json.loads(raw)['MemorySize'], 256)

    def test_chart_has_data(self):
        """The metrics tab draws the daemon's own history; after calls, a bar is non-zero."""
        name = uniq('console-chart')
        st, h, body, raw = self.c.create_function(name, make_zip({'main.py': HANDLER_V1}), runtime='python3',
                                                  handler='main.handler')
        self.assertEqual(st, 201, raw)
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/metrics?minutes=60&step=60' % name)
        if st == 404 and error_type(h) == 'UnknownOperationException':
            # The metrics history is not in this daemon: the page says so with the API's words.
            self.open('#/fn/%s/metrics' % name)
            self.text_of('#metrics-status', lambda t: 'UnknownOperationException' in t)
            self.skipTest('no metrics history endpoint in this daemon (the metrics branch is not merged)')
        for i in range(3):
            st, h, body = self.c.invoke(name, b'{}')
            self.assertEqual(st, 200, body)
        self.open('#/fn/%s/metrics' % name)

        def calls_bars(d):
            vals = [float(e.get_attribute('data-v')) for e in d.find_elements(By.CSS_SELECTOR, 'rect.s-calls')]
            return vals if any(v > 0 for v in vals) else None
        vals = WebDriverWait(self.d, 20, 0.3).until(calls_bars)
        self.assertEqual(sum(vals), 3.0, vals)
        self.assertTrue(self.d.find_elements(By.CSS_SELECTOR, 'circle.s-p50'), 'no p50 point drawn')

    def test_dead_letter_redrive_from_page(self):
        """A failed async event is a dead letter on the async tab; Redrive puts it back in the queue."""
        name = uniq('console-dlq')
        st, h, body, raw = self.c.create_function(
            name, make_zip({'main.py': 'def handler(e, c):\n    raise ValueError("no")\n'}),
            runtime='python3', handler='main.handler')
        self.assertEqual(st, 201, raw)
        st, h, raw = self.c.request('PUT', '/2019-09-25/functions/%s/event-invoke-config' % name,
                                    json.dumps({'MaximumRetryAttempts': 0}).encode(),
                                    {'Content-Type': 'application/json'})
        self.assertEqual(st, 200, raw)
        st, h, raw = self.c.invoke(name, b'{"k": 1}', {'X-Amz-Invocation-Type': 'Event'})
        self.assertEqual(st, 202, raw)
        rid = h['x-amzn-requestid']

        def dead():
            st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/dlq' % name)
            return st == 200 and any(e['RequestId'] == rid for e in json.loads(raw)['DeadLetters'])
        self.assertTrue(wait_for(dead, 30), 'the event never became a dead letter')
        self.open('#/fn/%s/async' % name)
        self.text_of('#dlq', lambda t: rid in t)
        self.el('#dlq button.redrive').click()
        self.text_of('#async-status', lambda t: 'Redriven: 1' in t)
        # Back in the queue as a new event of origin "redrive", and no longer a dead letter.
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/events' % name)
        self.assertIn('redrive', [e['Origin'] for e in json.loads(raw)['Events']], raw)
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/dlq' % name)
        self.assertNotIn(rid, [e['RequestId'] for e in json.loads(raw)['DeadLetters']], raw)

    def test_deploy_folder_shell(self):
        """Deploy a folder (webkitdirectory): the page zips it, bootstrap executable; a bash
        function's code is editable and saved too."""
        root = tempfile.mkdtemp(prefix='nimbus-console-')
        folder = os.path.join(root, 'myfn')
        os.mkdir(folder)
        with open(os.path.join(folder, 'handler.sh'), 'w') as f:
            f.write('handler() {\n  echo \'{"from":"folder"}\'\n}\n')
        name = uniq('console-sh')
        self.submit_deploy(name, folder, '#deploy-folder', 'bash', 'handler.handler')
        self.text_of('#fn-name', lambda t: t == name)
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual((st, json.loads(body)), (200, {'from': 'folder'}), body)
        # Edit the shell handler in the browser and invoke the new code.
        self.go('#/fn/%s/code' % name)
        self.text_of('#code-tree', lambda t: t.strip() == 'handler.sh')
        ed = self.el('#code-editor')
        self.d.execute_script('arguments[0].value = arguments[0].value.replace("folder", "editor");'
                              'arguments[0].dispatchEvent(new Event("input"))', ed)
        self.el('#code-save').click()
        self.text_of('#code-status', lambda t: t.startswith('Deployed'), timeout=30)
        self.invoke_from_page(name, '{}')
        res = self.text_of('#invoke-result', lambda t: t.strip() != '')
        self.assertEqual(json.loads(res), {'from': 'editor'})
