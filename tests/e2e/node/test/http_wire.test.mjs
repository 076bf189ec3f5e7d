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

  test('a long pipeline of reports for several jobs: answers in request order, each job in sequence', async () => {
    const jobs = [];
    for (let j = 0; j < 4; j++) jobs.push((await createJob(ctx.url)).jobId);
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    const expected = [];  // [kind, jobId, progress]
    let all = '';
    for (let i = 1; i <= 60; i++) {
      const jobId = jobs[i % 4];
      all += progressRequest(jobId, `{"progress":${i},"statusMessage":"step ${i}"}`);
      expected.push(['report', jobId, i]);
      if (i % 10 === 0) {
        // A read in the middle sees every report before it on this connection.
        all += `GET /api/v1/jobs/${jobId} HTTP/1.1\r\nHost: x\r\n\r\n`;
        expected.push(['get', jobId, i]);
      }
      if (i === 30) {
        all += progressRequest('no-such-job', '{"progress":1}');
        expected.push(['missing']);
      }
    }
    c.write(all);
    await waitFor(() => c.responses().length === expected.length, 10000, `${expected.length} answers`);
    const rs = c.responses();
    const lastSequence = Object.fromEntries(jobs.map((j) => [j, 1]));
    rs.forEach((r, n) => {
      const [kind, jobId, progress] = expected[n];
      if (kind === 'missing') {
        assert.equal(r.status, 404, `answer ${n}`);
        return;
      }
      assert.equal(r.status, 200, `answer ${n}`);
      const body = JSON.parse(r.body);
      assert.equal(body.jobId, jobId, `answer ${n} belongs to request ${n}`);
      assert.equal(body.progress, progress, `answer ${n}`);
      if (kind === 'report') {
        assert.equal(body.sequence, lastSequence[jobId] + 1, `answer ${n}: next sequence of its job`);
        lastSequence[jobId] = body.sequence;
      } else {
        assert.equal(body.sequence, lastSequence[jobId], `answer ${n}: the read saw the report before it`);
      }
    });
    for (const jobId of jobs) {
      const history = await (await fetch(`${ctx.url}/api/v1/jobs/${jobId}/progress`)).json();
      const progresses = history.map((e) => e.progress).slice(1);
      assert.deepEqual(progresses, [...progresses].sort((a, b) => a - b), 'stored in request order');
      assert.equal(progresses.length, 15);
    }
    assert.equal(c.ended, false, 'keep-alive');
  });

  test('a bad request after pipelined ones: those before it are answered first, then 400 and close', async () => {
    const job = await createJob(ctx.url);
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    let all = '';
    for (let i = 1; i <= 3; i++) all += progressRequest(job.jobId, `{"progress":${i}}`);
    all += 'GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n';
    all += progressRequest(job.jobId, '{"progress":99}');  // after the bad one: never read
    c.write(all);
    await waitFor(() => c.ended, 5000, 'the server to close');
    const rs = c.responses();
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 400]);
    assert.deepEqual(rs.slice(0, 3).map((r) => JSON.parse(r.body).sequence), [2, 3, 4]);
    assert.equal((await getJob(ctx.url, job.jobId)).progress, 3, 'nothing after the bad request ran');
  });

  test('a client that pipelines and then closes its sending side still gets every answer', async () => {
    const job = await createJob(ctx.url);
    const c = ctx.track(await RawHttp.open(ctx.server.port));
    let all = '';
    for (let i = 1; i <= 10; i++) all += progressRequest(job.jobId, `{"progress":${i * 5}}`);
    c.socket.end(all);
    await waitFor(() => c.ended, 5000, 'the server to close');
    const rs = c.responses();
    assert.equal(rs.length, 10);
    assert.deepEqual(rs.map((r) => JSON.parse(r.body).sequence), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
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
