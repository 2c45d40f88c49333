// Every operation Nimbus serves, driven by the AWS SDK for JavaScript v3 and
// parsed by the SDK itself (its deserializers, paginators and waiters), so an
// answer that is wrong in Lambda's terms fails here as it would for a user.
//
// Usage: node conformance.mjs ENDPOINT PREFIX
// Prints one JSON object: {"cases": {NAME: {"ok": true, "value": ...} |
// {"ok": false, "error": NAME, "typed": BOOL, "status": N, "message": ...}}}.
// A case that throws is recorded and the run goes on; the Python side
// (test_sdk_conformance.py) asserts on each case.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const L = require('@aws-sdk/client-lambda');

const [endpoint, prefix] = process.argv.slice(2);
const client = new L.LambdaClient({
  endpoint, region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const send = (C, input) => client.send(new C(input));
const ROLE = 'arn:aws:iam::000000000000:role/nimbus-sdk';
const cases = {};

// The modeled exceptions: the SDK must give these as their own classes.
const TYPED = ['ResourceNotFoundException', 'ResourceConflictException', 'InvalidParameterValueException',
  'PreconditionFailedException', 'PolicyLengthExceededException', 'TooManyRequestsException',
  'ServiceException', 'ProvisionedConcurrencyConfigNotFoundException', 'InvalidRequestContentException'];

function failure(e) {
  const cls = L[e.name];
  return {
    ok: false, error: e.name, message: e.message,
    typed: TYPED.includes(e.name) && typeof cls === 'function' && e instanceof cls,
    status: e.$metadata ? e.$metadata.httpStatusCode : null,
  };
}

async function step(name, fn) {
  try {
    cases[name] = { ok: true, value: await fn() };
  } catch (e) {
    cases[name] = failure(e);
  }
}

// The error an operation must end in (the case's value), or a failure saying it did not fail.
async function refusal(fn) {
  try {
    await fn();
  } catch (e) {
    return failure(e);
  }
  throw Object.assign(new Error('the operation succeeded'), { name: 'NoError' });
}

function zip(text) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-sdk-'));
  fs.writeFileSync(path.join(d, 'app.py'), text);
  execFileSync('/usr/bin/python3', ['-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); z.write(sys.argv[2], "app.py"); z.close()',
    path.join(d, 'c.zip'), path.join(d, 'app.py')]);
  const b = fs.readFileSync(path.join(d, 'c.zip'));
  fs.rmSync(d, { recursive: true });
  return b;
}
// A ZIP of one file at `rel` (a layer's python/<module>.py).
function zipAt(rel, body) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-sdk-'));
  fs.writeFileSync(path.join(d, 'f'), body);
  execFileSync('/usr/bin/python3', ['-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); z.write(sys.argv[2], sys.argv[3]); z.close()',
    path.join(d, 'c.zip'), path.join(d, 'f'), rel]);
  const b = fs.readFileSync(path.join(d, 'c.zip'));
  fs.rmSync(d, { recursive: true });
  return b;
}
const sha = (buf) => crypto.createHash('sha256').update(buf).digest('base64');
const text = (u8) => Buffer.from(u8 || []).toString('utf8');
const ECHO = zip('def handler(event, context):\n    return {"got": event}\n');
const TWO = zip('def handler(event, context):\n    return {"two": event}\n');

function create(name, extra = {}) {
  return send(L.CreateFunctionCommand, {
    FunctionName: name, Runtime: 'python3.11', Handler: 'app.handler', Role: ROLE,
    Code: { ZipFile: ECHO }, Timeout: 10, ...extra,
  });
}

// A GET on a function URL as returned (its host name), sent to this endpoint.
function getUrl(functionUrl, urlPath) {
  const u = new URL(functionUrl), e = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: e.hostname, port: e.port, path: urlPath, method: 'GET',
      headers: { Host: u.host }, timeout: 20000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function main() {
  const fn = `${prefix}-main`;
  let arn = `arn:aws:lambda:us-east-1:000000000000:function:${fn}`;   // as CreateFunction answers it

  // ---- the function life cycle
  await step('create', async () => {
    const c = await create(fn, { Tags: { team: 'core', stage: 'test' }, Description: 'sdk' });
    arn = c.FunctionArn;
    return { FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Runtime: c.Runtime, State: c.State,
      StateReason: c.StateReason, StateReasonCode: c.StateReasonCode, CodeSha256: c.CodeSha256, expectedSha: sha(ECHO), CodeSize: c.CodeSize, zipSize: ECHO.length,
      Version: c.Version, RevisionId: c.RevisionId };
  });
  await step('create_duplicate', () => refusal(() => create(fn)));
  await step('waiter_active', async () =>
    (await L.waitUntilFunctionActiveV2({ client, maxWaitTime: 30 }, { FunctionName: fn })).state);
  await step('get_function', async () => {
    const g = await send(L.GetFunctionCommand, { FunctionName: fn });
    return { FunctionName: g.Configuration.FunctionName, Tags: g.Tags, RepositoryType: g.Code.RepositoryType,
      Location: g.Code.Location };
  });
  await step('get_function_configuration', async () => {
    const g = await send(L.GetFunctionConfigurationCommand, { FunctionName: fn });
    return { FunctionName: g.FunctionName, Handler: g.Handler, MemorySize: g.MemorySize, Timeout: g.Timeout,
      LastUpdateStatus: g.LastUpdateStatus, Description: g.Description, State: g.State,
      StateReasonCode: g.StateReasonCode ?? null };
  });
  await step('get_missing', () => refusal(() => send(L.GetFunctionCommand, { FunctionName: `${prefix}-nope` })));
  await step('list_functions_paginator', async () => {
    for (const n of ['p1', 'p2', 'p3']) await create(`${prefix}-${n}`);
    const names = [];
    let pages = 0;
    for await (const page of L.paginateListFunctions({ client, pageSize: 2 }, {})) {
      pages++;
      names.push(...page.Functions.map((f) => f.FunctionName));
    }
    return { pages, names };
  });
  await step('update_code', async () => {
    const u = await send(L.UpdateFunctionCodeCommand, { FunctionName: fn, ZipFile: TWO });
    return { CodeSha256: u.CodeSha256, expectedSha: sha(TWO) };
  });
  await step('waiter_updated_after_code', async () =>
    (await L.waitUntilFunctionUpdatedV2({ client, maxWaitTime: 30 }, { FunctionName: fn })).state);
  await step('update_configuration', async () => {
    const u = await send(L.UpdateFunctionConfigurationCommand,
      { FunctionName: fn, Description: 'updated', MemorySize: 256, Environment: { Variables: { KEY: 'v' } } });
    return { Description: u.Description, MemorySize: u.MemorySize, Environment: u.Environment };
  });
  await step('waiter_updated_after_configuration', async () =>
    (await L.waitUntilFunctionUpdatedV2({ client, maxWaitTime: 30 }, { FunctionName: fn })).state);
  await step('update_code_dry_run', async () => {
    const before = (await send(L.GetFunctionConfigurationCommand, { FunctionName: fn })).CodeSha256;
    const d = await send(L.UpdateFunctionCodeCommand, { FunctionName: fn, ZipFile: ECHO, DryRun: true });
    const after = (await send(L.GetFunctionConfigurationCommand, { FunctionName: fn })).CodeSha256;
    return { answered: d.CodeSha256, wouldBe: sha(ECHO), before, after };
  });
  await step('update_stale_revision', () => refusal(() => send(L.UpdateFunctionConfigurationCommand,
    { FunctionName: fn, Description: 'x', RevisionId: '00000000-0000-0000-0000-000000000000' })));

  await step('publish_on_create_and_update', async () => {
    const c = await create(`${prefix}-pub`, { Publish: true });
    const u = await send(L.UpdateFunctionCodeCommand, { FunctionName: `${prefix}-pub`, ZipFile: TWO, Publish: true });
    const versions = [];
    for await (const page of L.paginateListVersionsByFunction({ client }, { FunctionName: `${prefix}-pub` }))
      versions.push(...page.Versions.map((v) => v.Version));
    await send(L.DeleteFunctionCommand, { FunctionName: `${prefix}-pub` });
    return { created: c.Version, updated: u.Version, versions };
  });
  await step('request_ids', async () => {
    const ids = [];
    for (const [C, input] of [[L.GetFunctionCommand, { FunctionName: fn }], [L.ListFunctionsCommand, {}],
      [L.GetAccountSettingsCommand, {}], [L.ListTagsCommand, { Resource: arn }],
      [L.TagResourceCommand, { Resource: arn, Tags: { rid: 'x' } }],
      [L.UntagResourceCommand, { Resource: arn, TagKeys: ['rid'] }]])
      ids.push((await send(C, input)).$metadata.requestId || null);
    return ids;
  });

  // ---- Invoke
  await step('invoke_sync', async () => {
    const r = await send(L.InvokeCommand, { FunctionName: fn, Payload: Buffer.from('{"a":1}'), LogType: 'Tail' });
    return { StatusCode: r.StatusCode, ExecutedVersion: r.ExecutedVersion, FunctionError: r.FunctionError,
      Payload: text(r.Payload), log: Buffer.from(r.LogResult || '', 'base64').toString('utf8') };
  });
  await step('invoke_event', async () => {
    const r = await send(L.InvokeCommand, { FunctionName: fn, InvocationType: 'Event', Payload: Buffer.from('{}') });
    return { StatusCode: r.StatusCode, Payload: text(r.Payload) };
  });
  await step('invoke_dry_run', async () => {
    const r = await send(L.InvokeCommand, { FunctionName: fn, InvocationType: 'DryRun' });
    return { StatusCode: r.StatusCode, Payload: text(r.Payload) };
  });
  await step('invoke_missing', () => refusal(() => send(L.InvokeCommand, { FunctionName: `${prefix}-nope` })));

  // ---- versions and aliases
  await step('publish_version', async () => {
    const v = await send(L.PublishVersionCommand, { FunctionName: fn, Description: 'one' });
    return { Version: v.Version, FunctionArn: v.FunctionArn };
  });
  await step('list_versions_paginator', async () => {
    await send(L.UpdateFunctionCodeCommand, { FunctionName: fn, ZipFile: ECHO });
    await L.waitUntilFunctionUpdatedV2({ client, maxWaitTime: 30 }, { FunctionName: fn });
    await send(L.PublishVersionCommand, { FunctionName: fn });
    const versions = [];
    for await (const page of L.paginateListVersionsByFunction({ client, pageSize: 1 }, { FunctionName: fn }))
      versions.push(...page.Versions.map((v) => v.Version));
    return versions;
  });
  await step('aliases', async () => {
    for (const a of ['a1', 'a2', 'a3'])
      await send(L.CreateAliasCommand, { FunctionName: fn, Name: a, FunctionVersion: '1' });
    const got = await send(L.GetAliasCommand, { FunctionName: fn, Name: 'a1' });
    const up = await send(L.UpdateAliasCommand, { FunctionName: fn, Name: 'a2', FunctionVersion: '2' });
    await send(L.DeleteAliasCommand, { FunctionName: fn, Name: 'a3' });
    return { got: { Name: got.Name, FunctionVersion: got.FunctionVersion, AliasArn: got.AliasArn },
      updated: up.FunctionVersion };
  });
  await step('aliases_paginator', async () => {
    const names = [];
    let pages = 0;
    for await (const page of L.paginateListAliases({ client, pageSize: 1 }, { FunctionName: fn })) {
      pages++;
      names.push(...page.Aliases.map((a) => a.Name));
    }
    return { pages, names };
  });
  await step('list_functions_all_versions', async () => {
    const versions = [];
    for await (const page of L.paginateListFunctions({ client, pageSize: 2 }, { FunctionVersion: 'ALL' }))
      versions.push(...page.Functions.filter((f) => f.FunctionName === fn).map((f) => f.Version));
    return versions;
  });
  await step('invoke_alias', async () => {
    const r = await send(L.InvokeCommand, { FunctionName: fn, Qualifier: 'a1', Payload: Buffer.from('{}') });
    return { StatusCode: r.StatusCode, ExecutedVersion: r.ExecutedVersion, Payload: text(r.Payload) };
  });

  // ---- concurrency
  await step('reserved_concurrency', async () => {
    const p = await send(L.PutFunctionConcurrencyCommand, { FunctionName: fn, ReservedConcurrentExecutions: 7 });
    const g = await send(L.GetFunctionConcurrencyCommand, { FunctionName: fn });
    const gf = await send(L.GetFunctionCommand, { FunctionName: fn });
    return { put: p.ReservedConcurrentExecutions, get: g.ReservedConcurrentExecutions,
      inGetFunction: gf.Concurrency && gf.Concurrency.ReservedConcurrentExecutions };
  });
  await step('provisioned_concurrency', async () => {
    const p = await send(L.PutProvisionedConcurrencyConfigCommand,
      { FunctionName: fn, Qualifier: '1', ProvisionedConcurrentExecutions: 1 });
    const g = await send(L.GetProvisionedConcurrencyConfigCommand, { FunctionName: fn, Qualifier: '1' });
    const listed = [];
    for await (const page of L.paginateListProvisionedConcurrencyConfigs({ client, pageSize: 1 }, { FunctionName: fn }))
      listed.push(...page.ProvisionedConcurrencyConfigs.map((c) => c.FunctionArn));
    await send(L.DeleteProvisionedConcurrencyConfigCommand, { FunctionName: fn, Qualifier: '1' });
    return { requested: p.RequestedProvisionedConcurrentExecutions, got: g.RequestedProvisionedConcurrentExecutions,
      listed };
  });

  // ---- asynchronous invocation settings
  await step('event_invoke_config', async () => {
    const p = await send(L.PutFunctionEventInvokeConfigCommand,
      { FunctionName: fn, MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 120 });
    await send(L.PutFunctionEventInvokeConfigCommand, { FunctionName: fn, Qualifier: 'a1', MaximumRetryAttempts: 0 });
    const u = await send(L.UpdateFunctionEventInvokeConfigCommand, { FunctionName: fn, MaximumRetryAttempts: 2 });
    const g = await send(L.GetFunctionEventInvokeConfigCommand, { FunctionName: fn });
    const listed = [];
    for await (const page of L.paginateListFunctionEventInvokeConfigs({ client, pageSize: 1 }, { FunctionName: fn }))
      listed.push(...page.FunctionEventInvokeConfigs.map((c) => c.FunctionArn));
    await send(L.DeleteFunctionEventInvokeConfigCommand, { FunctionName: fn });
    const gone = await refusal(() => send(L.GetFunctionEventInvokeConfigCommand, { FunctionName: fn }));
    return { put: p.MaximumRetryAttempts, updated: u.MaximumRetryAttempts, age: g.MaximumEventAgeInSeconds,
      lastModifiedIsDate: g.LastModified instanceof Date, listed, gone };
  });

  // ---- function URLs
  await step('function_urls', async () => {
    const c = await send(L.CreateFunctionUrlConfigCommand, { FunctionName: fn, AuthType: 'NONE' });
    await send(L.CreateFunctionUrlConfigCommand, { FunctionName: fn, Qualifier: 'a1', AuthType: 'NONE' });
    const g = await send(L.GetFunctionUrlConfigCommand, { FunctionName: fn });
    const u = await send(L.UpdateFunctionUrlConfigCommand,
      { FunctionName: fn, Cors: { AllowOrigins: ['https://example.com'], MaxAge: 60 } });
    const listed = [];
    for await (const page of L.paginateListFunctionUrlConfigs({ client, pageSize: 1 }, { FunctionName: fn }))
      listed.push(...page.FunctionUrlConfigs.map((x) => x.FunctionArn));
    const called = await getUrl(c.FunctionUrl, '/hello?x=1');
    await send(L.DeleteFunctionUrlConfigCommand, { FunctionName: fn, Qualifier: 'a1' });
    await send(L.DeleteFunctionUrlConfigCommand, { FunctionName: fn });
    const gone = await refusal(() => send(L.GetFunctionUrlConfigCommand, { FunctionName: fn }));
    return { url: c.FunctionUrl, AuthType: c.AuthType, sameUrl: g.FunctionUrl === c.FunctionUrl,
      cors: u.Cors && u.Cors.AllowOrigins, listed, called, gone };
  });

  // ---- tags
  await step('tags', async () => {
    const first = (await send(L.ListTagsCommand, { Resource: arn })).Tags;
    await send(L.TagResourceCommand, { Resource: arn, Tags: { owner: 'me', team: 'platform' } });
    const tagged = (await send(L.ListTagsCommand, { Resource: arn })).Tags;
    await send(L.UntagResourceCommand, { Resource: arn, TagKeys: ['stage', 'absent'] });
    const untagged = (await send(L.ListTagsCommand, { Resource: arn })).Tags;
    const inGetFunction = (await send(L.GetFunctionCommand, { FunctionName: fn, Qualifier: '1' })).Tags;
    return { first, tagged, untagged, inGetFunction };
  });
  await step('tags_qualified_arn', () => refusal(() => send(L.TagResourceCommand,
    { Resource: `${arn}:1`, Tags: { a: 'b' } })));
  await step('tags_missing_function', () => refusal(() => send(L.ListTagsCommand,
    { Resource: arn.replace(/:function:.*$/, `:function:${prefix}-nope`) })));
  await step('tags_bad_arn', () => refusal(() => send(L.ListTagsCommand, { Resource: `${fn}-by-name` })));
  await step('tags_aws_prefix', () => refusal(() => send(L.TagResourceCommand,
    { Resource: arn, Tags: { 'AWS:owner': 'x' } })));
  await step('tags_too_many', async () => {
    const many = {};
    for (let i = 0; i < 49; i++) many[`k${i}`] = 'v';   // 2 already: 51 in all
    return refusal(() => send(L.TagResourceCommand, { Resource: arn, Tags: many }));
  });
  await step('tags_fifty', async () => {
    const many = {};
    for (let i = 0; i < 48; i++) many[`k${i}`] = 'v';   // 2 already: 50 in all
    await send(L.TagResourceCommand, { Resource: arn, Tags: many });
    const n = Object.keys((await send(L.ListTagsCommand, { Resource: arn })).Tags).length;
    await send(L.UntagResourceCommand, { Resource: arn, TagKeys: Object.keys(many) });
    return n;
  });
  await step('tags_long_key', () => refusal(() => send(L.TagResourceCommand,
    { Resource: arn, Tags: { ['k'.repeat(129)]: 'v' } })));
  await step('tags_long_value', () => refusal(() => send(L.TagResourceCommand,
    { Resource: arn, Tags: { k: 'v'.repeat(257) } })));
  await step('create_with_bad_tags', async () => {
    const bad = await refusal(() => create(`${prefix}-badtags`, { Tags: { 'aws:x': 'y' } }));
    const exists = await refusal(() => send(L.GetFunctionCommand, { FunctionName: `${prefix}-badtags` }));
    return { bad, exists };
  });

  // ---- resource policies
  await step('policies', async () => {
    const cfg = await send(L.GetFunctionConfigurationCommand, { FunctionName: fn });
    const s1 = await send(L.AddPermissionCommand, {
      FunctionName: fn, StatementId: 's3-invoke', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com',
      SourceArn: 'arn:aws:s3:::my-bucket', SourceAccount: '123456789012', RevisionId: cfg.RevisionId });
    await send(L.AddPermissionCommand, {
      FunctionName: fn, StatementId: 'account', Action: 'lambda:GetFunction', Principal: '123456789012' });
    await send(L.AddPermissionCommand, {
      FunctionName: fn, Qualifier: 'a1', StatementId: 's3-invoke', Action: 'lambda:InvokeFunction',
      Principal: 'sns.amazonaws.com' });
    const got = await send(L.GetPolicyCommand, { FunctionName: fn });
    const alias = await send(L.GetPolicyCommand, { FunctionName: fn, Qualifier: 'a1' });
    return { statement: JSON.parse(s1.Statement), policy: JSON.parse(got.Policy), RevisionId: got.RevisionId,
      aliasPolicy: JSON.parse(alias.Policy) };
  });
  await step('policy_duplicate_sid', () => refusal(() => send(L.AddPermissionCommand, {
    FunctionName: fn, StatementId: 'account', Action: 'lambda:InvokeFunction', Principal: '*' })));
  await step('policy_stale_revision', () => refusal(() => send(L.AddPermissionCommand, {
    FunctionName: fn, StatementId: 'late', Action: 'lambda:InvokeFunction', Principal: '*',
    RevisionId: '00000000-0000-0000-0000-000000000000' })));
  await step('policy_latest', () => refusal(() => send(L.AddPermissionCommand, {
    FunctionName: fn, Qualifier: '$LATEST', StatementId: 'l', Action: 'lambda:InvokeFunction', Principal: '*' })));
  await step('policy_bad_principal', () => refusal(() => send(L.AddPermissionCommand, {
    FunctionName: fn, StatementId: 'bad', Action: 'lambda:InvokeFunction', Principal: 'someone' })));
  await step('policy_validation', () => refusal(() => send(L.AddPermissionCommand, {
    FunctionName: fn, StatementId: 'bad id', Action: 'invoke', Principal: '*' })));
  await step('policy_too_long', async () => {
    // Statements on alias a2 until the policy passes 20 KB.
    const long = `arn:aws:s3:::${'b'.repeat(900)}`;
    let added = 0;
    for (; added < 40; added++) {
      try {
        await send(L.AddPermissionCommand, { FunctionName: fn, Qualifier: 'a2', StatementId: `big${added}`,
          Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com', SourceArn: long });
      } catch (e) {
        const size = JSON.parse((await send(L.GetPolicyCommand, { FunctionName: fn, Qualifier: 'a2' })).Policy);
        for (let i = 0; i < added; i++)
          await send(L.RemovePermissionCommand, { FunctionName: fn, Qualifier: 'a2', StatementId: `big${i}` });
        return { added, kept: JSON.stringify(size).length, error: failure(e) };
      }
    }
    return { added };
  });
  await step('policy_missing_qualifier', () => refusal(() => send(L.GetPolicyCommand,
    { FunctionName: fn, Qualifier: 'no-such-alias' })));
  await step('policy_version_none', () => refusal(() => send(L.GetPolicyCommand, { FunctionName: fn, Qualifier: '1' })));
  await step('policy_remove', async () => {
    const before = await send(L.GetPolicyCommand, { FunctionName: fn });
    const stale = await refusal(() => send(L.RemovePermissionCommand,
      { FunctionName: fn, StatementId: 'account', RevisionId: '00000000-0000-0000-0000-000000000000' }));
    await send(L.RemovePermissionCommand, { FunctionName: fn, StatementId: 'account', RevisionId: before.RevisionId });
    const unknown = await refusal(() => send(L.RemovePermissionCommand, { FunctionName: fn, StatementId: 'account' }));
    const after = await send(L.GetPolicyCommand, { FunctionName: fn });
    await send(L.RemovePermissionCommand, { FunctionName: fn, StatementId: 's3-invoke' });
    const empty = await refusal(() => send(L.GetPolicyCommand, { FunctionName: fn }));
    const none = await refusal(() => send(L.RemovePermissionCommand, { FunctionName: fn, StatementId: 's3-invoke' }));
    return { stale, unknown, left: JSON.parse(after.Policy).Statement.map((s) => s.Sid),
      revisionChanged: after.RevisionId !== before.RevisionId, empty, none };
  });

  // ---- layers
  await step('layers', async () => {
    const layer = `${prefix}-lib`;
    const content = zipAt('python/nimbus_sdk_layer.py', 'WHO = "layer"\n');
    const p = await send(L.PublishLayerVersionCommand, { LayerName: layer, Description: 'one',
      Content: { ZipFile: content }, CompatibleRuntimes: ['python3.11'] });
    const p2 = await send(L.PublishLayerVersionCommand, { LayerName: layer, Content: { ZipFile: content } });
    const g = await send(L.GetLayerVersionCommand, { LayerName: layer, VersionNumber: 1 });
    const versions = [];
    for await (const page of L.paginateListLayerVersions({ client, pageSize: 1 }, { LayerName: layer }))
      versions.push(...page.LayerVersions.map((v) => v.Version));
    const layers = [];
    for await (const page of L.paginateListLayers({ client, pageSize: 1 }, {}))
      layers.push(...page.Layers.map((l) => l.LayerName));
    const user = `${prefix}-uses-layer`;
    await send(L.CreateFunctionCommand, { FunctionName: user, Runtime: 'python3.11', Handler: 'app.handler',
      Role: ROLE, Layers: [p.LayerVersionArn],
      Code: { ZipFile: zip('import nimbus_sdk_layer\ndef handler(e, c):\n    return nimbus_sdk_layer.WHO\n') } });
    const r = await send(L.InvokeCommand, { FunctionName: user });
    const cfg = await send(L.GetFunctionConfigurationCommand, { FunctionName: user });
    await send(L.DeleteFunctionCommand, { FunctionName: user });
    await send(L.DeleteLayerVersionCommand, { LayerName: layer, VersionNumber: 2 });
    const gone = await refusal(() => send(L.GetLayerVersionCommand, { LayerName: layer, VersionNumber: 2 }));
    return { published: [p.Version, p2.Version], arn: p.LayerVersionArn, CodeSha256: g.Content.CodeSha256,
      expectedSha: sha(content), versions, listed: layers.includes(layer), invoked: text(r.Payload),
      functionLayers: (cfg.Layers || []).map((x) => x.Arn), gone };
  });

  // ---- account settings: the daemon's real numbers
  await step('account_settings', async () => {
    const sizes = {};
    const names = [];
    for await (const page of L.paginateListFunctions({ client }, {})) names.push(...page.Functions.map((f) => f.FunctionName));
    for (const n of names)
      for await (const page of L.paginateListVersionsByFunction({ client }, { FunctionName: n }))
        for (const v of page.Versions) sizes[v.CodeSha256] = v.CodeSize;
    // Layer archives are code too (a daemon without the layers API has none).
    try {
      for await (const page of L.paginateListLayers({ client }, {}))
        for (const l of page.Layers)
          for await (const vp of L.paginateListLayerVersions({ client }, { LayerName: l.LayerName }))
            for (const v of vp.LayerVersions) {
              const g = await send(L.GetLayerVersionCommand, { LayerName: l.LayerName, VersionNumber: v.Version });
              sizes[g.Content.CodeSha256] = g.Content.CodeSize;
            }
    } catch (e) {
      if (e.name !== 'UnknownOperationException') throw e;
    }
    const stored = Object.values(sizes).reduce((a, b) => a + b, 0);
    // Replaced code is removed from the store on a worker: give it a moment.
    let s;
    for (let i = 0; i < 40; i++) {
      s = await send(L.GetAccountSettingsCommand, {});
      if (s.AccountUsage.TotalCodeSize === stored) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { AccountLimit: s.AccountLimit, AccountUsage: s.AccountUsage, functions: names.length, stored };
  });

  // ---- delete: the function goes with its tags and policies
  await step('delete', async () => {
    await send(L.AddPermissionCommand, {
      FunctionName: fn, StatementId: 'again', Action: 'lambda:InvokeFunction', Principal: '*' });
    await send(L.DeleteFunctionCommand, { FunctionName: fn });
    const gone = await refusal(() => send(L.GetFunctionCommand, { FunctionName: fn }));
    const tagsGone = await refusal(() => send(L.ListTagsCommand, { Resource: arn }));
    await create(fn);
    const tagsAfter = (await send(L.ListTagsCommand, { Resource: arn })).Tags;
    const policyAfter = await refusal(() => send(L.GetPolicyCommand, { FunctionName: fn }));
    await send(L.DeleteFunctionCommand, { FunctionName: fn });
    return { gone, tagsGone, tagsAfter, policyAfter };
  });

  console.log(JSON.stringify({ cases }));
}

main().catch((e) => { console.error(e); process.exit(1); });
