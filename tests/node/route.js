// A banditroute client built from protos/router.proto alone, with no generated code:
//   BANDITROUTE_API_KEY=<key> node route.js HOST:PORT
// Routes one prompt for tenant "node", sends feedback on the decision, checks that a prompt
// without messages is refused, and prints one JSON line:
//   {"model": ..., "decision_id": ..., "reward": ..., "invalid_argument_code": ...}
// On an unexpected error it prints the status code and details on stderr and exits non-zero.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTOS = path.join(__dirname, '..', '..', 'protos');
const DEADLINE_MS = 30000;

function loadRouter() {
  // google/protobuf/struct.proto is not in PROTOS: proto-loader (protobufjs) bundles the well-known types.
  const definition = protoLoader.loadSync('router.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [PROTOS],
  });
  return grpc.loadPackageDefinition(definition).banditroute.v1.Router;
}

function authMetadata(apiKey) {
  const metadata = new grpc.Metadata();
  metadata.add('authorization', `Bearer ${apiKey}`);
  return metadata;
}

// Calls a unary method and resolves with its response (rejects with the grpc error).
function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + DEADLINE_MS);
    client[method](request, metadata, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// The status code the call ended with: 0 (OK) when it succeeded.
async function statusOf(promise) {
  try {
    await promise;
    return grpc.status.OK;
  } catch (error) {
    if (error.code === undefined) throw error;
    process.stderr.write(`empty messages refused: ${grpc.status[error.code]} (${error.code}): ${error.details}\n`);
    return error.code;
  }
}

async function main(addr, apiKey) {
  const Router = loadRouter();
  const client = new Router(addr, grpc.credentials.createInsecure());
  const metadata = authMetadata(apiKey);
  try {
    const decision = await call(client, 'Route', {
      tenant_id: 'node',
      messages: [{ role: 'user', content: 'Write a haiku about autumn rain.' }],
    }, metadata);
    const feedback = await call(client, 'Feedback', { decision_id: decision.decision_id, quality: 0.9 }, metadata);
    const invalidArgumentCode = await statusOf(call(client, 'Route', { tenant_id: 'node', messages: [] }, metadata));
    process.stdout.write(JSON.stringify({
      model: decision.model,
      decision_id: decision.decision_id,
      reward: feedback.reward,
      invalid_argument_code: invalidArgumentCode,
    }) + '\n');
  } finally {
    client.close();
  }
}

const [addr] = process.argv.slice(2);
const apiKey = process.env.BANDITROUTE_API_KEY;
if (!addr || !apiKey) {
  process.stderr.write('usage: BANDITROUTE_API_KEY=<key> node route.js HOST:PORT\n');
  process.exit(2);
}
main(addr, apiKey).catch((error) => {
  const code = error.code === undefined ? '' : `${grpc.status[error.code]} (${error.code}): `;
  process.stderr.write(`${code}${error.details || error.stack || error}\n`);
  process.exit(1);
});
