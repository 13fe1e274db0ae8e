/**
 * What a chat job costs Redis, beside bare BullMQ doing the same queue work in the same run, on a
 * private redis-server (nothing else counted): commands per job and Redis CPU per job through the user
 * flow (submit, then the events stream to `done`; 24-token replies; TTS off), the one-core ceiling
 * those imply, the cost of one more streamed token at a GPU-like pace, and bytes per waiting job.
 */

import { RedisServer } from '../../test/support/redis-server.js';
import { type Gateway, startGateway } from '../support/gateway.js';
import { pool, submitAndFollow, submitJob } from '../support/http.js';
import { freePort } from '../support/procs.js';
import { bareBullmq, bareBytesPerWaitingJob, type Cost, measure, usedMemory } from '../support/redis-cost.js';
import { target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { startSimProcess } from '../support/sim.js';

const SIM = { ttftMs: 0, tokenDelayMs: 0, replyTokens: 24, capacity: 1000 };

export const scenario: Scenario = {
  name: 'redis',
  title: 'Redis cost per chat job, beside bare BullMQ',
  order: 15,
  async run(ctx) {
    const jobs = ctx.quick ? 50 : 200;
    const waiting = ctx.quick ? 1_000 : 5_000;
    const server = new RedisServer(await freePort(), 'everysec');
    await server.start();
    const sim = await startSimProcess(SIM);
    let gw: Gateway | undefined;
    let gateway: Cost;
    let tokenCost: { commands: number; writes: number; cpuUs: number };
    let bytesPerWaiting: number;
    try {
      gw = await startGateway({ sim, workers: 1, redisUrl: server.url });
      const user = await gw.newUser();
      const api = pool(gw.apiUrl, 1);
      const sse = pool(gw.apiUrl, 1);
      const one = async (i: number) => {
        const r = await submitAndFollow(api, sse, user, `redis cost ${i}`);
        if (r.status !== 'completed') throw new Error(`job ${r.jobId} ended ${r.status}`);
      };
      for (let i = 0; i < 5; i++) await one(i);
      ctx.log(`${jobs} jobs one after another`);
      gateway = await measure(gw.redis, jobs, async () => {
        for (let i = 0; i < jobs; i++) await one(i);
      });
      // One more token at 30 ms a token (each its own flush window): 24-token replies against 4-token ones.
      ctx.log('per token at 30 ms a token');
      await sim.configure({ tokenDelayMs: 30, replyTokens: 4 });
      const few = await measure(gw.redis, 5, async () => {
        for (let i = 0; i < 5; i++) await one(i);
      });
      await sim.configure({ tokenDelayMs: 30, replyTokens: 24 });
      const many = await measure(gw.redis, 5, async () => {
        for (let i = 0; i < 5; i++) await one(i);
      });
      tokenCost = {
        commands: (many.commands - few.commands) / 20,
        // XADDs per job (byCommand sums the 5 jobs), of the worker writing tokens.
        writes: ((many.byCommand.xadd ?? 0) - (few.byCommand.xadd ?? 0)) / 5 / 20,
        cpuUs: (many.cpuUs - few.cpuUs) / 20,
      };
      await sim.configure({ tokenDelayMs: 0, replyTokens: 24 });
      await Promise.all([api.close(), sse.close()]);
      // Waiting jobs: no worker takes them.
      await Promise.all(gw.workers.map((w) => w.stop()));
      gw.workers.length = 0;
      ctx.log(`${waiting} waiting jobs, no worker`);
      const before = await usedMemory(gw.redis);
      const submitPool = pool(gw.apiUrl, 16);
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < waiting) await submitJob(submitPool, user, `waiting ${next++}`);
        }),
      );
      bytesPerWaiting = ((await usedMemory(gw.redis)) - before) / waiting;
      await submitPool.close();
    } finally {
      await gw?.stop();
      await sim.close();
    }
    ctx.log('bare BullMQ');
    const bare = await bareBullmq(server.url, jobs);
    const bareBytes = await bareBytesPerWaitingJob(server.url, waiting);
    await server.stop();
    const ceiling = (us: number) => (us > 0 ? 1e6 / us : null);
    const round1 = (n: number) => Math.round(n * 10) / 10;
    return {
      setup: { sim: SIM, workers: 1, jobs, waiting, redis: 'private redis-server, appendfsync everysec' },
      tables: [
        {
          title: 'Redis cost per chat job (24-token reply, TTS off), beside bare BullMQ',
          columns: ['gateway', 'bare BullMQ'],
          rows: [
            {
              metric: 'commands per job',
              unit: '',
              values: { gateway: gateway.commands, 'bare BullMQ': bare.commands },
            },
            {
              metric: 'Redis CPU per job',
              unit: 'µs',
              values: { gateway: gateway.cpuUs, 'bare BullMQ': bare.cpuUs },
            },
            {
              metric: 'one Redis core carries',
              unit: 'jobs/s',
              values: { gateway: ceiling(gateway.cpuUs), 'bare BullMQ': ceiling(bare.cpuUs) },
            },
            {
              metric: 'Redis memory per waiting job',
              unit: 'bytes',
              values: { gateway: bytesPerWaiting, 'bare BullMQ': bareBytes },
            },
            {
              metric: 'one more streamed token (30 ms a token): writes (XADD)',
              unit: '',
              values: { gateway: tokenCost.writes, 'bare BullMQ': null },
            },
            {
              metric: 'one more streamed token: all commands (with the fan-out XREAD)',
              unit: '',
              values: { gateway: tokenCost.commands, 'bare BullMQ': null },
            },
            {
              metric: 'one more streamed token: Redis CPU',
              unit: 'µs',
              values: { gateway: tokenCost.cpuUs, 'bare BullMQ': null },
            },
          ],
        },
      ],
      // The README's table has one figure per line: each Redis figure names bare BullMQ's beside it.
      targets: [
        target(
          `commands per job (bare BullMQ: ${bare.commands.toFixed(1)})`,
          gateway.commands,
          '<=',
          round1(2 * bare.commands),
          '',
        ),
        target(
          `Redis CPU per job (bare BullMQ: ${bare.cpuUs.toFixed(0)} µs)`,
          gateway.cpuUs,
          '<=',
          Math.round(2 * bare.cpuUs),
          'µs',
        ),
        target(
          `jobs/s one Redis core carries (bare BullMQ: ${(ceiling(bare.cpuUs) ?? 0).toFixed(0)})`,
          ceiling(gateway.cpuUs),
          '>=',
          Math.round((ceiling(bare.cpuUs) ?? 0) / 2),
          'jobs/s',
        ),
        target(
          `bytes per waiting job (bare BullMQ: ${bareBytes.toFixed(0)})`,
          bytesPerWaiting,
          '<=',
          1024,
          'bytes',
        ),
        target('writes per extra streamed token (30 ms a token)', tokenCost.writes, '<=', 1, ''),
        target('commands per extra streamed token, fan-out read included', tokenCost.commands, '<=', 1, ''),
      ],
      notes: [
        `Gateway commands by name over ${jobs} jobs: ${JSON.stringify(gateway.byCommand)}`,
        `Bare BullMQ commands by name over ${jobs} jobs: ${JSON.stringify(bare.byCommand)}`,
        'Counts include the commands inside Lua scripts (INFO commandstats). The test/redis-budget.test.ts checks the same budget in `npm test`.',
      ],
      charts: [],
      data: { gateway, bare, tokenCost, bytesPerWaiting, bareBytes },
    };
  },
};
