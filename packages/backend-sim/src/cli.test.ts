import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCliArgs } from './cli.js';
import { HELLO, postJson } from './test-helpers.js';

describe('parseCliArgs', () => {
  it('maps flags to options', () => {
    expect(
      parseCliArgs([
        '--kind',
        'ollama',
        '--port',
        '9',
        '--ttft-ms',
        '5',
        '--error-rate',
        '0.1',
        '--model',
        'a',
        '--model',
        'b',
      ]),
    ).toEqual({ kind: 'ollama', port: 9, ttftMs: 5, models: ['a', 'b'], faults: { errorRate: 0.1 } });
    expect(() => parseCliArgs(['--kind', 'x'])).toThrow(/--kind/);
    expect(() => parseCliArgs(['--kind', 'vllm', '--capacity', 'many'])).toThrow(/--capacity/);
  });
});

describe('CLI process', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('prints one ready line, serves, and exits 0 on SIGTERM', async () => {
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@gateway/source',
        join(import.meta.dirname, 'cli.ts'),
        '--kind',
        'vllm',
        '--port',
        '0',
        '--reply-tokens',
        '3',
      ],
      // cwd: this package, so `tsx` resolves from the clone under test wherever it lives.
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const proc = child;
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`cli exited ${code}`)));
    });
    const ready = JSON.parse(line) as { msg: string; kind: string; url: string };
    expect(ready).toMatchObject({ msg: 'backend-sim listening', kind: 'vllm' });
    const r = (await (await postJson(`${ready.url}/v1/chat/completions`, { messages: HELLO })).json()) as {
      usage: { completion_tokens: number };
    };
    expect(r.usage.completion_tokens).toBe(4);
    const stats = (await (await fetch(`${ready.url}/sim/stats`)).json()) as { completed: number };
    expect(stats.completed).toBe(1);
    const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
