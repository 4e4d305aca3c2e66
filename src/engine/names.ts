/**
 * Display names: the one place that decides whether a name may be shown to other people.
 */
import { MAX_NAME_LENGTH } from './session-api';

/** C0/C1 controls, line separators and the bidi overrides/isolates that can disguise a name. */
// eslint-disable-next-line no-control-regex
const NAME_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

export function hasForbiddenNameCharacters(name: string): boolean {
  return NAME_FORBIDDEN.test(name);
}

/** Display names: NFC, trimmed, no control characters, bounded. */
export function cleanName(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const trimmed = v.normalize('NFC').trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH) return null;
  if (hasForbiddenNameCharacters(trimmed)) return null;
  return trimmed;
}
