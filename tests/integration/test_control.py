"""Control plane: Create/Get/List/Update/Delete, validation, code store, restart."""

import os
import shutil
import tempfile
import time
import unittest
import uuid

from nimbus_testlib import (ROLE, Server, ServerTestCase, bootstrap, echo_files, fn_files,
                            function_arn, make_zip, sha256_b64, sha256_hex, uniq, wait_for)

FN = '/2015-03-31/functions'


def answer_files(text):
    """A function that always answers `text` (JSON string)."""
    return fn_files(bootstrap('while next; do respond \'"%s"\'; done' % text))


class ControlTest(ServerTestCase):

    # ---- CreateFunction

    def test_create_function_returns_201_configuration(self):
        name = uniq('create')
        files = echo_files()
        zbytes = make_zip(files)
        st, h, cfg, raw = self.c.create_function(name, zbytes, handler='function.handler', memory=256,
                                                 timeout=7, env={'KEY1': 'V', 'WITH_EQ': 'a=b'})
        self.assertEqual(st, 201, raw[:500])
        self.assertEqual(cfg['FunctionName'], name)
        self.assertEqual(cfg['FunctionArn'], function_arn(name))
        self.assertEqual(cfg['Runtime'], 'provided')
        self.assertEqual(cfg['Handler'], 'function.handler')
        self.assertEqual(cfg['MemorySize'], 256)
        self.assertEqual(cfg['Timeout'], 7)
        self.assertEqual(cfg['CodeSha256'], sha256_b64(zbytes))
        self.assertEqual(cfg['CodeSize'], len(zbytes))
        self.assertEqual(cfg['Version'], '$LATEST')
        self.assertEqual(cfg['State'], 'Active')
        self.assertTrue(cfg.get('LastModified'), cfg)
        self.assertTrue(cfg.get('RevisionId'), cfg)
        self.assertEqual(cfg['Environment']['Variables'], {'KEY1': 'V', 'WITH_EQ': 'a=b'})

    def test_create_function_content_type_is_json(self):
        st, h, cfg, raw = self.c.create_function(uniq('ctype'), echo_files())
        self.assertEqual(st, 201, raw[:500])
        self.assertTrue(h.get('content-type', '').startswith('application/json'), h)

    def test_create_defaults_memory_128_timeout_3(self):
        st, h, cfg, raw = self.c.create_function(uniq('defaults'), echo_files(), memory=None, timeout=None)
        self.assertEqual(st, 201, raw[:500])
        self.assertEqual(cfg['MemorySize'], 128)
        self.assertEqual(cfg['Timeout'], 3)

    def test_create_duplicate_name_409_resource_conflict(self):
        name, _ = self.new_function()
        st, h, body, raw = self.c.create_function(name, echo_files())
        self.assertJsonError(st, h, raw, 409, 'ResourceConflictException')

    def _assert_create_rejected(self, want_type, **kw):
        name = uniq('bad')
        st, h, body, raw = self.c.create_function(name, kw.pop('code', None) or echo_files(), **kw)
        self.assertJsonError(st, h, raw, 400, want_type)
        st2, _, _, _ = self.c.api('GET', '%s/%s' % (FN, name))
        self.assertEqual(st2, 404, 'rejected function %s exists anyway' % name)
        return body, raw

    def test_create_memory_64_rejected_validation(self):
        self._assert_create_rejected('ValidationException', memory=64)

    def test_create_memory_20000_rejected_validation(self):
        self._assert_create_rejected('ValidationException', memory=20000)

    def test_create_timeout_0_rejected_validation(self):
        self._assert_create_rejected('ValidationException', timeout=0)

    def test_create_timeout_901_rejected_validation(self):
        self._assert_create_rejected('ValidationException', timeout=901)

    def test_create_unknown_runtime_rejected_and_lists_valid_runtimes(self):
        body, raw = self._assert_create_rejected('InvalidParameterValueException', runtime='cobol85')
        self.assertIn(b'provided.al2023', raw)

    def _runtime_works(self, runtime):
        name, cfg = self.new_function(uniq('rt'), echo_files(), runtime=runtime)
        self.assertEqual(cfg['Runtime'], runtime)
        h, body = self.invoke_ok(name, b'{"rt":"%s"}' % runtime.encode())
        self.assertEqual(body, b'{"rt":"%s"}' % runtime.encode())

    def test_runtime_provided_works(self):
        self._runtime_works('provided')

    def test_runtime_provided_al2_works(self):
        self._runtime_works('provided.al2')

    def test_runtime_provided_al2023_works(self):
        self._runtime_works('provided.al2023')

    def test_create_reserved_env_aws_region_rejected(self):
        self._assert_create_rejected('InvalidParameterValueException', env={'AWS_REGION': 'eu-west-1'})

    def test_create_bad_base64_rejected(self):
        name = uniq('b64')
        req = {'FunctionName': name, 'Role': ROLE, 'Runtime': 'provided', 'Handler': 'x.handler',
               'Code': {'ZipFile': '!!!this is not base64@@@'}}
        st, h, body, raw = self.c.api('POST', FN, req)
        self.assertJsonError(st, h, raw, 400, 'InvalidParameterValueException')

    def test_create_not_a_zip_rejected(self):
        self._assert_create_rejected('InvalidParameterValueException',
                                     code=b'This is plain text, not a ZIP archive at all.\n' * 20)

    def test_create_missing_code_rejected(self):
        req = {'FunctionName': uniq('nocode'), 'Role': ROLE, 'Runtime': 'provided', 'Handler': 'x.handler'}
        st, h, body, raw = self.c.api('POST', FN, req)
        self.assertEqual(st, 400, raw[:300])

    def test_create_malformed_json_rejected(self):
        st, h, raw = self.c.request('POST', FN, b'{"FunctionName": ', {'Content-Type': 'application/json'})
        self.assertEqual(st, 400, raw[:300])

    # ---- hostile ZIPs

    def _files_outside_code(self, marker):
        """Paths under the server's base dir (parent of the data dir), outside data/code,
        whose name contains `marker`."""
        found = []
        code_dir = os.path.join(self.server.data_dir, 'code')
        for root, dirs, files in os.walk(self.server.base):
            for n in files + dirs:
                p = os.path.join(root, n)
                if marker in n and not (p + '/').startswith(code_dir + '/'):
                    found.append(p)
        return found

    def _assert_hostile_zip_rejected(self, files, marker, abs_paths=()):
        name = uniq('evil')
        zbytes = make_zip(files)
        st, h, body, raw = self.c.create_function(name, zbytes)
        self.assertJsonError(st, h, raw, 400, 'InvalidParameterValueException')
        self.assertEqual(self._files_outside_code(marker), [])
        for p in abs_paths:
            self.assertFalse(os.path.lexists(p), '%s was written by the server' % p)
        st2, _, _, _ = self.c.api('GET', '%s/%s' % (FN, name))
        self.assertEqual(st2, 404)

    def test_zip_with_dotdot_entry_rejected(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        files = echo_files()
        files['../' + marker] = b'pwned'
        self._assert_hostile_zip_rejected(files, marker)

    def test_zip_with_deep_dotdot_entry_rejected(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        files = echo_files()
        files['a/../../../../../../../../../../../../tmp/' + marker] = b'pwned'
        self._assert_hostile_zip_rejected(files, marker, ['/tmp/' + marker])

    def test_zip_with_absolute_path_rejected(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        files = echo_files()
        files['/tmp/' + marker] = b'pwned'
        self._assert_hostile_zip_rejected(files, marker, ['/tmp/' + marker])

    def test_zip_with_symlink_to_etc_passwd_rejected(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        files = echo_files()
        files[marker] = (b'/etc/passwd', 0o120777)
        before = os.stat('/etc/passwd')
        self._assert_hostile_zip_rejected(files, 'no-such-marker-' + marker)
        after = os.stat('/etc/passwd')
        self.assertEqual((before.st_mtime_ns, before.st_size), (after.st_mtime_ns, after.st_size))

    def test_zip_writing_through_symlinked_dir_rejected(self):
        marker = 'nimbus-evil-' + uuid.uuid4().hex[:8]
        target = tempfile.mkdtemp(prefix=marker + '-dir-')
        try:
            files = echo_files()
            files['link'] = (target.encode(), 0o120777)
            files['link/' + marker] = b'pwned'
            name = uniq('evil')
            st, h, body, raw = self.c.create_function(name, make_zip(files))
            self.assertJsonError(st, h, raw, 400, 'InvalidParameterValueException')
            self.assertEqual(os.listdir(target), [], 'the server wrote through the symlink')
        finally:
            shutil.rmtree(target, ignore_errors=True)

    # ---- Get

    def test_get_function_returns_configuration_and_code(self):
        zbytes = make_zip(echo_files())
        name, created = self.new_function(uniq('get'), zbytes)
        st, h, body, raw = self.c.api('GET', '%s/%s' % (FN, name))
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(body['Configuration']['FunctionName'], name)
        self.assertEqual(body['Configuration']['FunctionArn'], function_arn(name))
        self.assertEqual(body['Configuration']['CodeSha256'], sha256_b64(zbytes))
        self.assertIn('Location', body['Code'])
        self.assertIn('RepositoryType', body['Code'])

    def test_get_function_configuration(self):
        name, created = self.new_function(uniq('getcfg'), memory=192, timeout=9, handler='a.b')
        st, h, body, raw = self.c.api('GET', '%s/%s/configuration' % (FN, name))
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(body['FunctionName'], name)
        self.assertEqual(body['MemorySize'], 192)
        self.assertEqual(body['Timeout'], 9)
        self.assertEqual(body['Handler'], 'a.b')
        self.assertEqual(body['CodeSha256'], created['CodeSha256'])
        self.assertEqual(body['Version'], '$LATEST')

    def _assert_not_found(self, st, h, body, raw):
        self.assertJsonError(st, h, raw, 404, 'ResourceNotFoundException')
        self.assertIsInstance(body, dict, raw[:300])
        self.assertIn('Message', body)

    def test_get_unknown_function_404(self):
        self._assert_not_found(*self.c.api('GET', '%s/%s' % (FN, uniq('nosuch'))))

    def test_get_unknown_function_configuration_404(self):
        self._assert_not_found(*self.c.api('GET', '%s/%s/configuration' % (FN, uniq('nosuch'))))

    def test_unknown_api_path_404(self):
        st, h, raw = self.c.request('GET', '/2015-03-31/no/such/route')
        self.assertEqual(st, 404, raw[:300])

    # ---- Update

    def test_update_function_code_returns_new_sha_and_next_call_uses_it(self):
        name, created = self.new_function(uniq('upd'), answer_files('one'))
        h, body = self.invoke_ok(name)
        self.assertEqual(body, b'"one"')
        new_zip = make_zip(answer_files('two'))
        st, h, cfg, raw = self.c.update_code(name, new_zip)
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(cfg['CodeSha256'], sha256_b64(new_zip))
        self.assertEqual(cfg['CodeSize'], len(new_zip))
        self.assertNotEqual(cfg['CodeSha256'], created['CodeSha256'])
        self.assertNotEqual(cfg.get('RevisionId'), created.get('RevisionId'))
        h, body = self.invoke_ok(name)
        self.assertEqual(body, b'"two"')

    def test_update_code_unknown_function_404(self):
        st, h, body, raw = self.c.update_code(uniq('nosuch'), echo_files())
        self._assert_not_found(st, h, body, raw)

    def test_update_function_configuration_then_get_shows_it(self):
        name, _ = self.new_function(uniq('updcfg'))
        upd = {'MemorySize': 256, 'Timeout': 10, 'Environment': {'Variables': {'VAR_A': '1', 'VAR_B': 'x=y'}},
               'Description': 'updated by test', 'Handler': 'other.handler'}
        st, h, cfg, raw = self.c.api('PUT', '%s/%s/configuration' % (FN, name), upd)
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(cfg['MemorySize'], 256)
        st, h, got, raw = self.c.api('GET', '%s/%s/configuration' % (FN, name))
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(got['MemorySize'], 256)
        self.assertEqual(got['Timeout'], 10)
        self.assertEqual(got['Environment']['Variables'], {'VAR_A': '1', 'VAR_B': 'x=y'})
        self.assertEqual(got['Description'], 'updated by test')
        self.assertEqual(got['Handler'], 'other.handler')

    def test_update_configuration_env_seen_by_next_call(self):
        script = bootstrap('while next; do respond "\\"$MY_VAR|$_HANDLER|$AWS_LAMBDA_FUNCTION_MEMORY_SIZE\\""; done')
        name, _ = self.new_function(uniq('updenv'), fn_files(script), env={'MY_VAR': 'before'})
        h, body = self.invoke_ok(name)
        self.assertEqual(body, b'"before|x.handler|128"')
        st, h, cfg, raw = self.c.api('PUT', '%s/%s/configuration' % (FN, name),
                                     {'Environment': {'Variables': {'MY_VAR': 'after'}}, 'Handler': 'new.handler',
                                      'MemorySize': 256})
        self.assertEqual(st, 200, raw[:500])
        h, body = self.invoke_ok(name)
        self.assertEqual(body, b'"after|new.handler|256"')

    def test_update_configuration_invalid_memory_rejected(self):
        name, _ = self.new_function(uniq('updbad'))
        st, h, cfg, raw = self.c.api('PUT', '%s/%s/configuration' % (FN, name), {'MemorySize': 64})
        self.assertJsonError(st, h, raw, 400, 'ValidationException')
        st, h, got, raw = self.c.api('GET', '%s/%s/configuration' % (FN, name))
        self.assertEqual(got['MemorySize'], 128)

    # ---- Delete

    def test_delete_function_204_then_get_and_invoke_404(self):
        name, _ = self.new_function(uniq('del'))
        self.invoke_ok(name)
        st, h, raw = self.c.request('DELETE', '%s/%s' % (FN, name))
        self.assertEqual(st, 204, raw[:300])
        self._assert_not_found(*self.c.api('GET', '%s/%s' % (FN, name)))
        st, h, raw = self.c.invoke(name, b'{}')
        self.assertJsonError(st, h, raw, 404, 'ResourceNotFoundException')

    def test_delete_unknown_function_404(self):
        st, h, raw = self.c.request('DELETE', '%s/%s' % (FN, uniq('nosuch')))
        self.assertJsonError(st, h, raw, 404, 'ResourceNotFoundException')

    def test_recreate_after_delete_works(self):
        name, _ = self.new_function(uniq('recreate'), answer_files('first'))
        self.assertEqual(self.invoke_ok(name)[1], b'"first"')
        st, h, raw = self.c.request('DELETE', '%s/%s' % (FN, name))
        self.assertEqual(st, 204, raw[:300])
        self.new_function(name, answer_files('second'))
        self.assertEqual(self.invoke_ok(name)[1], b'"second"')


class ListFunctionsTest(ServerTestCase):
    """Fresh server holding exactly five functions."""

    @classmethod
    def class_setup(cls):
        cls.fn_names = set()
        for i in range(5):
            name = 'list-%d-%s' % (i, uuid.uuid4().hex[:4])
            st, h, body, raw = cls.c.create_function(name, echo_files())
            if st != 201:
                raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))
            cls.fn_names.add(name)

    def _page_through(self, base):
        seen = []
        marker = None
        pages = 0
        while True:
            q = '?MaxItems=2' + ('&Marker=%s' % marker if marker is not None else '')
            st, h, body, raw = self.c.api('GET', base + q)
            self.assertEqual(st, 200, raw[:500])
            pages += 1
            self.assertLessEqual(len(body['Functions']), 2, body)
            seen += [f['FunctionName'] for f in body['Functions']]
            marker = body.get('NextMarker')
            if not marker:
                self.assertNotIn('NextMarker', body, 'NextMarker must be absent on the last page')
                break
            self.assertLess(pages, 10, 'paging does not terminate: %r' % seen)
        return seen, pages

    def test_list_paging_with_trailing_slash_visits_all_once(self):
        seen, pages = self._page_through('/2015-03-31/functions/')
        self.assertEqual(sorted(seen), sorted(self.fn_names))
        self.assertEqual(pages, 3)

    def test_list_paging_without_trailing_slash_visits_all_once(self):
        seen, pages = self._page_through('/2015-03-31/functions')
        self.assertEqual(sorted(seen), sorted(self.fn_names))
        self.assertEqual(pages, 3)

    def test_list_without_max_items_returns_all(self):
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/')
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(sorted(f['FunctionName'] for f in body['Functions']), sorted(self.fn_names))
        self.assertNotIn('NextMarker', body)
        for f in body['Functions']:
            self.assertEqual(f['FunctionArn'], function_arn(f['FunctionName']))
            self.assertIn('CodeSha256', f)


class CodeStoreTest(ServerTestCase):
    """Fresh server per class; looks inside DATA/code."""

    def code_dirs(self):
        d = os.path.join(self.server.data_dir, 'code')
        if not os.path.isdir(d):
            return []
        return sorted(n for n in os.listdir(d) if not n.startswith('.'))

    def test_layout_and_dedup_and_gc_on_delete(self):
        zbytes = make_zip(answer_files('shared'))
        hexsum = sha256_hex(zbytes)
        before = set(self.code_dirs())
        a, _ = self.new_function(uniq('dedup-a'), zbytes)
        b, _ = self.new_function(uniq('dedup-b'), zbytes)
        self.assertEqual(sorted(set(self.code_dirs()) - before), [hexsum])
        entry = os.path.join(self.server.data_dir, 'code', hexsum)
        with open(os.path.join(entry, 'code.zip'), 'rb') as f:
            self.assertEqual(f.read(), zbytes)
        self.assertTrue(os.path.isfile(os.path.join(entry, 'tree', 'bootstrap')))
        self.assertTrue(os.access(os.path.join(entry, 'tree', 'bootstrap'), os.X_OK), 'bootstrap lost its x bit')
        self.assertTrue(os.path.isfile(os.path.join(self.server.data_dir, 'nimbus.db')))
        self.assertEqual(self.invoke_ok(a)[1], b'"shared"')
        self.assertEqual(self.invoke_ok(b)[1], b'"shared"')
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % a)
        self.assertEqual(st, 204)
        time.sleep(0.3)
        self.assertIn(hexsum, self.code_dirs(), 'code removed while still used by %s' % b)
        self.assertEqual(self.invoke_ok(b)[1], b'"shared"')
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % b)
        self.assertEqual(st, 204)
        self.assertTrue(wait_for(lambda: hexsum not in self.code_dirs(), 5),
                        'code dir still there after both functions were deleted: %r' % self.code_dirs())

    def test_code_removed_when_updated_away(self):
        z1 = make_zip(answer_files('v1-gc'))
        z2 = make_zip(answer_files('v2-gc'))
        name, _ = self.new_function(uniq('gcupd'), z1)
        self.assertIn(sha256_hex(z1), self.code_dirs())
        st, h, cfg, raw = self.c.update_code(name, z2)
        self.assertEqual(st, 200, raw[:300])
        self.assertIn(sha256_hex(z2), self.code_dirs())
        self.assertTrue(wait_for(lambda: sha256_hex(z1) not in self.code_dirs(), 5),
                        'old code dir still there after update: %r' % self.code_dirs())
        self.assertEqual(self.invoke_ok(name)[1], b'"v2-gc"')


class RestartTest(unittest.TestCase):

    def test_functions_survive_restart_and_are_invocable(self):
        s1 = Server().start()
        data_dir, base = s1.data_dir, s1.base
        s2 = None
        try:
            c = s1.client()
            zbytes = make_zip(answer_files('persisted'))
            st, h, cfg, raw = c.create_function('persist-me', zbytes, memory=256, timeout=5, env={'PERSIST_KEY': 'V'})
            self.assertEqual(st, 201, raw[:300])
            st, h, body = c.invoke('persist-me')
            self.assertEqual((st, body), (200, b'"persisted"'))
            s1.own_base = False          # keep the data dir for the second server
            s1.stop()
            s2 = Server(data_dir=data_dir, base_dir=base).start()
            c = s2.client()
            st, h, got, raw = c.api('GET', '/2015-03-31/functions/persist-me/configuration')
            self.assertEqual(st, 200, raw[:300])
            self.assertEqual(got['CodeSha256'], sha256_b64(zbytes))
            self.assertEqual(got['MemorySize'], 256)
            self.assertEqual(got['Timeout'], 5)
            self.assertEqual(got['Environment']['Variables'], {'PERSIST_KEY': 'V'})
            st, h, body = c.invoke('persist-me')
            self.assertEqual((st, body), (200, b'"persisted"'))
            s2.stop()
            s2 = None
        finally:
            if s1.alive():
                s1.kill()
            if s2 is not None:
                s2.kill()
            shutil.rmtree(base, ignore_errors=True)
