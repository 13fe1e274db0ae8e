import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real 3-master Redis Cluster from `redis-server` on loopback ports, for the cluster test. */
export class RedisCluster {
  private readonly procs: ChildProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));

  constructor(readonly basePort: number) {}

  get ports(): number[] {
    return [0, 1, 2].map((i) => this.basePort + i);
  }

  get nodes(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  async start(): Promise<void> {
    for (const port of this.ports) {
      const dir = join(this.dir, String(port));
      execFileSync('mkdir', ['-p', dir]);
      this.procs.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    await this.until(() => this.ports.every((p) => this.cli(p, 'PING') === 'PONG'));
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...this.nodes.split(','), '--cluster-replicas', '0', '--cluster-yes'],
      {
        stdio: 'ignore',
      },
    );
    await this.until(() =>
      this.ports.every((p) => this.cli(p, 'CLUSTER', 'INFO').includes('cluster_state:ok')),
    );
  }

  stop(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private cli(port: number, ...args: string[]): string {
    try {
      return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  }

  private async until(ok: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error('redis cluster did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
