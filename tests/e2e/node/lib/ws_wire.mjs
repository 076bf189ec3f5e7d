// A WebSocket client on a bare TCP socket for wire-level tests: it writes exactly the frames
// a test builds (masked or not, fragmented, malformed) and parses what the server sends.
import net from 'node:net';
import crypto from 'node:crypto';
import { waitFor } from './server.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const acceptFor = (key) => crypto.createHash('sha1').update(key + GUID).digest('base64');

/** A client frame: masked unless told otherwise. */
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0 } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (data.length < 126) head.push(m | data.length);
  else if (data.length < 65536) head.push(m | 126, data.length >> 8, data.length & 255);
  else throw new Error('test frames stay below 64 KB');
  const key = crypto.randomBytes(4);
  const body = Buffer.from(data);
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([Buffer.from(head), mask ? key : Buffer.alloc(0), body]);
}

/** A WebSocket client on a bare socket that records the server's frames as parsed. */
export class WireClient {
  static async open(port, path, extraHeaders = {}) {
    const c = new WireClient();
    await c.connect(port, path, extraHeaders);
    return c;
  }

  async connect(port, path, extraHeaders) {
    this.key = crypto.randomBytes(16).toString('base64');
    this.socket = net.connect(port, '127.0.0.1');
    this.buffer = Buffer.alloc(0);
    this.frames = [];
    this.ended = false;
    this.socket.on('data', (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      if (this.head !== undefined) this.parseFrames();
    });
    this.socket.on('close', () => (this.ended = true));
    this.socket.on('error', () => {});
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    const headers = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': this.key,
      'Sec-WebSocket-Version': '13',
      ...extraHeaders,
    };
    let request = `GET ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) request += `${k}: ${v}\r\n`;
    this.socket.write(request + '\r\n');
    await waitFor(() => this.buffer.includes('\r\n\r\n') || this.ended, 5000, 'the upgrade answer');
    const end = this.buffer.indexOf('\r\n\r\n');
    this.head = this.buffer.subarray(0, end).toString('latin1');
    this.buffer = this.buffer.subarray(end + 4);
    this.status = Number(this.head.split(' ')[1]);
    this.headers = {};
    for (const line of this.head.split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      this.headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    this.parseFrames();
  }

  parseFrames() {
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) throw new Error('the server masked a frame');
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, payload };
      if (f.opcode === 8) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        f.reason = payload.subarray(2).toString();
      }
      this.frames.push(f);
      this.buffer = b.subarray(off + len);
    }
  }

  send(...frames) {
    this.socket.write(Buffer.concat(frames));
  }
  text() {
    return this.frames.filter((f) => f.opcode === 1 || f.opcode === 2).map((f) => f.payload.toString()).join('');
  }
  async waitForFrame(pred, what) {
    await waitFor(() => this.frames.some(pred), 5000, what);
    return this.frames.find(pred);
  }
  close() {
    this.socket.destroy();
  }
}
