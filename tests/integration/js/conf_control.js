// The control plane through the AWS SDK for JavaScript v3: every answer is
// parsed by the SDK itself. Usage: node conf_control.js ENDPOINT FUNCTION
// (FUNCTION exists, python3.11, handler app.handler). Prints one JSON line.
'use strict';
const L = require('@aws-sdk/client-lambda');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [endpoint, name] = process.argv.slice(2);
const client = new L.LambdaClient({
  endpoint, region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const send = (C, input) => client.send(new C(input));

function zip(text) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-js-'));
  fs.writeFileSync(path.join(d, 'app.py'), text);
  execFileSync('/usr/bin/python3', ['-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); z.write(sys.argv[2], "app.py"); z.close()',
    path.join(d, 'c.zip'), path.join(d, 'app.py')]);
  return fs.readFileSync(path.join(d, 'c.zip'));
}
const sha = (buf) => require('crypto').createHash('sha256').update(buf).digest('base64');

async function main() {
  const out = { requestIds: [] };
  const note = (r) => { out.requestIds.push(r.$metadata.requestId); return r; };
  const cfg = note(await send(L.GetFunctionConfigurationCommand, { FunctionName: name }));
  note(await send(L.PublishVersionCommand, { FunctionName: name, RevisionId: cfg.RevisionId }));
  const two = zip('def handler(event, context):\n    return 2\n');
  const dry = note(await send(L.UpdateFunctionCodeCommand, { FunctionName: name, ZipFile: two, DryRun: true }));
  out.dryRunSha = dry.CodeSha256;
  out.wouldBeSha = sha(two);
  out.currentSha = note(await send(L.GetFunctionConfigurationCommand, { FunctionName: name })).CodeSha256;
  try {
    await send(L.UpdateFunctionConfigurationCommand, { FunctionName: name, Description: 'x', RevisionId: 'stale' });
    out.stale = ['none'];
  } catch (e) {
    out.stale = [e.name, e.$metadata.httpStatusCode];
  }
  const up = note(await send(L.UpdateFunctionCodeCommand, { FunctionName: name, ZipFile: two, Publish: true }));
  out.publishedOnUpdate = up.Version;
  for (const a of ['p1', 'p2', 'p3'])
    note(await send(L.CreateAliasCommand, { FunctionName: name, Name: a, FunctionVersion: '1' }));
  out.aliases = [];
  for await (const page of L.paginateListAliases({ client, pageSize: 1 }, { FunctionName: name }))
    out.aliases.push(...page.Aliases.map((a) => a.Name));
  note(await send(L.PutProvisionedConcurrencyConfigCommand,
    { FunctionName: name, Qualifier: '1', ProvisionedConcurrentExecutions: 1 }));
  note(await send(L.GetProvisionedConcurrencyConfigCommand, { FunctionName: name, Qualifier: '1' }));
  out.provisioned = [];
  for await (const page of L.paginateListProvisionedConcurrencyConfigs({ client, pageSize: 1 }, { FunctionName: name }))
    out.provisioned.push(...page.ProvisionedConcurrencyConfigs.map((c) => c.FunctionArn.split(':').pop()));
  out.allVersions = [];
  for await (const page of L.paginateListFunctions({ client, pageSize: 2 }, { FunctionVersion: 'ALL' }))
    out.allVersions.push(...page.Functions.filter((f) => f.FunctionName === name).map((f) => f.Version));
  note(await send(L.DeleteProvisionedConcurrencyConfigCommand, { FunctionName: name, Qualifier: '1' }));
  try {
    await send(L.ListEventSourceMappingsCommand, {});
    out.unsupported = ['none', ''];
  } catch (e) {
    out.unsupported = [e.name, e.message];
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
