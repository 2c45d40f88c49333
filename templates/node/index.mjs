// {{NAME}} — a Nimbus function in Node.js (runtime nodejs20.x, handler index.handler).
//
//   nimbus deploy {{NAME}} . --runtime nodejs20.x --handler index.handler
//   nimbus invoke {{NAME}} --payload '{"name":"Ada"}' --log
//
// The event is the JSON you invoke it with; what the handler returns (or
// resolves to) is sent back as JSON. A thrown error becomes the caller's
// function error. console.log lines land in this call's log.

// Code outside the handler runs once per instance: put clients and caches
// here. This counter shows warm calls reusing the instance.
let calls = 0;

export const handler = async (event, context) => {
    calls += 1;
    const name = (event && typeof event.name === 'string' && event.name) || 'world';
    console.log(`greeting ${name} (call ${calls} on this instance)`);
    return {
        message: `Hello, ${name}!`,
        calls,
        requestId: context.awsRequestId,
        remainingMs: context.getRemainingTimeInMillis(),
    };
};
