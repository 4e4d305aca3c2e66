import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { addressKey, startBroker } from '../../src/broker/server';
import { BROKER_PROTOCOL_VERSION } from '../../src/engine/broker-protocol';
import { RawClient, peerId, peerToken, randomSid, sleep, startTestBroker, waitFor, type PeerToken, type TestBroker } from './broker-helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function broker(limits: Parameters<typeof startTestBroker>[0] = {}): Promise<TestBroker> {
  const b = await startTestBroker(limits);
  cleanups.push(() => b.close());
  return b;
}

/** A raw TCP socket that sends the first lines of an upgrade and then stalls. */
async function halfOpen(b: TestBroker): Promise<Socket> {
  const s = connect(b.port, '127.0.0.1');
  s.on('error', () => {});
  cleanups.push(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  return s;
}

function track<T extends RawClient>(c: T): T {
  cleanups.push(() => c.ws.terminate());
  return c;
}

async function raw(b: TestBroker): Promise<RawClient> {
  return track(await RawClient.open(b.url));
}

async function reg(b: TestBroker, token?: PeerToken): Promise<RawClient & { id: string; token: PeerToken }> {
  return track(await RawClient.registered(b.url, token));
}

/** The broker must still serve a fresh client after whatever an attacker did. */
async function stillServes(b: TestBroker): Promise<void> {
  const c = await reg(b);
  const sid = randomSid();
  c.send({ t: 'claim', sid, q: 1 });
  expect(await c.next('claimed')).toEqual({ t: 'claimed', sid, q: 1, ok: true, holder: c.id });
  expect(b.stats().handlerErrors).toBe(0);
}

describe('broker: rooms', () => {
  it('says hello with the protocol version and limits', async () => {
    const b = await broker();
    const c = track(new RawClient(b.url));
    const hello = await c.next('hello');
    expect(hello).toEqual({
      t: 'hello',
      v: BROKER_PROTOCOL_VERSION,
      limits: { maxFrameBytes: 65536, messagesPerSecond: 50, burst: 100, maxClaimsPerConnection: 16, maxWatchesPerConnection: 16 },
    });
  });

  it('register, claim, holder, watch, release', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await reg(b);
    const w = await reg(b);

    w.send({ t: 'holder', sid, q: 1 });
    expect(await w.next('holder')).toEqual({ t: 'holder', sid, q: 1, holder: null });
    w.send({ t: 'watch', sid, q: 2 });
    expect(await w.next('watching')).toEqual({ t: 'watching', sid, q: 2 });

    a.send({ t: 'claim', sid, q: 10 });
    expect(await a.next('claimed')).toEqual({ t: 'claimed', sid, q: 10, ok: true, holder: a.id });
    // Claiming again while holding is idempotent.
    a.send({ t: 'claim', sid, q: 11 });
    expect(await a.next('claimed')).toEqual({ t: 'claimed', sid, q: 11, ok: true, holder: a.id });

    w.send({ t: 'holder', sid, q: 3 });
    expect(await w.next('holder')).toEqual({ t: 'holder', sid, q: 3, holder: a.id });
    expect(b.stats()).toMatchObject({ connections: 2, registered: 2, rooms: 1, claims: 1, watches: 1 });

    a.send({ t: 'release', sid, q: 12 });
    expect(await a.next('holder')).toEqual({ t: 'holder', sid, q: 12, holder: null });
    expect(await w.next('released')).toEqual({ t: 'released', sid, former: a.id });
    await a.sync();
    expect(a.framesOf('released')).toEqual([]); // the releaser is not told about its own release

    w.send({ t: 'holder', sid, q: 4 });
    expect(await w.next('holder')).toEqual({ t: 'holder', sid, q: 4, holder: null });

    w.send({ t: 'unwatch', sid });
    await w.sync();
    expect(b.stats()).toMatchObject({ rooms: 0, claims: 0, watches: 0 });
  });

  it('a second claim loses and learns the holder', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await reg(b);
    const c = await reg(b);
    a.send({ t: 'claim', sid, q: 1 });
    await a.next('claimed');
    c.send({ t: 'claim', sid, q: 1 });
    expect(await c.next('claimed')).toEqual({ t: 'claimed', sid, q: 1, ok: false, holder: a.id });
  });

  it('concurrent claims: exactly one wins', async () => {
    const b = await broker();
    const sid = randomSid();
    const clients = await Promise.all(Array.from({ length: 8 }, () => reg(b)));
    for (const c of clients) c.send({ t: 'claim', sid, q: 1 });
    const results = await Promise.all(clients.map((c) => c.next('claimed')));
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results) expect(r.holder).toBe(winners[0]!.holder);
  });

  it('a claim is released when its holder disconnects, and watchers are told at once', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await reg(b);
    const w1 = await reg(b);
    const w2 = await reg(b);
    for (const w of [w1, w2]) {
      w.send({ t: 'watch', sid, q: 1 });
      await w.next('watching');
    }
    a.send({ t: 'claim', sid, q: 1 });
    await a.next('claimed');
    a.ws.terminate(); // crash, not a clean close

    expect(await w1.next('released')).toEqual({ t: 'released', sid, former: a.id });
    expect(await w2.next('released')).toEqual({ t: 'released', sid, former: a.id });
    w1.send({ t: 'claim', sid, q: 2 });
    expect(await w1.next('claimed')).toMatchObject({ ok: true, holder: w1.id });

    // Its id is free again, for its token.
    expect((await reg(b, a.token)).id).toBe(a.id);
  });

  it('a non-holder cannot release someone else’s claim', async () => {
    const b = await broker();
    const sid = randomSid();
    const holder = await reg(b);
    const watcher = await reg(b);
    const attacker = await reg(b);
    watcher.send({ t: 'watch', sid, q: 1 });
    await watcher.next('watching');
    holder.send({ t: 'claim', sid, q: 1 });
    await holder.next('claimed');

    attacker.send({ t: 'release', sid, q: 5 });
    expect(await attacker.next('holder')).toEqual({ t: 'holder', sid, q: 5, holder: holder.id });
    await watcher.sync();
    expect(watcher.framesOf('released')).toEqual([]);
  });

  it('enforces claim and watch limits per connection', async () => {
    const b = await broker({ limits: { maxClaimsPerConnection: 2, maxWatchesPerConnection: 2 } });
    const c = await reg(b);
    for (let i = 1; i <= 3; i++) c.send({ t: 'claim', sid: randomSid(), q: i });
    expect((await c.next('claimed', (f) => f.q === 1)).ok).toBe(true);
    expect((await c.next('claimed', (f) => f.q === 2)).ok).toBe(true);
    expect(await c.next('error')).toMatchObject({ code: 'too-many-claims', q: 3, fatal: false });
    const sid = randomSid();
    for (let i = 1; i <= 2; i++) c.send({ t: 'watch', sid: randomSid(), q: 10 + i });
    c.send({ t: 'watch', sid, q: 13 });
    expect(await c.next('error')).toMatchObject({ code: 'too-many-watches', q: 13, fatal: false });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('broker: relay', () => {
  it('relays to the addressed peer only, stamped with the sender’s id', async () => {
    const b = await broker();
    const a = await reg(b);
    const to = await reg(b);
    const bystander = await reg(b);
    a.send({ t: 'send', to: to.id, blob: 'sealed-1' });
    expect(await to.next('msg')).toEqual({ t: 'msg', from: a.id, blob: 'sealed-1' });
    await bystander.sync();
    await a.sync();
    expect(bystander.framesOf('msg')).toEqual([]);
    expect(a.framesOf('msg')).toEqual([]);
    expect(b.stats().relayed).toBe(1);
  });

  it('an unknown peer gives no-such-peer naming the target', async () => {
    const b = await broker();
    const a = await reg(b);
    const ghost = peerId();
    a.send({ t: 'send', to: ghost, blob: 'x' });
    expect(await a.next('error')).toEqual({ t: 'error', code: 'no-such-peer', message: 'no such peer', fatal: false, to: ghost });
  });

  it('cannot spoof the sender: an extra from field is rejected, nothing is relayed', async () => {
    const b = await broker();
    const a = await reg(b);
    const victim = await reg(b);
    const target = await reg(b);
    a.send({ t: 'send', to: target.id, blob: 'x', from: victim.id });
    expect(await a.next('error')).toMatchObject({ code: 'bad-frame' });
    await target.sync();
    expect(target.framesOf('msg')).toEqual([]);
  });

  it('never logs blobs, and never full sids or peer ids', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await reg(b);
    const c = await reg(b);
    a.send({ t: 'claim', sid, q: 1 });
    await a.next('claimed');
    c.send({ t: 'watch', sid, q: 1 });
    await c.next('watching');
    a.send({ t: 'send', to: c.id, blob: 'TOP-SECRET-BLOB' });
    await c.next('msg');
    a.send({ t: 'send', to: peerId(), blob: 'TOP-SECRET-BLOB' });
    await a.next('error');
    a.send('{"t":"claim","sid":"TOP-SECRET-ROOM","q":1}');
    await a.next('error');
    a.ws.terminate();
    await c.next('released');
    const logged = JSON.stringify(b.log.entries);
    expect(b.log.entries.length).toBeGreaterThan(0);
    for (const secret of ['TOP-SECRET', sid, a.id, c.id, a.token.text, c.token.text]) expect(logged).not.toContain(secret);
  });

  it('refuses to buffer without bound for a peer that does not read', async () => {
    const b = await broker({ limits: { maxBufferedBytes: 64 * 1024, messagesPerSecond: 10_000, burst: 10_000 } });
    const sender = await reg(b);
    const sink = await reg(b);
    sink.ws.pause(); // stop reading: the kernel buffers fill, then the broker's send buffer
    const blob = 'x'.repeat(60_000);
    let busy = false;
    for (let i = 0; i < 2000 && !busy; i++) {
      sender.send({ t: 'send', to: sink.id, blob });
      if (i % 20 === 19) {
        await sender.sync();
        busy = sender.framesOf('error').some((e) => e.code === 'peer-busy' && e.to === sink.id);
      }
    }
    expect(busy).toBe(true);
    expect(sender.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('broker: identity', () => {
  it('the id is derived from the token, never taken from the frame', async () => {
    const b = await broker();
    const t = peerToken();
    const c = await raw(b);
    c.send({ t: 'register', token: t.text });
    expect(await c.next('registered')).toEqual({ t: 'registered', id: t.id });
    // The v1 spelling (a bare id) is refused outright.
    const old = await raw(b);
    old.send({ t: 'register', id: peerId() });
    expect(await old.next('error')).toMatchObject({ code: 'bad-frame', fatal: false });
    old.send({ t: 'register', token: t.text, id: t.id });
    expect(await old.next('error')).toMatchObject({ code: 'bad-frame', fatal: false });
    expect(b.stats().registered).toBe(1);
  });

  it('knowing an id is not enough to take it: the squatter lands on its own id', async () => {
    const b = await broker();
    const owner = await reg(b);
    const thief = await raw(b);
    thief.send({ t: 'register', id: owner.id });
    expect(await thief.next('error')).toMatchObject({ code: 'bad-frame' });
    const own = peerToken();
    thief.send({ t: 'register', token: own.text });
    expect(await thief.next('registered')).toEqual({ t: 'registered', id: own.id });
    // The owner still gets its messages; the thief gets none.
    const sender = await reg(b);
    sender.send({ t: 'send', to: owner.id, blob: 'for-owner' });
    expect(await owner.next('msg')).toMatchObject({ blob: 'for-owner' });
    await thief.sync();
    expect(thief.framesOf('msg')).toEqual([]);
  });

  it('a second live connection with the same token gets id-taken; the first keeps the id', async () => {
    const b = await broker();
    const owner = await reg(b);
    const second = await raw(b);
    second.send({ t: 'register', token: owner.token.text });
    expect(await second.next('error')).toMatchObject({ code: 'id-taken', fatal: false });
    const sender = await reg(b);
    sender.send({ t: 'send', to: owner.id, blob: 'still-yours' });
    expect(await owner.next('msg')).toMatchObject({ blob: 'still-yours' });
    // Once the first is gone, the token resumes the id on the second connection.
    owner.ws.terminate();
    await waitFor(() => b.stats().registered === 1, 'the owner to be dropped');
    second.send({ t: 'register', token: owner.token.text });
    expect(await second.next('registered')).toEqual({ t: 'registered', id: owner.id });
  });

  it('one connection cannot hold two ids', async () => {
    const b = await broker();
    const c = await reg(b);
    c.send({ t: 'register', token: c.token.text });
    expect(await c.next('registered')).toEqual({ t: 'registered', id: c.id });
    c.send({ t: 'register', token: peerToken().text });
    expect(await c.next('error')).toMatchObject({ code: 'already-registered' });
    expect(b.stats().registered).toBe(1);
  });

  it('frames before register get not-registered (with q) and count as bad', async () => {
    const b = await broker();
    const c = await raw(b);
    c.send({ t: 'claim', sid: randomSid(), q: 7 });
    expect(await c.next('error')).toMatchObject({ code: 'not-registered', q: 7, fatal: false });
    c.send({ t: 'send', to: peerId(), blob: 'x' });
    expect(await c.next('error')).toMatchObject({ code: 'not-registered' });
    c.send({ t: 'ping', q: 1 });
    expect(await c.next('pong')).toEqual({ t: 'pong', q: 1 });
    expect(b.stats().rooms).toBe(0);
  });

  it('closes a connection that never registers', async () => {
    const b = await broker({ limits: { registerTimeoutMs: 100 } });
    const c = await raw(b);
    expect(await c.next('error')).toMatchObject({ code: 'not-registered', fatal: true });
    expect(await c.closed).toBe(1008);
  });
});

describe('broker: hostile frames', () => {
  const cases: [string, string, string][] = [
    ['malformed JSON', '{"t":"register"', 'bad-frame'],
    ['a JSON array', '[]', 'bad-frame'],
    ['unknown type', '{"t":"admin","cmd":"dump"}', 'unknown-type'],
    ['prototype name as type', '{"t":"constructor"}', 'unknown-type'],
    ['bad sid', '{"t":"claim","sid":"my-room-name","q":1}', 'bad-frame'],
    ['bad id', '{"t":"send","to":"../../etc","blob":"x"}', 'bad-frame'],
    ['missing fields', '{"t":"watch","q":1}', 'bad-frame'],
    ['wrong field types', '{"t":"claim","sid":1,"q":"1"}', 'bad-frame'],
    ['extra fields', '{"t":"ping","admin":true}', 'bad-frame'],
    ['__proto__ field', '{"t":"ping","__proto__":{"x":1}}', 'bad-frame'],
  ];
  for (const [name, text, code] of cases) {
    it(`${name} → ${code}, and the broker keeps serving`, async () => {
      const b = await broker();
      const c = await reg(b);
      c.send(text);
      expect(await c.next('error')).toMatchObject({ t: 'error', code, fatal: false });
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      await stillServes(b);
    });
  }

  it('a bad sid with a q echoes the q', async () => {
    const b = await broker();
    const c = await reg(b);
    c.send({ t: 'holder', sid: 'x', q: 42 });
    expect(await c.next('error')).toMatchObject({ code: 'bad-frame', q: 42 });
  });

  it('binary frames are bad frames', async () => {
    const b = await broker();
    const c = await reg(b);
    c.ws.send(Buffer.from('{"t":"ping"}'), { binary: true });
    expect(await c.next('error')).toMatchObject({ code: 'bad-frame', fatal: false });
    await stillServes(b);
  });

  it('the fifth bad frame is fatal and closes with 1008', async () => {
    const b = await broker();
    const c = await reg(b);
    for (let i = 0; i < 5; i++) c.send('nope');
    await c.closed;
    const errors = c.framesOf('error');
    expect(errors.map((e) => e.fatal)).toEqual([false, false, false, false, true]);
    expect(c.closeCode).toBe(1008);
    await stillServes(b);
  });

  it('an oversized frame gets too-large and close 1009', async () => {
    const b = await broker({ limits: { maxFrameBytes: 1024 } });
    const c = await reg(b);
    c.send({ t: 'send', to: c.id, blob: 'x'.repeat(1100) });
    expect(await c.next('error')).toMatchObject({ code: 'too-large', fatal: true });
    expect(await c.closed).toBe(1009);
    await stillServes(b);
  });

  it('a frame far beyond the limit is cut off by the transport, and the broker survives', async () => {
    const b = await broker({ limits: { maxFrameBytes: 1024 } });
    const c = await reg(b);
    c.send('x'.repeat(1024 * 1024));
    expect(await c.closed).toBe(1009);
    await stillServes(b);
  });

  it('a multi-byte frame is measured in bytes, not characters', async () => {
    const b = await broker({ limits: { maxFrameBytes: 1024 } });
    const c = await reg(b);
    const blob = '€'.repeat(400); // 400 chars, 1200 bytes
    c.send({ t: 'send', to: c.id, blob });
    expect(await c.next('error')).toMatchObject({ code: 'too-large' });
  });

  it('a claim held by a connection that was closed for abuse is released', async () => {
    const b = await broker();
    const sid = randomSid();
    const bad = await reg(b);
    const w = await reg(b);
    w.send({ t: 'watch', sid, q: 1 });
    await w.next('watching');
    bad.send({ t: 'claim', sid, q: 1 });
    await bad.next('claimed');
    for (let i = 0; i < 5; i++) bad.send('garbage');
    expect(await w.next('released')).toEqual({ t: 'released', sid, former: bad.id });
  });

  it('survives a storm of random garbage from many clients', async () => {
    const b = await broker();
    const clients = await Promise.all(Array.from({ length: 5 }, () => raw(b)));
    const junk = ['', '{', 'null', '0', '"x"', '{"t":null}', '{"t":{}}', '{"t":"send"}', '{"t":"claim","sid":[],"q":{}}', '\u0000', '{"t":"register","id":"' + 'A'.repeat(5000) + '"}'];
    for (const c of clients) for (const j of junk) c.send(j);
    await Promise.all(clients.map((c) => c.closed));
    await stillServes(b);
    expect(b.stats().handlerErrors).toBe(0);
  });
});

describe('broker: abuse limits', () => {
  it('a flood trips the rate limit: error then close 1008', async () => {
    const b = await broker({ limits: { messagesPerSecond: 5, burst: 10 } });
    const c = await reg(b);
    for (let i = 0; i < 50; i++) c.send({ t: 'ping', q: i });
    expect(await c.next('error')).toMatchObject({ code: 'rate-limited', fatal: true });
    expect(await c.closed).toBe(1008);
    expect(c.framesOf('pong').length).toBeLessThanOrEqual(10);
    await stillServes(b);
  });

  it('caps sockets per address at accept: the over-cap socket is destroyed before any frame, freed on close', async () => {
    const b = await broker({ limits: { connectionsPerIp: 3 } });
    const ok = await Promise.all([raw(b), raw(b), raw(b)]);
    const fourth = track(new RawClient(b.url));
    await expect(fourth.opened).rejects.toThrow();
    await fourth.closed;
    expect(fourth.texts).toEqual([]);
    expect(b.stats()).toMatchObject({ sockets: 3, connections: 3, rejectedConnections: 1 });

    ok[0]!.close();
    await ok[0]!.closed;
    await waitFor(() => b.stats().sockets === 2 && b.stats().connections === 2, 'the broker to see the close');
    await raw(b);
    expect(b.stats()).toMatchObject({ sockets: 3, rejectedConnections: 1 });
  });

  it('counts each socket once, upgraded or not, and releases it exactly once', async () => {
    const b = await broker({ limits: { connectionsPerIp: 4, handshakeTimeoutMs: 300 } });
    for (let round = 0; round < 3; round++) {
      const clients = await Promise.all([raw(b), raw(b)]);
      const half = await Promise.all([halfOpen(b), halfOpen(b)]);
      await waitFor(() => b.stats().sockets === 4, 'four sockets counted');
      clients[0]!.ws.terminate();
      clients[1]!.close();
      half[0]!.destroy();
      // half[1] is left to the handshake timeout.
      await waitFor(() => b.stats().sockets === 0, 'every socket released', 3000);
      expect(b.stats().connections).toBe(0);
    }
    expect(b.stats().rejectedConnections).toBe(0);
    await reg(b);
  });

  it('drops a half-sent upgrade with 408 after the handshake timeout', async () => {
    const b = await broker({ limits: { handshakeTimeoutMs: 300 } });
    const s = await halfOpen(b);
    let reply = '';
    s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    const t0 = Date.now();
    await new Promise((r) => s.once('close', r));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    expect(b.stats().sockets).toBe(0);
  });

  it('terminates connections that stop answering pings, releasing their claims', async () => {
    const b = await broker({ limits: { pingIntervalMs: 50, pongTimeoutMs: 200 } });
    const sid = randomSid();
    const healthy = await reg(b);
    healthy.send({ t: 'watch', sid, q: 1 });
    await healthy.next('watching');
    const deaf = track(await RawClient.open(b.url, { autoPong: false }));
    const deafToken = peerToken();
    const deafId = deafToken.id;
    deaf.send({ t: 'register', token: deafToken.text });
    await deaf.next('registered');
    deaf.send({ t: 'claim', sid, q: 1 });
    await deaf.next('claimed');

    expect(await deaf.closed).toBe(1006);
    expect(await healthy.next('released')).toEqual({ t: 'released', sid, former: deafId });
    await sleep(300); // several more ping rounds
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
    expect(b.stats().keepaliveTimeouts).toBe(1);
  });
});

describe('broker: http', () => {
  it('GET /healthz reports counts; other paths 404', async () => {
    const b = await broker();
    const sid = randomSid();
    const c = await reg(b);
    c.send({ t: 'watch', sid, q: 1 });
    await c.next('watching');

    const res = await fetch(`${b.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({ ok: true, connections: 1, rooms: 1 });

    expect((await fetch(`${b.httpUrl}/`)).status).toBe(404);
    expect((await fetch(`${b.httpUrl}/stats`)).status).toBe(404);
    expect((await fetch(`${b.httpUrl}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('serves the invite page at /join, the same for every room, under its strict policy', async () => {
    const b = await broker();
    const res = await fetch(`${b.httpUrl}/join?ignored=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const body = await res.text();
    expect(body).toContain('data-extension-id="gmmmnpaglppabdkbngkfghkhpceobelf"');
    const head = await fetch(`${b.httpUrl}/join`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${b.httpUrl}/join`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${b.httpUrl}/join/`)).status).toBe(404);
    // The page is a page, not a socket.
    const ws = new WebSocket(`${b.url}/join`);
    const outcome = await new Promise<string>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_req, r) => resolve(String(r.statusCode)));
      ws.on('error', () => resolve('error'));
    });
    expect(outcome).toBe('404');
  });

  it('refuses WebSocket upgrades on other paths', async () => {
    const b = await broker();
    const ws = new WebSocket(`${b.url}/admin`);
    const outcome = await new Promise<string>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.on('error', () => resolve('error'));
    });
    ws.terminate();
    expect(outcome).not.toBe('open');
  });

  it('close() disconnects clients and stops listening', async () => {
    const b = await startTestBroker();
    const c = await RawClient.registered(b.url);
    await b.close();
    expect(await c.closed).toBe(1001);
    await expect(fetch(`${b.httpUrl}/healthz`)).rejects.toThrow();
    await b.close(); // idempotent
  });

  it('reports a busy port as a startup error', async () => {
    const b = await broker();
    await expect(startBroker({ port: b.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('broker: address grouping', () => {
  it('maps v4-in-v6 to v4 and groups IPv6 per /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});
