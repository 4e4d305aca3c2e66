/**
 * Sealed signaling plaintext between two peers: one description or one candidate, stamped
 * with the link it belongs to and a per-link sequence number. Discriminated by `k`.
 */
import * as v from 'valibot';
import {
  MAX_CANDIDATE_LENGTH,
  MAX_SDP_MID_LENGTH,
  MAX_SDP_MLINE_INDEX,
  MAX_SIGNAL_BYTES,
  MAX_SIGNAL_SEQ,
  b64url,
  boundedInt,
  text,
} from './common';

/** Link ids are base64url of 16 random bytes. */
export const LINK_ID_LENGTH = 22;

const link = b64url(LINK_ID_LENGTH);
const seq = boundedInt(MAX_SIGNAL_SEQ);

export const DescSignalSchema = v.strictObject({
  k: v.literal('desc'),
  link,
  seq,
  desc: v.strictObject({
    type: v.picklist(['offer', 'answer']),
    sdp: v.pipe(text(10, MAX_SIGNAL_BYTES), v.startsWith('v=0')),
  }),
});

export const CandSignalSchema = v.strictObject({
  k: v.literal('cand'),
  link,
  seq,
  cand: v.nullable(
    v.strictObject({
      candidate: text(0, MAX_CANDIDATE_LENGTH),
      sdpMid: v.nullable(text(0, MAX_SDP_MID_LENGTH)),
      sdpMLineIndex: v.nullable(boundedInt(MAX_SDP_MLINE_INDEX)),
    }),
  ),
});

export const SignalSchema = v.variant('k', [DescSignalSchema, CandSignalSchema]);
export type SignalMessage = v.InferOutput<typeof SignalSchema>;

export const SIGNAL_KINDS = ['desc', 'cand'] as const satisfies readonly SignalMessage['k'][];
