"""Lambda layers against `nimbus serve`, as Lambda documents them: the layer API
(PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
ListLayerVersions, DeleteLayerVersion under /2018-10-31/layers) driven with the
real AWS CLI, Layers on a function, and what an instance sees: the layers
extracted in order into one read-only /opt, /opt/python and
/opt/nodejs/node_modules on the runtimes' search paths, /opt/bin on PATH,
/opt/lib on LD_LIBRARY_PATH. (test_layers.py is about the source tree's floors.)"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from nimbus_testlib import (ACCOUNT, REGION, ROLE, Server, ServerTestCase, aws_cli, error_type, make_zip, run_aws,
                            run_cli, sha256_b64, uniq)

PY = 'python%d.%d' % __import__('sys').version_info[:2]
JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'js')
SDK = os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda')
NODE_MAJOR = subprocess.run(['/usr/bin/node', '-p', 'process.versions.node.split(".")[0]'],
                            capture_output=True, text=True).stdout.strip()


def layer_arn(name, version=None):
    arn = 'arn:aws:lambda:%s:%s:layer:%s' % (REGION, ACCOUNT, name)
    return arn if version is None else '%s:%d' % (arn, version)


# A layer as Lambda's docs lay one out: python/, nodejs/node_modules/, bin/, lib/.
LIB_LAYER = {
    'python/layermod.py': 'WHO = "layermod"\n',
    'python/lib/%s/site-packages/sitemod.py' % PY: 'WHO = "sitemod"\n',
    'nodejs/node_modules/nodelib/index.js': 'module.exports = { who: "nodelib" };\n',
    'nodejs/node%s/node_modules/verlib/index.js' % NODE_MAJOR: 'module.exports = { who: "verlib" };\n',
    'bin/layertool': ('#!/bin/sh\necho "tool:$1"\n', 0o755),
    'lib/marker.txt': 'lib\n',
}

PY_IMPORTS = '''
import os, subprocess
def handler(event, context):
    import layermod, sitemod
    tool = subprocess.run(["layertool", "x"], capture_output=True, text=True).stdout.strip()
    return {"layermod": layermod.WHO, "sitemod": sitemod.WHO, "tool": tool,
            "path": os.environ.get("PATH"), "ld": os.environ.get("LD_LIBRARY_PATH"),
            "layermod_file": layermod.__file__}
'''

NODE_IMPORTS = '''
exports.handler = async () => ({ nodelib: require("nodelib").who, verlib: require("verlib").who,
                                 nodePath: process.env.NODE_PATH });
'''

PY_SHOW = '''
import os
def handler(event, context):
    out = {}
    for p in event.get("read", []):
        try:
            out[p] = open(p).read()
        except OSError as e:
            out[p] = "ERR:%s" % e.strerror
    if event.get("write"):
        try:
            open(event["write"], "w").write("x")
            out["write"] = "ok"
        except OSError as e:
            out["write"] = "ERR:%d" % e.errno
    out["opt_env"] = os.environ.get("NIMBUS_OPT_DIR")
    return out
'''


class LayersBase(ServerTestCase):
    def publish(self, name, files, runtimes=None, extra=None, expect=201):
        body = {'Content': {'ZipFile': base64.b64encode(make_zip(files)).decode()}}
        if runtimes:
            body['CompatibleRuntimes'] = runtimes
        body.update(extra or {})
        st, h, doc, raw = self.c.api('POST', '/2018-10-31/layers/%s/versions' % name, body)
        self.assertEqual(st, expect, raw[:500])
        return doc

    def py_fn(self, code, layers, name=None, **kw):
        extra = {'Layers': layers} if layers is not None else None
        return self.new_function(name or uniq('lpy'), {'app.py': code}, runtime='python3.11',
                                 handler='app.handler', extra=extra, **kw)

    def call(self, name, event=None):
        st, h, body = self.c.invoke(name, json.dumps(event or {}).encode())
        self.assertEqual(st, 200, body[:500])
        self.assertNotIn('x-amz-function-error', h, body[:800])
        return json.loads(body)

    def update_config(self, name, body, expect=200):
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name, body)
        self.assertEqual(st, expect, raw[:500])
        return doc, h

    def assert_error(self, got, status, etype, contains=None):
        st, h, doc, raw = got
        self.assertEqual(st, status, raw)
        self.assertEqual(error_type(h), etype, raw)
        if contains:
            self.assertIn(contains, (doc or {}).get('Message', (doc or {}).get('message', '')), raw)


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class AwsCliLayersTest(LayersBase):
    """The real AWS CLI publishes, reads, lists and deletes layer versions and
    puts them on functions: its requests and its parsing are Lambda's."""

    def aws(self, *args, ok=True):
        return run_aws(self, self.c.url, *args, ok=ok, region=REGION)

    def zipfile(self, files):
        d = tempfile.mkdtemp(prefix='nimbus-it-layer-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'layer.zip')
        data = make_zip(files)
        with open(path, 'wb') as f:
            f.write(data)
        return path, data

    def test_publish_get_list_delete_with_the_cli(self):
        name = uniq('cli-layer')
        path, data = self.zipfile(LIB_LAYER)
        v1 = self.aws('publish-layer-version', '--layer-name', name, '--zip-file', 'fileb://' + path,
                      '--compatible-runtimes', 'python3.11', 'nodejs20.x', '--compatible-architectures', 'x86_64',
                      '--description', 'first', '--license-info', 'MIT')
        self.assertEqual(v1['Version'], 1)
        self.assertEqual(v1['LayerArn'], layer_arn(name))
        self.assertEqual(v1['LayerVersionArn'], layer_arn(name, 1))
        self.assertEqual(v1['Description'], 'first')
        self.assertEqual(v1['LicenseInfo'], 'MIT')
        self.assertEqual(v1['CompatibleRuntimes'], ['python3.11', 'nodejs20.x'])
        self.assertEqual(v1['CompatibleArchitectures'], ['x86_64'])
        self.assertEqual(v1['Content']['CodeSha256'], sha256_b64(data))
        self.assertEqual(v1['Content']['CodeSize'], len(data))
        self.assertRegex(v1['CreatedDate'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$')
        # Content.Location hands the archive back.
        with urllib.request.urlopen(v1['Content']['Location'], timeout=30) as r:
            self.assertEqual(r.read(), data)

        path2, _ = self.zipfile({'python/other.py': 'X = 2\n'})
        v2 = self.aws('publish-layer-version', '--layer-name', name, '--zip-file', 'fileb://' + path2,
                      '--compatible-runtimes', 'nodejs20.x')
        self.assertEqual(v2['Version'], 2)

        got = self.aws('get-layer-version', '--layer-name', name, '--version-number', '1')
        self.assertEqual(got['LayerVersionArn'], layer_arn(name, 1))
        self.assertEqual(got['Content']['CodeSha256'], sha256_b64(data))
        by_arn = self.aws('get-layer-version-by-arn', '--arn', layer_arn(name, 2))
        self.assertEqual(by_arn['Version'], 2)
        self.assertEqual(by_arn['LayerArn'], layer_arn(name))

        versions = self.aws('list-layer-versions', '--layer-name', name)['LayerVersions']
        self.assertEqual([v['Version'] for v in versions], [2, 1])   # newest first
        py_only = self.aws('list-layer-versions', '--layer-name', name, '--compatible-runtime', 'python3.11')
        self.assertEqual([v['Version'] for v in py_only['LayerVersions']], [1])
        layers = {l['LayerName']: l for l in self.aws('list-layers')['Layers']}
        self.assertEqual(layers[name]['LayerArn'], layer_arn(name))
        self.assertEqual(layers[name]['LatestMatchingVersion']['Version'], 2)
        layers = {l['LayerName']: l for l in self.aws('list-layers', '--compatible-runtime', 'python3.11')['Layers']}
        self.assertEqual(layers[name]['LatestMatchingVersion']['Version'], 1)

        self.aws('delete-layer-version', '--layer-name', name, '--version-number', '2')
        self.aws('delete-layer-version', '--layer-name', name, '--version-number', '2')   # no such: still fine
        err = self.aws('get-layer-version', '--layer-name', name, '--version-number', '2', ok=False)
        self.assertIn('ResourceNotFoundException', err)
        versions = self.aws('list-layer-versions', '--layer-name', name)['LayerVersions']
        self.assertEqual([v['Version'] for v in versions], [1])
        # Version numbers are never reused.
        v3 = self.aws('publish-layer-version', '--layer-name', name, '--zip-file', 'fileb://' + path2)
        self.assertEqual(v3['Version'], 3)

    def test_paging_of_list_layer_versions(self):
        name = uniq('page-layer')
        for i in range(3):
            self.publish(name, {'f%d.txt' % i: str(i)})
        st, h, doc, raw = self.c.api('GET', '/2018-10-31/layers/%s/versions?MaxItems=2' % name)
        self.assertEqual(st, 200, raw)
        self.assertEqual([v['Version'] for v in doc['LayerVersions']], [3, 2])
        st, h, doc2, raw = self.c.api('GET', '/2018-10-31/layers/%s/versions?MaxItems=2&Marker=%s'
                                      % (name, doc['NextMarker']))
        self.assertEqual([v['Version'] for v in doc2['LayerVersions']], [1])
        self.assertNotIn('NextMarker', doc2)
        # The CLI pages by itself through NextMarker.
        everything = self.aws('list-layer-versions', '--layer-name', name, '--page-size', '1')
        self.assertEqual([v['Version'] for v in everything['LayerVersions']], [3, 2, 1])

    def test_functions_with_layers_from_the_cli(self):
        lname = uniq('fnlayer')
        path, data = self.zipfile(LIB_LAYER)
        arn = self.aws('publish-layer-version', '--layer-name', lname, '--zip-file', 'fileb://' + path)['LayerVersionArn']
        fpath, _ = self.zipfile({'app.py': PY_IMPORTS})
        fname = uniq('cli-fn')
        cfg = self.aws('create-function', '--function-name', fname, '--runtime', 'python3.11', '--handler',
                       'app.handler', '--role', ROLE, '--zip-file', 'fileb://' + fpath, '--layers', arn)
        self.assertEqual(cfg['Layers'], [{'Arn': arn, 'CodeSize': len(data)}])
        got = self.aws('get-function-configuration', '--function-name', fname)
        self.assertEqual(got['Layers'], [{'Arn': arn, 'CodeSize': len(data)}])
        out = self.call(fname)
        self.assertEqual(out['layermod'], 'layermod')
        self.assertEqual(out['sitemod'], 'sitemod')
        self.assertEqual(out['tool'], 'tool:x')
        self.assertEqual(out['layermod_file'], '/opt/python/layermod.py')
        self.assertIn('/opt/bin', out['path'].split(':'))
        self.assertIn('/opt/lib', out['ld'].split(':'))
        # Layers [] takes every layer off.
        cfg, h = self.update_config(fname, {'Layers': []})
        self.assertNotIn('Layers', cfg)
        self.assertNotIn('Layers', self.aws('get-function-configuration', '--function-name', fname))


@unittest.skipUnless(os.path.isdir(SDK), 'the AWS SDK for JavaScript is not installed (scripts/deps.sh installs it)')
class SdkLayersTest(LayersBase):
    """The AWS SDK for JavaScript v3: its requests, its parsing of every
    answer, its paginators (ListLayers, ListLayerVersions) and its waiter."""

    def test_layers_through_the_sdk(self):
        d = tempfile.mkdtemp(prefix='nimbus-it-sdk-')
        self.addCleanup(shutil.rmtree, d, True)
        lzip, fzip = os.path.join(d, 'layer.zip'), os.path.join(d, 'fn.zip')
        ldata = make_zip(LIB_LAYER)
        with open(lzip, 'wb') as f:
            f.write(ldata)
        with open(fzip, 'wb') as f:
            f.write(make_zip({'app.py': PY_IMPORTS}))
        lname, fname = uniq('sdk-layer'), uniq('sdk-fn')
        p = subprocess.run(['/usr/bin/node', os.path.join(JS, 'layers_client.js'), self.c.url, lname, lzip, fname,
                            fzip, ROLE], capture_output=True, text=True, timeout=120)
        out = json.loads(p.stdout or '{}')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(out['v1']['Version'], 1)
        self.assertEqual(out['v1']['LayerVersionArn'], layer_arn(lname, 1))
        self.assertEqual(out['v1']['Content']['CodeSha256'], sha256_b64(ldata))
        self.assertEqual(out['v1']['Content']['CodeSize'], len(ldata))
        self.assertEqual(out['v1']['CompatibleArchitectures'], ['x86_64'])
        self.assertEqual(out['v2']['Version'], 2)
        self.assertEqual(out['get']['LayerArn'], layer_arn(lname))
        self.assertEqual(out['get']['CompatibleRuntimes'], ['python3.11'])
        self.assertEqual(out['byArn']['Version'], 2)
        self.assertEqual(out['versions'], [2, 1])
        self.assertEqual([l['LatestMatchingVersion']['Version'] for l in out['layers']], [1])
        self.assertEqual(out['config']['Layers'], [{'Arn': layer_arn(lname, 1), 'CodeSize': len(ldata)}])
        self.assertEqual(out['invoke']['status'], 200)
        self.assertNotIn('error', out['invoke'])
        self.assertEqual(out['invoke']['payload']['sitemod'], 'sitemod')
        self.assertEqual(out['unknown']['error'], 'InvalidParameterValueException')
        self.assertIn('does not exist', out['unknown']['message'])
        self.assertEqual(out['deleted']['error'], 'ResourceNotFoundException')
        self.assertEqual(out['deleted']['status'], 404)


class LayersTest(LayersBase):
    def test_node_function_requires_from_the_layer(self):
        arn = self.publish(uniq('nodelayer'), LIB_LAYER)['LayerVersionArn']
        name, cfg = self.new_function(uniq('lnode'), {'index.js': NODE_IMPORTS}, runtime='nodejs20.x',
                                      handler='index.handler', extra={'Layers': [arn]})
        out = self.call(name)
        self.assertEqual(out['nodelib'], 'nodelib')
        self.assertEqual(out['verlib'], 'verlib')
        self.assertEqual(out['nodePath'].split(':')[:2],
                         ['/opt/nodejs/node%s/node_modules' % NODE_MAJOR, '/opt/nodejs/node_modules'])

    def test_later_layers_override_earlier_ones(self):
        a = self.publish(uniq('la'), {'shared.txt': 'from A', 'only-a.txt': 'A'})['LayerVersionArn']
        b = self.publish(uniq('lb'), {'shared.txt': 'from B', 'only-b.txt': 'B'})['LayerVersionArn']
        name, cfg = self.py_fn(PY_SHOW, [a, b])
        self.assertEqual([l['Arn'] for l in cfg['Layers']], [a, b])
        ev = {'read': ['/opt/shared.txt', '/opt/only-a.txt', '/opt/only-b.txt']}
        out = self.call(name, ev)
        self.assertEqual(out['/opt/shared.txt'], 'from B')
        self.assertEqual(out['/opt/only-a.txt'], 'A')
        self.assertEqual(out['/opt/only-b.txt'], 'B')
        cfg, h = self.update_config(name, {'Layers': [b, a]})
        self.assertEqual([l['Arn'] for l in cfg['Layers']], [b, a])
        self.assertEqual(self.call(name, ev)['/opt/shared.txt'], 'from A')

    def test_opt_is_read_only_and_task_code_wins(self):
        arn = self.publish(uniq('ro'), {'python/app.py': 'raise SystemExit("the layer shadowed the code")\n',
                                        'data.txt': 'd'})['LayerVersionArn']
        name, cfg = self.py_fn(PY_SHOW, [arn])
        out = self.call(name, {'read': ['/opt/data.txt'], 'write': '/opt/new.txt'})
        self.assertEqual(out['/opt/data.txt'], 'd')
        self.assertEqual(out['write'], 'ERR:30')    # EROFS
        out = self.call(name, {'write': '/opt/data.txt'})
        self.assertEqual(out['write'], 'ERR:30')

    def test_layer_gives_a_custom_runtime_its_bootstrap(self):
        boot = ('#!/bin/sh\nAPI="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"\n'
                'while true; do\n'
                '  H=$(mktemp); curl -sS -D "$H" -o /dev/null "$API/invocation/next"\n'
                '  ID=$(grep -i "^lambda-runtime-aws-request-id:" "$H" | cut -d: -f2 | tr -d " \\r")\n'
                '  curl -sS -o /dev/null -X POST --data-binary "\\"from /opt/bootstrap\\"" '
                '"$API/invocation/$ID/response"\n'
                'done\n')
        arn = self.publish(uniq('rt'), {'bootstrap': (boot, 0o755)})['LayerVersionArn']
        name, cfg = self.new_function(uniq('lprov'), {'handler.txt': 'x'}, runtime='provided',
                                      handler='x.handler', extra={'Layers': [arn]})
        self.assertEqual(self.call(name), 'from /opt/bootstrap')

    def test_errors(self):
        good = self.publish(uniq('err'), {'a.txt': 'a'})
        arn = good['LayerVersionArn']
        missing = layer_arn(uniq('nosuch'), 1)
        self.assert_error(self.c.create_function(uniq('e1'), {'app.py': PY_SHOW}, runtime='python3.11',
                                                 handler='app.handler', extra={'Layers': [missing]}),
                          400, 'InvalidParameterValueException', 'Layer version %s does not exist.' % missing)
        self.assert_error(self.c.create_function(uniq('e2'), {'app.py': PY_SHOW}, runtime='python3.11',
                                                 handler='app.handler', extra={'Layers': ['not-an-arn']}),
                          400, 'ValidationException', "at 'layers'")
        six = []
        for i in range(6):
            six.append(self.publish(uniq('six'), {'f.txt': str(i)})['LayerVersionArn'])
        self.assert_error(self.c.create_function(uniq('e3'), {'app.py': PY_SHOW}, runtime='python3.11',
                                                 handler='app.handler', extra={'Layers': six}),
                          400, 'InvalidParameterValueException', 'Cannot reference more than 5 layers.')
        name, cfg = self.py_fn(PY_SHOW, six[:5])
        self.assertEqual(len(cfg['Layers']), 5)
        second = self.publish(good['LayerArn'].split(':')[-1], {'b.txt': 'b'})['LayerVersionArn']
        self.assert_error(self.update_config_raw(name, {'Layers': [arn, second]}), 400,
                          'InvalidParameterValueException', 'Two different versions of the same layer are not allowed.')
        # A refused update changes nothing.
        st, h, cfg2, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual([l['Arn'] for l in cfg2['Layers']], six[:5])
        self.assert_error(self.c.api('GET', '/2018-10-31/layers/%s/versions/1' % uniq('none')), 404,
                          'ResourceNotFoundException')
        self.assert_error(self.c.api('GET', '/2018-10-31/layers/bad!name/versions'), 400, 'ValidationException',
                          "at 'layerName'")
        self.assert_error(self.c.api('POST', '/2018-10-31/layers/%s/versions' % uniq('nocontent'), {}), 400,
                          'ValidationException', "at 'content'")
        self.assert_error(self.c.api('POST', '/2018-10-31/layers/%s/versions' % uniq('s3'),
                                     {'Content': {'S3Bucket': 'b', 'S3Key': 'k'}}), 400,
                          'InvalidParameterValueException')
        self.assert_error(self.c.api('POST', '/2018-10-31/layers/%s/versions' % uniq('badzip'),
                                     {'Content': {'ZipFile': base64.b64encode(b'not a zip').decode()}}), 400,
                          'InvalidParameterValueException')
        self.assert_error(self.c.api('GET', '/2018-10-31/layers?MaxItems=0'), 400, 'ValidationException')
        self.assert_error(self.c.api('GET', '/2018-10-31/layers?find=LayerVersion&Arn=nope'), 400,
                          'ValidationException')
        st, h, doc, raw = self.c.api('PUT', '/2018-10-31/layers/x/versions')
        self.assertEqual(st, 405, raw)

    def update_config_raw(self, name, body):
        return self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name, body)

    def test_deleted_version_keeps_working_for_functions_using_it(self):
        lname = uniq('del')
        arn = self.publish(lname, LIB_LAYER)['LayerVersionArn']
        name, cfg = self.py_fn(PY_IMPORTS, [arn])
        self.assertEqual(self.call(name)['layermod'], 'layermod')
        st, h, body = self.c.request('DELETE', '/2018-10-31/layers/%s/versions/1' % lname)
        self.assertEqual(st, 204, body)
        # Its code is still what the function runs, on a fresh instance too.
        self.update_config(name, {'Environment': {'Variables': {'AFTER': 'delete'}}})
        self.assertEqual(self.call(name)['layermod'], 'layermod')
        st, h, cfg, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual([l['Arn'] for l in cfg['Layers']], [arn])
        # The same list again is kept; a new function cannot take it any more.
        self.update_config(name, {'Layers': [arn], 'Description': 'same layers'})
        self.assertEqual(self.call(name)['sitemod'], 'sitemod')
        self.assert_error(self.c.create_function(uniq('late'), {'app.py': PY_IMPORTS}, runtime='python3.11',
                                                 handler='app.handler', extra={'Layers': [arn]}),
                          400, 'InvalidParameterValueException', 'does not exist')

    def test_published_version_keeps_its_layers(self):
        a = self.publish(uniq('pv'), {'v.txt': 'one'})['LayerVersionArn']
        b = self.publish(uniq('pv'), {'v.txt': 'two'})['LayerVersionArn']
        name, cfg = self.py_fn(PY_SHOW, [a])
        st, h, ver, raw = self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual(st, 201, raw)
        self.assertEqual([l['Arn'] for l in ver['Layers']], [a])
        self.update_config(name, {'Layers': [b]})
        ev = json.dumps({'read': ['/opt/v.txt']}).encode()
        st, h, body = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=%s'
                                     % (name, ver['Version']), ev)
        self.assertEqual(json.loads(body)['/opt/v.txt'], 'one')
        self.assertEqual(self.call(name, {'read': ['/opt/v.txt']})['/opt/v.txt'], 'two')

    def test_code_store_lets_go_of_unused_layer_code(self):
        lname = uniq('gc')
        pub = self.publish(lname, {'gc.txt': 'gc-%s' % lname})
        hexkey = pub['Content']['Location'].rsplit('/', 1)[1][:-4]
        code = os.path.join(self.server.data_dir, 'code')
        self.assertTrue(os.path.isdir(os.path.join(code, hexkey)))
        name, cfg = self.py_fn(PY_SHOW, [pub['LayerVersionArn']])
        trees = set(os.listdir(code))
        self.assertEqual(self.call(name, {'read': ['/opt/gc.txt']})['/opt/gc.txt'], 'gc-%s' % lname)
        st, h, body = self.c.request('DELETE', '/2018-10-31/layers/%s/versions/1' % lname)
        self.assertEqual(st, 204, body)
        self.wait_gone(os.path.join(code, hexkey))   # the layer's own copy: no version holds it
        merged = [t for t in trees if os.path.exists(os.path.join(code, t, 'layers'))
                  and open(os.path.join(code, t, 'layers')).read().find(hexkey) >= 0]
        self.assertEqual(len(merged), 1, trees)
        self.assertTrue(os.path.isdir(os.path.join(code, merged[0], 'tree')))   # the function's stays
        st, h, body = self.c.request('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, body)
        self.wait_gone(os.path.join(code, merged[0]))

    def wait_gone(self, path, timeout=30):
        import time
        end = time.time() + timeout
        while os.path.exists(path):
            if time.time() > end:
                self.fail('%s is still there' % path)
            time.sleep(0.1)


class LayerLimitsTest(LayersBase):
    """The unzipped limit counts the function's code and its layers together."""
    server_args = ('--max-unzipped-bytes', '300000')

    def test_function_plus_layers_over_the_limit(self):
        big = os.urandom(100000).hex()[:160000]      # 160000 bytes, stored as written
        l1 = self.publish(uniq('big'), {'a.bin': big})['LayerVersionArn']
        l2 = self.publish(uniq('big'), {'b.bin': big})['LayerVersionArn']
        name, cfg = self.py_fn(PY_SHOW, [l1])      # 160 KB + the code: fits
        self.assert_error(self.update_config_raw(name, {'Layers': [l1, l2]}), 400, 'InvalidParameterValueException',
                          'Function code combined with layers exceeds the maximum allowed size of 300000 bytes.')
        self.assert_error(self.c.create_function(uniq('big'), {'app.py': PY_SHOW, 'pad.bin': big[:100000]},
                                                 runtime='python3.11', handler='app.handler',
                                                 extra={'Layers': [l1, l2]}),
                          400, 'InvalidParameterValueException', 'The actual size is')
        # New code too big for the layers it has.
        st, h, doc, raw = self.c.update_code(name, {'app.py': PY_SHOW, 'pad.bin': big})
        self.assertEqual(st, 400, raw)
        self.assertIn('Function code combined with layers', raw.decode())

    def update_config_raw(self, name, body):
        return self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name, body)


class LayersCliTest(LayersBase):
    def cli(self, *args):
        p = run_cli(list(args) + ['--endpoint', self.c.url], timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_publish_list_deploy_rm(self):
        src = tempfile.mkdtemp(prefix='nimbus-it-layercli-')
        self.addCleanup(shutil.rmtree, src, True)
        os.makedirs(os.path.join(src, 'layer', 'python'))
        with open(os.path.join(src, 'layer', 'python', 'clilib.py'), 'w') as f:
            f.write('WHO = "clilib"\n')
        os.makedirs(os.path.join(src, 'fn'))
        with open(os.path.join(src, 'fn', 'app.py'), 'w') as f:
            f.write('def handler(e, c):\n    import clilib\n    return clilib.WHO\n')
        lname = uniq('clilayer')
        rc, out, err = self.cli('layer', 'publish', lname, os.path.join(src, 'layer'), '--runtime', 'python3.11')
        self.assertEqual(rc, 0, err)
        self.assertIn('published %s ' % layer_arn(lname, 1), out)
        rc, out, err = self.cli('layer', 'list')
        self.assertEqual(rc, 0, err)
        row = [l for l in out.splitlines() if l.startswith(lname + ' ')]
        self.assertEqual(len(row), 1, out)
        self.assertIn('python3.11', row[0])
        self.assertIn(layer_arn(lname, 1), row[0])
        fname = uniq('clifn')
        rc, out, err = self.cli('deploy', fname, os.path.join(src, 'fn'), '--runtime', 'python3.11',
                                '--handler', 'app.handler', '--layer', layer_arn(lname, 1))
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.call(fname), 'clilib')
        rc, out, err = self.cli('layer', 'rm', lname, '1')
        self.assertEqual(rc, 0, err)
        rc, out, err = self.cli('layer', 'list', lname)
        self.assertEqual(rc, 0, err)
        self.assertNotIn(layer_arn(lname, 1), out)
        rc, out, err = self.cli('deploy', uniq('clifn'), os.path.join(src, 'fn'), '--runtime', 'python3.11',
                                '--handler', 'app.handler', '--layer', layer_arn(lname, 1))
        self.assertEqual(rc, 1, out)
        self.assertIn('does not exist', err)


class LayersRootlessTest(LayersBase):
    """The server as uid 65534 (rootless: a user namespace of its own): the
    layers' tree is mounted at /opt the same way."""
    server_kwargs = {'user': 65534, 'sandbox_env': False}

    @classmethod
    def setUpClass(cls):
        from test_rootless import must_run_as_nobody, userns_unavailable
        must_run_as_nobody()
        why = userns_unavailable()
        if why:
            raise unittest.SkipTest(why)
        super().setUpClass()

    def test_layers_rootless(self):
        a = self.publish(uniq('ra'), dict(LIB_LAYER, **{'shared.txt': 'A'}))['LayerVersionArn']
        b = self.publish(uniq('rb'), {'shared.txt': 'B'})['LayerVersionArn']
        name, cfg = self.py_fn(PY_IMPORTS, [a, b])
        out = self.call(name)
        self.assertEqual((out['layermod'], out['sitemod'], out['tool']), ('layermod', 'sitemod', 'tool:x'))
        show, cfg = self.py_fn(PY_SHOW, [a, b])
        out = self.call(show, {'read': ['/opt/shared.txt'], 'write': '/opt/x'})
        self.assertEqual(out['/opt/shared.txt'], 'B')
        self.assertTrue(out['write'].startswith('ERR:'), out)


class LayersUnsandboxedTest(LayersBase):
    """--insecure-no-sandbox mounts nothing: NIMBUS_OPT_DIR names the merged
    tree in the code store, and the runtimes' search paths start from it."""
    server_args = ('--insecure-no-sandbox',)

    def test_layers_without_a_sandbox(self):
        a = self.publish(uniq('ua'), dict(LIB_LAYER, **{'shared.txt': 'A'}))['LayerVersionArn']
        b = self.publish(uniq('ub'), {'shared.txt': 'B'})['LayerVersionArn']
        name, cfg = self.py_fn(PY_IMPORTS, [a, b])
        out = self.call(name)
        self.assertEqual((out['layermod'], out['sitemod'], out['tool']), ('layermod', 'sitemod', 'tool:x'))
        opt = os.path.dirname(os.path.dirname(out['layermod_file']))
        self.assertTrue(opt.startswith(os.path.join(self.server.data_dir, 'code')), opt)
        with open(os.path.join(opt, 'shared.txt')) as f:
            self.assertEqual(f.read(), 'B')
        self.assertIn(opt + '/bin', out['path'].split(':'))
        plain, cfg = self.py_fn(PY_SHOW, None)
        self.assertEqual(self.call(plain)['opt_env'], '')


if __name__ == '__main__':
    unittest.main()
