// HTTP/1.x at the byte level, over a plain TCP socket: requests that trickle in, pipelined
// requests, HTTP/1.0, HEAD, limits and broken input. Each answer must be complete and
// well-formed, and bad input must end only its own connection.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useServer, createJob, getJob, waitFor, delay } from '../lib/server.mjs';

/** A raw HTTP client that collects every byte the server sends. */
class RawHttp {
  static async open(port) {
    const c = new RawHttp();
    c.socket = net.connect(port, '127.0.0.1');
    c.data = Buffer.alloc(0);
    c.ended = false;
    c.socket.on('data', (d) => (c.data = Buffer.concat([c.data, d])));
    c.socket.on('close', () => (c.ended = true));
    c.socket.on('error', () => {});
    await new Promise((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }
  write(s) {
    this.socket.write(s);
  }
  /** Parses the complete responses received so far (Content-Length bodies). */
  responses(headRequests = 0) {
    const out = [];
    let b = this.data;
    let heads = headRequests;
    for (;;) {
      const end = b.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = b.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      const bodyLength = heads > 0 ? 0 : length;
      if (b.length < end + 4 + bodyLength) break;
      if (heads > 0) heads--;
      out.push({
        version: statusLine.split(' ')[0],
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: b.subarray(end + 4, end + 4 + bodyLength).toString(),
      });
      b = b.subarray(end + 4 + bodyLength);
    }
    return out;
  }
  close() {
    this.socket.destroy();
  }
}

const progressRequest = (jobId, body, extra = '') =>
  `POST /api/v1/jobs/${jobId}/progress HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('HTTP on the wire', () => {
  const ctx = useServer();

  test('a request that arrives a few bytes at a time is answered once it is complete', async () => {
    const job = await createJob(ctx.url);
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    const req = progressRequest(job.jobId, '{"progress":42,"currentStage":"trickled"}');
    for (let i = 0; i < req.length; i += 5) {
      c.write(req.slice(i, i + 5));
      await delay(2);
    }
    await waitFor(() => c.responses().length === 1, 5000, 'the answer');
    const [r] = c.responses();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).currentStage, 'trickled');
    assert.equal((await getJob(ctx.url, job.jobId)).progress, 42);
  });

  test('pipelined requests in one segment are answered in order on the same connection', async () => {
    const job = await createJob(ctx.url);
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    let all = '';
    for (let i = 1; i <= 5; i++) all += progressRequest(job.jobId, `{"progress":${i * 10}}`);
    all += `GET /api/v1/jobs/${job.jobId} HTTP/1.1\r\nHost: x\r\n\r\n`;
    c.write(all);
    await waitFor(() => c.responses().length === 6, 5000, 'six answers');
    const rs = c.responses();
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(rs.slice(0, 5).map((r) => JSON.parse(r.body).sequence), [2, 3, 4, 5, 6]);
    assert.equal(JSON.parse(rs[5].body).progress, 50);
    assert.equal(c.ended, false, 'keep-alive');
  });

  test('HTTP/1.0 gets an HTTP/1.0 answer and the connection closes unless kept alive', async () => {
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    c.write('GET /health HTTP/1.0\r\n\r\n');
    await waitFor(() => c.ended, 5000, 'the server to close');
    const [r] = c.responses();
    assert.equal(r.version, 'HTTP/1.0');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).status, 'Healthy');

    const k = ctx.track(await RawHttp.open(ctx.server.port));
    k.write('GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await waitFor(() => k.responses().length === 1, 5000, 'the answer');
    assert.equal(k.responses()[0].headers.connection.toLowerCase(), 'keep-alive');
    k.write('GET /health HTTP/1.0\r\n\r\n');
    await waitFor(() => k.ended, 5000, 'the close after the second');
    assert.equal(k.responses().length, 2);
  });

  test('HEAD answers with the length of the body it leaves out', async () => {
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    c.write('HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.responses(1).length === 2, 5000, 'both answers');
    const [head, next] = c.responses(1);
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers['content-length']) > 50);
    assert.equal(head.body, '');
    assert.equal(next.status, 200, 'the next answer follows directly: no body was sent for HEAD');
  });

  test('a body over the limit gets 413, malformed requests get 400, and the server goes on', async () => {
    const big = ctx.track(await RawHttp.open(ctx.server.port));
    big.write(`POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    await waitFor(() => big.responses().length === 1, 5000, 'the 413');
    assert.equal(big.responses()[0].status, 413);

    for (const bad of ['NOT HTTP AT ALL\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n']) {
      const c = ctx.track(await RawHttp.open(ctx.server.port));
      c.write(bad);
      await waitFor(() => c.ended, 5000, `the server to close after ${JSON.stringify(bad)}`);
      const rs = c.responses();
      assert.equal(rs.length, 1, JSON.stringify(bad));
      assert.equal(rs[0].status, 400);
    }

    const half = ctx.track(await RawHttp.open(ctx.server.port));
    half.write('POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"jobType":');
    half.socket.end();  // the body never completes
    await waitFor(() => half.ended, 5000, 'the half request to end');

    const ok = await fetch(`${ctx.url}/health`);
    assert.equal(ok.status, 200);
  });
});
