/* prestart.js — the runtime started ahead of its call (docs/runtimes.md,
 * "Started ahead of the call"): the bootstrap loads this only when
 * _NIMBUS_PRESTART_FD is set.
 *
 * Owns the wait and the warm-up before it. A cold start's clock runs from
 * the moment the environment arrives on the fd, so everything that does not
 * depend on the function happens first, while nobody waits: Node compiles a
 * function of its own library when it first runs, and the first HTTP
 * exchange, the first import() and the first formatted log line each run
 * milliseconds of such code. They are run here once, against a loopback
 * server of this process that answers as the Runtime API does, and the
 * first call runs them already compiled.
 * Then: the environment read from the fd to its end (NUL-separated
 * NAME=VALUE), made the whole environment, and /var/task the working
 * directory (the function's code is there once the fd reaches EOF).
 * Must never: read the environment before it is swapped, let a failed
 * warm-up stop the runtime (it only saves time), or touch any network but
 * its own loopback.
 */
'use strict';

const fs = require('fs');
const net = require('net');
// What the bootstrap and loader load on some paths only, loaded now.
require('async_hooks');
require('url');

// What the warm-up may take at most: after it the runtime waits anyway.
const WARM_LIMIT_MS = 2000;

const GET_ANSWER = (body) => 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' +
    'Lambda-Runtime-Aws-Request-Id: 00000000-0000-0000-0000-000000000000\r\n' +
    'Lambda-Runtime-Deadline-Ms: ' + (Date.now() + 900000) + '\r\n' +
    'Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:warm\r\n' +
    'Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n' +
    'Content-Length: ' + Buffer.byteLength(body) + '\r\n\r\n' + body;
const POST_ANSWER = 'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n' +
    '{"status":"OK"}\n';

// Answers each request on a connection in order: GET with an event, the rest 202.
function answerRequests(sock) {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
            const end = buf.indexOf('\r\n\r\n');
            if (end < 0) return;
            const head = buf.toString('latin1', 0, end);
            const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            const len = m ? parseInt(m[1], 10) : 0;
            if (buf.length < end + 4 + len) return;
            buf = buf.subarray(end + 4 + len);
            sock.write(head.startsWith('GET ') ? GET_ANSWER('{"warm":[1,"two",{"three":3.5}]}') : POST_ANSWER);
        }
    });
}

/* Runs `exchange(host, port)` (the bootstrap's own Runtime API calls)
 * against a loopback server; resolves when it is over, whatever happened. */
function warmHttp(exchange) {
    return new Promise((resolve) => {
        const server = net.createServer(answerRequests);
        let settled = false;
        const conns = new Set();
        server.on('connection', (s) => { conns.add(s); s.on('close', () => conns.delete(s)); });
        const finish = () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            for (const s of conns) s.destroy();
            server.close(() => resolve());
        };
        const timer = setTimeout(finish, WARM_LIMIT_MS);
        server.on('error', finish);
        server.listen(0, '127.0.0.1', () => {
            let p;
            try {
                p = Promise.resolve(exchange('127.0.0.1', server.address().port));
            } catch (e) {
                p = Promise.resolve();
            }
            p.then(finish, finish);
        });
    });
}

// ES modules: the first import() sets up Node's ESM loader, whatever it imports.
function warmImport() {
    return import('data:text/javascript,export default 0').then(() => {}, () => {});
}

/* Resolves with the environment's bytes once `fd` reaches EOF; read
 * through the event loop, so the warm-up runs while it waits. The fd is
 * closed by `close()`, after the runtime said it is warm on it. */
function readAll(fd) {
    let pipe;
    const env = new Promise((resolve, reject) => {
        const chunks = [];
        // allowHalfOpen: its end of file does not end this side, on which the word goes.
        pipe = new net.Socket({ fd, readable: true, writable: false, allowHalfOpen: true });
        pipe.on('data', (c) => chunks.push(c));
        // A reset after the data: the platform closed its end with the word unread (the
        // environment was whole: were its writer gone mid-way, so would this process be).
        pipe.on('error', (e) => (e.code === 'ECONNRESET' && chunks.length ? resolve(Buffer.concat(chunks)) : reject(e)));
        pipe.on('end', () => resolve(Buffer.concat(chunks)));
    });
    return { env, close: () => pipe.destroy() };
}

/* Its start is over: one byte on `fd`, when the sandbox gave a socket
 * (the spawner starts the next runtime ahead only then, so two starts do
 * not share the CPU). On a pipe, or with the other end gone, nothing. */
function sayWarm(fd) {
    try {
        fs.writeSync(fd, 'W');
    } catch (e) {
        // not a socket (EBADF on a pipe's read end), or nobody to tell
    }
}

/* `raw` (NUL-separated NAME=VALUE) in place of this environment. Only
 * the names that differ are touched: setting or deleting TZ makes Node
 * look up the time zone again, and in the sandbox (/etc/localtime a file,
 * not a link) that means comparing it with every file of the zone database,
 * milliseconds on the cold path for a value (":UTC") that did not change. */
function takeEnvironment(raw) {
    const next = new Map();
    for (const kv of raw.toString().split('\0')) {
        const i = kv.indexOf('=');
        if (i > 0) next.set(kv.slice(0, i), kv.slice(i + 1));
    }
    const env = process.env;
    for (const k of Object.keys(env)) if (!next.has(k)) delete env[k];
    for (const [k, v] of next) if (env[k] !== v) env[k] = v;
    process.chdir('/var/task');
}

/* Warms up while waiting for the environment on `fd` (`exchange` and
 * `warmLog` are the bootstrap's and log.js'); resolves once the
 * environment is in place. A step not begun when the environment arrives
 * is skipped: the call is waiting, and it would compile only part of what
 * the step does. The step under way is finished. */
async function prestart(fd, exchange, warmLog) {
    let arrived = false;
    const line = readAll(fd);
    const env = line.env.finally(() => { arrived = true; });
    env.catch(() => {});
    const steps = [
        () => warmHttp(exchange),
        warmImport,
        () => {
            warmLog();
            // Local time: the zone is read once here, not by the handler's first Date.
            new Date().getTimezoneOffset();
        },
    ];
    for (const step of steps) {
        if (arrived) break;
        try {
            await step();
        } catch (e) {
            // only an optimisation
        }
    }
    sayWarm(fd);
    try {
        takeEnvironment(await env);
    } finally {
        line.close();
    }
}

module.exports = { prestart };
