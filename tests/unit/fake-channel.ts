/** A data channel the test opens by hand; what the link sends on it is kept in `sent`. */
import type { DataChannelLike } from '../../src/engine/platform';

export class FakeChannel implements DataChannelLike {
  readyState: DataChannelLike['readyState'] = 'connecting';
  bufferedAmount = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: ((err: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(readonly label: string) {}
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 'closed';
  }
  open(): void {
    this.readyState = 'open';
    this.onopen?.();
  }
}
