// What the kernel says about a server process: its resident memory and its sockets, for
// tests of clients that stop reading (what they cost the server, and whether it let go).
import { readFileSync } from 'node:fs';

/** The resident set of process `pid` in KiB (VmRSS). */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/**
 * True while some process still holds the server side of the loopback TCP connection
 * from `clientPort` to `serverPort` as a file descriptor. Once the server closes it the
 * kernel entry is gone or orphaned (inode 0, still flushing unread bytes to the client),
 * even while the client has not read the FIN yet.
 */
export function serverHoldsSocket(serverPort, clientPort) {
  const hex = (p) => p.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[1].endsWith(':' + hex(serverPort)) && f[2].endsWith(':' + hex(clientPort)) && f[9] !== '0') return true;
    }
  }
  return false;
}
