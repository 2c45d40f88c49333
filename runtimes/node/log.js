/* log.js — console output in Lambda's Node.js format.
 *
 * Owns the patched console: every console.log/info/warn/error/debug/trace
 * (and Lambda's console.fatal) becomes one line
 *   "<ISO time>\t<request id>\t<LEVEL>\t<message>\n"
 * with newlines inside the message turned into "\r" (as Lambda does, so one
 * call to console.log stays one log record). The line is written with
 * fs.writeSync on fd 1: the daemon reads the call's log from that pipe and
 * must see the line before the runtime posts the response, so it must never
 * be buffered in an asynchronous stream. Never throws into user code.
 */
'use strict';

const fs = require('fs');
const util = require('util');

// Who is logging: replaced by the bootstrap (a variable for one call at a
// time, AsyncLocalStorage when several calls run at once).
let requestIdOf = () => undefined;

let sleepCell = null;

// Blocks ~1 ms without spinning: fd 1 can be non-blocking if user code made
// process.stdout a libuv stream, and a full pipe then answers EAGAIN.
function pause() {
    if (!sleepCell) sleepCell = new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(sleepCell, 0, 0, 1);
}

function writeAll(fd, text) {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    let stalls = 0;
    while (off < buf.length) {
        try {
            off += fs.writeSync(fd, buf, off, buf.length - off);
            stalls = 0;
        } catch (e) {
            // Give up on a closed pipe, or if the reader has stalled for ~10 s.
            if (e.code !== 'EAGAIN' || ++stalls > 10000) return;
            pause();
        }
    }
}

function line(level, args) {
    let msg;
    try {
        msg = util.format.apply(null, args);
    } catch (e) {
        msg = '<unprintable: ' + (e && e.message) + '>';
    }
    const id = requestIdOf();
    return new Date().toISOString() + '\t' + id + '\t' + level + '\t' + msg.replace(/\n/g, '\r') + '\n';
}

function emit(level, args) {
    writeAll(1, line(level, args));
}

function patchConsole() {
    const levels = {
        log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR',
        debug: 'DEBUG', trace: 'TRACE', fatal: 'FATAL',
    };
    for (const name of Object.keys(levels)) {
        const level = levels[name];
        console[name] = function () { emit(level, arguments); };
    }
}

function setRequestIdSource(fn) {
    requestIdOf = fn;
}

// A line made and dropped: util.format and util.inspect compile their
// paths on first use, which a pre-started runtime does before its call.
function warm() {
    line('INFO', ['warm %s %d %i %f %j %o %O %%', 's', 1, 2, 3.5, { j: [1] }, { o: new Map([[1, 2]]) },
        [new Error('warm'), null, undefined, Symbol('s'), 10n, () => 0], 'multi\nline']);
}

module.exports = { patchConsole, setRequestIdSource, emit, writeAll, warm };
