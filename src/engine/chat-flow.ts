/**
 * Chat both ways. Out: one message to every roster member through the content router, and the
 * members it could not reach are named, never skipped. In: an admitted sender, the router's
 * verdict (capability and rate), then the chat store; every refusal has a reason.
 */
import type { ChatStore } from './chat-store';
import type { ContentRouter } from './content-router';
import { toBase64Url } from './encoding';
import type { Mesh } from './mesh';
import type { Pair } from './pair';
import type { Clock } from './platform';
import type { Roster } from './roster';
import { MAX_CHAT_LENGTH } from './session-api';
import type { ContentMessage } from './wire';

export interface ChatFlowOptions {
  roster: Roster;
  router: ContentRouter;
  chat: ChatStore;
  clock: Clock;
  randomBytes: (n: number) => Uint8Array;
}

export type ChatReceipt = { ok: true } | { ok: false; reason: string };

export class ChatFlow {
  constructor(private readonly opts: ChatFlowOptions) {}

  /** Sends `text` as `self`; returns the names of members it could not be delivered to. Throws on invalid text. */
  send(self: { peerId: string; name: string }, mesh: Mesh, text: string): string[] {
    const { roster, router, chat, clock, randomBytes } = this.opts;
    if (typeof text !== 'string') throw new Error('Message must be text.');
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new Error('Message is empty.');
    if (trimmed.length > MAX_CHAT_LENGTH) throw new Error(`Message is longer than ${MAX_CHAT_LENGTH} characters.`);
    const msg: ContentMessage = { kind: 'chat', id: toBase64Url(randomBytes(12)), text: trimmed, at: clock.now() };
    const undelivered: string[] = [];
    for (const entry of roster.values()) {
      const subject = entry.peerId === self.peerId ? null : roster.subjectOf(entry.peerId);
      if (!subject) continue;
      const pair = mesh.get(entry.peerId);
      const sent = pair?.admitted ? router.deliver(subject, pair.link, msg) : 'unsent';
      if (sent === 'unsent') undelivered.push(entry.name);
    }
    chat.add({ ...msg, fromPeerId: self.peerId, fromName: self.name, self: true, undeliveredTo: undelivered });
    return undelivered;
  }

  receive(pair: Pair, msg: ContentMessage): ChatReceipt {
    const { roster, router, chat } = this.opts;
    const subject = roster.subjectOf(pair.peerId);
    if (!pair.admitted || !subject) return { ok: false, reason: 'not-admitted' };
    const verdict = router.inbound(subject, msg);
    if (!verdict.accept) return { ok: false, reason: verdict.reason };
    const added = chat.add({ ...msg, fromPeerId: pair.peerId, fromName: roster.get(pair.peerId)!.name, self: false });
    return added.ok ? { ok: true } : { ok: false, reason: added.reason };
  }
}
