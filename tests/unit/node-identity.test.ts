import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fingerprintOfPem,
  generateIdentity,
  isUsableIdentity,
  loadOrCreateIdentity,
  normalizeFingerprint,
  type NodeIdentity,
} from '../../src/agent/node/identity';
import { FileStore, MemoryStore } from '../../src/agent/node/platform';

const FINGERPRINT_FORMAT = /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/;
const DAY = 24 * 60 * 60 * 1000;

/** Top-level TLV elements of a DER SEQUENCE body (enough to walk a TBSCertificate). */
function derChildren(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const start = i;
    i++; // tag
    let len = buf[i++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + buf[i++]!;
    }
    i += len;
    out.push(buf.subarray(start, i));
  }
  return out;
}
function derBody(tlv: Buffer): Buffer {
  const len = tlv[1]!;
  return tlv.subarray(len & 0x80 ? 2 + (len & 0x7f) : 2);
}
/** The validity SEQUENCE's two time TLVs of a certificate. */
function validityTimes(certPem: string): [Buffer, Buffer] {
  const raw = new crypto.X509Certificate(certPem).raw;
  const tbs = derChildren(derBody(raw))[0]!;
  const validity = derChildren(derBody(tbs))[4]!; // version, serial, sigAlg, issuer, validity
  const [from, to] = derChildren(derBody(validity));
  return [from!, to!];
}

describe('certificate encoding (@peculiar/x509)', () => {
  it('uses UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280 section 4.1.2.5)', async () => {
    // Valid from 2049-12-21 (UTCTime) to 2050-01-21 (GeneralizedTime).
    const id = await generateIdentity(new Date(Date.UTC(2049, 11, 22, 3, 4, 5)));
    const [from, to] = validityTimes(id.certPem);
    expect(from.toString('latin1')).toBe('\x17\x0d491221030405Z');
    expect(to.toString('latin1')).toBe('\x18\x0f20500121030405Z');
  });

  it('signs with ecdsa-with-SHA256, parameters absent (RFC 5758), with only keyUsage = digitalSignature', async () => {
    const id = await generateIdentity();
    const raw = new crypto.X509Certificate(id.certPem).raw;
    const [tbs, sigAlg] = derChildren(derBody(raw));
    expect(sigAlg!.toString('hex')).toBe('300a06082a8648ce3d040302');
    const fields = derChildren(derBody(tbs!));
    expect(fields[0]!.toString('hex')).toBe('a003020102'); // [0] EXPLICIT v3
    expect(fields[2]!.toString('hex')).toBe('300a06082a8648ce3d040302');
    expect(fields).toHaveLength(8);
    // [3] { SEQUENCE { SEQUENCE { keyUsage, critical TRUE, OCTET STRING { BIT STRING digitalSignature } } } }
    // Never an empty extensions SEQUENCE (a3023000), which RFC 5280 forbids.
    expect(fields[7]!.toString('hex')).toBe('a3123010300e0603551d0f0101ff040403020780');
  });

  it('the library is loaded lazily and keeps working across calls', async () => {
    const ids = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    expect(new Set(ids.map((i) => i.fingerprint)).size).toBe(3);
    for (const id of ids) expect(isUsableIdentity(id)).toBe(true);
  });
});

describe('generateIdentity', () => {
  it('makes an ECDSA P-256 self-signed X.509 v3 certificate that node:crypto parses', async () => {
    const before = Date.now();
    const id = await generateIdentity();
    const cert = new crypto.X509Certificate(id.certPem);

    expect(cert.subject).toBe('CN=kibitz');
    expect(cert.issuer).toBe('CN=kibitz');
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.verify(cert.publicKey)).toBe(true); // self-signed, signature valid
    expect(cert.checkPrivateKey(crypto.createPrivateKey(id.keyPem))).toBe(true);
    expect(cert.ca).toBe(false);

    // Validity: now - 1 day .. now + 30 days (second precision).
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    expect(Math.abs(from - (before - DAY))).toBeLessThan(5_000);
    expect(Math.abs(to - (before + 30 * DAY))).toBeLessThan(5_000);

    // v3, ecdsa-with-SHA256, positive serial: check the DER directly.
    const raw = cert.raw;
    expect(raw[0]).toBe(0x30);
    expect(raw.includes(Buffer.from('a003020102', 'hex'))).toBe(true); // [0] EXPLICIT INTEGER 2
    expect(raw.includes(Buffer.from('300a06082a8648ce3d040302', 'hex'))).toBe(true);
    expect(/^[0-9A-F]+$/.test(cert.serialNumber)).toBe(true);
    expect(Number.parseInt(cert.serialNumber.slice(0, 2), 16) & 0x80).toBe(0);
  });

  it("reports the SHA-256 fingerprint of the DER in the engine format, matching node:crypto's", async () => {
    const id = await generateIdentity();
    const cert = new crypto.X509Certificate(id.certPem);
    expect(id.fingerprint).toMatch(FINGERPRINT_FORMAT);
    expect(id.fingerprint).toBe(cert.fingerprint256.toLowerCase());
    expect(id.fingerprint.toUpperCase()).toBe(cert.fingerprint256);
    expect(fingerprintOfPem(id.certPem)).toBe(id.fingerprint);
    const manual = crypto.createHash('sha256').update(cert.raw).digest('hex').match(/../g)!.join(':');
    expect(id.fingerprint).toBe(manual);
  });

  it('makes a new key and serial every time', async () => {
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(new crypto.X509Certificate(a.certPem).serialNumber).not.toBe(new crypto.X509Certificate(b.certPem).serialNumber);
  });
});

describe('normalizeFingerprint', () => {
  it('accepts common spellings of a SHA-256 fingerprint and rejects the rest', () => {
    const lower = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0')).join(':');
    expect(normalizeFingerprint(lower.toUpperCase())).toBe(lower);
    expect(normalizeFingerprint(lower.replace(/:/g, ''))).toBe(lower);
    expect(normalizeFingerprint(`sha-256 ${lower.toUpperCase()}`)).toBe(lower);
    expect(normalizeFingerprint('')).toBeNull();
    expect(normalizeFingerprint(lower.slice(3))).toBeNull(); // 31 bytes
    expect(normalizeFingerprint('zz'.repeat(32))).toBeNull();
    expect(normalizeFingerprint(0)).toBeNull();
    expect(normalizeFingerprint(undefined)).toBeNull();
  });
});

describe('loadOrCreateIdentity', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('creates once and then returns the persisted identity', async () => {
    const store = new MemoryStore();
    const first = await loadOrCreateIdentity(store);
    const second = await loadOrCreateIdentity(store);
    expect(second).toEqual(first);
    expect(await store.get<NodeIdentity>('identity')).toEqual(first);
    const other = await loadOrCreateIdentity(store, 'other-identity');
    expect(other.fingerprint).not.toBe(first.fingerprint);
  });

  it('replaces a stored identity that is corrupt, mismatched or expired', async () => {
    const store = new MemoryStore();
    const good = await generateIdentity();
    const other = await generateIdentity();
    await store.set('identity', { ...good, fingerprint: other.fingerprint });
    const replaced = await loadOrCreateIdentity(store);
    expect(replaced.fingerprint).not.toBe(good.fingerprint);
    expect(replaced.fingerprint).not.toBe(other.fingerprint);
    expect(isUsableIdentity(replaced)).toBe(true);

    await store.set('identity', { ...good, keyPem: other.keyPem }); // key does not match cert
    expect((await loadOrCreateIdentity(store)).fingerprint).not.toBe(good.fingerprint);

    await store.set('identity', 'garbage');
    expect(isUsableIdentity(await loadOrCreateIdentity(store))).toBe(true);

    const old = await generateIdentity(new Date(Date.now() - 60 * DAY));
    expect(isUsableIdentity(old)).toBe(false);
    await store.set('identity', old);
    expect((await loadOrCreateIdentity(store)).fingerprint).not.toBe(old.fingerprint);
  });

  it('persists across FileStore instances, in a private file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kibitz-store-test-'));
    dirs.push(dir);
    const file = path.join(dir, 'nested', 'state.json');
    const first = await loadOrCreateIdentity(new FileStore(file));
    const again = await loadOrCreateIdentity(new FileStore(file));
    expect(again).toEqual(first);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['state.json']); // no temp files left
  });
});

describe('stores', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('MemoryStore copies values in and out', async () => {
    const store = new MemoryStore();
    const value = { a: [1, 2] };
    await store.set('k', value);
    value.a.push(3);
    const got = await store.get<{ a: number[] }>('k');
    expect(got).toEqual({ a: [1, 2] });
    got!.a.push(9);
    expect(await store.get('k')).toEqual({ a: [1, 2] });
    await store.delete('k');
    expect(await store.get('k')).toBeUndefined();
  });

  it('FileStore serialises concurrent writes and refuses to overwrite a corrupt file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kibitz-store-test-'));
    dirs.push(dir);
    const file = path.join(dir, 'state.json');
    const store = new FileStore(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, i)));
    const reread = new FileStore(file);
    for (let i = 0; i < 20; i++) expect(await reread.get(`k${i}`)).toBe(i);
    await reread.delete('k3');
    expect(await new FileStore(file).get('k3')).toBeUndefined();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).k4).toBe(4);

    fs.writeFileSync(file, '{not json');
    await expect(new FileStore(file).get('k1')).rejects.toThrow(/not valid JSON/);
    await expect(new FileStore(file).set('k1', 1)).rejects.toThrow(/not valid JSON/);
    expect(fs.readFileSync(file, 'utf8')).toBe('{not json');
  });
});
