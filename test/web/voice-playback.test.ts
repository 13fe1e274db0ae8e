/**
 * Realtime speech in the web client, in Debian's Chromium against the real api, workers, espeak-ng and a
 * GPU-paced simulator: the reply's sentences play while it is still being written, one after the other
 * without gaps, and one button stops it all.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../support/stack.js';
import { chromiumPath, openPage, screenshot, startWebStack, stopWebStack } from './browser.js';

const CHROMIUM = chromiumPath();

interface Probe {
  starts: { calledAt: number; when: number; now: number; duration: number }[];
  stops: number;
  replyAt: number | null;
}

/**
 * Runs in the page before its own scripts (plain JavaScript: the tests are typed without the DOM): notes
 * each Web Audio source scheduled (and when it will sound) and when the page's EventSource hands over the
 * `reply` event.
 */
const PROBE = `
  const probe = { starts: [], stops: 0, replyAt: null };
  window.__probe = probe;
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when, ...rest) {
    probe.starts.push({
      calledAt: performance.now(),
      when: when ?? 0,
      now: this.context.currentTime,
      duration: this.buffer ? this.buffer.duration : 0,
    });
    return start.call(this, when, ...rest);
  };
  const stop = AudioBufferSourceNode.prototype.stop;
  AudioBufferSourceNode.prototype.stop = function (when) {
    probe.stops++;
    return stop.call(this, when);
  };
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    if (type === 'reply' && typeof listener === 'function') {
      const wrapped = (e) => {
        probe.replyAt ??= performance.now();
        listener.call(this, e);
      };
      return add.call(this, type, wrapped, options);
    }
    return add.call(this, type, listener, options);
  };
`;

const probeOf = (page: Page) => page.evaluate('window.__probe') as Promise<Probe>;
// Functions, not strings: the page's CSP (no 'unsafe-eval') refuses string predicates. They run in the
// page, so each reads the probe itself.
type WithProbe = { __probe: Probe };
const whenPlaying = (page: Page) =>
  page.waitForFunction(() => (globalThis as unknown as WithProbe).__probe.starts.length > 0);
const whenReplied = (page: Page) =>
  page.waitForFunction(() => (globalThis as unknown as WithProbe).__probe.replyAt !== null);

describe.skipIf(!CHROMIUM)('realtime speech in Chromium', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await startWebStack(CHROMIUM!, {
      kind: 'ollama',
      // GPU-paced: a 40-token reply takes about 1.7 s to write.
      sim: { ttftMs: 150, tokenDelayMs: 40, replyTokens: 40 },
      services: ['api', 'llm-worker', 'tts-worker'],
      env: { TTS_DEFAULT: 'true', TTS_ENGINE: 'espeak' },
    });
  }, 90_000);
  afterAll(() => stopWebStack(stack, browser));

  async function guestChat() {
    const w = await openPage(browser, { locale: 'ko-KR', width: 1280, height: 800 });
    await w.page.addInitScript({ content: PROBE });
    await w.page.goto(stack.apiUrl);
    await w.page.getByRole('button', { name: '게스트로 계속' }).click();
    await w.page.getByRole('button', { name: '로그아웃' }).waitFor();
    const res = await w.context.request.post(`${stack.apiUrl}/characters`, {
      headers: { origin: stack.apiUrl },
      data: { name: '미나', persona: '밝은 대학생.', voice_id: 'ko', greeting: '안녕!' },
    });
    expect(res.status()).toBe(201);
    await w.page.reload();
    await w.page.locator('.char-row .list-item', { hasText: '미나' }).click();
    return w;
  }

  async function send(page: Page, text: string) {
    const box = page.getByRole('textbox', { name: '메시지' });
    await box.fill(text);
    await box.press('Enter');
  }

  it('starts playing before the reply event arrives, chunk after chunk without gaps', async () => {
    const { page, problems } = await guestChat();
    await send(page, '이야기 하나 해 줘');
    // The first sentence is heard while the reply is still being written.
    await whenPlaying(page);
    await page.getByRole('button', { name: '음성 멈추기' }).waitFor();
    await whenReplied(page);
    // Every chunk has played: the whole reply's audio is offered for listening again.
    await page.locator('li.msg.assistant audio.speech').waitFor({ timeout: 30_000 });
    const probe = await probeOf(page);
    const first = probe.starts[0]!;
    const soundsAt = first.calledAt + (first.when - first.now) * 1000;
    console.log(
      `first chunk sounds ${(probe.replyAt! - soundsAt).toFixed(0)} ms before the reply event; ${probe.starts.length} chunks`,
    );
    expect(soundsAt).toBeLessThan(probe.replyAt!);
    expect(probe.starts.length).toBeGreaterThan(1);
    // Gapless: a chunk that was ready in time starts exactly where the one before it ends.
    for (let i = 1; i < probe.starts.length; i++) {
      const prev = probe.starts[i - 1]!;
      const s = probe.starts[i]!;
      const prevEnd = prev.when + prev.duration;
      if (s.now < prevEnd) expect(s.when).toBeCloseTo(prevEnd, 6);
      else expect(s.when).toBeGreaterThanOrEqual(s.now);
    }
    expect(probe.stops).toBe(0);
    expect(await page.getByRole('button', { name: '음성 멈추기' }).count()).toBe(0);
    await screenshot(page, 'voice-after-playback');
    expect(problems).toEqual([]);
  });

  it('one button stops all of it', async () => {
    await stack.sim.configure({ replyTokens: 120 });
    const { page, problems } = await guestChat();
    await send(page, '아주 긴 이야기를 해 줘');
    await whenPlaying(page);
    await page.getByRole('button', { name: '음성 멈추기' }).click();
    const stoppedAt = await probeOf(page);
    expect(stoppedAt.stops).toBeGreaterThan(0);
    // The reply goes on being written and spoken on the server; nothing more plays here.
    await page.locator('li.msg.assistant audio.speech').waitFor({ timeout: 30_000 });
    const after = await probeOf(page);
    expect(after.starts.length).toBe(stoppedAt.starts.length);
    expect(after.replyAt).not.toBeNull();
    expect(problems).toEqual([]);
  });
});
