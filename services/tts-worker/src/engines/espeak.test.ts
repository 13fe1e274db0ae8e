import { isGatewayError } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { collect } from '../synthesize.js';
import { parseWav } from '../wav.js';
import { EspeakEngine, espeakArgs } from './espeak.js';

const engine = (o: Partial<ConstructorParameters<typeof EspeakEngine>[0]> = {}) =>
  new EspeakEngine({ bin: 'espeak-ng', timeoutMs: 10_000, defaultVoice: 'ko', voices: {}, ...o });

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isGatewayError(err) ? `${err.code}${err.retryable ? ' (retryable)' : ''}` : String(err);
  }
};

describe('espeak-ng arguments', () => {
  it('passes the voice and speed as options and the text only on stdin', () => {
    expect(espeakArgs('ko', 1)).toEqual(['-v', 'ko', '-s', '175', '-b', '1', '--stdin', '--stdout']);
    expect(espeakArgs('en-us', 2)).toContain('350');
    expect(espeakArgs('ko+f3', 10)[3]).toBe('450');
    expect(espeakArgs('ko+f3', 0.1)[3]).toBe('80');
  });

  it('accepts language and variant voices and nothing that could be an option or a path', () => {
    for (const ok of ['ko', 'en-us', 'ko+f3', 'en-gb-x-rp', 'cmn-latn-pinyin', 'en+Alicia']) {
      expect(() => espeakArgs(ok, 1)).not.toThrow();
    }
    for (const bad of ['-w', '--stdout', 'ko -w /tmp/x', '../ko', 'ko+', 'ko+-q', 'KO', '', 'ko\n']) {
      expect(() => espeakArgs(bad, 1)).toThrow(/not an espeak-ng voice/);
    }
  });

  it('maps voice ids through the voice table and refuses ids that are not espeak voices', () => {
    const e = engine({ voices: { mina: { voice: 'ko+f3' } } });
    expect(e.resolveVoice('mina')).toBe('ko+f3');
    expect(e.resolveVoice(null)).toBe('ko');
    expect(e.resolveVoice('en-us')).toBe('en-us');
    expect(() => e.resolveVoice('Mina')).toThrow(/not an espeak-ng voice/);
  });
});

describe('espeak-ng engine (the real binary)', () => {
  it('speaks Korean into a WAV whose length grows with the text', async () => {
    const e = engine();
    const short = parseWav(
      await collect((await e.synthesize({ text: '안녕하세요.', voice: 'ko', format: 'wav', speed: 1 })).body),
    );
    const long = parseWav(
      await collect(
        (
          await e.synthesize({
            text: '안녕하세요. 오늘 기분은 어때요? 좋은 하루 보내세요.',
            voice: 'ko',
            format: 'wav',
            speed: 1,
          })
        ).body,
      ),
    );
    expect(short.format.sampleRate).toBe(22_050);
    expect(long.data.length).toBeGreaterThan(short.data.length * 2);
  });

  it('reads any text safely: quotes, dashes and shell characters are only text', async () => {
    const e = engine();
    const out = await e.synthesize({
      text: '--help; rm -rf / "$(id)" `x` -w /tmp/evil',
      voice: 'en-us',
      format: 'wav',
      speed: 1,
    });
    expect(parseWav(await collect(out.body)).data.length).toBeGreaterThan(1_000);
  });

  it('fails clearly for an unknown voice (not retried) and a missing binary', async () => {
    const e = engine();
    const out = await e.synthesize({ text: 'hi', voice: 'zz', format: 'wav', speed: 1 });
    expect(await codeOf(collect(out.body))).toBe('tts_failed');
    const missing = engine({ bin: '/nonexistent/espeak-ng' });
    expect(await codeOf(missing.check())).toBe('tts_engine_missing');
    await expect(missing.check()).rejects.toThrow(/espeak-ng not found.*apt-get install -y espeak-ng/);
    const run = await missing.synthesize({ text: 'hi', voice: 'ko', format: 'wav', speed: 1 });
    expect(await codeOf(collect(run.body))).toBe('tts_engine_missing');
    expect(await codeOf(engine().check())).toBe('resolved');
  });
});
