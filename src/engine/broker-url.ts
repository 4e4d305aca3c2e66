/**
 * The one check of a broker address, used by the engine before it connects and by the popup
 * and settings before they save, with reasons a person can act on.
 */

export const MAX_BROKER_URL_LENGTH = 2048;

export interface BrokerUrlCheck {
  ok: boolean;
  /** The URL when ok, in the person's own spelling (WebSocket normalises it the same way). */
  value?: string;
  /** Why it was refused, when not ok. */
  reason?: string;
  /** A caution about an acceptable URL (plain ws:// to a non-local host). */
  warning?: string;
}

const EXAMPLE = 'Enter the broker address, for example wss://broker.example.org.';

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** ws:// or wss:// with a host, without credentials (they would be sent to the broker) or a fragment. */
export function checkBrokerUrl(v: unknown): BrokerUrlCheck {
  if (typeof v !== 'string') return { ok: false, reason: EXAMPLE };
  const raw = v.trim();
  if (raw.length === 0) return { ok: false, reason: EXAMPLE };
  if (raw.length > MAX_BROKER_URL_LENGTH) return { ok: false, reason: 'That address is too long.' };
  if (/\s/.test(raw)) return { ok: false, reason: 'The broker address must not contain spaces.' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'That is not a valid address. It should look like wss://broker.example.org.' };
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return { ok: false, reason: 'The broker address must start with ws:// or wss://.' };
  if (!url.hostname) return { ok: false, reason: 'The broker address needs a host name.' };
  if (url.username || url.password) return { ok: false, reason: 'Do not put a user name or password in the broker address.' };
  if (url.hash) return { ok: false, reason: 'The broker address must not contain “#”.' };
  if (url.protocol === 'ws:' && !isLoopbackHost(url.hostname)) {
    return {
      ok: true,
      value: raw,
      warning: 'ws:// is unencrypted: the call stays end-to-end encrypted, but connection metadata is visible on the network. Prefer wss://.',
    };
  }
  return { ok: true, value: raw };
}
