/**
 * A hostile broker in front of the real one: it relays every frame between its clients and
 * the real broker, and lets a test inject, withhold or rewrite frames, as a broker operator (or
 * anyone on its path) could. Clients connect to `url` instead of the real broker's.
 */
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';

export type Direction = 'to-broker' | 'to-client';
/**
 * Return the frame (possibly rewritten) to pass it on, or null to withhold it. `connection`
 * numbers the client connections from 1, in the order they were accepted.
 */
export type FrameFilter = (direction: Direction, frame: string, connection: number) => string | null | Promise<string | null>;

interface Pipe {
  client: WebSocket;
  upstream: WebSocket;
}

export class HostileBroker {
  filter: FrameFilter = (_d, f) => f;
  private readonly pipes = new Set<Pipe>();
  private accepted = 0;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(upstreamUrl: string): Promise<HostileBroker> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const hostile = new HostileBroker(server, `ws://127.0.0.1:${port}`);
    server.on('connection', (client) => hostile.pipe(client, upstreamUrl));
    return hostile;
  }

  /** Deliver a frame to every client as if the real broker had sent it. */
  inject(frame: unknown): void {
    const text = JSON.stringify(frame);
    for (const p of this.pipes) if (p.client.readyState === WebSocket.OPEN) p.client.send(text);
  }

  async close(): Promise<void> {
    for (const p of this.pipes) {
      p.client.terminate();
      p.upstream.terminate();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: WebSocket, upstreamUrl: string): void {
    const upstream = new WebSocket(upstreamUrl);
    const connection = ++this.accepted;
    const pipe: Pipe = { client, upstream };
    this.pipes.add(pipe);
    const early: string[] = [];
    upstream.on('open', () => {
      for (const f of early.splice(0)) upstream.send(f);
    });
    // Frames pass one at a time per direction, so an async filter keeps their order.
    let up = Promise.resolve();
    let down = Promise.resolve();
    client.on('message', (data: RawData) => {
      const text = data.toString();
      up = up.then(async () => {
        const out = await this.filter('to-broker', text, connection);
        if (out === null) return;
        if (upstream.readyState === WebSocket.OPEN) upstream.send(out);
        else early.push(out);
      });
    });
    upstream.on('message', (data: RawData) => {
      const text = data.toString();
      down = down.then(async () => {
        const out = await this.filter('to-client', text, connection);
        if (out !== null && client.readyState === WebSocket.OPEN) client.send(out);
      });
    });
    const end = () => {
      this.pipes.delete(pipe);
      client.close();
      upstream.close();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }
}
