import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChatJobAccepted, ChatJobView, TtsChunkInfo } from '@gateway/contracts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SentenceSplitter } from '../services/llm-worker/src/sentence-splitter.js';
import { espeakArgs } from '../services/tts-worker/src/engines/espeak.js';
import { cleanText } from '../services/tts-worker/src/text.js';
import { parseWav } from '../services/tts-worker/src/wav.js';
import { guestSession, registerSession } from './support/auth.js';
import { call, readSse, type SseEvent, waitFor } from './support/http.js';
import { type Stack, startStack, stopProcess } from './support/stack.js';

// A GPU-paced backend: the first token after 150 ms, then one every 40 ms.
const SIM = { ttftMs: 150, tokenDelayMs: 40, replyTokens: 400 };

let stack: Stack;
let headers: Record<string, string>;
beforeAll(async () => {
  stack = await startStack({
    kind: 'ollama',
    sim: SIM,
    services: ['api', 'llm-worker', 'tts-worker'],
    env: {
      TTS_DEFAULT: 'true',
      TTS_CONCURRENCY: '2',
      WORKER_LOCK_MS: '1500',
      WORKER_STALLED_INTERVAL_MS: '500',
    },
  });
  headers = (await guestSession(stack.apiUrl)).headers;
});
afterAll(() => stack?.stop());

const submit = async (body: Record<string, unknown>) => {
  const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body, headers });
  expect(r.status).toBe(202);
  return r.body.job_id;
};
const view = (id: string) =>
  call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body);
const events = (id: string, until?: (e: SseEvent, all: SseEvent[]) => boolean) =>
  readSse(`${stack.apiUrl}/chat/jobs/${id}/events`, { headers, ...(until ? { until } : {}) });
const audio = async (path: string) => {
  const res = await fetch(`${stack.apiUrl}${path}`, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
};
const ttsOf = (e: SseEvent) => JSON.parse(e.data) as TtsChunkInfo;
const chunkEvents = (all: SseEvent[]) =>
  all.filter((e) => e.event === 'tts' && ttsOf(e).chunk !== undefined).map(ttsOf);
/** Stream ids are the server's clock in ms when each event was written. */
const at = (e: SseEvent) => Number(e.id?.split('-')[0]);
const chunksOf = (reply: string) => {
  const s = new SentenceSplitter({ stripActions: true });
  return [...s.push(reply), ...s.end()];
};
const alive = (name: string) =>
  stack.processes.filter((p) => p.name === name && p.proc.exitCode === null && p.proc.signalCode === null);
const ttsWorkers = () => alive('tts-worker');

describe('speech while the reply streams (espeak-ng, GPU-paced backend)', () => {
  it('speaks the first sentence before the reply ends; chunks in order, then the whole audio, done last', async () => {
    const id = await submit({ message: 'Tell me a story', voice_id: 'en-us', max_tokens: 30 });
    const all = await events(id);
    const names = all.filter((e) => e.event !== 'token' && e.event !== 'status').map((e) => e.event);
    const replyAt = all.findIndex((e) => e.event === 'reply');
    const chunks = chunkEvents(all);
    const reply = (await view(id)).reply!.content;
    const texts = chunksOf(reply);
    expect(texts.length).toBeGreaterThan(3);

    // Every chunk once, numbered 0, 1, 2… in order, for attempt 1; the first ones before `reply`.
    expect(chunks.map((c) => c.chunk)).toEqual(texts.map((_, n) => n));
    expect(
      chunks.every((c) => c.attempt === 1 && c.audio_url === `/chat/jobs/${id}/audio?chunk=${c.chunk}`),
    ).toBe(true);
    const firstChunkAt = all.findIndex((e) => e.event === 'tts');
    expect(firstChunkAt).toBeLessThan(replyAt);
    console.log(
      `first chunk ready ${at(all[replyAt]!) - at(all[firstChunkAt]!)} ms before the reply ended (${texts.length} chunks)`,
    );
    expect(names.slice(-2)).toEqual(['tts', 'done']);
    expect(JSON.parse(all.at(-1)!.data)).toEqual({ status: 'completed' });
    const final = ttsOf(all.at(-2)!);
    expect(final).toMatchObject({
      status: 'completed',
      audio_url: `/chat/jobs/${id}/audio`,
      voice_id: 'en-us',
    });

    // Each chunk is what espeak-ng says for that sentence; the whole reply is the chunks, one after another.
    const parts: Buffer[] = [];
    for (const [n, text] of texts.entries()) {
      const got = await audio(`/chat/jobs/${id}/audio?chunk=${n}`);
      expect(got.status).toBe(200);
      const local = spawnSync('espeak-ng', espeakArgs('en-us', 1), { input: cleanText(text, true) }).stdout;
      expect(Buffer.compare(parseWav(got.body).data, parseWav(local).data)).toBe(0);
      parts.push(parseWav(got.body).data);
    }
    const whole = await audio(`/chat/jobs/${id}/audio`);
    expect(Buffer.compare(parseWav(whole.body).data, Buffer.concat(parts))).toBe(0);
    expect((await view(id)).tts).toMatchObject({
      status: 'completed',
      duration_seconds: final.duration_seconds,
    });
  });

  it('delayed speech still starts after the reply, as before', async () => {
    const id = await submit({ message: 'Later is fine', tts_mode: 'delayed', max_tokens: 12 });
    const all = await events(id);
    const names = all.filter((e) => e.event !== 'token' && e.event !== 'status').map((e) => e.event);
    expect(names[0]).toBe('reply');
    expect(names.slice(-2)).toEqual(['tts', 'done']);
    expect(chunkEvents(all).length).toBeGreaterThan(0);
  });

  it('a cancel stops the chunks not yet spoken', async () => {
    const id = await submit({ message: 'A long answer please', max_tokens: 300 });
    // Cancel once the first chunk has been spoken, while the reply is still being written.
    await events(id, (e) => e.event === 'tts');
    const r = await call(`${stack.apiUrl}/chat/jobs/${id}`, { method: 'DELETE', headers });
    expect(r.status).toBe(202);
    const all = await events(id);
    expect(all.at(-1)?.event).toBe('done');
    expect(JSON.parse(all.at(-1)!.data)).toEqual({ status: 'cancelled' });
    const spoken = chunkEvents(all).length;
    const v = await view(id);
    expect(v.status).toBe('cancelled');
    // The reply would have made many more chunks than were spoken before the cancel.
    expect(spoken).toBeLessThan(5);
    // Nothing is spoken after the end: no chunk beyond the last event and no whole-reply audio.
    expect((await audio(`/chat/jobs/${id}/audio?chunk=${spoken + 2}`)).status).toBe(404);
    expect((await audio(`/chat/jobs/${id}/audio`)).status).toBe(404);
  });

  it("a reply restarted after a worker crash replaces the first attempt's chunks, none spoken twice", async () => {
    const id = await submit({ message: 'Survive a crash', voice_id: 'en-us', max_tokens: 40 });
    await events(id, (e) => e.event === 'tts');
    const [worker] = alive('llm-worker');
    worker!.proc.kill('SIGKILL');
    await worker!.exited;
    await stack.start('llm-worker');
    const all = await events(id);
    expect(all.at(-1)?.event).toBe('done');
    const chunks = chunkEvents(all);
    const second = chunks.filter((c) => c.attempt === 2);
    expect(chunks.filter((c) => c.attempt === 1).length).toBeGreaterThan(0);
    // The new attempt starts again at chunk 0, and every chunk of one attempt comes once, in order.
    const texts = chunksOf((await view(id)).reply!.content);
    expect(second.map((c) => c.chunk)).toEqual(texts.map((_, n) => n));
    for (const a of [1, 2]) {
      const ns = chunks.filter((c) => c.attempt === a).map((c) => c.chunk);
      expect(ns).toEqual([...ns].sort((x, y) => x! - y!));
      expect(new Set(ns).size).toBe(ns.length);
    }
    expect(ttsOf(all.at(-2)!)).toMatchObject({ status: 'completed' });
  });

  it("one reply's first chunk goes ahead of other replies' later chunks", async () => {
    await Promise.all(ttsWorkers().map((p) => stopProcess(p)));
    const a = await submit({ message: 'First listener', voice_id: 'en-us', max_tokens: 30 });
    await waitFor(
      () => view(a),
      (v) => v.status === 'completed',
    );
    const b = await submit({ message: 'Second listener', voice_id: 'en-us', max_tokens: 30 });
    await waitFor(
      () => view(b),
      (v) => v.status === 'completed',
    );
    // Both replies wait with all their chunks queued; one tts-worker, one job at a time.
    await stack.start('tts-worker', { TTS_CONCURRENCY: '1' });
    const [ea, eb] = await Promise.all([events(a), events(b)]);
    const firstOf = (all: SseEvent[], n: number) =>
      at(all.find((e) => e.event === 'tts' && ttsOf(e).chunk === n)!);
    expect(firstOf(eb, 0)).toBeLessThanOrEqual(firstOf(ea, 1));
    expect(chunkEvents(ea).map((c) => c.chunk)).toEqual(
      chunksOf((await view(a)).reply!.content).map((_, n) => n),
    );
    await Promise.all(ttsWorkers().map((p) => stopProcess(p)));
    await stack.start('tts-worker');
  });

  it('speaks a long reply up to TTS_MAX_CHARS and ends there', async () => {
    const [worker] = alive('llm-worker');
    await stopProcess(worker!);
    await stack.start('llm-worker', { TTS_MAX_CHARS: '60' });
    try {
      const id = await submit({ message: 'A very long answer', voice_id: 'en-us', max_tokens: 60 });
      const all = await events(id);
      const texts = chunksOf((await view(id)).reply!.content);
      const spoken = chunkEvents(all).length;
      expect(spoken).toBeGreaterThan(0);
      expect(spoken).toBeLessThan(texts.length);
      expect(texts.slice(0, spoken).join('').length).toBeLessThanOrEqual(60);
      expect(ttsOf(all.at(-2)!)).toMatchObject({ status: 'completed' });
      expect(all.at(-1)?.event).toBe('done');
    } finally {
      await Promise.all(alive('llm-worker').map((p) => stopProcess(p)));
      await stack.start('llm-worker');
    }
  });

  it('measures time to first audio and text aggregation', async () => {
    const id = await submit({ message: 'Measure me', max_tokens: 20 });
    await events(id);
    const portOf = (name: string) => {
      const [p] = alive(name);
      const line = p!
        .output()
        .split('\n')
        .find((l) => l.includes(`"${name} ready"`))!;
      return (JSON.parse(line) as { metricsPort: number }).metricsPort;
    };
    const scrape = async (name: string) => (await fetch(`http://127.0.0.1:${portOf(name)}/metrics`)).text();
    const count = (text: string, metric: string) =>
      Number(new RegExp(`^${metric}_count\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    expect(count(await scrape('tts-worker'), 'gateway_time_to_first_audio_seconds')).toBeGreaterThan(0);
    expect(count(await scrape('llm-worker'), 'gateway_text_aggregation_seconds')).toBeGreaterThan(0);
  });

  it('OpenAI voice names work with espeak-ng through the official SDK, each its own voice', async () => {
    const session = await registerSession(
      stack.apiUrl,
      `v_${randomBytes(4).toString('hex')}`,
      'pw-0123456789ab',
    );
    const key = await call<{ key: string }>(`${stack.apiUrl}/auth/api-keys`, {
      body: { name: 'voice' },
      headers: session.headers,
    });
    const client = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: key.body.key, maxRetries: 0 });
    const speak = async (voice: string) => {
      const res = await client.audio.speech.create({
        model: 'tts-1',
        voice,
        input: 'Hello there, friend.',
        response_format: 'wav',
      });
      return parseWav(Buffer.from(await res.arrayBuffer())).data;
    };
    const [alloy, onyx] = [await speak('alloy'), await speak('onyx')];
    expect(alloy.length).toBeGreaterThan(1000);
    expect(Buffer.compare(alloy, onyx)).not.toBe(0);
    // A name outside the table and OpenAI's list is still the caller's mistake.
    await expect(speak('Not A Voice')).rejects.toMatchObject({ status: 400 });
  });
});
