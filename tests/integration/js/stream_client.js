/* stream_client.js — InvokeWithResponseStream through the AWS SDK for
 * JavaScript v3, for tests/integration/test_streaming.py.
 *
 *   node stream_client.js ENDPOINT FUNCTION PAYLOAD [tail] [abort-after-first]
 *
 * Prints one JSON document: the response's metadata and every event with
 * its arrival time (ms since the request was sent), or the SDK's error.
 */
'use strict';
const { LambdaClient, InvokeWithResponseStreamCommand } = require('@aws-sdk/client-lambda');

async function main() {
    const [endpoint, fn, payload, ...flags] = process.argv.slice(2);
    const client = new LambdaClient({
        endpoint, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const abort = new AbortController();
    const t0 = Date.now();
    const out = { events: [] };
    try {
        const cmd = new InvokeWithResponseStreamCommand({
            FunctionName: fn, Payload: Buffer.from(payload),
            LogType: flags.includes('tail') ? 'Tail' : undefined,
        });
        const res = await client.send(cmd, { abortSignal: abort.signal });
        out.statusCode = res.StatusCode;
        out.executedVersion = res.ExecutedVersion;
        out.contentType = res.ResponseStreamContentType;
        for await (const ev of res.EventStream) {
            const t = Date.now() - t0;
            if (ev.PayloadChunk) {
                out.events.push({ t, type: 'PayloadChunk',
                    data: Buffer.from(ev.PayloadChunk.Payload || []).toString('base64') });
                if (flags.includes('abort-after-first')) {
                    abort.abort();
                    out.aborted = true;
                    break;
                }
            } else if (ev.InvokeComplete) {
                out.events.push({ t, type: 'InvokeComplete', ...ev.InvokeComplete });
            }
        }
    } catch (e) {
        if (!out.aborted) out.error = { name: e.name, message: e.message, status: e.$metadata && e.$metadata.httpStatusCode };
    }
    // Writes to a pipe are asynchronous: exit once it has all of it.
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
}
main();
