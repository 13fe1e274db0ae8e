import { isGatewayError } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../synthesize.js';
import { startTtsStandIn, type TtsStandIn, toneWav } from '../testing/tts-stand-in.js';
import { GptSovitsEngine } from './gpt-sovits.js';

let server: TtsStandIn;
beforeAll(async () => {
  server = await startTtsStandIn((req) =>
    req.path === '/tts'
      ? (req.body as { text: string }).text === 'bad'
        ? { status: 400, body: { message: 'tts failed', Exception: 'ref audio too short' } }
        : { status: 200, body: toneWav(0.2, 32_000), contentType: 'audio/wav' }
      : { status: 200, body: 'success', contentType: 'text/plain' },
  );
});
afterAll(() => server.close());

const voices = {
  mina: {
    ref_audio_path: '/refs/mina.wav',
    prompt_text: '안녕하세요 저는 미나예요.',
    prompt_lang: 'ko',
    gpt_weights: 'GPT_weights_v2/mina-e15.ckpt',
    sovits_weights: 'SoVITS_weights_v2/mina_e8.pth',
  },
  joon: {
    ref_audio_path: '/refs/joon.wav',
    prompt_text: '반갑습니다.',
    prompt_lang: 'ko',
    text_lang: 'ko',
    gpt_weights: 'GPT_weights_v2/joon.ckpt',
    sovits_weights: 'SoVITS_weights_v2/joon.pth',
    speed: 0.9,
  },
};

describe('GPT-SoVITS engine', () => {
  it('switches weights only when the voice changes and sends the api_v2 fields', async () => {
    const e = new GptSovitsEngine({ baseUrl: server.url, timeoutMs: 2_000, defaultVoice: null, voices });
    const say = async (voice: string, text: string) =>
      collect((await e.synthesize({ text, voice, format: 'wav', speed: 1 })).body);
    expect(e.resolveVoice(null)).toBe('mina');
    await say('mina', '하나.');
    await say('mina', '둘.');
    expect(e.currentVoice()).toBe('mina');
    await say('joon', '셋.');
    await say('joon', '넷.');
    const calls = server.requests.map((r) =>
      r.path === '/tts' ? 'tts' : `${r.path}=${r.query.weights_path}`,
    );
    expect(calls).toEqual([
      '/set_gpt_weights=GPT_weights_v2/mina-e15.ckpt',
      '/set_sovits_weights=SoVITS_weights_v2/mina_e8.pth',
      'tts',
      'tts',
      '/set_gpt_weights=GPT_weights_v2/joon.ckpt',
      '/set_sovits_weights=SoVITS_weights_v2/joon.pth',
      'tts',
      'tts',
    ]);
    expect(e.switches).toBe(4);
    expect(server.requests.at(-1)?.body).toEqual({
      text: '넷.',
      text_lang: 'ko',
      ref_audio_path: '/refs/joon.wav',
      prompt_text: '반갑습니다.',
      prompt_lang: 'ko',
      media_type: 'wav',
      streaming_mode: false,
      speed_factor: 0.9,
      text_split_method: 'cut5',
      batch_size: 1,
    });
    expect((server.requests[2]!.body as { text_lang: string }).text_lang).toBe('auto');
    await e.close();
  });

  it('refuses unknown voices and reports the server error without retry', async () => {
    const e = new GptSovitsEngine({ baseUrl: server.url, timeoutMs: 2_000, defaultVoice: 'joon', voices });
    expect(() => e.resolveVoice('nobody')).toThrow(/unknown GPT-SoVITS voice "nobody" \(known: mina, joon\)/);
    expect(e.resolveVoice(null)).toBe('joon');
    const err = await e
      .synthesize({ text: 'bad', voice: 'joon', format: 'wav', speed: 1 })
      .catch((x: unknown) => x);
    expect(isGatewayError(err) && err.code).toBe('tts_failed');
    expect(String((err as Error).message)).toMatch(/400.*tts failed: ref audio too short/);
    await e.close();
  });

  it('needs a voice table with reference audio', () => {
    expect(
      () => new GptSovitsEngine({ baseUrl: server.url, timeoutMs: 1_000, defaultVoice: null, voices: {} }),
    ).toThrow(/TTS_VOICES/);
    expect(
      () =>
        new GptSovitsEngine({
          baseUrl: server.url,
          timeoutMs: 1_000,
          defaultVoice: null,
          voices: { a: { prompt_lang: 'ko' } },
        }),
    ).toThrow(/ref_audio_path/);
  });
});
