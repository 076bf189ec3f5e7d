// Wire level, with a raw WebSocket: handshake bytes, framing (several messages per frame, a
// message across frames), Completion rules for invoke vs send, and the shape of server events.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, waitFor } from '../lib/server.mjs';
import { RawSocket, rawHub, negotiate, hubWsUrl, RS, HANDSHAKE_JSON } from '../lib/wire.mjs';

describe('wire protocol', () => {
  const ctx = useServer();

  async function openRaw(opts) {
    return ctx.track(await rawHub(ctx.url, opts));
  }

  async function openUnhandshaken() {
    const n = await negotiate(ctx.url);
    assert.equal(n.status, 200, n.text);
    return ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken)));
  }

  test('the handshake response is exactly {}\\x1e in its own frame', async () => {
    const s = await openUnhandshaken();
    s.send(HANDSHAKE_JSON);
    await waitFor(() => s.frames.length >= 1, 5000, 'handshake response');
    assert.equal(s.frames[0].text, `{}${RS}`);
    assert.equal(s.frames[0].isBinary, false, 'JSON protocol uses Text frames');
    assert.equal(s.isOpen, true);
  });

  test('send (no invocationId) gets no Completion; invoke gets exactly one with "result":null', async () => {
    const job = await createJob(ctx.url);
    const s = await openRaw();
    // Non-blocking invocation: must subscribe and answer nothing.
    s.send(`{"type":1,"target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`);
    await s.waitForMessage((m) => m.type === 1 && m.target === 'JobProgressUpdate');
    // A void method with an id: one Completion carrying "result":null.
    s.send(`{"type":1,"invocationId":"void-1","target":"UnsubscribeFromJob","arguments":["${job.jobId}"]}${RS}`);
    await s.waitForCompletion('void-1');
    // Later messages are answered in order, so by now any stray Completion would be here.
    s.invoke('GetJobProgress', [job.jobId], 'sync-1');
    await s.waitForCompletion('sync-1');

    const completions = s.completions();
    assert.deepEqual(completions.map((c) => c.invocationId), ['void-1', 'sync-1'],
      'no Completion for the send, one for each invoke');
    const raw = s.records.find((r) => r.msg.type === 3 && r.msg.invocationId === 'void-1').raw;
    assert.match(raw, /"result":null/, `void completion ${raw}`);
    assert.deepEqual(Object.keys(completions[0]).sort(), ['invocationId', 'result', 'type']);
    assert.equal(completions[0].result, null);
    assert.equal(completions[1].result.jobId, job.jobId);
    assert.equal('error' in completions[1], false);
  });

  test('a send that fails (unknown method, bad arguments) gets no Completion either', async () => {
    const job = await createJob(ctx.url);
    const s = await openRaw();
    s.send(`{"type":1,"target":"NoSuchMethod","arguments":[]}${RS}`);
    s.send(`{"type":1,"target":"GetJobProgress","arguments":[1,2,3]}${RS}`);
    s.invoke('GetJobProgress', [job.jobId], 'after');
    await s.waitForCompletion('after');
    assert.deepEqual(s.completions().map((c) => c.invocationId), ['after']);
    assert.ok(s.isOpen);
  });

  test('server events are Invocations without an invocationId', async () => {
    const job = await createJob(ctx.url);
    const s = await openRaw();
    s.invoke('SubscribeToJob', [job.jobId], '1');
    await s.waitForCompletion('1');
    await report(ctx.url, job.jobId, { progress: 7 });
    const ev = await s.waitForMessage((m) => m.type === 1 && m.arguments?.[0]?.sequence === 2);
    assert.equal(ev.target, 'JobProgressUpdate');
    assert.equal(ev.arguments.length, 1);
    for (const r of s.records.filter((x) => x.msg.type === 1)) {
      assert.equal('invocationId' in r.msg, false, `event carries an invocationId: ${r.raw}`);
    }
  });

  test('a handshake with an unsupported protocol gets the error and the socket closes', async () => {
    const s = await openUnhandshaken();
    s.send(`{"protocol":"foo","version":1}${RS}`);
    await s.waitClosed(5000);
    assert.equal(s.frames[0]?.text, `{"error":"The protocol 'foo' is not supported."}${RS}`);
    assert.equal(s.frames.length, 1);
  });

  test('a handshake of an unsupported version gets the error and the socket closes', async () => {
    const s = await openUnhandshaken();
    s.send(`{"protocol":"json","version":99}${RS}`);
    await s.waitClosed(5000);
    assert.equal(s.frames[0]?.text, `{"error":"The server does not support version 99 of the 'json' protocol."}${RS}`);
  });

  test('handshake and a message in the same frame: both are processed', async () => {
    const job = await createJob(ctx.url);
    const s = await openUnhandshaken();
    s.send(`{"protocol": "json", "version": 1}${RS}{"type":1,"invocationId":"0","target":"GetJobProgress","arguments":["${job.jobId}"]}${RS}`);
    const c = await s.waitForCompletion('0');
    assert.equal(s.frames[0].text.startsWith(`{}${RS}`), true, `first frame ${JSON.stringify(s.frames[0].text)}`);
    assert.equal(c.result.jobId, job.jobId);
  });

  test('a handshake split across two frames works', async () => {
    const job = await createJob(ctx.url);
    const s = await openUnhandshaken();
    s.send('{"protocol":"json",');
    s.send(`"version":1}${RS}`);
    await waitFor(() => s.frames.length >= 1 || s.closeInfo, 5000, 'handshake response');
    assert.equal(s.frames[0]?.text, `{}${RS}`);
    s.invoke('GetJobProgress', [job.jobId], 'h');
    const c = await s.waitForCompletion('h');
    assert.equal(c.result.jobId, job.jobId);
  });

  test('two invocations in one frame each get their Completion', async () => {
    const a = await createJob(ctx.url);
    const b = await createJob(ctx.url);
    const s = await openRaw();
    s.send(`{"type":1,"invocationId":"a","target":"GetJobProgress","arguments":["${a.jobId}"]}${RS}`
      + `{"arguments":["${b.jobId}"],"invocationId":"b","target":"GetJobProgress","type":1}${RS}`);
    const ca = await s.waitForCompletion('a');
    const cb = await s.waitForCompletion('b');
    assert.equal(ca.result.jobId, a.jobId);
    assert.equal(cb.result.jobId, b.jobId);
    assert.deepEqual(s.completions().map((c) => c.invocationId), ['a', 'b'], 'in order, once each');
  });

  test('one invocation split across two frames works', async () => {
    const job = await createJob(ctx.url);
    const s = await openRaw();
    const msg = `{"target":"GetJobProgress","arguments":["${job.jobId}"],"invocationId":"split","type":1}${RS}`;
    const cut = Math.floor(msg.length / 2);
    s.send(msg.slice(0, cut));
    s.send(msg.slice(cut));
    const c = await s.waitForCompletion('split');
    assert.equal(c.result.jobId, job.jobId);
    assert.ok(s.isOpen);
  });

  test('a ping from the client is not answered and keeps the connection', async () => {
    const job = await createJob(ctx.url);
    const s = await openRaw();
    s.ping();
    s.ping();
    s.invoke('GetJobProgress', [job.jobId], 'p');
    await s.waitForCompletion('p');
    assert.deepEqual(s.messages().filter((m) => m.type !== 1).map((m) => m.type), [3]);
  });
});
