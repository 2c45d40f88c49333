// A Node.js function for Nimbus (runtime nodejs20.x, handler index.handler).
// Deploy and call it:
//   nimbus deploy node-hello examples/node-hello --runtime nodejs20.x --handler index.handler
//   nimbus invoke node-hello --payload '{"name":"Ada"}' --log

// Module-level state lives as long as the instance: it counts warm calls.
let calls = 0;

exports.handler = async (event, context) => {
    calls += 1;
    const name = (event && typeof event.name === 'string' && event.name) || 'world';
    console.log(`greeting ${name} (call ${calls} on this instance)`);
    return {
        message: `Hello, ${name}!`,
        calls,
        requestId: context.awsRequestId,
    };
};
