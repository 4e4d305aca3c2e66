/**
 * The join screen's input, in one of two forms:
 * - `join.html?via=<invite page address>#v=1&r=…`: the invite redirect rule took the click over
 *   (invite-rules.ts); the browser carried the fragment across the redirect.
 * - `join.html#invite=<the invite link, URI-encoded>`: a broker's invite page handed it over.
 * Untrusted (any invite-page origin can navigate here, and a person can type it): bounded,
 * decoded once, and parsed by the one link parser. Pure module.
 */
import { parseLink, type RoomLink } from '../engine/link';
import { MAX_LINK_LENGTH } from './messages';

export type JoinScreenInput =
  | { ok: true; linkText: string; link: RoomLink; brokerHost: string | null }
  | { ok: false; error: string };

const NO_INVITE = 'This page opens from a Kibitz invite link. Open the link you were sent, or paste it under “Room link” in the Kibitz popup.';

/** Reads the invite from the join screen's own location (`search` and `hash`). */
export function readJoinScreenLocation(search: unknown, hash: unknown): JoinScreenInput {
  if (typeof search === 'string' && search.startsWith('?via=')) {
    if (search.length > MAX_LINK_LENGTH || typeof hash !== 'string' || !hash.startsWith('#v=')) return { ok: false, error: NO_INVITE };
    const via = new URLSearchParams(search).get('via') ?? '';
    // Only an invite page's own address: anything with a fragment or a query of its own is not one.
    if (via.length === 0 || /[#?]/.test(via)) return { ok: false, error: NO_INVITE };
    return fromLinkText(`${via}${hash}`);
  }
  return readJoinScreenHash(hash);
}

/** Reads `#invite=…` from the join screen's own location hash. */
export function readJoinScreenHash(hash: unknown): JoinScreenInput {
  if (typeof hash !== 'string' || !hash.startsWith('#invite=')) return { ok: false, error: NO_INVITE };
  const encoded = hash.slice('#invite='.length);
  // Encoding at most triples a character; anything longer cannot hold a link we accept.
  if (encoded.length === 0 || encoded.length > MAX_LINK_LENGTH * 3) return { ok: false, error: NO_INVITE };
  let linkText: string;
  try {
    linkText = decodeURIComponent(encoded);
  } catch {
    return { ok: false, error: 'This invite link is damaged. Ask for a fresh one.' };
  }
  return fromLinkText(linkText);
}

function fromLinkText(linkText: string): JoinScreenInput {
  if (linkText.length > MAX_LINK_LENGTH) return { ok: false, error: 'This invite link is too long to be a Kibitz link.' };
  const parsed = parseLink(linkText);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  let brokerHost: string | null = null;
  if (parsed.link.broker) brokerHost = new URL(parsed.link.broker).host;
  return { ok: true, linkText: linkText.trim(), link: parsed.link, brokerHost };
}
