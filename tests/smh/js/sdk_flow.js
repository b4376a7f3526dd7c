// The official SMH JavaScript SDK (cuijiawei123/smh-js-sdk, bundled with esbuild) against a served
// media library, for the calls in scope. Usage: node sdk_flow.js BUNDLE BASE_URL LIBRARY_ID SECRET
// A failed check throws: the exit status is what test_smh_js_sdk.py asserts.
'use strict';
const assert = require('assert');
const [bundle, basePath, libraryId, librarySecret] = process.argv.slice(2);
const sdk = require(bundle);
const axios = sdk.globalAxios || require(require.resolve('axios', { paths: [require('path').dirname(bundle)] }));

async function expectError(promise, status, code) {
  try {
    await promise;
  } catch (err) {
    const got = err.status ?? err.response?.status;
    const server = err.response?.serverCode ?? err.response?.data?.code ?? err.serverCode;
    assert.strictEqual(got, status, `status ${got} (${server}), wanted ${status} ${code}`);
    if (code) assert.strictEqual(server, code);
    return;
  }
  throw new Error(`expected ${status} ${code}`);
}

async function main() {
  const tokens = new sdk.SMHClient({ basePath, maxRetries: 0 });
  // The SDK's integration helper: grant=admin with a space and a user.
  const { data: issued } = await tokens.token.createToken({
    libraryId, librarySecret, spaceId: 'home', userId: 'sdk-user', grant: 'admin', period: 3600,
  });
  assert.ok(issued.accessToken && issued.expiresIn === 3600);
  const client = new sdk.SMHClient({ basePath, libraryId, spaceId: 'home', accessToken: issued.accessToken, maxRetries: 0 });

  // Spaces: create with the admin token issued for another space, list with markers, delete.
  const { data: made } = await client.space.createSpace({ libraryId, createSpaceRequest: { isPublicRead: false } });
  assert.ok(made.spaceId);
  const seen = [];
  let marker;
  do {
    const { data: page } = await client.space.listSpace({ libraryId, limit: 1, marker });
    seen.push(...page.list.map((s) => s.spaceId));
    marker = page.marker;
  } while (marker);
  assert.ok(seen.includes(made.spaceId) && seen.includes('home'), JSON.stringify(seen));
  const { data: own } = await tokens.token.createToken({ libraryId, librarySecret, spaceId: made.spaceId, grant: 'admin' });
  await client.space.deleteSpace({ libraryId, spaceId: made.spaceId, accessToken: own.accessToken });

  // Directories (albums).
  const { data: dir } = await client.directory.createDirectory({ filePath: 'trip' });
  assert.deepStrictEqual(dir.path, ['trip']);
  await expectError(client.directory.createDirectory({ filePath: 'trip' }), 409, 'SameNameDirectoryOrFileExists');
  await expectError(client.directory.createDirectory({ filePath: 'trip/deeper' }), 400, 'DirectoryLevelExceed');
  const { data: renamed } = await client.directory.createDirectory({ filePath: 'trip', conflictResolutionStrategy: 'rename' });
  assert.deepStrictEqual(renamed.path, ['trip(1)']);

  // A file, through the raw-body PUT extension (SMH's own upload is the next issue).
  const photo = require('fs').readFileSync(process.env.SMH_PHOTO);
  const put = await axios.put(`${basePath}/api/v1/file/${libraryId}/home/${encodeURIComponent('trip/p.jpg')}`, photo,
    { params: { access_token: issued.accessToken }, headers: { 'x-smh-meta-camera': 'X100' } });
  assert.strictEqual(put.status, 201);

  const { data: root } = await client.directory.listDirectory({ filePath: '', byMarker: 1, limit: 1 });
  assert.deepStrictEqual(root.path, []);
  assert.ok(root.nextMarker, 'a first page of one of two albums has a nextMarker');
  const { data: rest } = await client.directory.listDirectory({ filePath: '', byMarker: 1, limit: 1, marker: root.nextMarker });
  assert.ok(!rest.nextMarker);
  assert.deepStrictEqual([...root.contents, ...rest.contents].map((e) => e.name), ['trip', 'trip(1)']);
  const { data: paged } = await client.directory.listDirectoryByPage({ filePath: 'trip', byPage: 1, page: 1, pageSize: 10 });
  assert.strictEqual(paged.totalNum, 1);
  const entry = paged.contents[0];
  assert.strictEqual(entry.size, String(photo.length));
  assert.deepStrictEqual(entry.metaData, { 'x-smh-meta-camera': 'X100' });
  await client.directory.checkDirectoryStatus({ filePath: 'trip' });
  await expectError(client.directory.checkDirectoryStatus({ filePath: 'nope' }), 404);

  // Rename keeps the media.
  await client.directory.moveDirectory({ filePath: 'holiday', moveDirectoryRequest: { from: 'trip' } });
  const { data: info } = await client.file.infoFile({ filePath: 'holiday/p.jpg', info: 1, purpose: 'download', period: 600 });
  assert.strictEqual(info.size, String(photo.length));
  assert.strictEqual(info.crc64, entry.crc64);
  const fetched = await axios.get(info.cosUrl, { responseType: 'arraybuffer' });
  assert.ok(Buffer.from(fetched.data).equals(photo), 'cosUrl serves the uploaded bytes');
  await client.file.checkFileStatus({ filePath: 'holiday/p.jpg' });
  const cover = await client.file.getCover({ filePath: 'holiday/p.jpg', preview: 1, size: 64 });
  assert.ok(String(cover.headers['content-type']).startsWith('image/'));
  const download = await client.file.downloadFile({ filePath: 'holiday/p.jpg' }, { responseType: 'arraybuffer' });
  assert.ok(Buffer.from(download.data).equals(photo), 'download follows the 302 to the bytes');

  // The Downloader: info=1&purpose=download, then cosUrl, checked against size and crc64; a file above
  // partFileSize (MB) comes in Range parts.
  const whole = await client.createDownloadTask({ filePath: 'holiday/p.jpg' }).startAndGetBlob();
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(photo), 'Downloader gets the bytes');
  const big = require('fs').readFileSync(process.env.SMH_BIG);
  assert.ok(big.length > 1024 * 1024);
  await axios.put(`${basePath}/api/v1/file/${libraryId}/home/${encodeURIComponent('holiday/big.jpg')}`, big,
    { params: { access_token: issued.accessToken } });
  const parts = await client.createDownloadTask({ filePath: 'holiday/big.jpg', partFileSize: 1, chunkSize: 1 }).startAndGetBlob();
  assert.ok(Buffer.from(await parts.arrayBuffer()).equals(big), 'Downloader gets the bytes in Range parts');
  await client.file.deleteFile({ filePath: 'holiday/big.jpg' });

  // The Uploader (SMH upload sessions: begin, bytes to {protocol}//{domain}{path}, confirm with the CRC-64):
  // the simple path for a small file, the multipart path above partFileSize (MB), parts of chunkSize (MB).
  async function uploadWith(options) {
    const task = client.createUploadTask({ protocol: 'http:', ...options });
    const end = new Promise((resolve, reject) => task.on('statechange', ({ state }) => {
      if (state === sdk.TaskStatus.SUCCESS) resolve(state);
      if (state === sdk.TaskStatus.ERROR || state === sdk.TaskStatus.RAPID_SUCCESS) {
        reject(new Error(`upload ended in ${state}: ${task.message || ''}`));
      }
    }));
    task.start();
    return end;
  }
  await uploadWith({ file: new File([photo], 'up.jpg', { type: 'image/jpeg' }), filePath: 'holiday/up.jpg' });
  await uploadWith({ file: new File([big], 'upbig.jpg', { type: 'image/jpeg' }), filePath: 'holiday/upbig.jpg',
    partFileSize: 1, chunkSize: 1 });
  for (const [name, bytes] of [['up.jpg', photo], ['upbig.jpg', big]]) {
    const { data: upInfo } = await client.file.infoFile({ filePath: `holiday/${name}`, info: 1 });
    assert.strictEqual(upInfo.size, String(bytes.length), `${name}: size`);
    const got = await client.createDownloadTask({ filePath: `holiday/${name}` }).startAndGetBlob();
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes), `${name}: the Uploader's bytes come back`);
  }
  // rename is the default strategy: the same path again lands beside it.
  await uploadWith({ file: new File([photo], 'up.jpg', { type: 'image/jpeg' }), filePath: 'holiday/up.jpg' });
  const { data: beside } = await client.file.infoFile({ filePath: 'holiday/up(1).jpg', info: 1 });
  assert.strictEqual(beside.name, 'up(1).jpg');
  for (const name of ['up.jpg', 'up(1).jpg', 'upbig.jpg']) await client.file.deleteFile({ filePath: `holiday/${name}` });

  // Tokens: renew, refresh on 403 InvalidAccessToken, delete by user, delete one.
  const { data: renewedToken } = await tokens.token.renewToken({ libraryId, accessToken: issued.accessToken });
  assert.strictEqual(renewedToken.expiresIn, 3600);
  const { data: doomed } = await tokens.token.createToken({ libraryId, librarySecret, userId: 'gone', grant: 'admin' });
  await tokens.token.deleteUserTokens({ libraryId, librarySecret, userId: 'gone' });
  let refreshed = 0;
  const refreshing = new sdk.SMHClient({
    basePath, libraryId, spaceId: 'home', accessToken: doomed.accessToken, maxRetries: 0,
    onTokenRefresh: async () => { refreshed += 1; return issued.accessToken; },
  });
  await refreshing.directory.listDirectory({ filePath: '', byMarker: 1 });
  assert.strictEqual(refreshed, 1, 'a revoked token is the SDK refresh trigger');

  await client.file.deleteFile({ filePath: 'holiday/p.jpg' });
  await expectError(client.file.infoFile({ filePath: 'holiday/p.jpg', info: 1 }), 404, 'FileNotFound');
  await client.directory.deleteDirectory({ filePath: 'holiday' });
  await tokens.token.deleteToken({ libraryId, accessToken: issued.accessToken });
  await expectError(client.directory.listDirectory({ filePath: '', byMarker: 1 }), 403, 'InvalidAccessToken');
  console.log('SMH JS SDK flow: ok');
}

main().catch((err) => {
  console.error(err && (err.stack || err));
  if (err && err.response) console.error(JSON.stringify(err.response.responseData ?? err.response.data ?? {}));
  process.exit(1);
});
