import { spawnSync } from 'node:child_process';
import type { ChatJobAccepted, ChatJobView, TtsInfo } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SentenceSplitter } from '../services/llm-worker/src/sentence-splitter.js';
import { espeakArgs } from '../services/tts-worker/src/engines/espeak.js';
import {
  speakLength,
  startTtsStandIn,
  type TtsStandIn,
} from '../services/tts-worker/src/testing/tts-stand-in.js';
import { cleanText } from '../services/tts-worker/src/text.js';
import { parseWav } from '../services/tts-worker/src/wav.js';
import { guestSession } from './support/auth.js';
import { call, readSse, type SseEvent, waitFor } from './support/http.js';
import { queuesIdle } from './support/settle.js';
import { type Stack, startProcess, startStack, stopProcess } from './support/stack.js';

type TtsEvent = TtsInfo & { chunk?: number };

const ctx = (stack: Stack, headers: Record<string, string>) => ({
  headers,
  submit: (body: Record<string, unknown>) =>
    call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body, headers }).then((r) => {
      expect(r.status).toBe(202);
      return r.body.job_id;
    }),
  view: (id: string) => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body),
  until: (id: string, ok: (v: ChatJobView) => boolean, ms = 20_000) =>
    waitFor(
      () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body),
      ok,
      ms,
    ),
  events: (id: string) => readSse(`${stack.apiUrl}/chat/jobs/${id}/events`, { headers }),
  audio: (id: string, extra: Record<string, string> = {}, query = '') =>
    fetch(`${stack.apiUrl}/chat/jobs/${id}/audio${query}`, { headers: { ...headers, ...extra } }),
});

const ttsDone = (v: ChatJobView) => ['completed', 'failed', 'skipped'].includes(v.tts?.status ?? '');
const names = (events: SseEvent[]) =>
  events
    .filter((e) => e.event !== 'token' && e.event !== 'status')
    .map((e) => {
      const chunk = e.event === 'tts' ? (JSON.parse(e.data) as TtsEvent).chunk : undefined;
      return chunk === undefined ? e.event : `tts#${chunk}`;
    });
// Realtime speech is cut while the reply streams, by the llm-worker's splitter.
const sentencesOf = (reply: string) => {
  const s = new SentenceSplitter({ stripActions: true });
  return [...s.push(reply), ...s.end()].map((c) => cleanText(c, true));
};

// One api and llm-worker for the file; each block runs its own tts-worker with its engine's settings.
let stack: Stack;
let t: ReturnType<typeof ctx>;
beforeAll(async () => {
  stack = await startStack({
    kind: 'ollama',
    sim: { replyTokens: 160 },
    services: ['api', 'llm-worker'],
    env: { TTS_DEFAULT: 'true' },
  });
  t = ctx(stack, (await guestSession(stack.apiUrl)).headers);
});
afterAll(() => stack.stop());

const ttsWorkers = () =>
  stack.processes.filter(
    (p) => p.name === 'tts-worker' && p.proc.exitCode === null && p.proc.signalCode === null,
  );
const stopTtsWorkers = () => Promise.all(ttsWorkers().map((p) => stopProcess(p)));

describe('speech with espeak-ng', () => {
  beforeAll(() => stack.start('tts-worker'));
  afterAll(stopTtsWorkers);

  it('speaks a Korean reply in the requested voice: chunk events, the whole WAV, then done', async () => {
    const id = await t.submit({ message: '안녕하세요! 오늘 뭐 해요?', voice_id: 'ko+f3', max_tokens: 24 });
    const events = await t.events(id);
    const order = names(events);
    const chunks = sentencesOf((await t.view(id)).reply!.content).length;
    // Chunks go out while the reply is written, so `reply` may come before, between or after them.
    expect(order.filter((e) => e !== 'reply')).toEqual([
      ...Array.from({ length: chunks }, (_, n) => `tts#${n}`),
      'tts',
      'done',
    ]);
    expect(order.indexOf('reply')).toBeLessThan(order.indexOf('tts'));
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'completed' });

    const view = await t.view(id);
    expect(view.status).toBe('completed');
    expect(view.tts).toMatchObject({
      status: 'completed',
      voice_id: 'ko+f3',
      format: 'wav',
      audio_url: `/chat/jobs/${id}/audio`,
    });
    const res = await t.audio(id);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const wav = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(wav.length);
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.toString('latin1', 8, 12)).toBe('WAVE');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    const parsed = parseWav(wav);
    expect(parsed.data.length).toBe(wav.length - 44);
    expect(parsed.data.length / parsed.format.byteRate).toBeCloseTo(view.tts!.duration_seconds!, 1);

    // The first sentence's audio is exactly what espeak-ng makes with the job's voice (and not the default's).
    const first = sentencesOf(view.reply!.content)[0]!;
    const local = (voice: string) =>
      parseWav(spawnSync('espeak-ng', espeakArgs(voice, 1), { input: first }).stdout).data;
    const chunk0 = parseWav(Buffer.from(await (await t.audio(id, {}, '?chunk=0')).arrayBuffer())).data;
    expect(Buffer.compare(chunk0, local('ko+f3'))).toBe(0);
    expect(Buffer.compare(chunk0, local('ko'))).not.toBe(0);

    // Ranges: the exact bytes, and 416 past the end.
    const part = await t.audio(id, { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${wav.length}`);
    expect(Buffer.compare(Buffer.from(await part.arrayBuffer()), wav.subarray(1000, 2000))).toBe(0);
    expect((await t.audio(id, { range: `bytes=${wav.length}-` })).status).toBe(416);
  });

  it('makes longer audio for longer text, and the first sentence is playable long before the whole', async () => {
    const durations: { chars: number; seconds: number }[] = [];
    for (const max_tokens of [12, 120]) {
      const id = await t.submit({ message: `길이 ${max_tokens}`, max_tokens });
      const stamps: Record<string, number> = {};
      const events = await readSse(`${stack.apiUrl}/chat/jobs/${id}/events`, {
        headers: t.headers,
        until: (e) => {
          // Event ids are Redis stream ids: the server's clock (ms) when each event was written.
          const now = Number(e.id?.split('-')[0]);
          if (e.event === 'reply') stamps.reply = now;
          if (e.event === 'tts' && (JSON.parse(e.data) as TtsEvent).chunk === 0) stamps.first = now;
          if (e.event === 'tts' && (JSON.parse(e.data) as TtsEvent).chunk === undefined) stamps.whole = now;
          return e.event === 'done';
        },
      });
      expect(events.at(-1)?.event).toBe('done');
      const view = await t.view(id);
      durations.push({
        chars: [...cleanText(view.reply!.content, true)].length,
        seconds: view.tts!.duration_seconds!,
      });
      if (max_tokens === 120) {
        const first = stamps.first! - stamps.reply!;
        const whole = stamps.whole! - stamps.reply!;
        console.log(
          `time to audio after the reply (${sentencesOf(view.reply!.content).length} sentences, ${view.tts!.duration_seconds} s of speech): first sentence ${first.toFixed(0)} ms, whole reply ${whole.toFixed(0)} ms`,
        );
        expect(first).toBeLessThan(whole);
      }
    }
    const [short, long] = durations as [
      { chars: number; seconds: number },
      { chars: number; seconds: number },
    ];
    expect(long.seconds).toBeGreaterThan(short.seconds * 2);
    for (const d of durations) {
      expect(d.seconds / d.chars).toBeGreaterThan(0.02);
      expect(d.seconds / d.chars).toBeLessThan(0.4);
    }
  });

  it('with tts: false the speech is skipped and no TTS job is made', async () => {
    const id = await t.submit({ message: '조용히 해요', tts: false, max_tokens: 12 });
    const events = await t.events(id);
    expect(names(events)).toEqual(['reply', 'done']);
    const view = await t.view(id);
    expect(view.tts).toMatchObject({ status: 'skipped' });
    // The worker would have handed speech over before its job left the queue.
    await queuesIdle(stack);
    const ttsKeys = await stack.redis.keys(`${stack.prefix}:{tts}:${id}*`);
    expect(ttsKeys).toEqual([]);
    expect((await t.audio(id)).status).toBe(404);
  });

  it('on_click speaks only when asked', async () => {
    const id = await t.submit({ message: '눌러야 말해요', tts_mode: 'on_click', max_tokens: 12 });
    const view = await t.until(id, (v) => v.status === 'completed');
    expect(view.tts).toMatchObject({ status: 'skipped', mode: 'on_click' });
    expect((await t.audio(id)).status).toBe(404);
    const asked = await call<{ tts: TtsInfo }>(`${stack.apiUrl}/chat/jobs/${id}/tts`, {
      method: 'POST',
      headers: t.headers,
    });
    expect(asked.status).toBe(202);
    const spoken = await t.until(id, ttsDone);
    expect(spoken.tts).toMatchObject({ status: 'completed', mode: 'on_click', voice_id: 'ko' });
    expect((await t.audio(id)).status).toBe(200);
  });

  it('a tts-worker without espeak-ng refuses to start with one clear line', async () => {
    await expect(
      startProcess('tts-worker', { ...stack.env, TTS_ESPEAK_BIN: '/nonexistent/espeak-ng' }),
    ).rejects.toThrow(/tts_engine_missing: espeak-ng not found.*apt-get install -y espeak-ng/);
  });
});

describe('speech with an OpenAI-compatible server', () => {
  let server: TtsStandIn;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startTtsStandIn();
    env = {
      TTS_ENGINE: 'openai',
      TTS_BASE_URL: server.url,
      TTS_MODEL: 'kokoro',
      TTS_SPEED: '1.1',
      TTS_CONCURRENCY: '1',
      TTS_LOCK_MS: '2000',
    };
    await stack.start('tts-worker', env);
  });
  afterAll(async () => {
    await stopTtsWorkers();
    await server.close();
  });
  const reset = (handler = speakLength) => {
    server.requests.length = 0;
    server.handle(handler);
  };
  const inputsOf = (voice: string) =>
    server.requests
      .filter((r) => (r.body as { voice: string }).voice === voice)
      .map((r) => (r.body as { input: string }).input);

  it('sends the exact fields, one request per sentence', async () => {
    reset();
    const id = await t.submit({ message: 'fields', voice_id: 'af_bella', max_tokens: 24 });
    const view = await t.until(id, ttsDone);
    expect(view.tts).toMatchObject({ status: 'completed', voice_id: 'af_bella' });
    const sentences = sentencesOf(view.reply!.content);
    expect(server.requests.map((r) => r.body)).toEqual(
      sentences.map((input) => ({
        model: 'kokoro',
        input,
        voice: 'af_bella',
        response_format: 'wav',
        speed: 1.1,
      })),
    );
    expect(server.requests.every((r) => r.path === '/v1/audio/speech' && r.method === 'POST')).toBe(true);
  });

  it('retries a 500; a 400 fails the speech with the reason while the reply stays completed', async () => {
    reset((req, n) =>
      n === 0 ? { status: 500, body: { error: { message: 'warming up' } } } : speakLength(req, n),
    );
    const ok = await t.submit({ message: 'retry me', voice_id: 'v500', max_tokens: 12 });
    expect((await t.until(ok, ttsDone)).tts?.status).toBe('completed');
    // The failed sentence is asked for again (other sentences may go between: they are jobs of their own).
    const inputs = inputsOf('v500');
    expect(inputs.slice(1)).toContain(inputs[0]);
    expect(inputs).toHaveLength(sentencesOf((await t.view(ok)).reply!.content).length + 1);

    reset(() => ({ status: 400, body: { detail: 'Voice v400 not found' } }));
    const bad = await t.submit({ message: 'refuse me', voice_id: 'v400', max_tokens: 12 });
    const events = await t.events(bad);
    expect(names(events).slice(-2)).toEqual(['tts', 'done']);
    const view = await t.view(bad);
    expect(view.status).toBe('completed');
    expect(view.reply?.content.length).toBeGreaterThan(0);
    expect(view.tts).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^tts_failed: .*400.*Voice v400 not found/),
    });
    expect(inputsOf('v400')).toHaveLength(1);
  });

  it('with a slower (GPU-like) engine, the first sentence is ready long before the whole reply', async () => {
    // About what a GPU TTS server takes: 100 ms per request plus 8 ms per character.
    reset(async (req, n) => {
      const input = (req.body as { input: string }).input;
      return { ...(await speakLength(req, n)), delayMs: 100 + 8 * [...input].length };
    });
    const id = await t.submit({ message: 'measure me', voice_id: 'vslow', max_tokens: 30 });
    const stamps: Record<string, number> = {};
    await readSse(`${stack.apiUrl}/chat/jobs/${id}/events`, {
      headers: t.headers,
      until: (e) => {
        const at = Number(e.id?.split('-')[0]);
        const chunk = e.event === 'tts' ? (JSON.parse(e.data) as TtsEvent).chunk : null;
        if (e.event === 'reply') stamps.reply = at;
        if (chunk === 0) stamps.first = at;
        if (e.event === 'tts' && chunk === undefined) stamps.whole = at;
        return e.event === 'done';
      },
    });
    const first = stamps.first! - stamps.reply!;
    const whole = stamps.whole! - stamps.reply!;
    console.log(
      `slow engine, ${server.requests.length} sentences: first sentence ${first} ms, whole reply ${whole} ms after the reply`,
    );
    expect(first * 3).toBeLessThan(whole);
  });

  it('loses nothing when the tts-worker is killed mid-synthesis', async () => {
    reset((req, n) => (n === 0 ? { ...speakLength(req, n), delayMs: 30_000 } : speakLength(req, n)));
    const id = await t.submit({ message: 'kill the worker', voice_id: 'vkill', max_tokens: 24 });
    await waitFor(
      async () => server.requests.length,
      (n) => n >= 1,
    );
    const [worker] = ttsWorkers();
    worker!.proc.kill('SIGKILL');
    await worker!.exited;
    expect(['pending', 'running']).toContain((await t.view(id)).tts?.status);
    await stack.start('tts-worker', env);
    const view = await t.until(id, ttsDone, 25_000);
    expect(view.tts?.status).toBe('completed');
    const events = await t.events(id);
    expect(names(events).filter((e) => e === 'done')).toHaveLength(1);
    expect(names(events).at(-1)).toBe('done');
    expect(new Set(names(events).filter((e) => e.startsWith('tts#'))).size).toBe(
      names(events).filter((e) => e.startsWith('tts#')).length,
    );
  });

  it('speaks realtime replies before delayed ones', async () => {
    reset();
    await stopTtsWorkers();
    const delayed = await t.submit({
      message: 'later please',
      voice_id: 'vdelayed',
      tts_mode: 'delayed',
      max_tokens: 12,
    });
    const realtime = await t.submit({ message: 'now please', voice_id: 'vrealtime', max_tokens: 12 });
    await t.until(delayed, (v) => v.status === 'completed');
    await t.until(realtime, (v) => v.status === 'completed');
    await stack.start('tts-worker', env);
    await t.until(delayed, ttsDone);
    const voices = server.requests.map((r) => (r.body as { voice: string }).voice);
    expect(voices.indexOf('vrealtime')).toBe(0);
    expect(voices.lastIndexOf('vrealtime')).toBeLessThan(voices.indexOf('vdelayed'));
  });
});

describe('speech with GPT-SoVITS', () => {
  let server: TtsStandIn;
  const voice = (name: string) => ({
    ref_audio_path: `/refs/${name}.wav`,
    prompt_text: '안녕하세요.',
    prompt_lang: 'ko',
    gpt_weights: `GPT_weights_v2/${name}.ckpt`,
    sovits_weights: `SoVITS_weights_v2/${name}.pth`,
  });
  beforeAll(async () => {
    server = await startTtsStandIn((req, n) =>
      req.path === '/tts' ? speakLength(req, n) : { status: 200, body: 'success', contentType: 'text/plain' },
    );
  });
  afterAll(async () => {
    await stopTtsWorkers();
    await server.close();
  });

  it('serves waiting jobs in runs of one voice, switching weights only when the voice changes', async () => {
    const ids: string[] = [];
    for (const [i, v] of ['mina', 'joon', 'mina', 'joon', 'mina'].entries()) {
      ids.push(await t.submit({ message: `turn ${i}`, voice_id: v, max_tokens: 12 }));
    }
    for (const id of ids) await t.until(id, (v) => v.status === 'completed');
    await stack.start('tts-worker', {
      TTS_ENGINE: 'gpt-sovits',
      TTS_BASE_URL: server.url,
      TTS_VOICES: JSON.stringify({ mina: voice('mina'), joon: voice('joon') }),
    });
    for (const id of ids) expect((await t.until(id, ttsDone)).tts?.status).toBe('completed');
    const switches = server.requests
      .filter((r) => r.path === '/set_gpt_weights')
      .map((r) => r.query.weights_path);
    expect(switches).toEqual(['GPT_weights_v2/mina.ckpt', 'GPT_weights_v2/joon.ckpt']);
    const refs = server.requests
      .filter((r) => r.path === '/tts')
      .map((r) => (r.body as { ref_audio_path: string }).ref_audio_path);
    const changes = refs.filter((r, i) => i > 0 && r !== refs[i - 1]).length;
    expect(changes).toBe(1);
  });
});
