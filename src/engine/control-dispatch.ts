/**
 * Where each validated control message goes: the pipeline (hello, welcome, roster, safety
 * code), presence (a confirmed roster), media, or a counted drop. A control message from a
 * peer that is not admitted reaches only the stages meant for it.
 */
import type { CallMedia } from './call-media';
import type { Pair } from './pair';
import type { PairPipeline } from './pipeline';
import type { PresenceDriver } from './presence-driver';
import type { ControlMessage } from './wire';

export interface ControlHost {
  readonly pipeline: PairPipeline;
  readonly presence: PresenceDriver;
  readonly media: CallMedia;
  dropped(channel: 'control', reason: string): void;
  finish(phase: 'failed', reason: string): void;
  emit(): void;
}

export function dispatchControl(host: ControlHost, pair: Pair, msg: ControlMessage): void {
  const { pipeline, presence } = host;
  switch (msg.kind) {
    case 'hello':
      return void pipeline.hello(pair, msg);
    case 'welcome':
      return pipeline.welcome(pair, msg);
    case 'refused':
      // The reason is the coordinator's own words: quote it as theirs, never as ours.
      if (presence.isJoiningVia(pair.peerId)) return host.finish('failed', refusedText(msg.reason));
      return host.dropped('control', 'unexpected-refused');
    case 'roster':
      if (!pair.admitted || msg.coordinator !== pair.peerId) return host.dropped('control', 'roster-not-from-coordinator');
      if (!pipeline.rosterConfirms(pair, msg.members)) return;
      return presence.event({ type: 'roster', from: pair.peerId, epoch: msg.epoch }, msg.members);
    case 'bye':
      return pair.link.close('left');
    case 'sas-commit':
    case 'sas-reveal':
      return pipeline.sasStep(pair, pair.sas.receive(msg));
    case 'media':
      if (!pair.admitted) return host.dropped('control', 'not-admitted');
      host.media.remoteSending(pair, msg.sending);
      return host.emit();
    case 'ping':
    case 'pong':
      return; // answered by the link itself (peer-link.ts) and never passed on
    default:
      return assertNoOtherKind(host, msg);
  }
}

/** A compile-time check that every kind is routed; at run time an unknown kind is a drop. */
function assertNoOtherKind(host: ControlHost, _msg: never): void {
  host.dropped('control', 'unexpected-kind');
}

/** What a refused joiner is told: whose words the reason is, and what to do next. */
export function refusedText(reason: string): string {
  return `The call did not let you in. Its coordinator said: “${reason}”. Ask the host to let you in, or check the link.`;
}
