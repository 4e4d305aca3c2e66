/**
 * The coordinator's admission decision for one joiner, from its hello on its own link: the
 * call must have room, the Verifier must accept the link's certificate and credential, and the
 * room's gate must admit. Any failure, including a gate that throws, refuses (fail closed).
 */
import type { AdmissionDecision, Gate } from './gate';
import type { Mesh } from './mesh';
import type { Pair } from './pair';
import type { Roster } from './roster';
import type { Verdict, Verifier } from './verifier';
import type { ControlMessage, RosterEntry } from './wire';

export interface AdmissionInput {
  roster: Roster;
  verifier: Verifier;
  gate: Gate;
  roomId: string;
  peerId: string;
  /** Handshaken fingerprint of the joiner's link to us. */
  fingerprint: string;
  hello: Extract<ControlMessage, { kind: 'hello' }>;
}

export type Admission =
  | { admit: true; entry: RosterEntry; verdict: Extract<Verdict, { ok: true }> }
  | { admit: false; reason: string };

const VERDICT_TEXT: Record<Extract<Verdict, { ok: false }>['reason'], string> = {
  'fingerprint-mismatch': 'your connection showed an unexpected certificate',
  'credential-not-expected': 'this room does not take credentials; check the link',
};

export async function decideAdmission(input: AdmissionInput): Promise<Admission> {
  const { roster, verifier, hello } = input;
  if (roster.full) return { admit: false, reason: `this call is full (${roster.capacity} people)` };
  const verdict = verifier.verify({
    peerId: input.peerId,
    fingerprint: input.fingerprint,
    expected: null,
    credential: hello.credential,
    claimedKind: hello.participant,
  });
  if (!verdict.ok) return { admit: false, reason: VERDICT_TEXT[verdict.reason] };
  const decision: AdmissionDecision = await input
    .gate({
      roomId: input.roomId,
      peerId: input.peerId,
      fingerprint: input.fingerprint,
      name: hello.name,
      participant: verdict.identity.kind,
      credential: hello.credential,
    })
    .catch(() => ({ admit: false as const, reason: 'the room could not check your credential' }));
  if (!decision.admit) return decision;
  const entry: RosterEntry = { peerId: input.peerId, name: hello.name, kind: verdict.identity.kind, fingerprint: input.fingerprint };
  const fits = roster.check(entry);
  if (!fits.ok) return { admit: false, reason: fits.reason };
  return { admit: true, entry, verdict };
}

/** Joiners the coordinator holds links for before any is admitted: a bound on what strangers cost. */
export const MAX_UNADMITTED_LINKS = 8;

export interface OfferContext {
  inCall: boolean;
  isCoordinator: boolean;
  rosterHas(peerId: string): boolean;
  mesh: Pick<Mesh, 'all' | 'evictOldestUnhandshaken'> | null;
}

/**
 * Whether a fresh offer from `from` is answered: always from a roster member; at the
 * coordinator also from a joiner (who then faces the gate) while fewer than
 * MAX_UNADMITTED_LINKS are pending. Once full, a slot held by a joiner that has not even
 * finished its handshake is freed, so garbage offers cannot keep honest joiners out.
 */
export function mayAnswerOffer(ctx: OfferContext, from: string): boolean {
  if (!ctx.inCall || !ctx.mesh) return false;
  if (ctx.rosterHas(from)) return true;
  if (!ctx.isCoordinator) return false;
  const pending = (p: Pair) => !p.admitted && !ctx.rosterHas(p.peerId);
  if (ctx.mesh.all().filter(pending).length < MAX_UNADMITTED_LINKS) return true;
  return ctx.mesh.evictOldestUnhandshaken(pending);
}
