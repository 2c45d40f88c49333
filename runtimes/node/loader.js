/* loader.js — finds and loads the user's handler named by _HANDLER.
 *
 * Owns the resolution rules (those of Lambda's Node.js runtime):
 * "dir/file.fn.sub" → the module "file" in LAMBDA_TASK_ROOT/dir, property
 * path "fn.sub". The module is tried as: the exact path (CommonJS), then
 * "file.js" (CommonJS unless the nearest package.json says "type":"module",
 * then an ES module), "file.mjs" (ES module), "file.cjs" (CommonJS), and at
 * last as a package from node_modules. Failures are thrown as errors whose
 * `name` is Lambda's init error type (Runtime.ImportModuleError, ...).
 * It must never exit the process or talk to the Runtime API: the bootstrap
 * reports what this throws.
 */
'use strict';

const fs = require('fs');
const path = require('path');

function runtimeError(type, message, stack) {
    const e = new Error(message);
    e.name = type;
    if (stack) e.stack = stack;
    return e;
}

// Lambda quotes the whole original error ("Error: Cannot find module ...").
function describe(e) {
    if (e && typeof e === 'object' && typeof e.message === 'string')
        return (e.name || 'Error') + ': ' + e.message;
    return String(e);
}

function isFile(p) {
    try {
        return fs.statSync(p).isFile();
    } catch (e) {
        return false;
    }
}

function exists(p) {
    try {
        fs.statSync(p);
        return true;
    } catch (e) {
        return false;
    }
}

// Node's own rule for .js files: the nearest package.json decides.
function inModulePackage(file) {
    let dir = path.dirname(file);
    for (;;) {
        const pj = path.join(dir, 'package.json');
        if (isFile(pj)) {
            try {
                return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
            } catch (e) {
                return false;
            }
        }
        const up = path.dirname(dir);
        if (up === dir || path.basename(dir) === 'node_modules') return false;
        dir = up;
    }
}

function importEsm(file) {
    const url = require('url');
    return import(url.pathToFileURL(file).href);
}

// Loads the module; resolves to its exports (namespace for ES modules).
async function loadModule(taskRoot, moduleRoot, moduleName) {
    const base = path.resolve(taskRoot, moduleRoot, moduleName);
    if (isFile(base)) return require(base);
    const js = base + '.js';
    if (isFile(js)) return inModulePackage(js) ? importEsm(js) : require(js);
    if (isFile(base + '.mjs')) return importEsm(base + '.mjs');
    if (isFile(base + '.cjs')) return require(base + '.cjs');
    if (exists(base)) return require(base);   // a folder with index.js or package.json
    // A package in node_modules, e.g. handler "my-lib.handler".
    let resolved;
    try {
        resolved = require.resolve(moduleName, { paths: [path.resolve(taskRoot, moduleRoot), taskRoot] });
    } catch (e) {
        throw runtimeError('Runtime.ImportModuleError',
            "Error: Cannot find module '" + path.join(moduleRoot, moduleName) + "'");
    }
    return require(resolved);
}

function classify(e) {
    if (e instanceof SyntaxError)
        return runtimeError('Runtime.UserCodeSyntaxError', describe(e), e.stack);
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND'))
        return runtimeError('Runtime.ImportModuleError', describe(e), e.stack);
    return e;
}

/* The handler function for `handlerString`, loaded from `taskRoot`. */
async function loadHandler(taskRoot, handlerString) {
    if (!handlerString)
        throw runtimeError('Runtime.MalformedHandlerName', 'Bad handler: _HANDLER is not set');
    if (handlerString.includes('..'))
        throw runtimeError('Runtime.MalformedHandlerName', "'" + handlerString +
            "' is not a valid handler name. Use absolute paths when specifying root directories in handler names.");
    const slash = handlerString.lastIndexOf('/');
    const moduleRoot = handlerString.slice(0, slash + 1);
    const last = handlerString.slice(slash + 1);
    const dot = last.indexOf('.');
    if (dot <= 0 || dot === last.length - 1)
        throw runtimeError('Runtime.MalformedHandlerName', 'Bad handler ' + handlerString);
    const moduleName = last.slice(0, dot);
    const propPath = last.slice(dot + 1);

    let mod;
    try {
        mod = await loadModule(taskRoot, moduleRoot, moduleName);
    } catch (e) {
        throw classify(e);
    }
    let fn = mod;
    for (const key of propPath.split('.')) fn = fn === undefined || fn === null ? undefined : fn[key];
    if (fn === undefined || fn === null)
        throw runtimeError('Runtime.HandlerNotFound', handlerString + ' is undefined or not exported');
    if (typeof fn !== 'function')
        throw runtimeError('Runtime.HandlerNotFound', handlerString + ' is not a function');
    return fn;
}

module.exports = { loadHandler };
