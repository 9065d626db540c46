#!/usr/bin/env node
// Conformance of Waybill's schema registry with @kafkajs/confluent-schema-registry.
//
//   node conformance.js http://127.0.0.1:PORT
//
// Run by integration/registry/clients_test.go against a fresh registry. On success it
// prints one JSON line of results and exits 0; any mismatch fails a node:assert check,
// prints what was done so far to stderr and exits 1.
'use strict';

const assert = require('node:assert/strict');
const { SchemaRegistry, SchemaType, COMPATIBILITY } = require('@kafkajs/confluent-schema-registry');

const url = process.argv[2];
if (!url) {
  console.error('usage: node conformance.js REGISTRY_URL');
  process.exit(2);
}

const subject = 'node-payments-value';
const record = (fields) => JSON.stringify({ type: 'record', name: 'Payment', namespace: 'waybill.itest', fields });
const v1 = record([
  { name: 'id', type: 'string' },
  { name: 'amount', type: 'double' },
]);
// BACKWARD compatible with v1: a new field with a default.
const v2 = record([
  { name: 'id', type: 'string' },
  { name: 'amount', type: 'double' },
  { name: 'currency', type: 'string', default: 'EUR' },
]);
// Not BACKWARD compatible: a new field without a default.
const incompatible = record([
  { name: 'id', type: 'string' },
  { name: 'amount', type: 'double' },
  { name: 'customer', type: 'string' },
]);
const avro = (schema) => ({ type: SchemaType.AVRO, schema });

const results = { subject, checks: 0 };
function check(fn) {
  fn();
  results.checks++;
}

// A client with no retries, so a 5xx shows up as a failure; and fresh clients where the
// library would otherwise answer from its cache instead of asking the registry.
const client = () => new SchemaRegistry({ host: url, retry: { retries: 0 } });

// Plain HTTP for what the library has no call for (deletes).
async function http(method, path) {
  const res = await fetch(url + path, { method, headers: { Accept: 'application/vnd.schemaregistry.v1+json' } });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

async function rejects(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail, it succeeded');
}

async function main() {
  const registry = client();

  // register with {subject} and a compatibility: on a first registration the library
  // PUTs the level on the subject after registering.
  const r1 = await registry.register(avro(v1), { subject, compatibility: COMPATIBILITY.BACKWARD });
  results.id1 = r1.id;
  check(() => assert.ok(Number.isInteger(r1.id) && r1.id > 0, `register gave id ${r1.id}`));
  const cfg = await registry.api.Subject.config({ subject });
  check(() => assert.equal(cfg.data().compatibilityLevel, 'BACKWARD'));

  // re-register: same id (the library reads the subject's config and must find BACKWARD).
  const again = await client().register(avro(v1), { subject, compatibility: COMPATIBILITY.BACKWARD });
  check(() => assert.equal(again.id, r1.id));

  // lookups
  const byVersion = await client().getRegistryId(subject, 1);
  check(() => assert.equal(byVersion, r1.id));
  const bySchema = await client().getRegistryIdBySchema(subject, avro(v1));
  check(() => assert.equal(bySchema, r1.id));
  const latestId = await client().getLatestSchemaId(subject);
  check(() => assert.equal(latestId, r1.id));

  // getSchema(id) from a client that has not seen the schema.
  const schema = await client().getSchema(r1.id);
  check(() => assert.equal(schema.name, 'waybill.itest.Payment'));
  check(() => assert.deepEqual(schema.fields.map((f) => f.name), ['id', 'amount']));

  // encode with one client, decode with another that must fetch the writer schema.
  const payload = { id: 'p-1', amount: 12.5 };
  const buf = await registry.encode(r1.id, payload);
  check(() => assert.equal(buf.readUInt8(0), 0, 'magic byte'));
  check(() => assert.equal(buf.readInt32BE(1), r1.id, 'schema id in the wire format'));
  const decoded = await client().decode(buf);
  results.decoded = { ...decoded };
  check(() => assert.deepStrictEqual({ ...decoded }, payload));

  // a compatible second version, then an incompatible one refused with 409.
  const r2 = await registry.register(avro(v2), { subject, compatibility: COMPATIBILITY.BACKWARD });
  results.id2 = r2.id;
  check(() => assert.notEqual(r2.id, r1.id));
  const latest2 = await client().getLatestSchemaId(subject);
  check(() => assert.equal(latest2, r2.id));
  const err = await rejects(registry.register(avro(incompatible), { subject, compatibility: COMPATIBILITY.BACKWARD }));
  results.incompatibleError = err.message;
  check(() => assert.equal(err.status, 409, `status of the refused registration: ${err.status} ${err.message}`));
  check(() => assert.match(err.message, /incompatible/i));
  const versionsAfterRefusal = await http('GET', `/subjects/${subject}/versions`);
  check(() => assert.deepEqual(versionsAfterRefusal.body, [1, 2]));

  // config per subject through api.Subject: NONE lets the schema in.
  const put = await registry.api.Subject.updateConfig({ subject, body: { compatibility: 'NONE' } });
  check(() => assert.equal(put.data().compatibility, 'NONE'));
  const none = await registry.api.Subject.config({ subject });
  check(() => assert.equal(none.data().compatibilityLevel, 'NONE'));
  const global = await http('GET', '/config');
  check(() => assert.equal(global.body.compatibilityLevel, 'BACKWARD', 'the subject level leaked into the global one'));
  const r3 = await registry.register(avro(incompatible), { subject, compatibility: COMPATIBILITY.NONE });
  results.id3 = r3.id;
  check(() => assert.ok(r3.id !== r1.id && r3.id !== r2.id));

  // deletes (the library has none): a version, the subject soft, then permanently.
  const delVersion = await http('DELETE', `/subjects/${subject}/versions/3`);
  check(() => assert.deepEqual(delVersion, { status: 200, body: 3 }));
  const latestAfterDelete = await client().getLatestSchemaId(subject);
  check(() => assert.equal(latestAfterDelete, r2.id));
  const soft = await http('DELETE', `/subjects/${subject}`);
  check(() => assert.deepEqual(soft, { status: 200, body: [1, 2] }));
  const gone = await rejects(client().getLatestSchemaId(subject));
  check(() => assert.equal(gone.status, 404, `latest of a deleted subject: ${gone.status} ${gone.message}`));
  const hard = await http('DELETE', `/subjects/${subject}?permanent=true`);
  check(() => assert.deepEqual(hard, { status: 200, body: [1, 2, 3] }));
  const after = await http('GET', `/subjects/${subject}/versions?deleted=true`);
  check(() => assert.equal(after.status, 404));
  check(() => assert.equal(after.body.error_code, 40401));

  // data written with the ids stays decodable after the subject is gone.
  const decodedAfter = await client().decode(buf);
  check(() => assert.deepStrictEqual({ ...decodedAfter }, payload));

  console.log(JSON.stringify(results));
}

main().catch((err) => {
  console.error(`conformance.js FAILED after ${results.checks} checks: ${err && err.stack ? err.stack : err}`);
  console.error(`results so far: ${JSON.stringify(results)}`);
  process.exit(1);
});
