import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EncodingError,
  base32Decode,
  base32Encode,
  bytesEqual,
  concatBytes,
  fingerprintFromDigest,
  fromBase64Url,
  fromHex,
  isFingerprint,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '../../src/engine/encoding';

const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const bytes = (...b: number[]) => new Uint8Array(b);

describe('base64url', () => {
  it('matches RFC 4648 vectors (unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, enc] of vectors) {
      expect(toBase64Url(ascii(plain))).toBe(enc);
      expect(fromBase64Url(enc)).toEqual(ascii(plain));
    }
  });

  it('uses the url-safe alphabet', () => {
    expect(toBase64Url(bytes(0xfb, 0xff, 0xbf))).toBe('-_-_');
    expect(fromBase64Url('-_-_')).toEqual(bytes(0xfb, 0xff, 0xbf));
  });

  it('agrees with node Buffer on random inputs of every length mod 3', () => {
    for (let n = 0; n < 200; n++) {
      const b = new Uint8Array(randomBytes(n));
      const enc = toBase64Url(b);
      expect(enc).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(enc)).toEqual(b);
    }
  });

  it('rejects padding, whitespace, standard-alphabet and non-ASCII characters', () => {
    for (const bad of ['Zg==', 'Zg=', 'Zm9v\n', ' Zm9v', 'Zm 9v', 'a+b/', 'Zm9v.', 'Zm9vé', 'Zm9v\u0000', '\uff3a\uff47']) {
      expect(() => fromBase64Url(bad), bad).toThrow(EncodingError);
    }
  });

  it('rejects impossible lengths (4k+1)', () => {
    for (const bad of ['A', 'AAAAA', 'Zm9vY']) expect(() => fromBase64Url(bad), bad).toThrow(/impossible length/);
  });

  it('rejects non-canonical trailing bits', () => {
    // 'f' = 0x66 -> "Zg"; "Zh" sets a bit that does not belong to any byte.
    expect(() => fromBase64Url('Zh')).toThrow(/non-canonical/);
    expect(() => fromBase64Url('Zm9')).toThrow(/non-canonical/); // canonical is "Zm8"
    expect(() => fromBase64Url('AB')).toThrow(/non-canonical/);
    expect(fromBase64Url('AA')).toEqual(bytes(0));
  });

  it('rejects non-strings', () => {
    expect(() => fromBase64Url(123 as unknown as string)).toThrow(EncodingError);
  });
});

describe('base32', () => {
  it('matches RFC 4648 vectors (lowercase, unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [plain, enc] of vectors) {
      expect(base32Encode(ascii(plain))).toBe(enc);
      expect(base32Decode(enc)).toEqual(ascii(plain));
    }
  });

  it('round-trips random inputs of every length mod 5', () => {
    for (let n = 0; n < 100; n++) {
      const b = new Uint8Array(randomBytes(n));
      const enc = base32Encode(b);
      expect(enc).toMatch(/^[a-z2-7]*$/);
      expect(enc.length).toBe(Math.ceil((n * 8) / 5));
      expect(base32Decode(enc)).toEqual(b);
    }
  });

  it('rejects uppercase, padding, out-of-alphabet digits and whitespace', () => {
    for (const bad of ['MY', 'My', 'my======', 'my=', 'm1', 'm8', 'm0', 'my ', 'mzx-', 'mzxw6\t']) {
      expect(() => base32Decode(bad), bad).toThrow(EncodingError);
    }
  });

  it('rejects impossible lengths (8k+1, 8k+3, 8k+6)', () => {
    for (const bad of ['a', 'aaa', 'aaaaaa', 'aaaaaaaaa']) expect(() => base32Decode(bad), bad).toThrow(/impossible length/);
  });

  it('rejects non-canonical trailing bits', () => {
    expect(() => base32Decode('mz')).toThrow(/non-canonical/); // canonical "my"
    expect(() => base32Decode('mzxr')).toThrow(/non-canonical/); // canonical "mzxq"
    expect(() => base32Decode('mzxw7')).toThrow(/non-canonical/); // canonical "mzxw6"
  });
});

describe('canonical spelling (one string per byte string)', () => {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

  it('base64url: of all 2- and 3-symbol strings, exactly the canonical ones decode', () => {
    let accepted = 0;
    for (const a of B64)
      for (const b of B64) {
        const s = a + b;
        let ok = true;
        try {
          expect(toBase64Url(fromBase64Url(s))).toBe(s);
        } catch (e) {
          expect(e).toBeInstanceOf(EncodingError);
          ok = false;
        }
        if (ok) accepted++;
      }
    expect(accepted).toBe(256); // one spelling per byte
    for (let i = 0; i < 2000; i++) {
      const s = B64[i % 64]! + B64[(i * 7) % 64]! + B64[(i * 13) % 64]!;
      try {
        expect(toBase64Url(fromBase64Url(s))).toBe(s);
      } catch (e) {
        expect(String(e)).toMatch(/non-canonical/);
      }
    }
  });

  it('base32: of all 2-symbol strings, exactly the canonical ones decode', () => {
    let accepted = 0;
    for (const a of B32)
      for (const b of B32) {
        try {
          expect(base32Encode(base32Decode(a + b))).toBe(a + b);
          accepted++;
        } catch (e) {
          expect(String(e)).toMatch(/non-canonical/);
        }
      }
    expect(accepted).toBe(256);
  });

  it('property: decode(s) succeeds only when encode(decode(s)) === s, and round-trips bytes', () => {
    const alphabetString = (chars: string) => fc.string({ unit: fc.constantFrom(...chars), maxLength: 40 });
    const cases: [string, (b: Uint8Array) => string, (s: string) => Uint8Array, string][] = [
      ['base64url', toBase64Url, fromBase64Url, B64],
      ['base32', base32Encode, base32Decode, B32],
      ['hex', toHex, fromHex, '0123456789abcdef'],
    ];
    for (const [, enc, dec, chars] of cases) {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
          expect(dec(enc(b))).toEqual(b);
        }),
      );
      fc.assert(
        fc.property(fc.oneof(alphabetString(chars), fc.string({ maxLength: 20 })), (s) => {
          let decoded: Uint8Array;
          try {
            decoded = dec(s);
          } catch (e) {
            expect(e).toBeInstanceOf(EncodingError);
            return;
          }
          expect(enc(decoded)).toBe(s);
        }),
      );
    }
  });

  it('base32 refuses letters that only uppercase into the alphabet', () => {
    // toUpperCase: dotless i -> I, long s -> S, Kelvin sign and fullwidth letters stay outside.
    for (const bad of ['ıy', 'mſ', 'Ky', 'ｍy']) expect(() => base32Decode(bad), bad).toThrow(EncodingError);
  });
});

describe('hex', () => {
  it('round-trips and is lowercase', () => {
    const b = bytes(0x00, 0x01, 0xab, 0xff, 0x7f);
    expect(toHex(b)).toBe('0001abff7f');
    expect(fromHex('0001abff7f')).toEqual(b);
    expect(fromHex('')).toEqual(bytes());
    const r = new Uint8Array(randomBytes(64));
    expect(toHex(r)).toBe(Buffer.from(r).toString('hex'));
    expect(fromHex(toHex(r))).toEqual(r);
  });

  it('rejects odd length, non-hex, uppercase, prefixes and separators', () => {
    for (const bad of ['0', 'abc', 'zz', 'AB', '0x00', 'ab:cd', 'ab cd', ' ab', 'g0', 'ab\n', '٣٣']) {
      expect(() => fromHex(bad), bad).toThrow(EncodingError);
    }
  });
});

describe('fingerprints', () => {
  const digest = new Uint8Array(32).map((_, i) => i * 7);
  const fp = fingerprintFromDigest(digest);

  it('formats a SHA-256 digest as 32 lowercase hex pairs joined by ":"', () => {
    expect(fp).toBe(
      '00:07:0e:15:1c:23:2a:31:38:3f:46:4d:54:5b:62:69:70:77:7e:85:8c:93:9a:a1:a8:af:b6:bd:c4:cb:d2:d9',
    );
    expect(fp.length).toBe(95);
    expect(isFingerprint(fp)).toBe(true);
  });

  it('refuses digests that are not 32 bytes', () => {
    expect(() => fingerprintFromDigest(new Uint8Array(31))).toThrow(EncodingError);
    expect(() => fingerprintFromDigest(new Uint8Array(20))).toThrow(EncodingError);
    expect(() => fingerprintFromDigest(new Uint8Array(33))).toThrow(EncodingError);
  });

  it('isFingerprint accepts only the exact format', () => {
    for (const bad of [
      fp.toUpperCase(),
      fp.slice(3), // 31 pairs
      `${fp}:00`, // 33 pairs
      `${fp}:`,
      `:${fp}`,
      ` ${fp}`,
      `${fp}\n`,
      `sha-256 ${fp}`,
      fp.replace(/:/g, ''),
      fp.replace(/:/g, '-'),
      fp.replace('00', '0g'),
      '',
      null,
      42,
    ]) {
      expect(isFingerprint(bad), String(bad)).toBe(false);
    }
  });
});

describe('utf8', () => {
  it('round-trips text including astral characters and a leading BOM', () => {
    for (const s of ['', 'hello', 'héllo wörld', '日本語', '🎉👩‍👩‍👧', '\ufeffbom kept', '\u0000nul']) {
      expect(utf8Decode(utf8Encode(s))).toBe(s);
    }
    expect(utf8Encode('é')).toEqual(bytes(0xc3, 0xa9));
  });

  it('decoding is fatal on invalid UTF-8', () => {
    for (const bad of [
      bytes(0xff),
      bytes(0xc0, 0x80), // overlong NUL
      bytes(0xe0, 0x80, 0xaf), // overlong '/'
      bytes(0xed, 0xa0, 0x80), // encoded surrogate
      bytes(0xe2, 0x82), // truncated
      bytes(0x80), // stray continuation
      bytes(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
    ]) {
      expect(() => utf8Decode(bad)).toThrow(EncodingError);
    }
  });

  it('encoding refuses unpaired surrogates (they would collide on U+FFFD)', () => {
    for (const bad of ['\ud800', 'a\udc00', '\ud83d', 'x\ude00y', '\udc00\ud800']) {
      expect(() => utf8Encode(bad)).toThrow(EncodingError);
    }
    expect(() => utf8Encode('\ud83d\ude00')).not.toThrow(); // a valid pair
  });
});

describe('bytes', () => {
  it('concatBytes joins parts in order', () => {
    expect(concatBytes()).toEqual(bytes());
    expect(concatBytes(bytes(1), bytes(), bytes(2, 3))).toEqual(bytes(1, 2, 3));
  });

  it('concatBytes copies (the result does not alias its inputs)', () => {
    const a = bytes(1, 2);
    const out = concatBytes(a);
    a[0] = 9;
    expect(out).toEqual(bytes(1, 2));
  });

  it('bytesEqual compares contents and lengths', () => {
    expect(bytesEqual(bytes(), bytes())).toBe(true);
    expect(bytesEqual(bytes(1, 2, 3), bytes(1, 2, 3))).toBe(true);
    expect(bytesEqual(bytes(1, 2, 3), bytes(1, 2, 4))).toBe(false);
    expect(bytesEqual(bytes(0, 2, 3), bytes(1, 2, 3))).toBe(false);
    expect(bytesEqual(bytes(1, 2), bytes(1, 2, 3))).toBe(false);
    expect(bytesEqual(bytes(1, 2, 3), bytes(1, 2))).toBe(false);
  });
});
