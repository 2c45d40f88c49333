/* bootstrap.js — Nimbus' Node.js runtime (nodejs20.x): the program inside an
 * instance that pulls calls from the Lambda Runtime API, runs the user's
 * handler and posts its result or error.
 *
 * Owns the call loop, the `context` object, result/error encoding and the
 * process-wide failure handlers (uncaught exceptions and unhandled
 * rejections end the call that caused them, then the process, as Lambda).
 * With AWS_LAMBDA_MAX_CONCURRENCY=N it keeps N /next requests outstanding
 * and runs their calls side by side, each in its own AsyncLocalStorage
 * context so console output carries the right request id.
 * Response streaming (a handler wrapped in awslambda.streamifyResponse):
 * the handler gets a writable stream; its writes go out at once as chunks
 * of one /response POST in Lambda's streaming mode, a failure after the
 * first byte as the Lambda-Runtime-Function-Error-* trailers.
 * Started ahead of its call, it warms up and waits in prestart.js; nothing
 * here reads the environment before configure().
 * Must never: put a timeout on /next (it is a long poll), post twice for one
 * call, or load more than it needs at start-up (cold start is measured).
 * Plain JavaScript, Node.js built-ins only.
 */
'use strict';

const http = require('http');
const log = require('./log.js');
const { loadHandler } = require('./loader.js');

const env = process.env;
const API_PREFIX = '/2018-06-01/runtime';

// Set by configure() from the function's environment.
let API_HOST, API_PORT;
let CONCURRENCY = 1;

// One connection per call in flight; idle ones stay open (and unref'd).
// Made now, so a pre-started runtime warms the very agent it will use;
// its limit is the function's concurrency (configure()).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/* Layers, as Lambda has them: /opt/nodejs/nodeXX/node_modules, then
 * /opt/nodejs/node_modules, on NODE_PATH (unsandboxed, NIMBUS_OPT_DIR names
 * the merged tree; '' for none). Read again here: a runtime started ahead
 * got its environment after Node read NODE_PATH. */
function layerPaths() {
    const opt = env.NIMBUS_OPT_DIR === undefined ? '/opt' : env.NIMBUS_OPT_DIR;
    if (!opt) return;
    const major = process.versions.node.split('.')[0];
    const dirs = [opt + '/nodejs/node' + major + '/node_modules', opt + '/nodejs/node_modules'];
    if (env.NODE_PATH) dirs.push(env.NODE_PATH);
    env.NODE_PATH = dirs.join(':');
    require('module').Module._initPaths();
}

function parseApi(s) {
    const i = (s || '').lastIndexOf(':');
    if (i <= 0) {
        log.writeAll(2, 'nimbus node runtime: AWS_LAMBDA_RUNTIME_API must be host:port, got ' +
            JSON.stringify(s) + '\n');
        process.exit(1);
    }
    return [s.slice(0, i), parseInt(s.slice(i + 1), 10)];
}

/* ------------------------------------------------------------ Runtime API */

function request(method, path, body, headers, retried) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: API_HOST, port: API_PORT, method, path, agent, headers }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({
                status: res.statusCode,
                headers: res.headers,
                body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
            }));
            res.on('error', reject);
        });
        req.on('error', (e) => {
            // A kept-alive connection the daemon closed while idle: safe to redo once.
            if (!retried && req.reusedSocket && e.code === 'ECONNRESET')
                request(method, path, body, headers, true).then(resolve, reject);
            else
                reject(e);
        });
        req.end(body);
    });
}

function post(path, body, contentType, extraHeaders) {
    const headers = { 'Content-Type': contentType, 'Content-Length': body.length };
    if (extraHeaders) Object.assign(headers, extraHeaders);
    return request('POST', API_PREFIX + path, body, headers).then((res) => {
        if (res.status !== 202)
            log.writeAll(2, 'nimbus node runtime: POST ' + path + ' -> ' + res.status + ' ' +
                res.body.toString('utf8', 0, 300) + '\n');
        return res;
    });
}

async function nextInvocation() {
    for (let attempt = 0; ; attempt++) {
        try {
            const res = await request('GET', API_PREFIX + '/invocation/next', undefined, undefined);
            if (res.status === 200) return res;
            throw new Error('GET /next answered ' + res.status + ' ' + res.body.toString('utf8', 0, 300));
        } catch (e) {
            if (attempt >= 2) {
                log.writeAll(2, 'nimbus node runtime: ' + e.message + '; exiting\n');
                process.exit(1);
            }
            await new Promise((r) => setTimeout(r, 50));
        }
    }
}

/* ---------------------------------------------------- response streaming */

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

// As Lambda's Node runtime offers them, on the global `awslambda`.
globalThis.awslambda = {
    streamifyResponse(handler) {
        if (typeof handler !== 'function') throw new TypeError('streamifyResponse needs a function');
        handler[STREAMING] = 'response';
        return handler;
    },
    HttpResponseStream: {
        // The function-URL form: a JSON prelude (statusCode, headers, cookies), 8 NUL bytes, the body.
        from(stream, metadata) {
            stream.setContentType(HTTP_INTEGRATION);
            stream.write(JSON.stringify(metadata || {}));
            stream.write(Buffer.alloc(8));
            return stream;
        },
    },
};

// The stream a streaming handler writes to: one chunked POST, opened at
// the first write (or the end), ended with trailers if the handler fails.
function responseStream(id) {
    const { Writable } = require('stream');
    let req = null;
    let contentType = 'application/octet-stream';
    let failure = null;
    let posted;
    const answered = new Promise((resolve) => { posted = resolve; });
    const open = () => {
        if (req) return req;
        req = http.request({
            host: API_HOST, port: API_PORT, method: 'POST', agent,
            path: API_PREFIX + '/invocation/' + id + '/response',
            headers: {
                'Lambda-Runtime-Function-Response-Mode': 'streaming',
                'Transfer-Encoding': 'chunked',
                'Trailer': 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
                'Content-Type': contentType,
            },
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                if (res.statusCode !== 202)
                    log.writeAll(2, 'nimbus node runtime: streamed /response -> ' + res.statusCode + ' ' +
                        Buffer.concat(chunks).toString('utf8', 0, 300) + '\n');
                posted();
            });
        });
        req.on('error', (e) => {
            log.writeAll(2, 'nimbus node runtime: streaming the response failed: ' + e.message + '\n');
            process.exit(1);
        });
        // The head goes now, so the daemon sees the stream begin.
        req.flushHeaders();
        return req;
    };
    const w = new Writable({
        write(chunk, encoding, cb) { open().write(chunk, cb); },
        final(cb) {
            const r = open();
            if (failure) {
                const type = failure.errorType.replace(/[^\x20-\x7e]/g, '') || 'Error';
                r.addTrailers({
                    'Lambda-Runtime-Function-Error-Type': type,
                    'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(failure)).toString('base64'),
                });
            }
            r.end();
            cb();
        },
    });
    w.setContentType = (t) => { if (!req) contentType = String(t); };
    w.fail = (doc) => {
        failure = doc;
        if (!w.writableEnded) w.end();
    };
    w.answered = answered;
    return w;
}

// Runs a streaming handler: resolves once its POST was answered.
function runStreaming(call, event, context) {
    const rs = responseStream(call.id);
    const fail = (e) => {
        const doc = errorDoc(e);
        logError('Invoke Error', doc);
        rs.fail(doc);
    };
    try {
        const r = handler(event, rs, context);
        Promise.resolve(r).then(() => { if (!rs.writableEnded) rs.end(); }, fail);
    } catch (e) {
        fail(e);
    }
    return rs.answered;
}

/* ------------------------------------------------------------------ errors */

function isError(e) {
    return e instanceof Error || (e !== null && typeof e === 'object' &&
        typeof e.name === 'string' && typeof e.message === 'string');
}

// The document Lambda's Node runtime posts: note the key "trace".
function errorDoc(e) {
    try {
        if (isError(e)) {
            return {
                errorType: String(e.name),
                errorMessage: String(e.message),
                trace: typeof e.stack === 'string' ? e.stack.split('\n') : [],
            };
        }
        return { errorType: typeof e, errorMessage: String(e), trace: [] };
    } catch (_) {
        return {
            errorType: 'handled',
            errorMessage: 'callback called with Error argument, but there was a problem while ' +
                'retrieving one or more of its message, name, and stack',
            trace: [],
        };
    }
}

// As Lambda logs errors: "<prefix> \t{errorType, errorMessage, stack}".
function logError(prefix, doc) {
    console.error(prefix, '\t' + JSON.stringify({
        errorType: doc.errorType, errorMessage: doc.errorMessage, stack: doc.trace,
    }));
}

function postErrorDoc(path, doc) {
    const body = Buffer.from(JSON.stringify(doc), 'utf8');
    // Header values must be printable ASCII; e.name is user data.
    const type = doc.errorType.replace(/[^\x20-\x7e]/g, '') || 'Error';
    return post(path, body, 'application/json', { 'Lambda-Runtime-Function-Error-Type': type });
}

/* ------------------------------------------------------------------- calls */

let handler = null;
let initialised = false;
let fatalInProgress = false;
const inFlight = new Set();     // calls not yet answered

// Request id for console lines: one variable when calls run one at a time,
// AsyncLocalStorage when several run at once (configure()).
let currentCall = null;
let als = null;

// Lambda's callbackWaitsForEmptyEventLoop: the answer of a callback handler
// waits until nothing else is pending. With one call at a time, Node tells
// us through 'beforeExit'; with several, other /next polls keep the loop
// busy forever, so callbacks answer at once.
let onEmptyLoop = null;
process.on('beforeExit', () => {
    const f = onEmptyLoop;
    onEmptyLoop = null;
    if (f) setImmediate(f);
});

function parseJsonHeader(v) {
    if (v === undefined) return undefined;
    try {
        return JSON.parse(v);
    } catch (_) {
        return undefined;
    }
}

function resultBody(result) {
    if (result instanceof Uint8Array)   // Buffer too: sent as is
        return [Buffer.from(result.buffer, result.byteOffset, result.byteLength), 'application/octet-stream'];
    const s = JSON.stringify(result === undefined ? null : result);
    return [Buffer.from(s === undefined ? 'null' : s, 'utf8'), 'application/json'];
}

function answer(call, isError, value) {
    inFlight.delete(call);
    if (isError) {
        const doc = errorDoc(value);
        logError('Invoke Error', doc);
        return postErrorDoc('/invocation/' + call.id + '/error', doc);
    }
    let body, type;
    try {
        [body, type] = resultBody(value);
    } catch (e) {
        const doc = { errorType: 'Runtime.SerializationError',
            errorMessage: 'Unable to stringify response body: ' + (e && e.message), trace: [] };
        logError('Invoke Error', doc);
        return postErrorDoc('/invocation/' + call.id + '/error', doc);
    }
    return post('/invocation/' + call.id + '/response', body, type);
}

// Runs one call; resolves once its answer has been posted.
function runCall(res) {
    const h = res.headers;
    const id = h['lambda-runtime-aws-request-id'];
    const deadline = parseInt(h['lambda-runtime-deadline-ms'], 10) || (Date.now() + 900000);
    const call = { id, done: false };
    if (h['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    else delete env._X_AMZN_TRACE_ID;

    return new Promise((resolve) => {
        const finish = (isErr, value) => {
            if (call.done) {
                if (!fatalInProgress)
                    console.error('Invocation has already been reported as done. ' +
                        'Cannot call complete more than once per invocation.');
                return;
            }
            call.done = true;
            onEmptyLoop = null;
            answer(call, isErr, value).then(resolve, (e) => {
                log.writeAll(2, 'nimbus node runtime: posting the answer failed: ' + e.message + '\n');
                process.exit(1);
            });
        };

        const context = {
            callbackWaitsForEmptyEventLoop: true,
            functionName: env.AWS_LAMBDA_FUNCTION_NAME,
            functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
            invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
            memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
            awsRequestId: id,
            logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
            logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
            clientContext: parseJsonHeader(h['lambda-runtime-client-context']),
            identity: parseJsonHeader(h['lambda-runtime-cognito-identity']),
            getRemainingTimeInMillis: () => deadline - Date.now(),
        };
        const done = (err, result) => (err !== undefined && err !== null ? finish(true, err) : finish(false, result));
        Object.defineProperties(context, {
            done: { value: done, writable: true },
            succeed: { value: (result) => done(null, result), writable: true },
            fail: { value: (err) => done(err === undefined || err === null ? 'handled' : err, null), writable: true },
        });
        const callback = (err, result) => {
            if (err !== undefined && err !== null) finish(true, err);
            else if (context.callbackWaitsForEmptyEventLoop && CONCURRENCY === 1)
                onEmptyLoop = () => finish(false, result);
            else finish(false, result);
        };

        const start = () => {
            let event;
            try {
                event = res.body.length ? JSON.parse(res.body.toString('utf8')) : {};
            } catch (e) {
                finish(true, Object.assign(new Error('Unable to parse the event as JSON: ' + e.message),
                    { name: 'Runtime.UnmarshalError' }));
                return;
            }
            if (handler[STREAMING]) {
                call.done = true;
                runStreaming(call, event, context).then(() => {
                    inFlight.delete(call);
                    resolve();
                });
                return;
            }
            // Neither a promise nor a callback yet: Lambda answers null once idle.
            if (CONCURRENCY === 1) onEmptyLoop = () => finish(false, null);
            let r;
            try {
                r = handler(event, context, callback);
            } catch (e) {
                finish(true, e);
                return;
            }
            if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
                onEmptyLoop = null;
                r.then((v) => finish(false, v), (e) => finish(true, e));
            }
        };

        inFlight.add(call);
        if (als) {
            als.run(call, start);
        } else {
            currentCall = call;
            start();
        }
    });
}

async function callLoop() {
    for (;;) {
        const res = await nextInvocation();
        await runCall(res);
    }
}

/* --------------------------------------------------------- fatal failures */

function exitAfter(promises, code) {
    Promise.allSettled(promises).then(() => process.exit(code));
    // The daemon may be gone: do not linger.
    setTimeout(() => process.exit(code), 2000).unref();
}

function fatal(prefix, doc) {
    if (fatalInProgress) {
        logError(prefix, doc);
        return;
    }
    fatalInProgress = true;
    logError(prefix, doc);
    if (!initialised) {
        exitAfter([postErrorDoc('/init/error', doc)], 1);
        return;
    }
    // The call whose code failed, when Node still knows; otherwise every
    // call in flight (usually the only one).
    const own = als && als.getStore();
    const targets = own && !own.done ? [own] : Array.from(inFlight).filter((c) => !c.done);
    const posts = [];
    for (const c of targets) {
        c.done = true;
        inFlight.delete(c);
        posts.push(postErrorDoc('/invocation/' + c.id + '/error', doc));
    }
    exitAfter(posts, 129);   // Lambda's runtime exits with 129 here
}

process.on('uncaughtException', (e) => fatal('Uncaught Exception', errorDoc(e)));

process.on('unhandledRejection', (reason) => {
    const doc = errorDoc(reason);
    fatal('Unhandled Promise Rejection', {
        errorType: 'Runtime.UnhandledPromiseRejection',
        errorMessage: isError(reason) ? doc.errorType + ': ' + doc.errorMessage : doc.errorMessage,
        trace: doc.trace,
    });
});

/* -------------------------------------------------------------------- init */

// What the function's environment decides; run once it is in place.
function configure() {
    layerPaths();
    [API_HOST, API_PORT] = parseApi(env.AWS_LAMBDA_RUNTIME_API);
    CONCURRENCY = Math.max(1, parseInt(env.AWS_LAMBDA_MAX_CONCURRENCY || '1', 10) || 1);
    agent.maxSockets = CONCURRENCY;
    if (CONCURRENCY > 1) {
        const { AsyncLocalStorage } = require('async_hooks');
        als = new AsyncLocalStorage();
        log.setRequestIdSource(() => {
            const c = als.getStore();
            return c ? c.id : undefined;
        });
    } else {
        log.setRequestIdSource(() => (currentCall ? currentCall.id : undefined));
    }
}

async function main() {
    configure();
    log.patchConsole();
    try {
        handler = await loadHandler(env.LAMBDA_TASK_ROOT || process.cwd(), env._HANDLER);
    } catch (e) {
        if (fatalInProgress) return;    // an uncaught error already reported init
        const doc = errorDoc(e);
        logError('Uncaught Exception', doc);
        fatalInProgress = true;
        postErrorDoc('/init/error', doc).then(() => process.exit(1), () => process.exit(1));
        return;
    }
    initialised = true;
    for (let i = 0; i < CONCURRENCY; i++) callLoop();
}

/* A pre-started runtime's warm-up: the calls of a cold start (a /next with
 * an event, a /response with a body) on this agent, to `host:port`, the
 * loopback server of prestart.js. The agent's connections are closed after,
 * and nothing of it is kept but compiled code. */
function warmExchange(host, port) {
    API_HOST = host;
    API_PORT = port;
    const undo = () => {
        agent.destroy();
        API_HOST = API_PORT = undefined;
    };
    return request('GET', API_PREFIX + '/invocation/next', undefined, undefined)
        .then((res) => {
            const [body, type] = resultBody(JSON.parse(res.body.toString('utf8')));
            return post('/invocation/' + res.headers['lambda-runtime-aws-request-id'] + '/response', body, type);
        })
        .then(undo, undo);
}

/* Started ahead of its call (_NIMBUS_PRESTART_FD: the sandbox keeps one
 * waiting): warmed up, then its real environment comes on that fd, and
 * the function's code is at /var/task by then (prestart.js). */
if (env._NIMBUS_PRESTART_FD) {
    const fd = parseInt(env._NIMBUS_PRESTART_FD, 10);
    require('./prestart.js').prestart(fd, warmExchange, log.warm).then(main, (e) => {
        // The sandbox's handshake broke: nothing to report to, as before any start.
        log.writeAll(2, 'nimbus node runtime: started ahead, but ' + ((e && e.stack) || e) + '\n');
        process.exit(1);
    });
} else {
    main();
}
