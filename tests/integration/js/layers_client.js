/* layers_client.js — Lambda layers through the AWS SDK for JavaScript v3,
 * for tests/integration/test_layers_lambda.py: the SDK's own requests, its
 * parsing of every answer, its paginators and its waiter.
 *
 *   node layers_client.js ENDPOINT LAYER LAYER_ZIP FUNCTION FUNCTION_ZIP ROLE
 *
 * Prints one JSON document with what each step returned (or the SDK's
 * error name and message).
 */
'use strict';
const fs = require('fs');
const L = require('@aws-sdk/client-lambda');

async function attempt(fn) {
    try {
        return await fn();
    } catch (e) {
        return { error: e.name, message: e.message, status: e.$metadata && e.$metadata.httpStatusCode };
    }
}

async function main() {
    const [endpoint, layer, layerZip, fn, fnZip, role] = process.argv.slice(2);
    const client = new L.LambdaClient({
        endpoint, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const out = {};
    const zip = fs.readFileSync(layerZip);
    const publish = (runtimes) => client.send(new L.PublishLayerVersionCommand({
        LayerName: layer, Content: { ZipFile: zip }, CompatibleRuntimes: runtimes,
        CompatibleArchitectures: ['x86_64'], Description: 'sdk', LicenseInfo: 'MIT',
    }));
    const strip = (r) => { const o = Object.assign({}, r); delete o.$metadata; return o; };
    out.v1 = strip(await publish(['python3.11']));
    out.v2 = strip(await publish(['nodejs20.x']));
    out.get = strip(await client.send(new L.GetLayerVersionCommand({ LayerName: layer, VersionNumber: 1 })));
    out.byArn = strip(await client.send(new L.GetLayerVersionByArnCommand({ Arn: out.v2.LayerVersionArn })));
    out.versions = [];
    for await (const page of L.paginateListLayerVersions({ client, pageSize: 1 }, { LayerName: layer }))
        for (const v of page.LayerVersions) out.versions.push(v.Version);
    out.layers = [];
    for await (const page of L.paginateListLayers({ client, pageSize: 1 }, { CompatibleRuntime: 'python3.11' }))
        for (const l of page.Layers) if (l.LayerName === layer) out.layers.push(l);
    await client.send(new L.CreateFunctionCommand({
        FunctionName: fn, Runtime: 'python3.11', Handler: 'app.handler', Role: role,
        Code: { ZipFile: fs.readFileSync(fnZip) }, Layers: [out.v1.LayerVersionArn],
    }));
    await L.waitUntilFunctionActiveV2({ client, maxWaitTime: 30 }, { FunctionName: fn });
    out.config = strip(await client.send(new L.GetFunctionConfigurationCommand({ FunctionName: fn })));
    const inv = await client.send(new L.InvokeCommand({ FunctionName: fn, Payload: Buffer.from('{}') }));
    out.invoke = { status: inv.StatusCode, error: inv.FunctionError,
                   payload: JSON.parse(Buffer.from(inv.Payload).toString()) };
    out.unknown = await attempt(() => client.send(new L.CreateFunctionCommand({
        FunctionName: fn + '-x', Runtime: 'python3.11', Handler: 'app.handler', Role: role,
        Code: { ZipFile: fs.readFileSync(fnZip) }, Layers: [out.v2.LayerVersionArn + '0'],
    })));
    await client.send(new L.DeleteLayerVersionCommand({ LayerName: layer, VersionNumber: 2 }));
    out.deleted = await attempt(() => client.send(new L.GetLayerVersionCommand({ LayerName: layer, VersionNumber: 2 })));
    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stdout.write(JSON.stringify({ fatal: e.name, message: e.message, stack: e.stack }) + '\n');
    process.exit(1);
});
