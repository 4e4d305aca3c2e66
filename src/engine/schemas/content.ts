/**
 * The content channel: chat now; ink, page snapshots and chunked transfers join as new members
 * of `CONTENT_SCHEMAS` (one strict object each, discriminated by `kind`). The content router's
 * exhaustive kind -> capability table then fails to compile until the new kind has a row.
 */
import * as v from 'valibot';
import { MAX_CHAT_LENGTH } from '../session-api';
import { b64url, text, wireTime } from './common';

/** Chat ids are base64url of 12 random bytes. */
export const CHAT_ID_LENGTH = 16;

export const ChatSchema = v.strictObject({
  kind: v.literal('chat'),
  id: b64url(CHAT_ID_LENGTH),
  text: text(1, MAX_CHAT_LENGTH),
  at: wireTime,
});
export type ChatMessage = v.InferOutput<typeof ChatSchema>;

/** Add a content kind here (and to CONTENT_KINDS); nothing else in this file changes. */
const CONTENT_SCHEMAS = [ChatSchema] as const;

export const ContentSchema = v.variant('kind', CONTENT_SCHEMAS);
export type ContentMessage = v.InferOutput<typeof ContentSchema>;
export type ContentKind = ContentMessage['kind'];

export const CONTENT_KINDS = ['chat'] as const satisfies readonly ContentKind[];

// Compile-time: CONTENT_KINDS lists exactly the kinds of the union, no more, no fewer.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const contentKindsComplete: Exact<(typeof CONTENT_KINDS)[number], ContentKind> = true;
void contentKindsComplete;
