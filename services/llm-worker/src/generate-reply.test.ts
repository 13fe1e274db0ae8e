import { type BackendSim, startBackendSim } from '@gateway/backend-sim';
import type { ChatJobData } from '@gateway/contracts';
import { createLlmClient, type LlmClient } from '@gateway/llm-clients';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generate, type ReplyDeps } from './generate-reply.js';

const MODEL = 'm';
const job = (n: number): ChatJobData => ({
  job_id: 'j',
  owner: 'o',
  conversation_id: 'j',
  turn: 0,
  kind: 'openai',
  message: 'hi',
  messages: [{ role: 'user', content: 'hi' }],
  character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
  persona: null,
  scenario: null,
  model: MODEL,
  temperature: 0.7,
  top_p: null,
  max_tokens: 16,
  ...(n > 1 ? { params: { n } } : {}),
  tts: false,
  tts_mode: 'realtime',
  voice_id: null,
  created_at: 0,
});

let sim: BackendSim;
let llm: LlmClient;
beforeAll(async () => {
  sim = await startBackendSim({ kind: 'vllm', models: [MODEL], replyTokens: 6 });
  llm = createLlmClient({ service: 'vllm', baseUrl: sim.url, timeoutMs: 5_000 });
});
afterAll(async () => {
  await llm.close();
  await sim.close();
});
beforeEach(() => {
  sim.configure({ faults: { errorRate: 0 } });
  sim.resetStats();
});

/** Seats that record what the backend had seen when they were taken and given back. */
function recordingSeats() {
  const log: string[] = [];
  const seats: ReplyDeps['seats'] = async (n) => {
    log.push(`take ${n} after ${sim.stats().requests} requests`);
    return async () => {
      log.push(`release after ${sim.stats().completed} replies`);
    };
  };
  return { log, seats };
}

const deps = (seats: ReplyDeps['seats']): ReplyDeps => ({
  llm,
  history: { recentTurns: async () => [] },
  settings: { maxContextTokens: 4096 },
  seats,
});
const noop = async () => {};

describe('generate', () => {
  it('holds n seats of the server around the backend request of n choices', async () => {
    const { log, seats } = recordingSeats();
    const reply = await generate(job(3), deps(seats), new AbortController().signal, () => {}, noop);
    expect(reply.choices).toHaveLength(3);
    expect(log).toEqual(['take 3 after 0 requests', 'release after 1 replies']);
  });

  it('takes no seat for one choice: its queue slot is its seat', async () => {
    const { log, seats } = recordingSeats();
    await generate(job(1), deps(seats), new AbortController().signal, () => {}, noop);
    expect(log).toEqual([]);
  });

  it('gives the seats back when the backend fails', async () => {
    sim.configure({ faults: { errorRate: 1 } });
    const { log, seats } = recordingSeats();
    await expect(
      generate(job(2), deps(seats), new AbortController().signal, () => {}, noop),
    ).rejects.toMatchObject({ name: 'GatewayError' });
    expect(log).toEqual(['take 2 after 0 requests', 'release after 0 replies']);
  });
});
