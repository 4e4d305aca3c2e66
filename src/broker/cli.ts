/**
 * `npm run broker -- [--port 8787] [--host 127.0.0.1]`
 *
 * Runs the signaling broker in the foreground. Logs are metadata-only JSON lines on stderr;
 * the listening URL goes to stdout so scripts can read it.
 */

import { pathToFileURL } from 'node:url';
import type { Logger } from '../engine/platform';
import { EXTENSION_ID, isExtensionId } from '../invite/extension-identity';
import { startBroker, type RunningBroker } from './server';

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';

export const USAGE = `usage: npm run broker -- [--port N] [--host ADDR] [--extension-id ID]

  --port N            TCP port, 0..65535 (0 picks a free port). Default ${DEFAULT_PORT}.
  --host ADDR         interface to bind. Default ${DEFAULT_HOST}.
  --extension-id ID   the Kibitz extension its invite page (/join) opens. Default ${EXTENSION_ID}.
  --help              show this help.`;

export interface CliOptions {
  port: number;
  host: string;
  extensionId: string;
}

export type ParsedArgs = { ok: true; help: boolean; options: CliOptions } | { ok: false; error: string };

/** Parses `--port N`, `--port=N`, `--host H`, `--host=H`, `--help`. Strict: anything else is an error. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options: CliOptions = { port: DEFAULT_PORT, host: DEFAULT_HOST, extensionId: EXTENSION_ID };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { ok: true, help: true, options };
    const m = /^--(port|host|extension-id)(?:=(.*))?$/s.exec(arg);
    if (!m) return { ok: false, error: `unknown argument: ${arg}` };
    const name = m[1] as 'port' | 'host' | 'extension-id';
    if (seen.has(name)) return { ok: false, error: `--${name} given more than once` };
    seen.add(name);
    let value = m[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) return { ok: false, error: `--${name} needs a value` };
    }
    if (name === 'port') {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) return { ok: false, error: `--port must be an integer in 0..65535, got "${value}"` };
      options.port = Number(value);
    } else if (name === 'extension-id') {
      if (!isExtensionId(value)) return { ok: false, error: `--extension-id must be 32 letters a-p, got "${value}"` };
      options.extensionId = value;
    } else {
      // Hostnames and IPv4/IPv6 literals only; no whitespace, no URL syntax.
      if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) return { ok: false, error: `--host must be a hostname or IP address, got "${value}"` };
      options.host = value;
    }
  }
  return { ok: true, help: false, options };
}

const stderrLog: Logger = {
  info: (msg, meta) => process.stderr.write(`${JSON.stringify({ level: 'info', msg, ...meta })}\n`),
  warn: (msg, meta) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...meta })}\n`),
};

/** Returns the process exit code once the broker has stopped (or failed to start). */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`error: ${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let broker: RunningBroker;
  try {
    broker = await startBroker({ ...parsed.options, log: stderrLog });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`error: cannot listen on ${parsed.options.host}:${parsed.options.port}${code ? ` (${code})` : ''}\n`);
    return 1;
  }
  process.stdout.write(`Kibitz broker listening on ${broker.url} (invites: ${broker.httpUrl}/join, health: ${broker.httpUrl}/healthz)\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // Second signal: the operator wants out now.
        process.stderr.write(`received ${signal} again, exiting immediately\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`received ${signal}, shutting down\n`);
      broker.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
