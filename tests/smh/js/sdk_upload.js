// The official SMH JS SDK's Uploader against a served media library on S3 storage. Usage:
// node sdk_upload.js BUNDLE BASE_URL LIBRARY_ID SECRET PHASE, PHASE "simple" (a small photo) or
// "multipart" (SMH_BIG in 1 MB parts). A failed check throws: the exit status is what the test asserts.
'use strict';
const assert = require('assert');
const [bundle, basePath, libraryId, librarySecret, phase] = process.argv.slice(2);
const sdk = require(bundle);

async function main() {
  const tokens = new sdk.SMHClient({ basePath, maxRetries: 0 });
  const { data: issued } = await tokens.token.createToken({ libraryId, librarySecret, spaceId: 'home', grant: 'admin' });
  const client = new sdk.SMHClient({ basePath, libraryId, spaceId: 'home', accessToken: issued.accessToken, maxRetries: 0 });
  const bytes = require('fs').readFileSync(phase === 'simple' ? process.env.SMH_PHOTO : process.env.SMH_BIG);
  const name = `${phase}.jpg`;
  const task = client.createUploadTask({
    protocol: 'http:', file: new File([bytes], name, { type: 'image/jpeg' }), filePath: `holiday/${name}`,
    ...(phase === 'multipart' ? { partFileSize: 1, chunkSize: 1 } : {}),
  });
  await new Promise((resolve, reject) => {
    task.on('statechange', ({ state }) => {
      if (state === sdk.TaskStatus.SUCCESS) resolve();
      if (state === sdk.TaskStatus.ERROR || state === sdk.TaskStatus.RAPID_SUCCESS) reject(new Error(`${state}: ${task.message || ''}`));
    });
    task.start();
  });
  const { data: info } = await client.file.infoFile({ filePath: `holiday/${name}`, info: 1 });
  assert.strictEqual(info.size, String(bytes.length));
  const got = await client.createDownloadTask({ filePath: `holiday/${name}` }).startAndGetBlob();
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes), 'the uploaded bytes come back');
  console.log(`SMH JS SDK upload (${phase}): ok`);
}

main().catch((err) => {
  console.error(err && (err.stack || err));
  if (err && err.response) console.error(JSON.stringify(err.response.responseData ?? err.response.data ?? {}));
  process.exit(1);
});
