/**
 * Verification pins. "Mark verified" pins a peer's certificate fingerprint under its identity;
 * a later call that shows a different certificate under the same identity raises a key-change
 * alarm. Until cert-bound identity (email) exists, the identity is the display name, which is
 * weak: anyone can pick a name, so a pin only says "this name had this key when I checked".
 *
 * Pins are filed under the name's skeleton (`nameSkeleton`), not its spelling: a look-alike of
 * a pinned name ("ALICE", "AIice", fullwidth "Ａｌｉｃｅ", Cyrillic "Сосо" for "Coco") showing
 * another certificate is a key change, the alarm, not a fresh "unverified" stranger. Names with
 * invisible or mixed-script characters never get this far: `cleanName` refuses them.
 */
import { nameSkeleton } from './names';
import type { KeyValueStore } from './platform';
import type { TrustState } from './session-api';

/** Stored pins: `{ [identityKey]: fingerprint }`, in pinning order (oldest first). */
const PINS_KEY = 'pins/v1';
const MAX_PINS = 1000;
/** Current key prefix: the name's skeleton. */
const SKELETON_PREFIX = 'skel:';
/** Legacy key prefix (before skeletons): the name, NFC and lowercased. Migrated on load. */
const LEGACY_NAME_PREFIX = 'name:';

export class TrustStore {
  private pins: Record<string, string> = {};
  private loaded = false;

  constructor(private readonly storage: KeyValueStore) {}

  async load(): Promise<void> {
    if (this.loaded) return;
    let migrated = false;
    try {
      const stored = await this.storage.get<Record<string, unknown>>(PINS_KEY);
      if (stored && typeof stored === 'object' && !Array.isArray(stored)) {
        // In stored (pinning) order, so when two legacy pins meet on one skeleton the later
        // pin wins, as it would have had it been pinned under the skeleton.
        for (const [k, v] of Object.entries(stored)) {
          if (typeof v !== 'string') continue;
          let key: string;
          if (k.startsWith(SKELETON_PREFIX)) key = k;
          else if (k.startsWith(LEGACY_NAME_PREFIX)) {
            key = identityKey(k.slice(LEGACY_NAME_PREFIX.length));
            migrated = true;
          } else continue;
          delete this.pins[key];
          this.pins[key] = v;
        }
      }
    } catch {
      // Unreadable pins: start empty rather than trust anything by mistake.
    }
    this.loaded = true;
    if (migrated) {
      try {
        await this.storage.set(PINS_KEY, { ...this.pins });
      } catch {
        // Migration is re-run on the next load; the in-memory pins are already keyed right.
      }
    }
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

/** The key a name's pin is filed under: its skeleton, so look-alikes share one pin. */
export function identityKey(name: string): string {
  return `${SKELETON_PREFIX}${nameSkeleton(name)}`;
}
