/**
 * Golden vectors for the broker channel (raw text in, parsed frame or rejection code out, for
 * every frame type in both directions), plus property tests: a valid frame survives
 * stringify/parse unchanged, and no input makes a parser throw or answer outside its codes.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BROKER_PROTOCOL_VERSION,
  CLIENT_FRAME_TYPES,
  ERROR_CODES,
  SERVER_FRAME_TYPES,
  parseClientFrame,
  parseServerFrame,
  peerIdFromTokenText,
  type ParseOptions,
} from '../../src/engine/broker-protocol';

interface Vector {
  name: string;
  dir: 'client' | 'server';
  raw: string;
  options?: ParseOptions;
  expect: { ok: true; frame: { t: string } & Record<string, unknown> } | { ok: false; code: string; q?: number };
  /** register vectors: the id the token derives to. */
  peerId?: string;
}

const file = JSON.parse(readFileSync(new URL('./vectors/broker-vectors.json', import.meta.url), 'utf8')) as {
  protocolVersion: number;
  vectors: Vector[];
};
/** The `t` a vector's raw text carries, if it is JSON at all. */
function typeOf(raw: string): unknown {
  try {
    return (JSON.parse(raw) as { t?: unknown } | null)?.t;
  } catch {
    return undefined;
  }
}
const parserOf = (dir: Vector['dir']) => (dir === 'client' ? parseClientFrame : parseServerFrame);

describe('broker vectors', () => {
  it('are for this protocol version', () => {
    expect(file.protocolVersion).toBe(BROKER_PROTOCOL_VERSION);
  });

  it('cover every frame type in both directions with a valid and an invalid case', () => {
    const types = { client: CLIENT_FRAME_TYPES, server: SERVER_FRAME_TYPES };
    for (const dir of ['client', 'server'] as const) {
      for (const t of types[dir]) {
        const mine = file.vectors.filter((v) => v.dir === dir && typeOf(v.raw) === t);
        expect(mine.some((v) => v.expect.ok), `${dir} ${t}: a valid vector`).toBe(true);
        expect(mine.some((v) => !v.expect.ok), `${dir} ${t}: an invalid vector`).toBe(true);
      }
    }
  });

  for (const vec of file.vectors) {
    it(`${vec.dir}: ${vec.name}`, () => {
      const r = parserOf(vec.dir)(vec.raw, vec.options);
      if (vec.expect.ok) {
        expect(r).toEqual({ ok: true, frame: vec.expect.frame });
      } else {
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect({ code: r.code, q: r.q }).toEqual({ code: vec.expect.code, q: vec.expect.q });
        expect(r.message.length).toBeGreaterThan(0);
        expect(r.message.length).toBeLessThanOrEqual(500);
      }
      if (vec.peerId !== undefined && r.ok && r.frame.t === 'register') expect(peerIdFromTokenText(r.frame.token)).toBe(vec.peerId);
    });
  }

  it('rejection messages never echo the input', () => {
    for (const vec of file.vectors) {
      const r = parserOf(vec.dir)(vec.raw, vec.options);
      if (r.ok) continue;
      // Hostile strings in the vectors that must not come back in a message.
      for (const s of ['everyone', '../../etc', 'pwned', 'polluted', 'shutdown', 'promote', 'motd', 'force', 'admin', 'room-1']) {
        expect(r.message).not.toContain(s);
      }
    }
  });
});

describe('broker schemas: properties', () => {
  const valid = file.vectors.filter((v) => v.expect.ok);

  it('a parsed frame survives stringify and parse unchanged', () => {
    for (const vec of valid) {
      const r = parserOf(vec.dir)(vec.raw, vec.options);
      if (!r.ok) throw new Error(vec.name);
      expect(parserOf(vec.dir)(JSON.stringify(r.frame), vec.options)).toEqual(r);
    }
  });

  it('no text makes a parser throw or answer outside its codes', () => {
    const codes = new Set(['bad-frame', 'unknown-type', 'too-large']);
    const texts = fc.oneof(
      fc.string(),
      fc.json(),
      // Valid frames with one field replaced by anything at all.
      fc.tuple(fc.constantFrom(...valid), fc.jsonValue()).map(([vec, junk]) => {
        const obj = JSON.parse(vec.raw) as Record<string, unknown>;
        const keys = Object.keys(obj);
        obj[keys[keys.length - 1]!] = junk;
        return JSON.stringify(obj);
      }),
    );
    fc.assert(
      fc.property(texts, fc.constantFrom('client', 'server' as const), (text, dir) => {
        const r = parserOf(dir as Vector['dir'])(text);
        if (!r.ok) return codes.has(r.code) && r.message.length <= 500;
        return (dir === 'client' ? CLIENT_FRAME_TYPES : SERVER_FRAME_TYPES).includes(r.frame.t as never);
      }),
      { numRuns: 2000 },
    );
  });

  it('every error code is a valid server error frame', () => {
    for (const code of ERROR_CODES) {
      expect(parseServerFrame(JSON.stringify({ t: 'error', code, message: 'm', fatal: false })).ok).toBe(true);
    }
  });
});
