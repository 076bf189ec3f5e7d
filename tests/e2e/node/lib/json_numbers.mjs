// Every JSON number the server writes must be in the shortest round-trip decimal form
// that browsers and .NET print (0.17, 24.38, 29.6, 30, 1e+21), never 1.7E-1: the
// shared request() helper and the raw WebSocket reader run every answer through this.

// The numbers of a JSON text, as written (strings skipped).
export function jsonNumberTexts(text) {
  const out = [];
  const re = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  for (const m of text.matchAll(re)) {
    if (m[0][0] !== '"') out.push(m[0]);
  }
  return out;
}

// Throws when a number of `text` is not written as JavaScript writes it.
export function assertShortestNumbers(text, where = 'JSON') {
  for (const n of jsonNumberTexts(text)) {
    const v = Number(n);
    // Integers beyond 2^53 (ids, counts) are exact decimal digits, not doubles.
    if (/^-?\d+$/.test(n) && !Number.isSafeInteger(v)) continue;
    const expected = Object.is(v, -0) ? '0' : String(v);
    if (n !== expected) {
      throw new Error(`${where}: the number ${n} is not in shortest round-trip form (expected ${expected}) in ${text.slice(0, 300)}`);
    }
  }
}
