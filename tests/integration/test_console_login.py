"""The console's sign-in, driven in a real headless Chromium against a daemon started
with credentials for two accounts (docs/security.md, "Console sessions").

Each account deploys one function beforehand through the signed API (Debian's AWS CLI
with that account's key). The page is then used as a person would: the login form,
a wrong secret (the API's own error is shown), a right key (the cookie is HttpOnly and
SameSite=Strict, both as the browser stored it and in the raw Set-Cookie header), the
function list (only that account's function), logout (back to the form, the old cookie
refused). What the browser cannot show, raw HTTP checks: a request with the cookie but
without the X-Nimbus-Csrf header is 403."""
import json
import os
import shutil
import tempfile
import unittest

from nimbus_testlib import echo_files, make_zip, uniq
from sigv4_lib import ACCOUNT_A, ACCOUNT_B, ADMIN_A, ADMIN_B, MSG_BAD_SIGNATURE, aws, error_of, send, write_credentials
import test_console as tc   # its helpers; as a module so its test class is not collected twice

FN = '/2015-03-31/functions'
COOKIE = 'nimbus_session'


class ConsoleLogin(tc.BrowserCase):
    screenshot_prefix = 'login-'

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='nimbus-console-login-')
        cls.server_args = ('--credentials', write_credentials(cls.dir, (ADMIN_A, ADMIN_B)))
        super().setUpClass()

    @classmethod
    def class_setup(cls):
        """One function per account, deployed through the signed API with that account's key."""
        cls.fns = {}
        zip_path = os.path.join(cls.dir, 'fn.zip')
        with open(zip_path, 'wb') as f:
            f.write(make_zip(echo_files()))
        for key, account in ((ADMIN_A, ACCOUNT_A), (ADMIN_B, ACCOUNT_B)):
            name = uniq('login-' + account[:1])
            aws(cls._Probe(), cls.server.url, key, 'create-function', '--function-name', name,
                '--runtime', 'provided', '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % account,
                '--zip-file', 'fileb://' + zip_path)
            cls.fns[account] = name

    class _Probe(unittest.TestCase):
        """aws() asserts through a TestCase; setUpClass has none of its own."""
        def runTest(self):
            pass

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.signed_out()

    # -- helpers

    def signed_out(self):
        """No cookie and no CSRF token kept by the page (each case starts so)."""
        self.d.get(self.server.url + '/console/style.css')
        self.d.delete_all_cookies()
        self.d.execute_script('sessionStorage.clear()')

    def el(self, css, timeout=20):
        return tc.WebDriverWait(self.d, timeout, 0.1).until(lambda d: d.find_element(tc.By.CSS_SELECTOR, css))

    def text_of(self, css, pred, timeout=20):
        return tc.ConsoleTest.text_of(self, css, pred, timeout)

    def open_console(self):
        self.d.get(self.server.url + '/console#/')
        return self.el('#login')

    def sign_in(self, key_id, secret):
        self.open_console()
        self.el('#login-key').send_keys(key_id)
        self.el('#login-secret').send_keys(secret)
        self.el('#login button[type=submit]').click()

    def sign_in_ok(self, key):
        self.sign_in(key[0], key[1])
        self.text_of('#who', lambda t: key[0] in t and key[2] in t)
        return self.text_of('#fn-list', lambda t: 'Name' in t)

    def session_cookie(self):
        got = [c for c in self.d.get_cookies() if c['name'] == COOKIE]
        self.assertEqual(len(got), 1, self.d.get_cookies())
        return got[0]

    def csrf(self):
        return self.d.execute_script("return sessionStorage.getItem('nimbus.csrf')")

    def login_raw(self, key):
        return send(self.server, 'POST', '/nimbus/v1/session',
                    json.dumps({'AccessKeyId': key[0], 'SecretAccessKey': key[1]}).encode(),
                    {'Content-Type': 'application/json'})

    # -- cases

    def test_console_shows_the_login_form(self):
        form = self.open_console()
        self.assertTrue(form.is_displayed())
        self.assertEqual(self.el('#login-secret').get_attribute('type'), 'password')
        self.assertEqual(self.d.find_elements(tc.By.CSS_SELECTOR, '#fn-list'), [])
        self.assertEqual(self.el('#who').text, '')
        self.assertFalse(self.el('#logout').is_displayed())
        # What the page relies on answers unsigned: the assets and GET of the session.
        for path in ('/console', '/console/app.js', '/console/style.css'):
            self.assertEqual(send(self.server, 'GET', path)[0], 200, path)
        self.assertEqual(error_of(send(self.server, 'GET', '/nimbus/v1/session'))[:2], (401, 'UnauthorizedException'))

    def test_wrong_secret_shows_the_apis_error(self):
        for key_id, secret in ((ADMIN_A[0], ADMIN_A[1] + 'x'), ('AKIANIMBUSNOSUCHKEY1', ADMIN_A[1])):
            api = error_of(self.login_raw((key_id, secret)))
            self.assertEqual(api, (403, 'InvalidSignatureException', MSG_BAD_SIGNATURE))
            self.sign_in(key_id, secret)
            shown = self.text_of('#login-status', lambda t: 'InvalidSignatureException' in t)
            self.assertIn(MSG_BAD_SIGNATURE, shown)
            self.assertEqual(self.d.find_elements(tc.By.CSS_SELECTOR, '#fn-list'), [])
            self.assertEqual([c for c in self.d.get_cookies() if c['name'] == COOKIE], [])

    def test_right_key_signs_in_with_an_httponly_strict_cookie(self):
        self.sign_in_ok(ADMIN_A)
        c = self.session_cookie()
        self.assertTrue(c['httpOnly'], c)
        self.assertEqual(c.get('sameSite'), 'Strict', c)
        self.assertEqual(c['path'], '/', c)
        self.assertNotIn(COOKIE, self.d.execute_script('return document.cookie'))
        self.assertTrue(self.csrf())
        # The header itself, as the daemon sent it.
        status, h, body = self.login_raw(ADMIN_A)
        self.assertEqual(status, 200, body)
        attrs = [a.strip() for a in h['set-cookie'].split(';')]
        self.assertTrue(attrs[0].startswith(COOKIE + '='), attrs)
        self.assertIn('HttpOnly', attrs)
        self.assertIn('SameSite=Strict', attrs)
        self.assertIn('Path=/', attrs)
        self.assertEqual(json.loads(body)['AccountId'], ACCOUNT_A)

    def test_function_list_shows_only_the_accounts_functions(self):
        for key, account, other in ((ADMIN_A, ACCOUNT_A, ACCOUNT_B), (ADMIN_B, ACCOUNT_B, ACCOUNT_A)):
            self.signed_out()
            self.sign_in_ok(key)
            mine, theirs = self.fns[account], self.fns[other]
            listed = self.text_of('#fn-list', lambda t: mine in t)
            self.assertNotIn(theirs, listed)
            names = [a.text for a in self.d.find_elements(tc.By.CSS_SELECTOR, '#fn-list a.fn-link')]
            self.assertIn(mine, names)
            self.assertNotIn(theirs, names)

    def test_cookie_without_csrf_header_is_403(self):
        self.sign_in_ok(ADMIN_A)
        jar = {'Cookie': '%s=%s' % (COOKIE, self.session_cookie()['value'])}
        status, kind, _ = error_of(send(self.server, 'GET', FN + '/', b'', jar))
        self.assertEqual((status, kind), (403, 'AccessDeniedException'))
        wrong = dict(jar, **{'X-Nimbus-Csrf': '0' * 32})
        self.assertEqual(error_of(send(self.server, 'GET', FN + '/', b'', wrong))[:2], (403, 'AccessDeniedException'))
        # The same cookie with the page's token is the account's.
        status, _, body = send(self.server, 'GET', FN + '/', b'', dict(jar, **{'X-Nimbus-Csrf': self.csrf()}))
        self.assertEqual(status, 200, body)
        names = [f['FunctionName'] for f in json.loads(body)['Functions']]
        self.assertIn(self.fns[ACCOUNT_A], names)
        self.assertNotIn(self.fns[ACCOUNT_B], names)

    def test_logout_returns_to_the_form_and_revokes_the_cookie(self):
        self.sign_in_ok(ADMIN_A)
        both = {'Cookie': '%s=%s' % (COOKIE, self.session_cookie()['value']), 'X-Nimbus-Csrf': self.csrf()}
        self.assertEqual(send(self.server, 'GET', FN + '/', b'', both)[0], 200)
        self.el('#logout').click()
        self.assertTrue(self.el('#login').is_displayed())
        self.text_of('#who', lambda t: t == '')
        self.assertFalse(self.el('#logout').is_displayed())
        self.assertEqual([c for c in self.d.get_cookies() if c['name'] == COOKIE], [])
        self.assertIsNone(self.csrf())
        # The old cookie is refused even though it has not expired.
        self.assertEqual(error_of(send(self.server, 'GET', FN + '/', b'', both))[:2], (403, 'AccessDeniedException'))
        self.assertEqual(send(self.server, 'GET', '/nimbus/v1/session', b'', {'Cookie': both['Cookie']})[0], 401)
        # A reload stays signed out; signing in again works.
        self.open_console()
        self.sign_in_ok(ADMIN_A)
        self.text_of('#fn-list', lambda t: self.fns[ACCOUNT_A] in t)

    def test_a_session_ended_elsewhere_brings_back_the_form(self):
        # Logged out from another tab (or the daemon restarted): the page's next call is
        # refused, and the page asks to sign in again instead of showing a dead page.
        self.sign_in_ok(ADMIN_A)
        both = {'Cookie': '%s=%s' % (COOKIE, self.session_cookie()['value']), 'X-Nimbus-Csrf': self.csrf()}
        self.assertEqual(send(self.server, 'DELETE', '/nimbus/v1/session', b'', both)[0], 204)
        self.d.execute_script("location.hash = '#/fn/' + arguments[0]", self.fns[ACCOUNT_A])
        self.assertTrue(self.el('#login').is_displayed())
        self.text_of('#login-status', lambda t: 'log in again' in t)
        self.text_of('#who', lambda t: t == '')
        self.sign_in_ok(ADMIN_A)


if __name__ == '__main__':
    unittest.main()
