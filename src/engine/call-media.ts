/**
 * Media lanes: our local microphone and camera put on each pair's lanes (withheld, per pair,
 * from a peer that may not perceive them), and the remote tracks a peer sends, surfaced only
 * for lanes that peer may send on and only while the pair is admitted.
 */
import type { GrantSubject } from './capabilities';
import type { ContentRouter } from './content-router';
import type { Pair } from './pair';
import type { MediaTrackLike, Platform } from './platform';
import type { MediaLane } from './session-api';

export interface MediaEvent {
  peerId: string;
  lane: MediaLane;
  /** null: the lane stopped. */
  track: MediaTrackLike | null;
}

export class CallMedia {
  private readonly local = new Map<MediaLane, MediaTrackLike>();
  private readonly listeners = new Set<(event: MediaEvent) => void>();

  constructor(
    private readonly platform: Platform,
    private readonly router: ContentRouter,
    private readonly subjectOf: (peerId: string) => GrantSubject | null,
  ) {}

  onMedia(listener: (event: MediaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  localLanes(): MediaLane[] {
    return [...this.local.keys()];
  }

  localTrack(lane: MediaLane): MediaTrackLike | null {
    return this.local.get(lane) ?? null;
  }

  /** Turn our mic or camera on or off and re-apply every admitted pair's lanes. */
  async set(lane: 'mic' | 'camera', on: boolean, pairs: Pair[]): Promise<void> {
    const media = this.platform.media;
    if (!media) throw new Error('This device has no camera or microphone support.');
    const current = this.local.get(lane);
    if (on === !!current) return;
    if (on) {
      try {
        this.local.set(lane, lane === 'mic' ? await media.getMicrophone() : await media.getCamera());
      } catch (err) {
        throw new Error(`Could not turn on the ${lane === 'mic' ? 'microphone' : 'camera'}: ${describeMediaError(err)}`);
      }
    } else {
      this.local.delete(lane);
    }
    await Promise.all(pairs.map((p) => this.applyTo(p)));
    if (current) media.stop(current);
  }

  /** Put our tracks on one pair's lanes and tell the peer which lanes carry something. */
  async applyTo(pair: Pair): Promise<void> {
    const subject = this.subjectOf(pair.peerId);
    if (!pair.admitted || !subject) return;
    const sending: MediaLane[] = [];
    for (const lane of ['mic', 'camera'] as const) {
      const track = this.local.get(lane) ?? null;
      const allowed = track !== null && this.router.mayPerceive(subject, `media:${lane}`);
      if (allowed) sending.push(lane);
      if (!this.platform.peers.supportsMedia) continue;
      try {
        await pair.link.setTrack(lane, allowed ? track : null);
      } catch (err) {
        this.platform.log.warn('could not set media lane', { lane, error: String(err) });
      }
    }
    pair.link.sendControl({ kind: 'media', sending });
  }

  /** The peer says which lanes it sends; only lanes it may send on are surfaced. */
  remoteSending(pair: Pair, lanes: MediaLane[]): void {
    const subject = this.subjectOf(pair.peerId);
    const allowed = subject ? lanes.filter((lane) => this.router.mayAct(subject, `media:${lane}`)) : [];
    const before = new Set(pair.sending);
    pair.sending = allowed;
    for (const lane of allowed) {
      const track = pair.tracks.get(lane);
      if (!before.has(lane) && track) this.emit({ peerId: pair.peerId, lane, track });
    }
    for (const lane of before) if (!allowed.includes(lane)) this.emit({ peerId: pair.peerId, lane, track: null });
  }

  remoteTrack(pair: Pair, lane: MediaLane, track: MediaTrackLike): void {
    if (pair.admitted && pair.sending.includes(lane)) this.emit({ peerId: pair.peerId, lane, track });
  }

  pairGone(pair: Pair): void {
    for (const lane of pair.sending) this.emit({ peerId: pair.peerId, lane, track: null });
  }

  remoteTracks(pairs: Pair[]): MediaEvent[] {
    const out: MediaEvent[] = [];
    for (const pair of pairs) {
      if (!pair.admitted) continue;
      for (const lane of pair.sending) {
        const track = pair.tracks.get(lane);
        if (track) out.push({ peerId: pair.peerId, lane, track });
      }
    }
    return out;
  }

  stopAll(): void {
    for (const track of this.local.values()) this.platform.media?.stop(track);
    this.local.clear();
  }

  private emit(event: MediaEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.platform.log.warn('media listener failed', { error: String(err) });
      }
    }
  }
}

function describeMediaError(err: unknown): string {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'NotAllowedError') return 'permission was denied. Open the stage and choose "Allow camera and microphone".';
  if (name === 'NotFoundError') return 'no such device was found.';
  if (name === 'NotReadableError') return 'the device is in use by another program.';
  return err instanceof Error ? err.message : String(err);
}
