/**
 * Kibitz's extension identity, shared by the build (the manifest's `key`) and the broker (whose
 * invite page opens the extension's join screen at `chrome-extension://<id>/join.html`).
 *
 * The `key` is the public half of the extension's signing key: with it in the manifest, every
 * build and every unpacked install has the same id, so an invite page on any broker can find
 * the extension. A store build that gets another id runs its broker with `--extension-id`.
 */

/** base64 SubjectPublicKeyInfo (RSA 2048), as Chromium expects in `manifest.key`. */
export const EXTENSION_PUBLIC_KEY =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtFsGIUDYz+BaUtbNMh5td/yS9Y4ODjLGmVIcttYVazVn0ZSjoe1NP/iUAhLAeke+/qwmWRwRZrf1Vkb4XLJtycq6Gnmjxb7UKhQWzqNIPDAHcQT1yfSnV1twrfkK0ZEO2MnWRIS/f+22yJySFZXCZO0/lF85LQIMbC1l3hRw2Ca4UxOntRC71/bqSaMKf59RD0roL+L/NZ39LTcZC352L/HrpvFcPbCNdM/GAtYc8RGiQWNX/oSRLOGpFillkhVWg7Bs0ETJlyINafvwUaJrTiJ7HFtLK9DHVePgNlYiFpvwd27g6rTZIty7mR6E2oKvXQvm1G7lzz9rYrAqVj1/awIDAQAB';

/** Chromium's id for that key: SHA-256 of the key's DER, first 32 nibbles as a–p (a unit test recomputes it). */
export const EXTENSION_ID = 'gmmmnpaglppabdkbngkfghkhpceobelf';

/** The extension page an invite opens, and the image the invite page loads to see whether Kibitz is installed. */
export const JOIN_PAGE_PATH = '/join.html';
export const INSTALL_PROBE_PATH = '/invite-probe.png';

const EXTENSION_ID_RE = /^[a-p]{32}$/;

export function isExtensionId(v: unknown): v is string {
  return typeof v === 'string' && EXTENSION_ID_RE.test(v);
}

/**
 * Hosts of brokers on this machine, any port: their invite pages may open the join screen (web-
 * accessible resources), and Kibitz has host access to them for the invite redirect. The manifest
 * and the redirect rule both come from this one list, so the two cannot drift apart.
 */
export const LOOPBACK_INVITE_HOSTS = ['127.0.0.1', 'localhost', '[::1]'] as const;
