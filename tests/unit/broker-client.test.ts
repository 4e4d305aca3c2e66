import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { startBroker } from '../../src/broker/server';
import { BrokerClient, BrokerRequestError, type BrokerClientOptions, type BrokerState } from '../../src/engine/broker-client';
import { BROKER_PROTOCOL_VERSION, DEFAULT_LIMITS, helloLimitsOf, peerIdFromTokenText } from '../../src/engine/broker-protocol';
import { systemClock, type WebSocketFactory, type WebSocketLike } from '../../src/engine/platform';
import { RawClient, captureLog, peerId, peerToken, randomSid, sleep, startTestBroker, waitFor, wsFactory, type PeerToken, type TestBroker } from './broker-helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function broker(opts: Parameters<typeof startTestBroker>[0] = {}): Promise<TestBroker> {
  const b = await startTestBroker(opts);
  cleanups.push(() => b.close());
  return b;
}

interface TestClient extends BrokerClient {
  token: PeerToken;
  states: BrokerState[];
  messages: [string, string][];
  releases: [string, string | null][];
  deliveryErrors: [string, string][];
  reconnected: number;
  logs: ReturnType<typeof captureLog>;
}

function client(url: string, opts: Partial<BrokerClientOptions> = {}): TestClient {
  const logs = captureLog();
  const token = peerToken();
  const c = new BrokerClient({
    url,
    token: token.bytes,
    webSocket: wsFactory,
    clock: systemClock,
    log: logs,
    requestTimeoutMs: 2000,
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 200,
    ...opts,
  }) as TestClient;
  Object.assign(c, { token, states: [], messages: [], releases: [], deliveryErrors: [], reconnected: 0, logs });
  c.onStateChange = (s) => c.states.push(s);
  c.onMessage = (from, blob) => c.messages.push([from, blob]);
  c.onReleased = (sid, former) => c.releases.push([sid, former]);
  c.onDeliveryError = (to, code) => c.deliveryErrors.push([to, code]);
  c.onReconnected = () => c.reconnected++;
  cleanups.push(() => c.close());
  return c;
}

async function connected(url: string, opts: Partial<BrokerClientOptions> = {}): Promise<TestClient> {
  const c = client(url, opts);
  await c.connect();
  return c;
}

/** A ws factory that remembers the sockets it made, so a test can misuse the live one. */
function recordingFactory(): { factory: WebSocketFactory; sockets: WebSocketLike[] } {
  const sockets: WebSocketLike[] = [];
  return {
    sockets,
    factory: (url) => {
      const ws = wsFactory(url);
      sockets.push(ws);
      return ws;
    },
  };
}

/** A scripted fake broker for misbehaviour the real one never shows. */
async function fakeBroker(onConnection: (ws: ServerSocket) => void): Promise<{ url: string; sockets: ServerSocket[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const sockets: ServerSocket[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('error', () => {});
    onConnection(ws);
  });
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.terminate();
        wss.close(() => r());
      }),
  );
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, sockets };
}

/** Says hello and registers whoever asks; `onFrame` handles everything after that. */
function scripted(onFrame: (ws: ServerSocket, frame: Record<string, unknown>) => void = () => {}) {
  return (ws: ServerSocket) => {
    ws.send(JSON.stringify({ t: 'hello', v: BROKER_PROTOCOL_VERSION, limits: helloLimitsOf(DEFAULT_LIMITS) }));
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.t === 'register') ws.send(JSON.stringify({ t: 'registered', id: peerIdFromTokenText(String(f.token)) }));
      else onFrame(ws, f);
    });
  };
}

describe('BrokerClient: connect', () => {
  it('connects and registers', async () => {
    const b = await broker();
    const c = client(b.url);
    expect(c.state).toBe('closed');
    await c.connect();
    expect(c.state).toBe('open');
    expect(c.states).toEqual(['connecting', 'open']);
    expect(c.peerId).toBe(c.token.id);
    const registered = b.taps.some((e) => e.dir === 'in' && e.raw === JSON.stringify({ t: 'register', token: c.token.text }));
    expect(registered).toBe(true);
    expect(b.taps.some((e) => e.dir === 'out' && e.raw === JSON.stringify({ t: 'registered', id: c.peerId }))).toBe(true);
    expect(b.stats().registered).toBe(1);
    await c.connect(); // idempotent
  });

  it('refuses a malformed token up front', () => {
    for (const token of [new Uint8Array(16), new Uint8Array(33), 'me' as unknown as Uint8Array, undefined as unknown as Uint8Array]) {
      expect(() => new BrokerClient({ url: 'ws://x', token, webSocket: wsFactory, clock: systemClock, log: captureLog() })).toThrow(TypeError);
    }
  });

  it('derives its id from the token and keeps the token out of logs and inspection', async () => {
    const b = await broker();
    const c = await connected(b.url);
    expect(c.peerId).toBe(c.token.id);
    const rec = recordingFactory();
    const d = await connected(b.url, { webSocket: rec.factory });
    for (let i = 0; i < 5; i++) rec.sockets.at(-1)!.send('junk'); // force a drop and a re-register
    await waitFor(() => d.reconnected === 1, 'reconnected');
    for (const x of [c, d]) {
      expect(JSON.stringify(x.logs.entries) + JSON.stringify(b.log.entries)).not.toContain(x.token.text);
    }
    // A bare client (without the test's bookkeeping) shows no token to inspection or enumeration.
    const t = peerToken();
    const bare = new BrokerClient({ url: b.url, token: t.bytes, webSocket: wsFactory, clock: systemClock, log: captureLog() });
    const { inspect } = await import('node:util');
    expect(inspect(bare, { depth: 2 }) + Object.values(bare).map(String).join('|')).not.toContain(t.text);
  });

  it('refuses a broker that names another id than our token derives', async () => {
    const fake = await fakeBroker((ws) => {
      ws.send(JSON.stringify({ t: 'hello', v: BROKER_PROTOCOL_VERSION, limits: helloLimitsOf(DEFAULT_LIMITS) }));
      ws.on('message', () => ws.send(JSON.stringify({ t: 'registered', id: peerId() })));
    });
    await expect(client(fake.url).connect()).rejects.toThrow(/unexpected registered frame/);
  });

  it('rejects clearly on a bad URL', async () => {
    await expect(client('not a url').connect()).rejects.toThrow(/invalid broker URL/);
    await expect(client('http://127.0.0.1:1/').connect()).rejects.toThrow(/must be ws: or wss:/);
  });

  it('rejects clearly when the connection is refused', async () => {
    const b = await startBroker({ port: 0 });
    const url = b.url;
    await b.close();
    const c = client(url);
    await expect(c.connect()).rejects.toThrow(/could not connect to broker/);
    expect(c.state).toBe('closed');
  });

  it('rejects with id-taken when the token is in use by a live connection', async () => {
    const b = await broker();
    const a = await connected(b.url);
    const c = client(b.url, { token: a.token.bytes });
    const err = await c.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BrokerRequestError);
    expect((err as BrokerRequestError).code).toBe('id-taken');
    expect((err as Error).message).toMatch(/already taken/);
    expect(c.state).toBe('closed');
    expect(b.stats().registered).toBe(1);
  });

  it('rejects a broker speaking another protocol version, without waiting for a timeout', async () => {
    const fake = await fakeBroker((ws) => ws.send(JSON.stringify({ t: 'hello', v: BROKER_PROTOCOL_VERSION + 1, limits: helloLimitsOf(DEFAULT_LIMITS) })));
    const c = client(fake.url, { connectTimeoutMs: 30_000 });
    await expect(c.connect()).rejects.toThrow(/invalid frame during the handshake/);
  });

  it('times out a broker that never says hello', async () => {
    const fake = await fakeBroker(() => {});
    const c = client(fake.url, { connectTimeoutMs: 300 });
    await expect(c.connect()).rejects.toThrow(/did not answer within 300 ms/);
    expect(c.state).toBe('closed');
  });

  it('rejects requests while not connected', async () => {
    const c = client('ws://127.0.0.1:1');
    await expect(c.claim(randomSid())).rejects.toThrow(/not connected/);
    c.send(peerId(), 'x');
    await waitFor(() => c.deliveryErrors.length === 1, 'delivery error');
    expect(c.deliveryErrors[0]![1]).toBe('not-connected');
  });
});

describe('BrokerClient: rooms and relay', () => {
  it('claim, holder, watch, release and the release notice', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await connected(b.url);
    const w = await connected(b.url);

    expect(await w.holder(sid)).toBeNull();
    await w.watch(sid);
    expect(await a.claim(sid)).toEqual({ ok: true, holder: a.peerId });
    expect(await w.claim(sid)).toEqual({ ok: false, holder: a.peerId });
    expect(await w.holder(sid)).toBe(a.peerId);

    await a.release(sid);
    await waitFor(() => w.releases.length === 1, 'release notice');
    expect(w.releases).toEqual([[sid, a.peerId]]);
    expect(await w.holder(sid)).toBeNull();
  });

  it('a holder that closes releases its claim to watchers', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await connected(b.url);
    const w = await connected(b.url);
    await w.watch(sid);
    await a.claim(sid);
    a.close();
    expect(a.state).toBe('closed');
    await waitFor(() => w.releases.length === 1, 'release notice');
    expect(w.releases).toEqual([[sid, a.peerId]]);
  });

  it('unwatch stops release notices', async () => {
    const b = await broker();
    const sid = randomSid();
    const a = await connected(b.url);
    const w = await connected(b.url);
    await w.watch(sid);
    w.unwatch(sid);
    await a.claim(sid);
    await a.release(sid);
    await w.holder(sid); // round trip
    expect(w.releases).toEqual([]);
  });

  it('sends blobs to the right peer and reports unknown peers', async () => {
    const b = await broker();
    const a = await connected(b.url);
    const to = await connected(b.url);
    const other = await connected(b.url);
    a.send(to.peerId, 'sealed-offer');
    await waitFor(() => to.messages.length === 1, 'message');
    expect(to.messages).toEqual([[a.peerId, 'sealed-offer']]);

    const ghost = peerId();
    a.send(ghost, 'x');
    await waitFor(() => a.deliveryErrors.length === 1, 'delivery error');
    expect(a.deliveryErrors).toEqual([[ghost, 'no-such-peer']]);
    expect(other.messages).toEqual([]);
  });

  it('refuses locally what the broker would close the connection for', async () => {
    const b = await broker({ limits: { maxFrameBytes: 1024 } });
    const a = await connected(b.url);
    const to = peerId();
    a.send(to, 'x'.repeat(2000));
    a.send('not-an-id', 'x');
    await waitFor(() => a.deliveryErrors.length === 2, 'delivery errors');
    expect(a.deliveryErrors).toEqual([
      [to, 'too-large'],
      ['not-an-id', 'bad-request'],
    ]);
    await expect(a.claim('my room')).rejects.toThrow(TypeError);
    expect(a.state).toBe('open');
    expect(b.stats().errors).toEqual({});
  });

  it('paces a burst under the broker’s rate limit instead of getting cut off', async () => {
    const b = await broker({ limits: { messagesPerSecond: 100, burst: 20 } });
    const a = await connected(b.url);
    const to = await connected(b.url);
    for (let i = 0; i < 100; i++) a.send(to.peerId, `candidate-${i}`);
    await waitFor(() => to.messages.length === 100, 'all messages', 10_000);
    expect(to.messages.map(([, blob]) => blob)).toEqual(Array.from({ length: 100 }, (_, i) => `candidate-${i}`));
    expect(a.state).toBe('open');
    expect(b.stats().errors).toEqual({});
  });

  it('surfaces a broker refusal as a BrokerRequestError with the code', async () => {
    const b = await broker({ limits: { maxClaimsPerConnection: 1 } });
    const a = await connected(b.url);
    await a.claim(randomSid());
    const err = await a.claim(randomSid()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerRequestError);
    expect((err as BrokerRequestError).code).toBe('too-many-claims');
  });

  it('an application callback that throws does not break the client', async () => {
    const b = await broker();
    const a = await connected(b.url);
    const to = await connected(b.url);
    to.onMessage = () => {
      throw new Error('app bug');
    };
    a.send(to.peerId, 'one');
    a.send(to.peerId, 'two');
    await waitFor(() => to.logs.entries.filter((e) => e.msg === 'broker: callback threw').length === 2, 'both callbacks');
    expect(await to.holder(randomSid())).toBeNull();
  });
});

describe('BrokerClient: hostile or broken broker', () => {
  it('times out a request the broker never answers', async () => {
    const fake = await fakeBroker(scripted());
    const c = await connected(fake.url, { requestTimeoutMs: 200 });
    await expect(c.claim(randomSid())).rejects.toThrow(/claim timed out after 200 ms/);
    expect(c.stats().timeouts).toBe(1);
    expect(c.state).toBe('open');
  });

  it('drops and counts bad frames; never delivers them', async () => {
    const ghostFrames = [
      'not json',
      JSON.stringify({ t: 'msg', from: 'broker', blob: 'x' }),
      JSON.stringify({ t: 'msg', from: peerId(), blob: 'x', extra: 1 }),
      JSON.stringify({ t: 'released', sid: 'room', former: null }),
      JSON.stringify({ t: 'registered', id: peerId() }),
      JSON.stringify({ t: 'error', code: 'lol', message: 'x', fatal: true }),
    ];
    const fake = await fakeBroker(
      scripted((ws, f) => {
        if (f.t !== 'holder') return;
        for (const g of ghostFrames) ws.send(g);
        ws.send(JSON.stringify({ t: 'holder', sid: f.sid, q: f.q, holder: null }));
      }),
    );
    const c = await connected(fake.url);
    expect(await c.holder(randomSid())).toBeNull();
    expect(c.stats().badFrames).toBe(ghostFrames.length);
    expect(c.messages).toEqual([]);
    expect(c.releases).toEqual([]);
    expect(c.state).toBe('open');
  });

  it('rejects a reply that does not match its request', async () => {
    const fake = await fakeBroker(
      scripted((ws, f) => {
        // Answers every request with a claim win for some other room.
        ws.send(JSON.stringify({ t: 'claimed', sid: randomSid(), q: f.q, ok: true, holder: peerId() }));
      }),
    );
    const c = await connected(fake.url);
    await expect(c.claim(randomSid())).rejects.toThrow(/mismatched reply/);
    await expect(c.holder(randomSid())).rejects.toThrow(/mismatched reply/);
  });

  it('ignores release notices for rooms it does not watch', async () => {
    const sid = randomSid();
    const fake = await fakeBroker(
      scripted((ws, f) => {
        if (f.t === 'holder') {
          ws.send(JSON.stringify({ t: 'released', sid, former: peerId() }));
          ws.send(JSON.stringify({ t: 'holder', sid: f.sid, q: f.q, holder: null }));
        }
      }),
    );
    const c = await connected(fake.url);
    await c.holder(randomSid());
    expect(c.releases).toEqual([]);
  });

  it('notices a dead connection with its own pings and reconnects', async () => {
    let connections = 0;
    const fake = await fakeBroker((ws) => {
      connections++;
      // The first connection goes silent after registering (a half-open path); later ones behave.
      const silent = connections === 1;
      ws.send(JSON.stringify({ t: 'hello', v: BROKER_PROTOCOL_VERSION, limits: helloLimitsOf(DEFAULT_LIMITS) }));
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Record<string, unknown>;
        if (f.t === 'register') ws.send(JSON.stringify({ t: 'registered', id: peerIdFromTokenText(String(f.token)) }));
        else if (f.t === 'ping' && !silent) ws.send(JSON.stringify({ t: 'pong' }));
      });
    });
    const c = await connected(fake.url, { pingIntervalMs: 100, requestTimeoutMs: 100 });
    await waitFor(() => c.reconnected === 1, 'reconnect after keepalive timeout');
    expect(c.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(connections).toBe(2);
  });
});

describe('BrokerClient: reconnect', () => {
  it('after the broker drops it: reconnects, re-registers with the same token (same id), re-watches', async () => {
    let b = await startTestBroker();
    const port = b.port;
    const sid = randomSid();
    const w = await connected(b.url);
    const holder = await connected(b.url);
    holder.onReconnected = () => {
      holder.reconnected++;
      void holder.claim(sid); // what the session does when it was coordinator
    };
    await w.watch(sid);
    await holder.claim(sid);

    // Broker restart: every socket is dropped.
    await b.close();
    await waitFor(() => w.state === 'reconnecting' && holder.state === 'reconnecting', 'reconnecting');
    b = await startTestBroker({ port });
    cleanups.push(() => b.close());

    await waitFor(() => w.reconnected === 1 && holder.reconnected === 1, 'both reconnected');
    expect(w.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(w.stats().reconnects).toBe(1);
    const registers = b.taps.filter((e) => e.dir === 'in' && JSON.parse(e.raw).t === 'register').map((e) => JSON.parse(e.raw).token);
    expect(registers.sort()).toEqual([w.token.text, holder.token.text].sort());
    const ids = b.taps.filter((e) => e.dir === 'out' && JSON.parse(e.raw).t === 'registered').map((e) => JSON.parse(e.raw).id);
    expect(ids.sort()).toEqual([w.peerId, holder.peerId].sort());
    expect(b.taps.some((e) => e.dir === 'in' && JSON.parse(e.raw).t === 'watch' && JSON.parse(e.raw).sid === sid)).toBe(true);

    // The watch is live on the new broker: the re-claim is followed by a release notice.
    await waitFor(() => b.stats().claims === 1, 'holder re-claimed');
    expect(await w.holder(sid)).toBe(holder.peerId);
    const before = w.releases.length;
    await holder.release(sid);
    await waitFor(() => w.releases.length === before + 1, 'release notice on the new broker');
    expect(w.releases.at(-1)).toEqual([sid, holder.peerId]);
  });

  it('reports a release it missed while away as onReleased(sid, null)', async () => {
    let b = await startTestBroker();
    const port = b.port;
    const sid = randomSid();
    const w = await connected(b.url);
    const holder = await connected(b.url);
    await w.watch(sid);
    await holder.claim(sid);
    holder.close(); // the holder leaves for good while the broker is down

    await b.close();
    b = await startTestBroker({ port });
    cleanups.push(() => b.close());
    await waitFor(() => w.reconnected === 1, 'reconnected');
    expect(w.releases).toContainEqual([sid, null]);
  });

  it('a request in flight when the connection drops fails clearly', async () => {
    const fake = await fakeBroker(scripted((ws) => ws.terminate()));
    const c = await connected(fake.url, { requestTimeoutMs: 5000 });
    await expect(c.claim(randomSid())).rejects.toThrow(/connection lost/);
    await waitFor(() => c.state === 'open', 'reconnected');
  });

  it('after the broker drops only this socket: reconnects and keeps working', async () => {
    const b = await broker();
    const sid = randomSid();
    const rec = recordingFactory();
    const c = await connected(b.url, { webSocket: rec.factory });
    const holder = await connected(b.url);
    await c.watch(sid);
    // Make the broker drop us: spend the bad-frame budget on the live socket.
    for (let i = 0; i < 5; i++) rec.sockets.at(-1)!.send('junk');
    await waitFor(() => c.reconnected === 1, 'reconnected');
    expect(c.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(rec.sockets).toHaveLength(2);
    await holder.claim(sid);
    await holder.release(sid);
    await waitFor(() => c.releases.some(([s, f]) => s === sid && f === holder.peerId), 'release notice after reconnect');
  });

  it('keeps retrying while its token is still registered on a stale socket, then gets its id back', async () => {
    const b = await broker();
    const rec = recordingFactory();
    const c = await connected(b.url, { webSocket: rec.factory, reconnectInitialDelayMs: 1000, reconnectMaxDelayMs: 1000 });
    const squatter = await RawClient.open(b.url);
    cleanups.push(() => squatter.ws.terminate());
    for (let i = 0; i < 5; i++) rec.sockets.at(-1)!.send('junk');
    await waitFor(() => c.state === 'reconnecting', 'reconnecting');
    // Stands in for a stale socket of ours the broker has not noticed is dead yet.
    squatter.send({ t: 'register', token: c.token.text });
    expect(await squatter.next('registered')).toEqual({ t: 'registered', id: c.peerId });
    await waitFor(() => c.logs.entries.some((e) => e.msg === 'broker: reconnect attempt failed' && /already taken/.test(String(e.meta?.error))), 'an id-taken retry');
    expect(c.state).toBe('reconnecting');
    squatter.ws.terminate();
    await waitFor(() => c.state === 'open', 'reconnected once the id is free');
    expect(c.reconnected).toBe(1);
  });

  it('close() stops for good: no reconnect, requests fail', async () => {
    let b = await startTestBroker();
    const port = b.port;
    const c = await connected(b.url);
    await b.close();
    await waitFor(() => c.state === 'reconnecting', 'reconnecting');
    c.close();
    expect(c.state).toBe('closed');
    b = await startTestBroker({ port });
    cleanups.push(() => b.close());
    await sleep(500);
    expect(b.stats().connections).toBe(0);
    expect(c.state).toBe('closed');
    await expect(c.holder(randomSid())).rejects.toThrow(/not connected/);
    await expect(c.connect()).rejects.toThrow(/closed/);
  });
});
