/**
 * Verification pins. "Mark verified" pins a peer's certificate fingerprint under its identity;
 * a later call that shows a different certificate under the same identity raises a key-change
 * alarm. Until cert-bound identity (email) exists, the identity is the display name, which is
 * weak: anyone can pick a name, so a pin only says "this name had this key when I checked".
 */
import type { KeyValueStore } from './platform';
import type { TrustState } from './session-api';

const PINS_KEY = 'pins/v1';
const MAX_PINS = 1000;

export class TrustStore {
  private pins: Record<string, string> = {};
  private loaded = false;

  constructor(private readonly storage: KeyValueStore) {}

  async load(): Promise<void> {
    if (this.loaded) return;
    try {
      const stored = await this.storage.get<Record<string, string>>(PINS_KEY);
      if (stored && typeof stored === 'object') {
        for (const [k, v] of Object.entries(stored)) if (typeof v === 'string') this.pins[k] = v;
      }
    } catch {
      // Unreadable pins: start empty rather than trust anything by mistake.
    }
    this.loaded = true;
  }

  stateOf(name: string, fingerprint: string): TrustState {
    const pinned = this.pins[identityKey(name)];
    if (pinned === undefined) return 'unverified';
    return pinned === fingerprint ? 'verified' : 'key-changed';
  }

  async pin(name: string, fingerprint: string): Promise<void> {
    const key = identityKey(name);
    delete this.pins[key];
    this.pins[key] = fingerprint;
    const keys = Object.keys(this.pins);
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_PINS))) delete this.pins[old];
    await this.storage.set(PINS_KEY, { ...this.pins });
  }
}

function identityKey(name: string): string {
  return `name:${name.normalize('NFC').toLowerCase()}`;
}
