"""The size caps `nimbus serve` enforces are configurable: a server started
with small caps rejects what a default server accepts."""
import json
import os

from nimbus_testlib import ServerTestCase, ECHO, fn_files, make_zip, sha256_hex, uniq


class ConfiguredLimitsTest(ServerTestCase):
    server_args = ('--max-zip-bytes', '4096', '--max-unzipped-bytes', '100000',
                   '--max-invoke-bytes', '1000')

    def test_zip_over_configured_cap_is_rejected(self):
        big = os.urandom(8000)   # incompressible: the ZIP itself passes 4096 bytes
        st, h, body, raw = self.c.create_function(uniq('zipcap'), fn_files(ECHO, {'blob': big}))
        self.assertEqual(st, 400, raw[:300])
        self.assertEqual(h.get('x-amzn-errortype'), 'InvalidParameterValueException')
        self.assertIn('4096', raw.decode())

    def test_unzipped_over_configured_cap_is_rejected(self):
        zeros = b'\0' * 300000    # compresses to well under 4096 bytes
        zbytes = make_zip(fn_files(ECHO, {'zeros': zeros}))
        self.assertLess(len(zbytes), 4096)
        st, h, body, raw = self.c.create_function(uniq('unzipcap'), zbytes)
        self.assertEqual(st, 400, raw[:300])
        self.assertIn('100000', raw.decode())
        code_dir = os.path.join(self.server.data_dir, 'code')
        self.assertNotIn(sha256_hex(zbytes), os.listdir(code_dir))

    def test_invoke_over_configured_cap_is_413_and_under_it_runs(self):
        name, _ = self.new_function(uniq('invcap'), fn_files(ECHO))
        small = json.dumps('x' * 900).encode()
        st, h, body = self.c.invoke(name, small)
        self.assertEqual(st, 200)
        self.assertEqual(body, small)
        st, h, body = self.c.invoke(name, json.dumps('x' * 1100).encode())
        self.assertEqual(st, 413)
        self.assertIn('TooLarge', h.get('x-amzn-errortype', ''))
