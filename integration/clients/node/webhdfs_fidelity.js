// Drives Waybill's WebHDFS test server (integration/testserver/webhdfs) with the npm
// `webhdfs` client, written independently of the server and of Waybill's adapter:
// mkdir, CREATE through the NameNode's redirect (writeFile, createWriteStream),
// APPEND, OPEN, rename, LISTSTATUS, GETFILESTATUS, unlink, and RemoteException
// messages for errors. Run by integration/testserver/webhdfs/fidelity_test.go:
//
//   node webhdfs_fidelity.js http://127.0.0.1:PORT USER BASEDIR
//
// It prints one JSON line with what it saw and exits non-zero on the first mismatch.
'use strict';

const assert = require('assert');
const WebHDFS = require('webhdfs');

const [nameNode, user, base] = process.argv.slice(2);
if (!nameNode || !user || !base) {
  console.error('usage: node webhdfs_fidelity.js NAMENODE_URL USER BASEDIR');
  process.exit(2);
}
const nn = new URL(nameNode);
const hdfs = WebHDFS.createClient({ host: nn.hostname, port: nn.port, path: '/webhdfs/v1', user });

// call turns a callback method into a promise of [err, result].
function call(method, ...args) {
  return new Promise((resolve) => {
    hdfs[method](...args, (err, result) => resolve([err || null, result]));
  });
}

async function ok(method, ...args) {
  const [err, result] = await call(method, ...args);
  if (err) {
    throw new Error(`${method}(${JSON.stringify(args[0])}) failed: ${err.message}`);
  }
  return result;
}

async function fails(method, ...args) {
  const [err] = await call(method, ...args);
  if (!err) {
    throw new Error(`${method}(${JSON.stringify(args[0])}) succeeded, want an error`);
  }
  return err.message;
}

// writeStream writes data with createWriteStream, in several chunks.
function writeStream(path, data, opts) {
  return new Promise((resolve) => {
    const remote = hdfs.createWriteStream(path, false, opts || {});
    let error = null;
    remote.on('error', (err) => { error = err; });
    remote.on('finish', () => resolve(error));
    const { PassThrough } = require('stream');
    const src = new PassThrough();
    src.pipe(remote);
    for (let i = 0; i < data.length; i += 16384) {
      src.write(data.subarray(i, i + 16384));
    }
    src.end();
  });
}

async function main() {
  const dir = `${base}/dir`;
  const out = { checks: 0 };
  const check = (cond, what) => {
    assert.ok(cond, what);
    out.checks++;
  };

  await ok('mkdir', dir);
  const st = await ok('stat', dir);
  check(st.type === 'DIRECTORY' && st.owner === user, `stat of a new directory: ${JSON.stringify(st)}`);

  await ok('writeFile', `${dir}/a.txt`, 'hello ');
  await ok('appendFile', `${dir}/a.txt`, 'world');
  const text = await ok('readFile', `${dir}/a.txt`);
  check(text.toString() === 'hello world', `readFile after append: ${JSON.stringify(text.toString())}`);

  // A larger binary file through createWriteStream, read back whole.
  const blob = Buffer.alloc(300 * 1024);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919 + (i >> 8)) & 0xff;
  const werr = await writeStream(`${dir}/b.bin`, blob);
  check(werr === null, `createWriteStream: ${werr && werr.message}`);
  const back = await ok('readFile', `${dir}/b.bin`);
  check(Buffer.compare(back, blob) === 0, `b.bin read back: ${back.length} bytes, want ${blob.length}`);

  const fst = await ok('stat', `${dir}/a.txt`);
  check(fst.type === 'FILE' && fst.length === 11 && fst.pathSuffix === '' && fst.owner === user && fst.permission === '755',
    `stat of a.txt: ${JSON.stringify(fst)}`);

  let names = (await ok('readdir', dir)).map((f) => f.pathSuffix);
  check(JSON.stringify(names) === JSON.stringify(['a.txt', 'b.bin']), `readdir: ${names}`);

  await ok('rename', `${dir}/a.txt`, `${dir}/c.txt`);
  names = (await ok('readdir', dir)).map((f) => f.pathSuffix);
  check(JSON.stringify(names) === JSON.stringify(['b.bin', 'c.txt']), `readdir after rename: ${names}`);
  out.statMissing = await fails('stat', `${dir}/a.txt`);
  check(out.statMissing === `File does not exist: ${dir}/a.txt`, `stat of a renamed file: ${out.statMissing}`);

  // Errors carry the RemoteException's message.
  out.readMissing = await fails('readFile', `${dir}/missing.txt`);
  check(out.readMissing === `File ${dir}/missing.txt not found.`, `readFile of a missing file: ${out.readMissing}`);
  const exists = await writeStream(`${dir}/c.txt`, Buffer.from('again'), { overwrite: false });
  out.createExisting = exists && exists.message;
  check(out.createExisting && out.createExisting.startsWith(`${dir}/c.txt for client `) && out.createExisting.endsWith(' already exists'),
    `create over an existing file without overwrite: ${out.createExisting}`);
  out.mkdirUnderFile = await fails('mkdir', `${dir}/b.bin/x`);
  check(out.mkdirUnderFile === `Parent path is not a directory: ${dir}/b.bin`, `mkdir under a file: ${out.mkdirUnderFile}`);
  out.rmdirNonEmpty = await fails('unlink', dir);
  check(out.rmdirNonEmpty === `\`${dir} is non empty': Directory is not empty`, `unlink of a non-empty directory: ${out.rmdirNonEmpty}`);

  await ok('unlink', `${dir}/c.txt`);
  names = (await ok('readdir', dir)).map((f) => f.pathSuffix);
  check(JSON.stringify(names) === JSON.stringify(['b.bin']), `readdir after unlink: ${names}`);

  // What remains for the Go side to check: dir/b.bin, and kept/k.txt after a
  // recursive delete of dir's sibling.
  await ok('mkdir', `${base}/gone/deep`);
  await ok('writeFile', `${base}/gone/deep/x`, 'x');
  await ok('unlink', `${base}/gone`, true);
  await ok('writeFile', `${base}/kept/k.txt`, 'kept');
  check(!(await call('stat', `${base}/gone`))[1], 'a recursively deleted directory is gone');

  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
