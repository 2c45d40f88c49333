/* tls_client.js — the AWS SDK for JavaScript v3 over https, for
 * tests/integration/test_tls.py: the daemon's certificate is trusted only
 * through NODE_EXTRA_CA_CERTS, as a user of a private CA would do it.
 *
 *   node tls_client.js ENDPOINT FUNCTION FUNCTION_ZIP ROLE
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
        return { error: e.name, message: e.message, code: e.code };
    }
}

async function main() {
    const [endpoint, fn, fnZip, role] = process.argv.slice(2);
    const client = new L.LambdaClient({
        endpoint, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const out = {};
    out.create = await attempt(async () => {
        const r = await client.send(new L.CreateFunctionCommand({
            FunctionName: fn, Runtime: 'provided', Handler: 'x.handler', Role: role,
            Code: { ZipFile: fs.readFileSync(fnZip) },
        }));
        return { FunctionName: r.FunctionName, CodeSize: r.CodeSize };
    });
    out.invoke = await attempt(async () => {
        const payload = JSON.stringify({ big: 'x'.repeat(300000) });
        const r = await client.send(new L.InvokeCommand({ FunctionName: fn, Payload: Buffer.from(payload) }));
        return { StatusCode: r.StatusCode, same: Buffer.from(r.Payload).toString() === payload };
    });
    out.list = await attempt(async () => {
        const r = await client.send(new L.ListFunctionsCommand({}));
        return r.Functions.map((f) => f.FunctionName);
    });
    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stdout.write(JSON.stringify({ fatal: String(e) }) + '\n'); });
