// What issue 12's attack run found in the HTTP layer, each refused or bounded now: large
// static files streamed with backpressure (not read whole on the I/O thread), a NUL in the
// path refused, an encoded slash kept out of routing, nosniff on every answer, and a
// Transfer-Encoding other than `chunked` refused instead of read as plain.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useServer, startServer, createJob, getJson, request, waitFor, delay, HUB_PATH, TIME_SCALE } from '../lib/server.mjs';
import { negotiate } from '../lib/wire.mjs';
import { rssKiB } from '../lib/proc.mjs';

/** Sends `text` on a fresh socket; resolves with the first response's status, headers and body. */
async function exchange(port, text) {
  const socket = net.connect(port, '127.0.0.1');
  let data = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (d) => (data = Buffer.concat([data, d])));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(text);
  const parse = () => {
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (data.length < end + 4 + length) return null;
    return { status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString() };
  };
  await waitFor(() => parse() || closed, 5000, 'an answer');
  socket.destroy();
  const r = parse();
  assert.ok(r, `no complete answer to ${JSON.stringify(text.slice(0, 80))}`);
  return r;
}

const get = (port, target) => exchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);

describe('HTTP hardening', () => {
  const ctx = useServer();

  test('a NUL in the path is refused, never cut off at the file name', async () => {
    const page = await get(ctx.server.port, '/test-signalr.html');
    assert.equal(page.status, 200);
    const res = await get(ctx.server.port, '/test-signalr.html%00.png');
    assert.equal(res.status, 400, 'the page was served under another name');
    assert.doesNotMatch(res.body, /<html/i);
    const api = await get(ctx.server.port, '/api/v1/jobs/x%00y');
    assert.equal(api.status, 400);
  });

  test('an encoded slash is data in a segment, not a path separator', async () => {
    const job = await createJob(ctx.url);
    const real = await get(ctx.server.port, `/api/v1/jobs/${job.jobId}/progress`);
    assert.equal(real.status, 200);
    const encoded = await get(ctx.server.port, `/api/v1/jobs/${job.jobId}%2Fprogress`);
    assert.equal(encoded.status, 404, `%2F was routed as a separator: ${encoded.body.slice(0, 200)}`);
    const lower = await get(ctx.server.port, `/api/v1/jobs/${job.jobId}%2fprogress`);
    assert.equal(lower.status, 404);
    assert.equal((await get(ctx.server.port, '/dashboard/index.html')).status, 200);
    assert.equal((await get(ctx.server.port, '/dashboard%2Findex.html')).status, 404);
    // Other escapes are still decoded.
    assert.equal((await get(ctx.server.port, '/dashboard/%69ndex.html')).status, 200);
  });

  test('every kind of answer says X-Content-Type-Options: nosniff', async () => {
    const job = await createJob(ctx.url);
    const answers = {
      'REST 200': await getJson(ctx.url, `/api/v1/jobs/${job.jobId}`),
      'REST 404': await getJson(ctx.url, '/api/v1/jobs/none'),
      'static file': await getJson(ctx.url, '/test-signalr.html'),
      'not found': await getJson(ctx.url, '/nothing-here'),
      metrics: await getJson(ctx.url, '/metrics'),
      'REST 400': await request(ctx.url, 'POST', '/api/v1/jobs', { body: '{' }),
    };
    for (const [what, res] of Object.entries(answers)) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
    }
    const n = await negotiate(ctx.url);
    const poll = await fetch(`${ctx.url}${HUB_PATH}?id=${encodeURIComponent(n.body.connectionToken)}`);
    await poll.text();
    assert.equal(poll.headers.get('x-content-type-options'), 'nosniff', 'long poll');
    const malformed = await exchange(ctx.server.port, 'GARBAGE\r\n\r\n');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers['x-content-type-options'], 'nosniff', 'malformed request');
  });

  test('Transfer-Encoding other than exactly chunked is refused with 501, not read as plain', async () => {
    const body = JSON.stringify({ jobType: 'Transcription', userId: 'te-test' });
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const post = (te) => exchange(ctx.server.port,
      `POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${ctx.server.port}\r\nContent-Type: application/json\r\n` +
      `Transfer-Encoding: ${te}\r\n\r\n${chunked}`);
    for (const te of ['gzip, chunked', 'deflate,chunked', 'chunked, chunked']) {
      const res = await post(te);
      assert.equal(res.status, 501, `Transfer-Encoding: ${te}`);
    }
    const listed = (await getJson(ctx.url, '/api/v1/jobs?userId=te-test')).body;
    const jobs = Array.isArray(listed) ? listed : listed.jobs ?? listed.items ?? listed.data;
    assert.deepEqual(jobs, [], 'nothing was created');
    const ok = await post('chunked');
    assert.equal(ok.status, 201, ok.body);
  });
});

describe('large static files', () => {
  const size = 64 * 1024 * 1024;
  let webRoot;
  let server;
  let digest;
  before(async () => {
    webRoot = mkdtempSync(path.join(os.tmpdir(), 'herald-webroot-'));
    const big = crypto.randomBytes(size);
    digest = crypto.createHash('sha256').update(big).digest('hex');
    writeFileSync(path.join(webRoot, 'big.bin'), big);
    writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>t</title>');
    server = await startServer({ env: { AppSettings__WebRoot: webRoot } });
  });
  after(async () => {
    await server?.stop();
    rmSync(webRoot, { recursive: true, force: true });
  });

  test('downloads that do not read hold a chunk each, not the file; the server stays responsive', async () => {
    const before = rssKiB(server.proc.pid);
    const stalled = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      s.write(`GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
      s.pause();
      stalled.push(s);
    }
    await delay(1500 * TIME_SCALE);
    const grownMiB = (rssKiB(server.proc.pid) - before) / 1024;
    console.log(`# RSS +${grownMiB.toFixed(1)} MiB with 6 stalled downloads of a 64 MiB file`);
    assert.ok(grownMiB < 48, `the server grew by ${grownMiB.toFixed(1)} MiB: files read whole`);
    const t0 = Date.now();
    assert.equal((await getJson(server.url, '/health')).status, 200);
    const ms = Date.now() - t0;
    assert.ok(ms < 1000 * TIME_SCALE, `/health took ${ms} ms`);

    // A reader gets the whole file, byte for byte.
    const res = await fetch(`${server.url}/big.bin`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(size));
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, size);
    assert.equal(crypto.createHash('sha256').update(got).digest('hex'), digest);
    const head = await fetch(`${server.url}/big.bin`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(size));
    for (const s of stalled) s.destroy();
  });
});
