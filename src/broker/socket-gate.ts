/**
 * Connection caps enforced at TCP accept, before any HTTP or WebSocket work (issue 5, finding 7).
 *
 * One count per client address covers every socket from accept to close: a half-sent upgrade,
 * a plain HTTP request and an upgraded WebSocket are the same socket and count once. A socket
 * over the cap is destroyed at once, without a reply: it has cost nothing but the accept.
 */

import type { Socket } from 'node:net';

export interface GateLimits {
  connectionsPerIp: number;
  maxConnections: number;
}

export type GateVerdict = 'admitted' | 'per-address cap' | 'global cap';

/**
 * Groups client addresses for the per-address cap. IPv4-mapped IPv6 becomes plain IPv4, and
 * IPv6 is grouped per /64 because one host is routinely handed a whole /64.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!; // drop a zone id
  const halves = bare.split('::');
  if (halves.length > 2) return bare;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return bare;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return bare;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

export class SocketGate {
  private readonly perAddress = new Map<string, number>();
  private total = 0;
  private rejectedCount = 0;

  constructor(private readonly limits: GateLimits) {}

  /** Call from the server's `connection` event. Over the cap the socket is destroyed here. */
  admit(socket: Socket): GateVerdict {
    const key = addressKey(socket.remoteAddress);
    const fromAddress = this.perAddress.get(key) ?? 0;
    const verdict: GateVerdict =
      fromAddress >= this.limits.connectionsPerIp ? 'per-address cap' : this.total >= this.limits.maxConnections ? 'global cap' : 'admitted';
    if (verdict !== 'admitted') {
      this.rejectedCount++;
      socket.destroy();
      return verdict;
    }
    this.perAddress.set(key, fromAddress + 1);
    this.total++;
    // 'close' fires once per socket, whoever closed it; the flag keeps the release single anyway.
    let counted = true;
    socket.once('close', () => {
      if (!counted) return;
      counted = false;
      this.release(key);
    });
    return verdict;
  }

  private release(key: string): void {
    this.total--;
    const left = (this.perAddress.get(key) ?? 1) - 1;
    if (left <= 0) this.perAddress.delete(key);
    else this.perAddress.set(key, left);
  }

  /** Open sockets in total, or from one address key. */
  open(key?: string): number {
    return key === undefined ? this.total : (this.perAddress.get(key) ?? 0);
  }

  get rejected(): number {
    return this.rejectedCount;
  }
}
