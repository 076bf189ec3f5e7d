// A raw SignalR-over-WebSocket client for wire-level tests: it sends exactly the bytes a
// test gives it and records every frame the server sends.
import { assertShortestNumbers } from './json_numbers.mjs';
import WebSocket from 'ws';
import { HUB_PATH, waitFor } from './server.mjs';

export const RS = '\x1e';
export const HANDSHAKE_JSON = `{"protocol":"json","version":1}${RS}`;

/** POST {hub}/negotiate[?query]; returns {status, body}. */
export async function negotiate(baseUrl, query = '?negotiateVersion=1') {
  const res = await fetch(`${baseUrl}${HUB_PATH}/negotiate${query}`, { method: 'POST' });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body };
}

/** ws://… URL of the hub, with `?id=` when an id is given. */
export function hubWsUrl(baseUrl, id) {
  const u = baseUrl.replace(/^http/, 'ws') + HUB_PATH;
  return id === undefined ? u : `${u}?id=${encodeURIComponent(id)}`;
}

export class RawSocket {
  constructor(wsUrl) {
    this.url = wsUrl;
    /** Every frame received, as text, in order. */
    this.frames = [];
    /** Every record (text between 0x1E separators) parsed as JSON, in order. */
    this.records = [];
    /** Bytes of a record not yet terminated by 0x1E at the end of a frame. */
    this.partial = '';
    this.closeInfo = null;
    this.upgradeStatus = null;
    this.error = null;
    this.ws = new WebSocket(wsUrl);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (req, res) => {
        this.upgradeStatus = res.statusCode;
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          this.upgradeBody = body;
          const err = new Error(`upgrade refused with HTTP ${res.statusCode}`);
          err.statusCode = res.statusCode;
          err.body = body;
          reject(err);
        });
        req.destroy();
      });
      this.ws.once('error', (e) => {
        this.error = e;
        reject(e);
      });
    });
    // Avoid unhandled rejections for sockets whose open is never awaited.
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8'), at: Date.now() };
        resolve(this.closeInfo);
      });
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      const text = Buffer.from(data).toString('utf8');
      this.frames.push({ text, isBinary, at: Date.now() });
      let buf = this.partial + text;
      let i;
      while ((i = buf.indexOf(RS)) >= 0) {
        const rec = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let parsed;
        try {
          parsed = JSON.parse(rec);
        } catch {
          parsed = { unparsable: rec };
        }
        // Every hub frame's numbers in shortest round-trip form (thrown: fails the test).
        if (!isBinary && !parsed.unparsable) assertShortestNumbers(rec, `hub frame from ${this.url}`);
        this.records.push({ raw: rec, msg: parsed, at: Date.now() });
      }
      this.partial = buf;
    });
  }

  static async open(wsUrl) {
    const s = new RawSocket(wsUrl);
    await s.opened;
    return s;
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text) {
    this.ws.send(text);
  }

  /** Sends the JSON handshake and waits for `{}`; returns the handshake response frame text. */
  async handshake(text = HANDSHAKE_JSON, timeoutMs = 5000) {
    this.send(text);
    await waitFor(() => this.frames.length > 0 || this.closeInfo, timeoutMs, 'handshake response');
    if (!this.frames.length) throw new Error(`closed before handshake response: ${JSON.stringify(this.closeInfo)}`);
    const first = this.frames[0].text;
    if (!first.startsWith(`{}${RS}`)) throw new Error(`handshake failed: ${JSON.stringify(first)}`);
    return first;
  }

  /** Hub messages (records with a `type`), in order. */
  messages() {
    return this.records.map((r) => r.msg).filter((m) => m && typeof m.type === 'number');
  }

  completions(invocationId) {
    return this.messages().filter((m) => m.type === 3 && (invocationId === undefined || m.invocationId === invocationId));
  }

  invocations(target) {
    return this.messages().filter((m) => m.type === 1 && (target === undefined || m.target === target));
  }

  waitForMessage(pred, timeoutMs = 5000, what) {
    return waitFor(() => this.messages().find(pred), timeoutMs,
      () => `${what ?? pred} (got ${JSON.stringify(this.frames.map((f) => f.text))}, close ${JSON.stringify(this.closeInfo)})`);
  }

  waitForCompletion(invocationId, timeoutMs = 5000) {
    return this.waitForMessage((m) => m.type === 3 && m.invocationId === invocationId, timeoutMs,
      `completion ${invocationId}`);
  }

  /** Waits for the socket to close; rejects after timeoutMs. */
  waitClosed(timeoutMs = 5000) {
    return waitFor(() => this.closeInfo, timeoutMs, () => `socket close (frames ${JSON.stringify(this.frames.map((f) => f.text))})`);
  }

  invoke(target, args, invocationId) {
    const m = { type: 1, target, arguments: args };
    if (invocationId !== undefined) m.invocationId = invocationId;
    this.send(JSON.stringify(m) + RS);
  }

  ping() {
    this.send(`{"type":6}${RS}`);
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.terminate();
      } catch {
        // ignore
      }
    }
  }
}

/** Negotiates (version 1 unless `negotiateVersion` is null) and opens + handshakes a raw socket. */
export async function rawHub(baseUrl, { negotiateVersion = 1, handshake = true } = {}) {
  let id;
  if (negotiateVersion !== null) {
    const n = await negotiate(baseUrl, negotiateVersion === 0 ? '' : `?negotiateVersion=${negotiateVersion}`);
    if (n.status !== 200 || !n.body) throw new Error(`negotiate failed: ${n.status} ${n.text}`);
    id = n.body.negotiateVersion >= 1 ? n.body.connectionToken : n.body.connectionId;
  }
  const socket = await RawSocket.open(hubWsUrl(baseUrl, id));
  if (handshake) await socket.handshake();
  return socket;
}
