import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_HOST, DEFAULT_PORT, parseArgs } from '../../src/broker/cli';
import { EXTENSION_ID } from '../../src/invite/extension-identity';
import { RawClient, waitFor } from './broker-helpers';

describe('broker cli: flags', () => {
  const ok = (argv: string[]) => {
    const r = parseArgs(argv);
    if (!r.ok) throw new Error(r.error);
    return r;
  };

  it('defaults to 127.0.0.1:8787', () => {
    expect(ok([]).options).toEqual({ port: DEFAULT_PORT, host: DEFAULT_HOST, extensionId: EXTENSION_ID });
    expect(DEFAULT_PORT).toBe(8787);
    expect(DEFAULT_HOST).toBe('127.0.0.1');
  });

  it('accepts --port N, --port=N, --host H, --host=H', () => {
    expect(ok(['--port', '9000']).options.port).toBe(9000);
    expect(ok(['--port=0']).options.port).toBe(0);
    expect(ok(['--host', '0.0.0.0', '--port', '1']).options).toEqual({ host: '0.0.0.0', port: 1, extensionId: EXTENSION_ID });
    expect(ok(['--host=::1']).options.host).toBe('::1');
    expect(ok(['--help']).help).toBe(true);
  });

  const bad: [string[], RegExp][] = [
    [['--port'], /needs a value/],
    [['--port', '--host'], /needs a value/],
    [['--port', 'abc'], /--port must be an integer/],
    [['--port=65536'], /--port must be an integer/],
    [['--port=-1'], /--port must be an integer/],
    [['--port=1e3'], /--port must be an integer/],
    [['--port='], /--port must be an integer/],
    [['--host', 'a b'], /--host must be/],
    [['--host=http://x'], /--host must be/],
    [['--port', '1', '--port', '2'], /more than once/],
    [['--verbose'], /unknown argument/],
    [['8787'], /unknown argument/],
  ];
  for (const [argv, re] of bad) {
    it(`rejects ${JSON.stringify(argv)}`, () => {
      const r = parseArgs(argv);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(re);
    });
  }
});

describe('broker cli: process', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  function run(args: string[]) {
    const child = spawn(join(process.cwd(), 'node_modules/.bin/tsx'), ['src/broker/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const out = { stdout: '', stderr: '', code: null as number | null };
    child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r((out.code = code))));
    return { child, out, exited };
  }

  it('prints its URL, serves, and shuts down cleanly on SIGTERM', async () => {
    const { child, out, exited } = run(['--port=0', '--host', '127.0.0.1']);
    await waitFor(() => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(out.stdout), 'listening line', 20_000);
    const url = /(ws:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)![1]!;
    const health = await fetch(`${url.replace('ws:', 'http:')}/healthz`);
    expect(await health.json()).toEqual({ ok: true, connections: 0, rooms: 0 });
    const c = await RawClient.registered(url);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await c.closed).toBe(1001);
    expect(out.stderr).toContain('shutting down');
  }, 30_000);

  it('exits 2 with usage on a bad flag', async () => {
    const { out, exited } = run(['--port', 'nope']);
    expect(await exited).toBe(2);
    expect(out.stderr).toMatch(/--port must be an integer/);
    expect(out.stderr).toMatch(/usage: npm run broker/);
  }, 30_000);
});
