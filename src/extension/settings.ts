/**
 * Settings the popup keeps in `storage.local`, and the build-time default broker URL.
 * Pure module (no extension APIs): pages pass their storage in.
 */

import { checkBrokerUrl } from './messages';

/** Fallback when the build did not set WXT_KIBITZ_BROKER_URL (wxt.config.ts sets it). */
export const FALLBACK_BROKER_URL = 'ws://127.0.0.1:8787';

export const STORAGE_KEYS = {
  brokerUrl: 'kibitz.brokerUrl',
  name: 'kibitz.name',
  notifyPresence: 'kibitz.notifyPresence',
} as const;

/** The broker URL baked in at build time (`WXT_KIBITZ_BROKER_URL`), validated. */
export function defaultBrokerUrl(): string {
  let configured: unknown;
  try {
    configured = import.meta.env?.WXT_KIBITZ_BROKER_URL;
  } catch {
    configured = undefined;
  }
  const check = checkBrokerUrl(configured);
  return check.ok && check.value ? check.value : FALLBACK_BROKER_URL;
}

export interface StoredSettings {
  brokerUrl: string | null;
  name: string;
  /** "Notify me when people join or leave": a notification and a sound. On unless turned off. */
  notifyPresence: boolean;
}

/** Reads stored settings defensively: anything malformed is ignored. */
export function readSettings(raw: Record<string, unknown> | null | undefined): StoredSettings {
  const brokerRaw = raw?.[STORAGE_KEYS.brokerUrl];
  const nameRaw = raw?.[STORAGE_KEYS.name];
  const broker = checkBrokerUrl(brokerRaw);
  return {
    brokerUrl: broker.ok && broker.value ? broker.value : null,
    name: typeof nameRaw === 'string' ? nameRaw.slice(0, 64) : '',
    // Only an explicit `false` turns it off; missing or malformed is the default (on).
    notifyPresence: raw?.[STORAGE_KEYS.notifyPresence] !== false,
  };
}
