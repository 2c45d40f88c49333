"""Hostile deployment packages (issue 17, item 12): a zip bomb, path traversal, absolute
paths, symlink escapes (direct and chained), too many entries, and sizes the archive lies
about. Each is refused with Lambda's 4xx, leaves nothing outside the code store (nor a
partial tree inside it), and the daemon stays healthy.

The server runs with a 16 MiB unzipped cap (--max-unzipped-bytes) so a bomb past it is
small to send; the cap's logic is the same at Lambda's 250 MB."""

import base64
import random
import os
import struct
import uuid
import zipfile
import io

import abuse_lib
from nimbus_testlib import echo_files, make_zip, uniq

CAP = 16 << 20
FN = '/2015-03-31/functions'


def dir_bytes(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total


def zip_of_zeros(name, size):
    """One entry of `size` zero bytes, deflated (about 1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, 'w', force_zip64=True) as f:
            block = b'\0' * (1 << 20)
            for _ in range(size // len(block)):
                f.write(block)
    return buf.getvalue()


def lie_about_sizes(zbytes, declared):
    """Rewrite every entry's uncompressed size, in its local header and the central
    directory, to `declared` (the data stays what it was)."""
    b = bytearray(zbytes)
    i = 0
    while True:
        i = b.find(b'PK\x03\x04', i)
        if i < 0:
            break
        struct.pack_into('<I', b, i + 22, declared)
        i += 4
    i = 0
    while True:
        i = b.find(b'PK\x01\x02', i)
        if i < 0:
            break
        struct.pack_into('<I', b, i + 24, declared)
        i += 4
    return bytes(b)


class ZipAttackTest(abuse_lib.AbuseTestCase):
    server_args = ('--max-unzipped-bytes', str(CAP))

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    def outside_code(self, marker):
        code = os.path.join(self.server.data_dir, 'code')
        found = []
        for root, dirs, files in os.walk(self.server.base):
            for n in files + dirs:
                p = os.path.join(root, n)
                if marker in n and not (p + '/').startswith(code + '/'):
                    found.append(p)
        return found

    def assertRefused(self, zbytes, want=(400,), what=''):
        name = uniq('evil')
        before = dir_bytes(os.path.join(self.server.data_dir, 'code'))
        st, h, body, raw = self.c.create_function(name, zbytes)
        self.assertIn(st, want, '%s: %s %r' % (what, st, raw[:300]))
        self.assertTrue(h.get('x-amzn-errortype'), 'no error type: %r' % h)
        st2, _, _, _ = self.c.api('GET', '%s/%s' % (FN, name))
        self.assertEqual(st2, 404, 'the refused function exists')
        # nothing of the refused package stays in the code store
        after = dir_bytes(os.path.join(self.server.data_dir, 'code'))
        self.assertLess(after - before, 1 << 20, '%s: the code store grew by %d bytes' % (what, after - before))
        return h, body

    def test_zip_bomb_past_the_unzipped_cap(self):
        bomb = zip_of_zeros('bootstrap', 64 << 20)      # 64 MiB of zeros, ~64 KiB zipped
        self.assertLess(len(bomb), 1 << 20)
        h, body = self.assertRefused(bomb, (400, 413), 'zip bomb')
        self.assertIn('nzipped', (body or {}).get('Message', '') or (body or {}).get('message', ''), body)

    def test_many_small_bombs_in_one_archive(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr('bootstrap', '#!/bin/sh\n')
            for i in range(40):
                z.writestr('z%d' % i, b'\0' * (1 << 20))
        self.assertRefused(buf.getvalue(), (400, 413), '40 x 1 MiB')

    def test_declared_sizes_that_lie(self):
        real = zip_of_zeros('bootstrap', 32 << 20)
        # says 100 bytes: the real bytes are counted, not the claim
        self.assertRefused(lie_about_sizes(real, 100), (400, 413), 'small claim')
        # says 4 GiB - 1 for a tiny file: a corrupt archive, not a 4 GiB allocation
        small = make_zip(echo_files())
        self.assertRefused(lie_about_sizes(small, 0xffffffff), (400, 413), 'huge claim')

    def test_too_many_entries(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
            z.writestr(zipfile.ZipInfo('bootstrap'), '#!/bin/sh\n')
            for i in range(20001):
                z.writestr(zipfile.ZipInfo('f/%d' % i), b'')
        self.assertRefused(buf.getvalue(), (400, 413), '20001 entries')

    def test_traversal_and_absolute_paths(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        for path in ('../' + marker, 'a/../../' + marker, '/tmp/' + marker, '//tmp/' + marker,
                     './../' + marker, 'a/./../../' + marker, '..\\..\\' + marker, 'C:/' + marker,
                     'a/' + '../' * 40 + 'tmp/' + marker):
            files = echo_files()
            files[path] = b'pwned'
            st, h, body, raw = self.c.create_function(uniq('evil'), make_zip(files))
            if st == 201:
                # a name that is not a path out (backslashes, "C:") is a plain file inside
                self.assertNotIn('/', path.replace('C:/', '').lstrip('.').lstrip('\\'), path)
            else:
                self.assertEqual(st, 400, '%s: %r' % (path, raw[:300]))
            self.assertEqual(self.outside_code(marker), [], path)
            self.assertFalse(os.path.lexists('/tmp/' + marker), path)

    def test_symlink_escapes(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        cases = [
            {'up': (b'..', 0o120777), 'up/' + marker: b'x'},                        # through a link to ..
            {'l': (b'/etc', 0o120777)},                                              # absolute target
            {'l': (b'../../../../etc/passwd', 0o120777)},                            # relative out
            {'a': (b'.', 0o120777), 'b': (b'a/a/a/../../..', 0o120777)},             # chained
            {'d/x': (b'../..', 0o120777)},                                           # out from a subdir
            {'self': (b'self', 0o120777), 'self/' + marker: b'x'},                  # a loop, written through
            {'l': (b'/proc/self/root', 0o120777), 'l/tmp/' + marker: b'x'},
        ]
        for files in cases:
            f = echo_files()
            f.update(files)
            self.assertRefused(make_zip(f), (400,), repr(list(files)))
            self.assertEqual(self.outside_code(marker), [])
            self.assertFalse(os.path.lexists('/tmp/' + marker))

    def test_not_a_zip_at_all(self):
        rnd = random.Random(17)
        for data in (b'', b'PK', rnd.randbytes(4096), b'PK\x03\x04' + rnd.randbytes(200)):
            st, h, body, raw = self.c.api('POST', FN, {'FunctionName': uniq('evil'),
                                                      'Role': 'arn:aws:iam::000000000000:role/r',
                                                      'Runtime': 'provided', 'Handler': 'x',
                                                      'Code': {'ZipFile': base64.b64encode(data).decode()}})
            self.assertEqual(st, 400, raw[:300])

    def test_code_store_unchanged_by_refusals(self):
        """After every refusal above, the trees in the code store are only those of
        functions that exist (no half-extracted tree left behind)."""
        code = os.path.join(self.server.data_dir, 'code')
        self.assertRefused(zip_of_zeros('bootstrap', 40 << 20), (400, 413), 'bomb')
        st, h, doc, raw = self.c.api('GET', FN)
        shas = {base64.b64decode(f['CodeSha256']).hex() for f in doc['Functions']}
        trees = {d for d in os.listdir(code) if len(d) == 64}
        self.assertLessEqual(trees, shas | set(), 'trees of no function: %r' % (trees - shas))
