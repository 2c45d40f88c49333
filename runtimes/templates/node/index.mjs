// A Nimbus function in Node.js (runtime nodejs20.x, handler index.handler).
// The event is the JSON you invoke it with; what the handler returns (or
// resolves to) is sent back as JSON. A thrown error becomes the caller's
// function error. console.log lines land in this call's log.

// Code outside the handler runs once per instance: put clients and caches here.
const startedAt = new Date().toISOString();

export const handler = async (event, context) => {
    console.log('event:', JSON.stringify(event));
    const name = (event && event.name) || 'world';
    return {
        message: `Hello, ${name}!`,
        requestId: context.awsRequestId,
        remainingMs: context.getRemainingTimeInMillis(),
        instanceStartedAt: startedAt,
    };
};
