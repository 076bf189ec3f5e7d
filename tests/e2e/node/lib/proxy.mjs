// A TCP proxy on the loopback interface in front of a Herald server, to "kill the socket, not
// the server": dropAll() destroys every client connection (both sides) while the server keeps
// running, and pause()/resume() hold new connections (accepted, but not forwarded) to keep a
// client away from the server for as long as a test wants.
//
// It also watches what goes through, so a test can see which transport and hub protocol a
// client really used:
// - the HTTP request heads (client → server; bodies are skipped by Content-Length or chunked
//   framing, and the first bytes of each Content-Length body are kept): a WebSocket upgrade, an
//   SSE GET (Accept: text/event-stream), long-polling GETs, POSTs;
// - the status line of the first response on each connection;
// - after a WebSocket upgrade, the first frames in both directions (opcode and the start of
//   the unmasked payload).
import net from 'node:net';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_FRAMES = 64; // frames kept per direction and connection
const MAX_PAYLOAD = 64 * 1024; // payload bytes kept per frame (`length` is the full size)
const MAX_BODY = 4096; // body bytes kept per request

/** Reads WebSocket frames from a byte stream; keeps the first MAX_FRAMES. */
class FrameReader {
  constructor(frames) {
    this.frames = frames;
    this.buf = Buffer.alloc(0);
  }

  push(chunk) {
    if (this.frames.length >= MAX_FRAMES) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.frames.length < MAX_FRAMES && this.buf.length >= 2) {
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const maskAt = off;
      if (masked) off += 4;
      if (this.buf.length < off + len) return;
      const payload = Buffer.from(this.buf.subarray(off, off + Math.min(len, MAX_PAYLOAD)));
      if (masked) {
        const mask = this.buf.subarray(maskAt, maskAt + 4);
        for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      }
      this.frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, length: len, payload });
      this.buf = this.buf.subarray(off + len);
    }
  }
}

/** Reads HTTP/1.1 request heads from a client → server byte stream. */
class RequestSniffer {
  constructor(onRequest, clientFrames) {
    this.onRequest = onRequest;
    this.clientFrames = clientFrames;
    this.buf = Buffer.alloc(0);
    this.mode = 'head'; // 'head' | 'body' | 'chunked' | 'ws' | 'raw'
    this.remaining = 0;
    this.current = null;
    this.frames = null;
  }

  push(chunk) {
    if (this.mode === 'raw') return;
    if (this.mode === 'ws') {
      this.frames.push(chunk);
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.mode === 'raw') {
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.mode === 'ws') {
        const rest = this.buf;
        this.buf = Buffer.alloc(0);
        if (rest.length) this.frames.push(rest);
        return;
      }
      if (this.mode === 'body') {
        const n = Math.min(this.remaining, this.buf.length);
        const kept = this.current.body;
        if (kept.length < MAX_BODY) {
          this.current.body = Buffer.concat([kept, this.buf.subarray(0, Math.min(n, MAX_BODY - kept.length))]);
        }
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining > 0) return;
        this.mode = 'head';
        continue;
      }
      if (this.mode === 'chunked') {
        if (!this.skipChunks()) return;
        this.mode = 'head';
        continue;
      }
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (this.buf.length > 64 * 1024) this.mode = 'raw'; // not HTTP after all
        return;
      }
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      const [requestLine, ...lines] = head.split('\r\n');
      const [method, target = ''] = requestLine.split(' ');
      const headers = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const q = target.indexOf('?');
      const req = {
        method,
        target,
        path: q >= 0 ? target.slice(0, q) : target,
        query: new URLSearchParams(q >= 0 ? target.slice(q + 1) : ''),
        headers,
        body: Buffer.alloc(0),
      };
      this.current = req;
      this.onRequest(req);
      if ((headers.upgrade ?? '').toLowerCase() === 'websocket') {
        this.mode = 'ws';
        this.frames = new FrameReader(this.clientFrames);
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        this.mode = 'chunked';
      } else if (headers['content-length']) {
        this.remaining = Number(headers['content-length']) || 0;
        if (this.remaining > 0) this.mode = 'body';
      }
    }
  }

  /** Skips chunked body data; true once the last chunk (and any trailers) went by. */
  skipChunks() {
    for (;;) {
      if (this.remaining > 0) {
        // remaining = bytes of chunk data + its CRLF
        const n = Math.min(this.remaining, this.buf.length);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining > 0) return false;
      }
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return false;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) {
        this.mode = 'raw';
        return false;
      }
      if (size === 0) {
        const end = this.buf.indexOf(CRLFCRLF, Math.max(0, eol - 2));
        if (end < 0) return false;
        this.buf = this.buf.subarray(end + 4);
        return true;
      }
      this.buf = this.buf.subarray(eol + 2);
      this.remaining = size + 2;
    }
  }
}

/** Reads the first response head of a server → client stream; frames after a 101. */
class ResponseWatcher {
  constructor(info) {
    this.info = info;
    this.buf = Buffer.alloc(0);
    this.frames = null;
    this.done = false;
  }

  push(chunk) {
    if (this.frames) {
      this.frames.push(chunk);
      return;
    }
    if (this.done) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const end = this.buf.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.buf.length > 64 * 1024) this.done = true;
      return;
    }
    const line = this.buf.subarray(0, end).toString('latin1').split('\r\n')[0];
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
    this.info.firstResponse = { status: m ? Number(m[1]) : null, line };
    const rest = this.buf.subarray(end + 4);
    this.buf = Buffer.alloc(0);
    if (m && m[1] === '101') {
      this.frames = new FrameReader(this.info.serverFrames);
      if (rest.length) this.frames.push(rest);
    } else {
      this.done = true;
    }
  }
}

/**
 * Starts a proxy that forwards 127.0.0.1:<port> to `target` (an http://host:port URL or a port).
 * Returns an object with:
 * - `url`, `port`;
 * - `accepted`: connections accepted so far; `active`: client connections open now (held ones too);
 * - `connections`: [{id, requests, firstResponse, clientFrames, serverFrames, closed}] in accept order;
 * - `requests`: every request head seen, [{conn, method, target, path, query, headers, body, at}]
 *   (`body`: the first bytes of a Content-Length body);
 * - `upgrades()`: the WebSocket upgrade requests;
 * - `dropAll()`: destroys both sides of every current connection, returns how many;
 * - `pause()` / `resume()`: hold new connections (accepted, nothing forwarded) / forward them;
 * - `retarget(next)`: forward new connections to another server;
 * - `close()`.
 */
function upstreamOf(target) {
  if (typeof target === 'number') return { host: '127.0.0.1', port: target };
  const u = new URL(target);
  return { host: u.hostname, port: Number(u.port) };
}

export async function startProxy(target) {
  let upstream = upstreamOf(target);

  const live = new Set(); // {client, server}
  const held = []; // accepted while paused: {client, chunks, release}
  let paused = false;
  let closed = false;

  const proxy = {
    url: '',
    port: 0,
    accepted: 0,
    connections: [],
    requests: [],
    get active() {
      return [...live].filter((p) => !p.client.destroyed).length + held.length;
    },
    get heldCount() {
      return held.length;
    },
    upgrades() {
      return this.requests.filter((r) => (r.headers.upgrade ?? '').toLowerCase() === 'websocket');
    },
    dropAll() {
      let n = 0;
      for (const p of [...live]) {
        live.delete(p);
        p.client.destroy();
        p.server.destroy();
        n++;
      }
      for (const h of held.splice(0)) {
        h.client.destroy();
        n++;
      }
      return n;
    },
    pause() {
      paused = true;
    },
    /** Connections forwarded from now on go to `next` (a port or URL): another node. */
    retarget(next) {
      upstream = upstreamOf(next);
    },
    resume() {
      paused = false;
      for (const h of held.splice(0)) {
        h.release();
        if (!h.client.destroyed) forward(h.client, h.info, h.chunks);
      }
    },
    async close() {
      closed = true;
      proxy.dropAll();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };

  function forward(client, info, pending) {
    const up = net.connect(upstream);
    const pair = { client, server: up };
    live.add(pair);
    up.setNoDelay(true);
    const watcher = new ResponseWatcher(info);
    for (const c of pending) up.write(c);
    client.on('data', (c) => up.write(c));
    up.on('data', (c) => {
      try {
        watcher.push(c);
      } catch {
        watcher.done = true;
        watcher.frames = null;
      }
      if (!client.destroyed) client.write(c);
    });
    const end = () => {
      info.closed = true;
      live.delete(pair);
      client.destroy();
      up.destroy();
    };
    up.on('error', end);
    up.on('close', end);
    client.on('close', end);
  }

  const server = net.createServer({ noDelay: true }, (client) => {
    if (closed) {
      client.destroy();
      return;
    }
    proxy.accepted++;
    const info = {
      id: proxy.accepted, requests: [], firstResponse: null, clientFrames: [], serverFrames: [], closed: false,
    };
    proxy.connections.push(info);
    const sniffer = new RequestSniffer((req) => {
      // The same object: the sniffer fills in `body` as it arrives.
      req.conn = info.id;
      req.at = Date.now();
      info.requests.push(req);
      proxy.requests.push(req);
    }, info.clientFrames);
    client.on('error', () => {});
    client.on('data', (c) => {
      try {
        sniffer.push(c);
      } catch {
        sniffer.mode = 'raw';
      }
    });
    if (paused) {
      const h = { client, chunks: [], info };
      const onData = (c) => h.chunks.push(c);
      client.on('data', onData);
      h.release = () => client.off('data', onData);
      client.once('close', () => {
        info.closed = true;
        const i = held.indexOf(h);
        if (i >= 0) held.splice(i, 1);
      });
      held.push(h);
      return;
    }
    forward(client, info, []);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = server.address().port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}
