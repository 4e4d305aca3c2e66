/**
 * Harness for engine integration tests: real broker on 127.0.0.1, real node-datachannel peers,
 * one Node platform (own certificate) per participant.
 */
import { startBroker, type RunningBroker, type TapEvent } from '../../src/broker/server';
import { generateIdentity, type NodeIdentity } from '../../src/agent/node/identity';
import { createNodePlatform, MemoryStore } from '../../src/agent/node/platform';
import { Session, type SessionOptions } from '../../src/engine/session';
import type { SessionView } from '../../src/engine/session-api';
import type { Logger } from '../../src/engine/platform';

/** Silent unless KIBITZ_DEBUG is set, so failing runs can be diagnosed. */
export const quietLog: Logger = process.env.KIBITZ_DEBUG
  ? { info: (m, meta) => console.log('[info]', m, meta ?? ''), warn: (m, meta) => console.log('[warn]', m, meta ?? '') }
  : { info: () => undefined, warn: () => undefined };

export interface TestPeer {
  name: string;
  session: Session;
  identity: NodeIdentity;
  view(): SessionView;
}

export async function startTestBroker(tap?: (e: TapEvent) => void): Promise<RunningBroker> {
  return startBroker({ port: 0, host: '127.0.0.1', tap, log: quietLog });
}

export async function makePeer(name: string, options: SessionOptions = {}, identity?: NodeIdentity): Promise<TestPeer> {
  const id = identity ?? (await generateIdentity());
  const platform = createNodePlatform({ identity: id, storage: new MemoryStore(), log: quietLog });
  const session = new Session(platform, options);
  return { name, session, identity: id, view: () => session.view() };
}

/** Poll until `check` returns true; fail with `what` and the last views for diagnosis. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000, describe?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}${describe ? `: ${JSON.stringify(describe(), null, 1).slice(0, 4000)}` : ''}`);
}

/** True when `peer` sees exactly the others, all connected with a ready safety code. */
export function meshReady(peer: TestPeer, others: TestPeer[]): boolean {
  const v = peer.view();
  if (v.phase !== 'connected' || v.members.length !== others.length) return false;
  const ids = new Set(others.map((o) => o.view().self?.peerId));
  return v.members.every((m) => ids.has(m.peerId) && m.link === 'connected' && m.sasPhase === 'ready');
}

export async function waitForMesh(peers: TestPeer[], timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `a full mesh of ${peers.length}`,
    () => peers.every((p) => meshReady(p, peers.filter((o) => o !== p))),
    timeoutMs,
    () => peers.map((p) => ({ name: p.name, phase: p.view().phase, reason: p.view().reason, members: p.view().members.map((m) => [m.name, m.link, m.sasPhase]) })),
  );
}

export async function leaveAll(peers: TestPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.session.dispatch({ op: 'leave' }).catch(() => undefined)));
}

/**
 * A link's room part under the old `kibitz://call` base, which names no broker: the joiner then
 * signals through the broker it was told to use, as tests that put a hostile broker in front of
 * the host's need (an invite link would take it to the host's broker).
 */
export function roomOnly(link: string): string {
  return `kibitz://call${link.slice(link.indexOf('#'))}`;
}
