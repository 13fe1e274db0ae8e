import { isGatewayError } from '@gateway/contracts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collect } from '../synthesize.js';
import { speakLength, startTtsStandIn, type TtsStandIn, toneWav } from '../testing/tts-stand-in.js';
import { parseWav } from '../wav.js';
import { OpenAiTtsEngine } from './openai.js';

let server: TtsStandIn;
beforeAll(async () => {
  server = await startTtsStandIn();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.handle(speakLength);
});

const engine = (baseUrl = server.url) =>
  new OpenAiTtsEngine({
    baseUrl,
    model: 'kokoro',
    apiKey: 'sk-test',
    timeoutMs: 2_000,
    defaultVoice: 'alloy',
    voices: { mina: { voice: 'af_bella' } },
    connections: 2,
  });

const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (isGatewayError(err)) return { code: err.code, retryable: err.retryable, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
};

describe('openai speech engine', () => {
  it('posts model, input, voice, response_format and speed, and streams the audio back', async () => {
    const e = engine(`${server.url}/v1`);
    const out = await e.synthesize({
      text: '안녕하세요.',
      voice: e.resolveVoice('mina'),
      format: 'wav',
      speed: 1.25,
    });
    const wav = parseWav(await collect(out.body));
    expect(wav.data.length).toBeGreaterThan(0);
    expect(out.contentType).toBe('audio/wav');
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/v1/audio/speech');
    expect(req?.headers.authorization).toBe('Bearer sk-test');
    expect(req?.body).toEqual({
      model: 'kokoro',
      input: '안녕하세요.',
      voice: 'af_bella',
      response_format: 'wav',
      speed: 1.25,
    });
    expect(e.resolveVoice(null)).toBe('alloy');
    await e.close();
  });

  it('types failures: 5xx and 429 retryable, 4xx not, with the server message', async () => {
    const e = engine();
    const req = { text: 'x', voice: 'alloy', format: 'wav', speed: 1 };
    server.handle(() => ({ status: 500, body: { error: { message: 'CUDA out of memory' } } }));
    expect(await failure(e.synthesize(req))).toMatchObject({ code: 'tts_unavailable', retryable: true });
    server.handle(() => ({ status: 429, body: 'slow down', contentType: 'text/plain' }));
    expect(await failure(e.synthesize(req))).toMatchObject({ code: 'tts_unavailable', retryable: true });
    server.handle(() => ({ status: 400, body: { detail: 'Voice nope not found' } }));
    const bad = await failure(e.synthesize(req));
    expect(bad).toMatchObject({ code: 'tts_failed', retryable: false });
    expect(bad.message).toMatch(/400.*Voice nope not found/);
    server.handle(() => ({ status: 200, body: { error: 'not audio' } }));
    expect(await failure(e.synthesize(req))).toMatchObject({ code: 'tts_failed', retryable: false });
    await e.close();
  });

  it('takes a refused connection for a retryable outage', async () => {
    const e = engine('http://127.0.0.1:9');
    const f = await failure(e.synthesize({ text: 'x', voice: 'alloy', format: 'wav', speed: 1 }));
    expect(f).toMatchObject({ code: 'tts_unavailable', retryable: true });
    expect(f.message).toMatch(/ECONNREFUSED/);
    await e.close();
  });

  it('asks for other formats as they are and keeps the server content type', async () => {
    server.handle(() => ({ status: 200, body: Buffer.from('ID3 mp3 bytes'), contentType: 'audio/mpeg' }));
    const e = engine();
    const out = await e.synthesize({ text: 'x', voice: 'alloy', format: 'mp3', speed: 1 });
    expect(out.contentType).toBe('audio/mpeg');
    expect((await collect(out.body)).toString()).toBe('ID3 mp3 bytes');
    expect((server.requests[0]!.body as { response_format: string }).response_format).toBe('mp3');
    expect(toneWav(0.1).length).toBe(44 + 4_800);
    await e.close();
  });
});
