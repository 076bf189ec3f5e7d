// RFC 6455 at the byte level, over a plain TCP socket: the upgrade answer, control frames,
// fragmentation, the closing handshake in both directions, and protocol violations (each
// must end only the offending connection, with the right close code).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, startServer, createJob, getJson, waitFor, delay, HUB_PATH, TIME_SCALE } from '../lib/server.mjs';
import { negotiate, RS, HANDSHAKE_JSON } from '../lib/wire.mjs';
import { acceptFor, frame, WireClient } from '../lib/ws_wire.mjs';

describe('WebSocket framing (RFC 6455)', () => {
  const ctx = useServer();

  async function openHub() {
    const n = await negotiate(ctx.url);
    assert.equal(n.status, 200, n.text);
    const c = ctx.track(await WireClient.open(ctx.server.port, `${HUB_PATH}?id=${n.body.connectionToken}`));
    assert.equal(c.status, 101, c.head);
    return c;
  }

  async function openHandshaken() {
    const c = await openHub();
    c.send(frame(1, HANDSHAKE_JSON));
    await waitFor(() => c.text().startsWith(`{}${RS}`), 5000, 'the SignalR handshake answer');
    return c;
  }

  const connections = async () => (await getJson(ctx.url, '/health')).body.connections;

  test('the upgrade answer is a 101 with the RFC accept key and no extensions', async () => {
    const n = await negotiate(ctx.url);
    const c = ctx.track(
      await WireClient.open(ctx.server.port, `${HUB_PATH}?id=${n.body.connectionToken}`, {
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      }),
    );
    assert.equal(c.status, 101);
    assert.equal(c.headers['sec-websocket-accept'], acceptFor(c.key));
    assert.equal(c.headers.upgrade.toLowerCase(), 'websocket');
    assert.equal(c.headers['sec-websocket-extensions'], undefined, 'permessage-deflate is not accepted');
  });

  test('an unsupported WebSocket version gets 426 naming version 13; a missing key gets 400', async () => {
    const n = await negotiate(ctx.url);
    const old = ctx.track(
      await WireClient.open(ctx.server.port, `${HUB_PATH}?id=${n.body.connectionToken}`, { 'Sec-WebSocket-Version': '8' }),
    );
    assert.equal(old.status, 426);
    assert.equal(old.headers['sec-websocket-version'], '13');
    const m = await negotiate(ctx.url);
    const keyless = ctx.track(
      await WireClient.open(ctx.server.port, `${HUB_PATH}?id=${m.body.connectionToken}`, { 'Sec-WebSocket-Key': 'short' }),
    );
    assert.equal(keyless.status, 400);
    // The server still serves others.
    const ok = await openHandshaken();
    assert.equal(ok.ended, false);
  });

  test('a Ping is answered with a Pong carrying the same payload, also between fragments', async () => {
    const c = await openHandshaken();
    c.send(frame(9, 'are you there'));
    const pong = await c.waitForFrame((f) => f.opcode === 10, 'the Pong');
    assert.equal(pong.payload.toString(), 'are you there');
    // An invocation in three fragments with a Ping between them.
    const msg = `{"type":1,"invocationId":"f1","target":"GetJobProgress","arguments":["nope"]}${RS}`;
    c.send(frame(1, msg.slice(0, 10), { fin: false }), frame(9, 'mid'), frame(0, msg.slice(10, 30), { fin: false }));
    await c.waitForFrame((f) => f.opcode === 10 && f.payload.toString() === 'mid', 'the second Pong');
    c.send(frame(0, msg.slice(30)));
    await waitFor(() => c.text().includes('"invocationId":"f1"'), 5000, 'the Completion');
    assert.match(c.text(), /"type":3,"invocationId":"f1"/);
  });

  test('a message split into frames byte by byte, with 16-bit lengths, is one message', async () => {
    const c = await openHandshaken();
    const filler = 'x'.repeat(300);
    const msg = `{"type":1,"invocationId":"big","target":"GetJobProgress","arguments":["${filler}"]}${RS}`;
    const bytes = Buffer.from(msg);
    const frames = [frame(1, bytes.subarray(0, 200), { fin: false })];
    for (let i = 200; i < bytes.length - 1; i++) frames.push(frame(0, bytes.subarray(i, i + 1), { fin: false }));
    frames.push(frame(0, bytes.subarray(bytes.length - 1)));
    // Delivered to the socket in odd-sized pieces, splitting headers and masks.
    const all = Buffer.concat(frames);
    for (let i = 0; i < all.length; i += 7) c.socket.write(all.subarray(i, i + 7));
    await waitFor(() => c.text().includes('"invocationId":"big"'), 5000, 'the Completion');
  });

  test('a client Close is echoed with its code, then the server closes the TCP connection', async () => {
    const c = await openHandshaken();
    assert.equal(await connections(), 1);
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]);
    c.send(frame(8, payload));
    const close = await c.waitForFrame((f) => f.opcode === 8, 'the echoed Close');
    assert.equal(close.code, 1000);
    await waitFor(() => c.ended, 5000, 'the server to close the socket');
    await waitFor(async () => (await connections()) === 0, 5000, 'the connection to be gone');
  });

  test('the server starts the closing handshake when the hub ends the connection', async () => {
    const c = await openHub();
    // A handshake the hub refuses: it answers with an error, then a WebSocket Close.
    c.send(frame(1, `{"protocol":"nope","version":1}${RS}`));
    const close = await c.waitForFrame((f) => f.opcode === 8, 'the Close');
    assert.equal(close.code, 1000);
    assert.match(c.text(), /"error":/);
    assert.equal(c.ended, false, 'the server waits for the client to answer the Close');
    c.send(frame(8, Buffer.from([0x03, 0xe8])));
    await waitFor(() => c.ended, 5000, 'the socket to close after the answer');
  });

  const violations = [
    ['an unmasked client frame', () => frame(1, HANDSHAKE_JSON, { mask: false }), 1002],
    ['a reserved bit without an extension', () => frame(1, HANDSHAKE_JSON, { rsv: 4 }), 1002],
    ['an unknown opcode', () => frame(3, 'x'), 1002],
    ['a continuation without a message', () => frame(0, 'x'), 1002],
    ['a fragmented Ping', () => frame(9, 'x', { fin: false }), 1002],
    ['a Close with a reserved code', () => frame(8, Buffer.from([0x03, 0xed])), 1002],
    ['invalid UTF-8 in a Text frame', () => frame(1, Buffer.from([0x7b, 0xc3, 0x28])), 1007],
  ];
  for (const [what, make, code] of violations) {
    test(`${what} is answered with Close ${code} and ends only that connection`, async () => {
      const other = await openHandshaken();
      const c = await openHub();
      c.send(make());
      const close = await c.waitForFrame((f) => f.opcode === 8, 'the Close');
      assert.equal(close.code, code);
      assert.ok(close.reason.length > 0, 'the Close says why');
      await waitFor(() => c.ended, 5000, 'the server to close the socket');
      await delay(50);
      assert.equal(other.ended, false);
      other.send(frame(9, 'still'));
      await other.waitForFrame((f) => f.opcode === 10, 'the other connection to answer');
    });
  }

  test('server frames are unmasked, final and carry whole SignalR messages', async () => {
    const c = await openHandshaken();
    c.send(frame(1, `{"type":1,"invocationId":"a","target":"GetJobProgress","arguments":["x"]}${RS}`));
    await waitFor(() => c.text().includes('"invocationId":"a"'), 5000, 'the Completion');
    for (const f of c.frames) {
      assert.equal(f.fin, true);
      assert.equal(f.rsv, 0);
      assert.ok(f.payload.toString().endsWith(RS), 'a frame ends on a message boundary');
    }
  });

  test('a subscriber that stops reading gets every byte once it reads again (partial writes resume)', async () => {
    // Its own server: a queue bound large enough for the burst, so this measures the
    // writer's handling of a full socket buffer, not the slow-consumer policy; and
    // metadata of 300 KB allowed (Jobs:MaxMetadataBytes), the bulk of each update.
    const server = await startServer({
      env: { SignalR__MaxOutboundQueueBytes: String(256 * 1024 * 1024), Jobs__MaxMetadataBytes: String(1024 * 1024) },
    });
    let c;
    try {
      const job = await createJob(server.url);
      const n = await negotiate(server.url);
      c = await WireClient.open(server.port, `${HUB_PATH}?id=${n.body.connectionToken}`);
      c.send(frame(1, HANDSHAKE_JSON));
      c.send(frame(1, `{"type":1,"invocationId":"s","target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`));
      await waitFor(() => c.text().includes('"invocationId":"s"'), 5000, 'the subscription');
      c.socket.pause();  // stop reading: the kernel buffers fill, then the server's writes block
      // 100 × 300 KB is far beyond the loopback socket buffers; the sanitized server
      // (TIME_SCALE > 1) gets 40, still several times the buffers, so the test stays short.
      const reports = TIME_SCALE > 1 ? 40 : 100;
      const blob = 'x'.repeat(300_000);
      for (let i = 1; i <= reports; i++) {
        const res = await fetch(`${server.url}/api/v1/jobs/${job.jobId}/progress`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ progress: i, metadata: { blob: blob + i } }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      c.socket.resume();
      const updates = () =>
        c.text().split(RS).filter((r) => r.includes('"JobProgressUpdate"')).map((r) => JSON.parse(r).arguments[0]);
      const last = `"sequence":${reports + 1}}`;
      await waitFor(() => c.frames.length > 0 && c.frames.at(-1).payload.toString().includes(last), 30_000, 'the last update');
      const got = updates();
      assert.deepEqual(got.map((u) => u.sequence), Array.from({ length: reports + 1 }, (_, k) => k + 1));
      for (const u of got.slice(1)) assert.equal(u.metadata.blob, blob + (u.sequence - 1), `update ${u.sequence} intact`);
      assert.equal(c.ended, false);
    } finally {
      c?.close();
      await server.stop('SIGKILL');
    }
  });
});
