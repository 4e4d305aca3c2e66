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
  /** `cb` runs after every change; returns an unsubscribe function. */
  subscribe(cb: () => void): () => void;
}

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

/** The registry the offscreen document publishes. */
export class MediaRegistry implements KibitzMediaGlobal {
  readonly version = 1 as const;
  private entries = new Map<string, MediaEntry>();
  private subscribers = new Set<() => void>();

  list(): MediaEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
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
