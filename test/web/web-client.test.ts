/**
 * The web client at `/`, driven in Debian's Chromium against the real api, workers, Redis and the
 * backend simulator. Each test leaves a screenshot in test/web/screenshots/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../support/stack.js';
import {
  characterButton,
  chromiumPath,
  guestWithCharacter as openGuest,
  openPage,
  screenshot,
  scrollWidth,
  send,
  seriousViolations,
  startWebStack,
  stopWebStack,
} from './browser.js';

const CHROMIUM = chromiumPath();
// Slow enough to watch a reply being written (40 tokens: about 2.4 s); fast where only the end matters.
const SLOW_MS = 60;
const FAST_MS = 5;
const card = {
  spec: 'chara_card_v2',
  spec_version: '2.0',
  data: { name: '서연', description: '조용한 도서관 사서.', first_mes: '어서 오세요. 찾는 책이 있나요?' },
};

describe.skipIf(!CHROMIUM)('web client in Chromium', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await startWebStack(CHROMIUM!, {
      kind: 'ollama',
      sim: { tokenDelayMs: FAST_MS, replyTokens: 40 },
      services: ['api', 'llm-worker', 'tts-worker'],
      // One model slot, so that a second reply has to wait in line.
      env: { TTS_DEFAULT: 'true', TTS_ENGINE: 'espeak', BREAKER_PROBE_MS: '300', LLM_CONCURRENCY: '1' },
    });
  }, 90_000);
  afterAll(() => stopWebStack(stack, browser));

  /** A new person on the page, logged in as a guest, with one character made through the api. */
  const guestWithCharacter = (opts: { locale?: string; width?: number; height?: number } = {}) =>
    openGuest(
      browser,
      stack.apiUrl,
      {
        name: '미나',
        persona: '밝고 수다스러운 대학생.',
        voice_id: 'ko',
        greeting: '안녕! 오늘 뭐 했어?',
      },
      opts,
    );

  const tokenDelay = (ms: number) => stack.sim.configure({ tokenDelayMs: ms });
  const liveReply = (page: Page) => page.locator('li.msg.assistant.live');
  const lastSimReply = () => stack.sim.requests().at(-1)?.reply ?? '';

  it('logs in as a guest, creates, imports, edits and deletes characters', async () => {
    const { page, problems, context } = await openPage(browser, {
      locale: 'ko-KR',
      width: 1280,
      height: 800,
    });
    const res = await page.goto(stack.apiUrl);
    // The page runs under the api's strict CSP (a violation would show in `problems`) and is revalidated.
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(res?.headers()['cache-control']).toBe('no-cache');
    await page.getByRole('button', { name: '게스트로 계속' }).click();
    await expect.poll(() => page.getByRole('heading', { name: '캐릭터' }).count()).toBe(1);

    await page.getByRole('button', { name: '새 캐릭터' }).click();
    await page.getByLabel('이름').fill('지훈');
    await page.getByLabel('페르소나').fill('무뚝뚝하지만 다정한 바리스타.');
    await page.getByLabel('목소리').fill('ko');
    await page.getByLabel('첫인사').fill('주문하시겠어요?');
    await page.getByRole('button', { name: '저장' }).click();
    await characterButton(page, '지훈').waitFor();

    await page.getByLabel(/SillyTavern/).setInputFiles({
      name: 'seoyeon.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(card)),
    });
    await characterButton(page, '서연').waitFor();
    await page.getByText('서연을(를) 가져왔습니다.').waitFor();
    await screenshot(page, 'characters');

    await page.getByRole('button', { name: '지훈 수정' }).click();
    await page.getByLabel('페르소나').fill('다정한 바리스타. 라떼 아트가 특기.');
    await page.getByRole('button', { name: '저장' }).click();
    await characterButton(page, '라떼 아트가 특기').waitFor();
    await page.getByRole('button', { name: '서연 삭제' }).click();
    await page.getByRole('button', { name: /서연을\(를\) 삭제할까요/ }).click();
    await expect.poll(() => characterButton(page, '서연').count()).toBe(0);
    const stored = await (await context.request.get(`${stack.apiUrl}/characters`)).json();
    expect(stored.characters).toEqual([
      expect.objectContaining({
        name: '지훈',
        persona: '다정한 바리스타. 라떼 아트가 특기.',
        voice_id: 'ko',
      }),
    ]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('chats: greeting first, the Korean reply streams in and ends as the simulator wrote it, speech plays', async () => {
    tokenDelay(SLOW_MS);
    const { page, problems, context } = await guestWithCharacter();
    await expect.poll(() => page.locator('li.msg').first().textContent()).toContain('안녕! 오늘 뭐 했어?');
    await page.getByLabel('상황').fill('학교 앞 카페');

    // Shift+Enter is a new line; an Enter that ends a Hangul composition does not send.
    const box = page.getByRole('textbox', { name: '메시지' });
    await box.fill('첫 줄');
    await box.press('Shift+Enter');
    await box.pressSequentially('둘째 줄');
    await page.evaluate(`document.getElementById('composer-input').dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229, isComposing: true, bubbles: true, cancelable: true }))`);
    expect(await box.inputValue()).toBe('첫 줄\n둘째 줄');
    expect(await page.locator('li.msg.user').count()).toBe(0);

    await send(page, '안녕하세요! 오늘 날씨가 좋네요.');
    // Seen while still being written: a part of the text, not yet the whole.
    const partial = await waitForPartial(page);
    await page.locator('li.msg.assistant:not(.live) audio').waitFor({ timeout: 20_000 });
    const final = (await page.locator('li.msg.assistant').last().locator('.msg-text').textContent()) ?? '';
    expect(final).toBe(lastSimReply());
    expect(final.startsWith(partial) && partial.length < final.length).toBe(true);
    expect(stack.sim.requests().at(-1)?.body).toMatchObject({
      messages: expect.arrayContaining([
        expect.objectContaining({ content: expect.stringContaining('학교 앞 카페') }),
      ]),
    });

    expect(await audioDuration(page)).toBeGreaterThan(0);
    await screenshot(page, 'chat');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('stops a reply with the cancel button', async () => {
    tokenDelay(SLOW_MS);
    const { page, context } = await guestWithCharacter();
    await send(page, '긴 이야기를 해 주세요.');
    await waitForPartial(page);
    await page.getByRole('button', { name: '답변 멈추기' }).click();
    await page.getByText('답변을 멈췄습니다.').waitFor();
    await expect.poll(() => stack.sim.requests().at(-1)?.aborted).toBe(true);
    await screenshot(page, 'cancel');
    // The stopped message can be sent again, and this time answered.
    tokenDelay(FAST_MS);
    await page.getByRole('button', { name: '다시 시도' }).click();
    await page.locator('li.msg.assistant:not(.live)[data-job-id]').waitFor({ timeout: 20_000 });
    expect(await page.locator('li.msg.user').count()).toBe(1);
    expect((await page.locator('li.msg.assistant[data-job-id] .msg-text').textContent()) ?? '').toBe(
      lastSimReply(),
    );
    await context.close();
  });

  it('picks the stream up after a reload in the middle of a reply, without repeating text', async () => {
    tokenDelay(2 * SLOW_MS);
    const { page, context } = await guestWithCharacter();
    await send(page, '재미있는 이야기 하나 해 줄래요?');
    const before = await waitForPartial(page);
    const jobId = await liveReply(page).getAttribute('data-job-id');
    const resumedFrom: string[] = [];
    page.on('request', (r) => {
      const id = new URL(r.url()).searchParams.get('last_event_id');
      if (r.url().includes(`/chat/jobs/${jobId}/events`) && id) resumedFrom.push(id);
    });
    await page.reload();
    // Straight after the reload: the text it had, still being written, then the rest from the stream.
    const liveText = async () =>
      (await liveReply(page).count())
        ? ((await liveReply(page).locator('.msg-text').textContent()) ?? '')
        : '';
    await expect.poll(async () => (await liveText()).startsWith(before), { interval: 50 }).toBe(true);
    const done = page.locator(`li.msg.assistant:not(.live)[data-job-id="${jobId}"]`);
    await done.waitFor({ timeout: 20_000 });
    expect(resumedFrom.length).toBeGreaterThan(0);
    const final = (await done.locator('.msg-text').textContent()) ?? '';
    expect(final).toBe(lastSimReply());
    expect(final.startsWith(before)).toBe(true);
    expect(await page.locator('li.msg.user', { hasText: '재미있는 이야기 하나 해 줄래요?' }).count()).toBe(1);
    await screenshot(page, 'resumed');
    await context.close();
  });

  it('shows the place in line while the reply waits for the model', async () => {
    tokenDelay(SLOW_MS);
    const { page, context } = await guestWithCharacter();
    // Someone else's reply holds the only model slot.
    const other = await browser.newContext();
    const headers = { origin: stack.apiUrl };
    expect((await other.request.post(`${stack.apiUrl}/auth/guest`, { headers })).status()).toBe(201);
    const blocker = await other.request.post(`${stack.apiUrl}/chat/jobs`, {
      headers,
      data: { message: '아주 긴 이야기를 들려주세요.', tts: false },
    });
    expect(blocker.status()).toBe(202);
    await send(page, '제 차례는 언제예요?');
    await page.getByText(/대기 순서: \d+번째/).waitFor({ timeout: 10_000 });
    await screenshot(page, 'queued');
    tokenDelay(FAST_MS);
    await page.locator('li.msg.assistant:not(.live)[data-job-id]').waitFor({ timeout: 20_000 });
    await other.close();
    await context.close();
  });

  it('registers, logs out, refuses a wrong password and logs in again, in either language', async () => {
    tokenDelay(FAST_MS);
    const { page, context, problems } = await openPage(browser, {
      locale: 'ko-KR',
      width: 1280,
      height: 800,
    });
    await page.goto(stack.apiUrl);
    await page.getByRole('button', { name: /English/ }).click();
    const name = `mina_${Date.now().toString(36)}`;
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill('correct horse battery');
    await screenshot(page, 'login');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText(`Signed in as ${name}`).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Password').fill('wrong password');
    await page.getByLabel('Username').fill(name);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong username or password.').waitFor();
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText(`Signed in as ${name}`).waitFor();
    await page.getByRole('button', { name: /한국어/ }).click();
    await page.getByRole('button', { name: '로그아웃' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  it('plays speech on click and reopens a past conversation', async () => {
    tokenDelay(FAST_MS);
    const { page, context } = await guestWithCharacter();
    await page.getByLabel('음성').selectOption('on_click');
    await send(page, '노래 한 곡 추천해 줄래요?');
    const reply = page.locator('li.msg.assistant:not(.live)[data-job-id]');
    await reply.waitFor({ timeout: 20_000 });
    const text = (await reply.locator('.msg-text').textContent()) ?? '';
    expect(await reply.locator('audio').count()).toBe(0);
    await reply.getByRole('button', { name: '음성 재생' }).click();
    expect(await audioDuration(page)).toBeGreaterThan(0);

    await page.getByRole('button', { name: '새 대화' }).click();
    expect(await page.locator('li.msg').count()).toBe(1);
    await page.locator('.list-item', { hasText: '노래 한 곡 추천해 줄래요?' }).click();
    await expect
      .poll(() => page.locator('li.msg').allTextContents())
      .toEqual([
        expect.stringContaining('안녕! 오늘 뭐 했어?'),
        expect.stringContaining('노래 한 곡 추천해 줄래요?'),
        expect.stringContaining(text),
      ]);
    await screenshot(page, 'reopened');
    await context.close();
  });

  it('keeps the message through a 429 and sends it after the wait', async () => {
    tokenDelay(FAST_MS);
    const { page, context } = await guestWithCharacter();
    let refused = 0;
    await page.route('**/chat/jobs', async (route) => {
      if (route.request().method() !== 'POST' || refused > 0) return route.continue();
      refused += 1;
      await route.fulfill({
        status: 429,
        headers: { 'retry-after': '1', 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many requests' } }),
      });
    });
    await send(page, '잠깐만요, 다시 보내 주세요.');
    await page.getByText(/요청이 너무 많습니다. \d초 뒤에 다시 보냅니다/).waitFor();
    expect(await page.getByRole('textbox', { name: '메시지' }).inputValue()).toBe(
      '잠깐만요, 다시 보내 주세요.',
    );
    await screenshot(page, 'rate-limited');
    await page.locator('li.msg.assistant:not(.live)[data-job-id]').waitFor({ timeout: 20_000 });
    expect(await page.getByRole('textbox', { name: '메시지' }).inputValue()).toBe('');
    expect(refused).toBe(1);
    await context.close();
  });

  it('tells that replies are waiting while the backend is down, then answers when it is back', async () => {
    tokenDelay(FAST_MS);
    const { page, context } = await guestWithCharacter();
    await stack.sim.stop();
    try {
      await send(page, '서버가 없어도 기다릴게요.');
      await page.getByText(/모델 서버가 응답하지 않습니다/).waitFor({ timeout: 20_000 });
      await screenshot(page, 'backend-down');
    } finally {
      await stack.sim.start();
    }
    await page.locator('li.msg.assistant:not(.live)[data-job-id]').waitFor({ timeout: 20_000 });
    expect((await page.locator('li.msg.assistant[data-job-id] .msg-text').textContent()) ?? '').toBe(
      lastSimReply(),
    );
    await context.close();
  });

  it('fits a 390 px phone without horizontal scrolling', async () => {
    tokenDelay(FAST_MS);
    const { page, context } = await openPage(browser, { locale: 'en-US', width: 390, height: 844 });
    await page.goto(stack.apiUrl);
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await page.getByRole('button', { name: 'Continue as guest' }).click();
    await page.getByRole('button', { name: 'New character' }).click();
    await page.getByLabel('Name').fill('A-very-long-character-name-without-any-spaces-at-all-to-wrap');
    await page.getByLabel('Greeting').fill('Hello! '.repeat(30));
    await page.getByRole('button', { name: 'Save' }).click();
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await characterButton(page, 'A-very-long').click();
    await send(page, 'Hello there, how are you today?');
    await page.locator('li.msg.assistant:not(.live)').nth(1).waitFor({ timeout: 20_000 });
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, 'phone-chat');
    await page.getByRole('button', { name: 'Back to characters' }).click();
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await context.close();
  });

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    tokenDelay(FAST_MS);
    const { page, context } = await openPage(browser, { locale: 'ko-KR', width: 1280, height: 800 });
    await page.goto(stack.apiUrl);
    await page.getByRole('button', { name: '게스트로 계속' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();

    const w = await guestWithCharacter();
    await send(w.page, '안녕!');
    await w.page.locator('li.msg.assistant:not(.live)').nth(1).waitFor({ timeout: 20_000 });
    // The chat with a finished reply and the character form open beside it, checked at once.
    await w.page.getByRole('button', { name: '새 캐릭터' }).click();
    expect(await seriousViolations(w.page)).toEqual([]);
    await screenshot(w.page, 'form');
    await w.context.close();
  });
});

/** The duration of the last `<audio>` once its metadata loaded; -1 when it failed to load. */
async function audioDuration(page: Page): Promise<number> {
  await page.locator('li.msg.assistant audio').last().waitFor({ timeout: 20_000 });
  return (await page.evaluate(`new Promise((resolve) => {
    const a = [...document.querySelectorAll('li.msg.assistant audio')].at(-1);
    const done = () => resolve(a.error ? -1 : a.duration);
    if (a.readyState >= 1 || a.error) done();
    else { a.addEventListener('loadedmetadata', done); a.addEventListener('error', done); }
  })`)) as number;
}

/** Waits until the reply shows some text while it is still being written; returns that text. */
async function waitForPartial(page: Page): Promise<string> {
  // Phase and text read in one go, so the text is known to be from a reply still being written.
  const read = () =>
    page.evaluate(`(() => {
      const el = document.querySelector('li.msg.assistant.live');
      return el && el.dataset.phase === 'running' ? (el.querySelector('.msg-text')?.textContent ?? '') : '';
    })()`) as Promise<string>;
  let text = '';
  await expect.poll(async () => (text = await read()), { timeout: 15_000, interval: 50 }).not.toBe('');
  return text;
}
