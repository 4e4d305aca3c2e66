/**
 * The rule that takes an invite click over before the invite page loads. A broker's `/join`
 * page could read the room from its own fragment (a hostile broker would), so when Kibitz is
 * installed the browser never fetches it: a declarativeNetRequest redirect sends the tab to the
 * join screen, with the invite page's address in the query and the fragment kept as the join
 * screen's own (Chromium matches rules against the URL with its fragment, which stays in the
 * browser). Only invite origins Kibitz has host access to (loopback brokers, the built-in one)
 * are covered; any other broker's page loads and hands over as before. Pure module.
 */
import { INVITE_PAGE, inviteBaseFor } from '../engine/link';
import { LOOPBACK_INVITE_HOSTS } from '../invite/extension-identity';

export const INVITE_RULE_ID = 1;

/** The DNR rule shape this module builds (a subset of chrome.declarativeNetRequest.Rule). */
export interface InviteRedirectRule {
  id: number;
  priority: number;
  action: { type: 'redirect'; redirect: { regexSubstitution: string } };
  condition: { regexFilter: string; resourceTypes: ['main_frame']; isUrlFilterCaseSensitive: true };
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Matches an invite page's address (group 1) and its fragment, if any (group 2); no query. */
export function inviteUrlRegex(builtInBrokerUrl: string): string {
  const loopback = `http://(?:${LOOPBACK_INVITE_HOSTS.map(escapeRegex).join('|')})(?::[0-9]{1,5})?/${INVITE_PAGE}`;
  let builtIn: string | null = null;
  try {
    const base = inviteBaseFor(builtInBrokerUrl);
    if (!base.includes('?')) builtIn = escapeRegex(base);
  } catch {
    builtIn = null;
  }
  return `^(${builtIn ? `${loopback}|${builtIn}` : loopback})(#.*)?$`;
}

export function inviteRedirectRule(extensionId: string, builtInBrokerUrl: string): InviteRedirectRule {
  if (!/^[a-p]{32}$/.test(extensionId)) throw new Error('inviteRedirectRule: invalid extension id');
  return {
    id: INVITE_RULE_ID,
    priority: 1,
    action: { type: 'redirect', redirect: { regexSubstitution: `chrome-extension://${extensionId}/join.html?via=\\1\\2` } },
    condition: { regexFilter: inviteUrlRegex(builtInBrokerUrl), resourceTypes: ['main_frame'], isUrlFilterCaseSensitive: true },
  };
}
