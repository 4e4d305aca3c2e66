/**
 * Attacks on the real broker, at the level an attacker acts (issue 5, findings 7 and 3):
 * raw TCP sockets that never finish their upgrade, and a rogue broker client that knows an
 * honest peer's id (ids are public: `holder`, `msg.from`) but not its token.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/broker/server';
import { BrokerClient } from '../../src/engine/broker-client';
import { newPeerToken, type BrokerLimits, type ServerFrame } from '../../src/engine/broker-protocol';
import { secureRandomBytes, systemClock } from '../../src/engine/platform';
import { nodeWebSocketFactory } from '../../src/agent/node/platform';
import { RawClient, peerToken, randomSid, waitFor } from '../unit/broker-helpers';
import { quietLog } from './sessions';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function broker(limits: Partial<BrokerLimits>, port = 0): Promise<RunningBroker> {
  const b = await startBroker({ host: '127.0.0.1', port, limits, log: quietLog });
  cleanups.push(() => b.close());
  return b;
}

function honest(url: string, token = newPeerToken(secureRandomBytes), reconnectMs = 300): BrokerClient & { inbox: [string, string][] } {
  const c = Object.assign(
    new BrokerClient({ url, token, webSocket: nodeWebSocketFactory, clock: systemClock, log: quietLog, reconnectInitialDelayMs: reconnectMs, reconnectMaxDelayMs: reconnectMs * 2 }),
    { inbox: [] as [string, string][] },
  );
  c.onMessage = (from, blob) => c.inbox.push([from, blob]);
  cleanups.push(() => c.close());
  return c;
}

async function rogue(url: string): Promise<RawClient> {
  const r = await RawClient.open(url);
  cleanups.push(() => r.ws.terminate());
  return r;
}

interface Probe {
  socket: Socket;
  connectedAt: number;
  closedAt: number | null;
  reply: string;
}

/** A socket that sends all of an upgrade request but the blank line that ends it, then stalls. */
function halfUpgrade(port: number): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const probe: Probe = { socket, connectedAt: 0, closedAt: null, reply: '' };
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (probe.reply += d.toString('latin1')));
    socket.on('close', () => (probe.closedAt = Date.now()));
    socket.on('connect', () => {
      probe.connectedAt = Date.now();
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
      );
      resolve(probe);
    });
    cleanups.push(() => socket.destroy());
  });
}

describe('broker attacks: half-sent upgrades (finding 7)', () => {
  it('200 half-sent upgrades from one address: over-cap sockets die at once, the rest at the headers timeout, then honest clients get in', async () => {
    const CAP = 20;
    const N = 200;
    const TIMEOUT = 1500;
    const b = await broker({ connectionsPerIp: CAP, handshakeTimeoutMs: TIMEOUT });
    const t0 = Date.now();
    const probes = await Promise.all(Array.from({ length: N }, () => halfUpgrade(b.port)));

    // At accept: everything beyond the cap is destroyed at once, with no reply at all.
    await waitFor(() => probes.filter((p) => p.closedAt !== null).length >= N - CAP, 'the over-cap sockets to be destroyed', TIMEOUT / 2);
    expect(Date.now() - t0).toBeLessThan(TIMEOUT / 2);
    const early = probes.filter((p) => p.closedAt !== null);
    const held = probes.filter((p) => p.closedAt === null);
    expect(early).toHaveLength(N - CAP);
    expect(held).toHaveLength(CAP);
    for (const p of early) expect(p.reply).toBe('');
    expect(b.stats()).toMatchObject({ sockets: CAP, connections: 0, rejectedConnections: N - CAP });

    // While the half-open sockets hold the address's slots, they count: an honest client is refused too.
    const blocked = honest(b.url);
    await expect(blocked.connect()).rejects.toThrow(/could not connect to broker/);

    // The held ones are dropped with 408 once the handshake timeout passes, not before.
    await waitFor(() => held.every((p) => p.closedAt !== null), 'the held sockets to time out', TIMEOUT + 3000);
    for (const p of held) {
      expect(p.closedAt! - p.connectedAt).toBeGreaterThanOrEqual(TIMEOUT - 100);
      expect(p.reply).toMatch(/^HTTP\/1\.1 408 /);
    }
    await waitFor(() => b.stats().sockets === 0, 'every slot released');

    // Afterwards the address is served again.
    const alice = honest(b.url);
    await alice.connect();
    const sid = randomSid();
    expect(await alice.claim(sid)).toEqual({ ok: true, holder: alice.peerId });
    expect(b.stats()).toMatchObject({ sockets: 1, connections: 1, registered: 1 });
  });
});

/**
 * The rogue's move: register the victim's id. Resolves with the broker's answer; the caller
 * asserts on what the rogue got, so a broker that hands out ids on request fails here.
 */
async function squat(r: RawClient, victim: string): Promise<ServerFrame> {
  const before = r.frames.length;
  r.send({ t: 'register', id: victim });
  await waitFor(() => r.frames.slice(before).some((f) => f.t === 'registered' || f.t === 'error'), 'an answer to the squat');
  return r.frames.slice(before).find((f) => f.t === 'registered' || f.t === 'error')!;
}

describe('broker attacks: peer-id squatting (finding 3)', () => {
  it('a rogue that knows an honest peer’s id cannot take it: not live, not after a broker restart, not after it left', async () => {
    let b = await broker({});
    const port = b.port;
    const sid = randomSid();
    const aliceToken = newPeerToken(secureRandomBytes);
    // Alice's first retry comes ≥ 1 s after a drop, so after a restart the rogue is first in.
    const alice = honest(b.url, aliceToken, 2000);
    const bob = honest(b.url);
    await alice.connect();
    await bob.connect();
    await alice.claim(sid);

    // The rogue learns Alice's id the way anyone can: she is the room's coordinator.
    const r = await rogue(b.url);
    r.send({ t: 'register', token: peerToken().text });
    const own = await r.next('registered');
    r.send({ t: 'holder', sid, q: 1 });
    const victim = (await r.next('holder')).holder!;
    expect(victim).toBe(alice.peerId);
    expect(own.id).not.toBe(victim);

    // Live.
    const r2 = await rogue(b.url);
    expect(await squat(r2, victim)).not.toEqual({ t: 'registered', id: victim });
    bob.send(victim, 'offer-1');
    await waitFor(() => alice.inbox.length === 1, 'Alice to get offer-1');
    expect(alice.inbox).toEqual([[bob.peerId, 'offer-1']]);

    // After a broker restart the rogue is first to register: the id is still not its to take.
    await b.close();
    b = await broker({}, port);
    const r3 = await rogue(b.url);
    expect(await squat(r3, victim)).toMatchObject({ t: 'error', code: 'bad-frame' });
    expect(alice.state).toBe('reconnecting');

    // Alice resumes her id with her token; messages for her reach her, not the rogue.
    await waitFor(() => alice.state === 'open' && bob.state === 'open', 'both to reconnect', 15_000);
    expect(alice.peerId).toBe(victim);
    bob.send(victim, 'offer-2');
    await waitFor(() => alice.inbox.length === 2, 'Alice to get offer-2');
    expect(alice.inbox[1]).toEqual([bob.peerId, 'offer-2']);

    // After she leaves, her id is not up for grabs either; sends to it fail.
    alice.close();
    await waitFor(() => b.stats().registered === 1, 'Alice to be gone');
    const r4 = await rogue(b.url);
    expect(await squat(r4, victim)).toMatchObject({ t: 'error', code: 'bad-frame' });
    const errors: [string, string][] = [];
    bob.onDeliveryError = (to, code) => errors.push([to, code]);
    bob.send(victim, 'offer-3');
    await waitFor(() => errors.length === 1, 'a delivery error');
    expect(errors).toEqual([[victim, 'no-such-peer']]);

    // The owner comes back with its token (a new client, same secret) and gets its id back.
    const again = honest(b.url, aliceToken);
    await again.connect();
    expect(again.peerId).toBe(victim);
    bob.send(victim, 'offer-4');
    await waitFor(() => again.inbox.length === 1, 'the returning owner to get offer-4');
    expect(again.inbox).toEqual([[bob.peerId, 'offer-4']]);
    for (const rc of [r, r2, r3, r4]) {
      await (rc.ws.readyState === rc.ws.OPEN && rc !== r ? rc.sync() : Promise.resolve());
      expect(rc.framesOf('msg')).toEqual([]);
    }
  });
});
