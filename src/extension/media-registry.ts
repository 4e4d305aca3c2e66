/**
 * The offscreen document's live MediaStreams, published on its window as
 * `globalThis.__kibitzMedia` so extension pages (the stage) can take them through
 * `browser.extension.getViews()` and play them without re-encoding. Only documents of this
 * extension can reach that window; call media never enters a web page (DESIGN.md rule 6).
 *
 * Streams belong to the offscreen document's realm: a consumer must not rely on
 * `instanceof MediaStream` and must unsubscribe when it goes away.
 */
import type { MediaLane } from '../engine/session-api';

export const MEDIA_GLOBAL = '__kibitzMedia';

export interface MediaEntry {
  peerId: string;
  lane: MediaLane;
  stream: MediaStream;
  /** Our own local track (camera preview), not a remote one. */
  self: boolean;
}

export interface KibitzMediaGlobal {
  readonly version: 1;
  list(): MediaEntry[];
  /** `cb` runs after every change (streams, and who is speaking); returns an unsubscribe function. */
  subscribe(cb: () => void): () => void;
  /**
   * Peer ids of the people speaking now (your own peer id too), loudest first. Added within
   * version 1, so an older offscreen document may lack it: read it through `speakingOf`.
   */
  speaking?(): string[];
}

/** At most this many speaking ids are read, each at most this long. */
const MAX_SPEAKING = 64;
const MAX_PEER_ID_LENGTH = 128;

export function entryKey(e: Pick<MediaEntry, 'peerId' | 'lane' | 'self'>): string {
  return `${e.self ? 'self' : 'peer'}|${e.peerId}|${e.lane}`;
}

/** Reads the media global from another extension window, defensively. */
export function mediaGlobalOf(win: unknown): KibitzMediaGlobal | null {
  try {
    const g = (win as Record<string, unknown> | null)?.[MEDIA_GLOBAL] as Partial<KibitzMediaGlobal> | undefined;
    if (g && g.version === 1 && typeof g.list === 'function' && typeof g.subscribe === 'function') {
      return g as KibitzMediaGlobal;
    }
  } catch {
    /* a window that is closing */
  }
  return null;
}

/**
 * Who is speaking according to `g`, defensively: [] when `g` is gone, has no `speaking`
 * (an older build), throws, or returns anything but strings; bounded in count and length.
 */
export function speakingOf(g: KibitzMediaGlobal | null | undefined): string[] {
  try {
    if (!g || typeof g.speaking !== 'function') return [];
    const raw: unknown = g.speaking();
    if (!Array.isArray(raw)) return [];
    const out: string[] = [];
    for (const id of raw.slice(0, MAX_SPEAKING)) {
      if (typeof id === 'string' && id.length > 0 && id.length <= MAX_PEER_ID_LENGTH && !out.includes(id)) out.push(id);
    }
    return out;
  } catch {
    return []; // a window that is closing
  }
}

/** The registry the offscreen document publishes. */
export class MediaRegistry implements KibitzMediaGlobal {
  readonly version = 1 as const;
  private entries = new Map<string, MediaEntry>();
  private subscribers = new Set<() => void>();
  private speakingNow: string[] = [];

  list(): MediaEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  speaking(): string[] {
    return [...this.speakingNow];
  }

  /** Sets who is speaking (loudest first); subscribers hear of it only when the set changed. */
  setSpeaking(ids: readonly string[]): void {
    const next = [...new Set(ids)];
    const same = next.length === this.speakingNow.length && next.every((id) => this.speakingNow.includes(id));
    this.speakingNow = next;
    if (!same) this.notify();
  }

  subscribe(cb: () => void): () => void {
    if (typeof cb !== 'function') return () => undefined;
    this.subscribers.add(cb);
    return () => {
      this.subscribers.delete(cb);
    };
  }

  get(key: string): MediaEntry | undefined {
    return this.entries.get(key);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  set(entry: MediaEntry): void {
    this.entries.set(entryKey(entry), entry);
    this.notify();
  }

  delete(key: string): boolean {
    const had = this.entries.delete(key);
    if (had) this.notify();
    return had;
  }

  private notify(): void {
    for (const cb of [...this.subscribers]) {
      try {
        cb();
      } catch {
        // The subscriber's page is gone (or broken): forget it.
        this.subscribers.delete(cb);
      }
    }
  }
}
