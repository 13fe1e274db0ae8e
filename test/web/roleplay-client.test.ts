/**
 * The web client's role-play screens in Debian's Chromium against the real api, llm-worker, Redis and the
 * backend simulator: past conversations from the api (rename, delete), regenerate with ‹ › between the
 * alternatives, editing a message, PNG cards imported by the api, and the advanced sampling fold. Each test
 * leaves screenshots in test/web/screenshots/ (desktop and phone widths).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64Json, buildPng } from '../support/png-card.js';
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
  type Watched,
} from './browser.js';

const CHROMIUM = chromiumPath();
const FAST_MS = 5;
const SLOW_MS = 80;

describe.skipIf(!CHROMIUM)('role-play screens in Chromium', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await startWebStack(CHROMIUM!, {
      kind: 'ollama',
      sim: { tokenDelayMs: FAST_MS, replyTokens: 24 },
      services: ['api', 'llm-worker'],
      env: { TTS_ENGINE: 'none', TTS_DEFAULT: 'false' },
    });
  }, 90_000);
  afterAll(() => stopWebStack(stack, browser));

  const headers = () => ({ origin: stack.apiUrl });
  const lastSim = () => stack.sim.requests().at(-1);

  /** A new guest on the page with one character made through the api, its chat open. */
  const guestWithCharacter = (opts: { locale?: string; width?: number; height?: number } = {}) =>
    openGuest(
      browser,
      stack.apiUrl,
      { name: '미나', persona: '밝고 수다스러운 대학생.', greeting: '안녕! 오늘 뭐 했어?' },
      opts,
    );

  /** The finished replies in the log (the greeting included). */
  const replies = (page: Page) => page.locator('li.msg.assistant:not(.live)');
  const lastReplyText = async (page: Page) =>
    (await replies(page).last().locator('.msg-text').textContent()) ?? '';

  async function sendAndWait(page: Page, text: string) {
    const before = await replies(page).count();
    await send(page, text);
    await expect.poll(() => replies(page).count(), { timeout: 20_000 }).toBe(before + 1);
    // Read back from the api: the reply has its stored place (and so its tools).
    await replies(page).last().locator('.msg-tools').waitFor({ timeout: 10_000 });
  }

  const stored = async (w: Watched, path: string) =>
    (await w.context.request.get(`${stack.apiUrl}${path}`)).json();

  it('lists past conversations from the api, newest first; renames and deletes them', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS });
    const w = await guestWithCharacter();
    const { page, problems } = w;
    await sendAndWait(page, '도서관에 가 본 적 있어?');
    await page.getByRole('button', { name: '새 대화' }).click();
    await sendAndWait(page, '주말에 뭐 할까?');

    // The list is the api's (not this browser's): it survives cleared storage.
    await page.evaluate('localStorage.clear(); sessionStorage.clear()');
    await page.reload();
    const rows = page.locator('.conv-row .list-item .item-title');
    await expect.poll(() => rows.allTextContents()).toEqual(['주말에 뭐 할까?', '도서관에 가 본 적 있어?']);

    await page.getByRole('button', { name: '도서관에 가 본 적 있어? 이름 바꾸기' }).click();
    await page.getByLabel('제목').fill('도서관 이야기');
    await screenshot(page, 'conversations-rename');
    await page.getByLabel('제목').press('Enter');
    // A rename is activity: the renamed conversation comes first, on the page as in the api.
    await expect.poll(() => rows.allTextContents()).toEqual(['도서관 이야기', '주말에 뭐 할까?']);
    const listed = await stored(w, '/conversations');
    expect(listed.conversations.map((c: { title: string }) => c.title)).toEqual([
      '도서관 이야기',
      '주말에 뭐 할까?',
    ]);

    // Opening one shows its stored messages.
    await page.locator('.conv-row .list-item', { hasText: '도서관 이야기' }).click();
    await expect
      .poll(() => page.locator('li.msg .msg-text').allTextContents())
      .toEqual(['안녕! 오늘 뭐 했어?', '도서관에 가 본 적 있어?', expect.any(String)]);
    await screenshot(page, 'conversations');

    // Deleting the open conversation closes it; the api no longer has it.
    await page.getByRole('button', { name: '대화 도서관 이야기 삭제' }).click();
    await page
      .getByRole('button', { name: /대화 도서관 이야기을\(를\) 메시지와 음성까지 삭제할까요/ })
      .click();
    await expect.poll(() => rows.allTextContents()).toEqual(['주말에 뭐 할까?']);
    await page.getByText('대화할 캐릭터를 고르세요.').waitFor();
    expect((await stored(w, '/conversations')).conversations).toHaveLength(1);
    expect(problems).toEqual([]);
    await w.context.close();
  });

  it('pages through a long list of conversations with "show older"', async () => {
    stack.sim.configure({ tokenDelayMs: 0, replyTokens: 2 });
    const { page, context } = await openPage(browser, { locale: 'ko-KR', width: 1280, height: 800 });
    await page.goto(stack.apiUrl);
    await page.getByRole('button', { name: '게스트로 계속' }).click();
    await page.getByRole('button', { name: '로그아웃' }).waitFor();
    // One more than a page (20), each finished before the next (a user has at most 20 jobs at once).
    for (let i = 1; i <= 21; i += 1) {
      const res = await context.request.post(`${stack.apiUrl}/chat/jobs`, {
        headers: headers(),
        data: { message: `대화 번호 ${i}`, tts: false },
      });
      expect(res.status()).toBe(202);
      const { job_id } = await res.json();
      await expect
        .poll(
          async () =>
            (await (await context.request.get(`${stack.apiUrl}/chat/jobs/${job_id}`)).json()).status,
        )
        .toBe('completed');
    }
    await page.reload();
    const rows = page.locator('.conv-row .list-item .item-sub:last-child');
    await expect.poll(() => rows.count()).toBe(20);
    await page.getByRole('button', { name: '이전 대화 더 보기' }).click();
    await expect.poll(() => rows.count()).toBe(21);
    expect(await page.getByRole('button', { name: '이전 대화 더 보기' }).count()).toBe(0);
    await context.close();
  });

  it('regenerates the last reply and moves between its alternatives with ‹ ›; edits a message', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    const w = await guestWithCharacter();
    const { page, problems } = w;
    await sendAndWait(page, '오늘 저녁 메뉴 추천해 줘.');
    const first = await lastReplyText(page);
    expect(first).toBe(lastSim()?.reply);

    // The simulator's reply depends on the message only; a shorter limit makes the second one differ.
    stack.sim.configure({ tokenDelayMs: SLOW_MS, replyTokens: 9 });
    await page.getByRole('button', { name: '다시 생성' }).click();
    // Written live in the place of the old reply, which is not shown meanwhile.
    await page.locator('li.msg.assistant.live').waitFor();
    await expect.poll(() => page.locator('li.msg .msg-text', { hasText: first }).count()).toBe(0);
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor({ timeout: 20_000 });
    const second = await lastReplyText(page);
    expect(second).toBe(lastSim()?.reply);
    expect(second).not.toBe(first);
    expect(await page.locator('li.msg.user').count()).toBe(1);
    await screenshot(page, 'regenerated');

    await page.getByRole('button', { name: '이전 답변' }).click();
    await page.locator('.swipe-count', { hasText: '1/2' }).waitFor();
    expect(await lastReplyText(page)).toBe(first);
    // The focus stays on the arrows (the message may be a new element now).
    expect(await page.evaluate('document.activeElement?.getAttribute("aria-label")')).toBe('다음 답변');
    const conv = await page.evaluate('sessionStorage.getItem("rp.open")');
    const view = await stored(w, `/conversations/${JSON.parse(String(conv))}`);
    expect(view.messages.at(-1)).toMatchObject({
      content: first,
      alternatives: [first, second],
      selected: 0,
    });
    await page.keyboard.press('Enter');
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor();
    expect(await lastReplyText(page)).toBe(second);

    // A turn still running (sent from elsewhere) makes a change wait: said plainly.
    stack.sim.configure({ tokenDelayMs: SLOW_MS, replyTokens: 40 });
    const running = await w.context.request.post(`${stack.apiUrl}/chat/jobs`, {
      headers: headers(),
      data: { message: '잠깐, 하나 더!', conversation_id: JSON.parse(String(conv)), tts: false },
    });
    expect(running.status()).toBe(202);
    const busy = page.getByRole('alert').filter({ hasText: '이 대화의 답변을 아직 쓰는 중입니다' });
    await page.getByRole('button', { name: '다시 생성' }).click();
    await busy.waitFor();
    await page.getByRole('button', { name: '이전 답변' }).click();
    await busy.waitFor();
    expect(await page.getByText('문제가 생겼습니다').count()).toBe(0);
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor();
    await screenshot(page, 'conversation-busy');
    const job = (await running.json()).job_id as string;
    await expect
      .poll(async () => (await stored(w, `/chat/jobs/${job}`)).status, { timeout: 20_000 })
      .toBe('completed');

    // Editing the user's message: stored, and what the next turn's prompt sees.
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    await page.reload();
    const userMsg = page.locator('li.msg.user').first();
    await userMsg.getByRole('button', { name: '메시지 수정' }).click();
    await page.getByRole('textbox', { name: '메시지 수정' }).fill('오늘 저녁은 비빔밥이 좋을까?');
    await page.getByRole('button', { name: '저장' }).click();
    await expect.poll(() => userMsg.locator('.msg-text').textContent()).toBe('오늘 저녁은 비빔밥이 좋을까?');
    await sendAndWait(page, '고마워!');
    const prompt = JSON.stringify(lastSim()?.body);
    expect(prompt).toContain('오늘 저녁은 비빔밥이 좋을까?');
    expect(prompt).not.toContain('오늘 저녁 메뉴 추천해 줘.');
    expect(problems).toEqual([]);
    await w.context.close();
  });

  it('picks a regeneration up after a reload, still in the place of the reply it replaces', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    const w = await guestWithCharacter();
    const { page } = w;
    await sendAndWait(page, '비 오는 날엔 뭐 해?');
    const first = await lastReplyText(page);
    stack.sim.configure({ tokenDelayMs: 2 * SLOW_MS, replyTokens: 20 });
    await page.getByRole('button', { name: '다시 생성' }).click();
    const live = page.locator('li.msg.assistant.live');
    await expect
      .poll(async () => (await live.count()) && (await live.locator('.msg-text').count()), {
        timeout: 10_000,
      })
      .toBe(1);
    await page.reload();
    await live.waitFor();
    // After the reload too: the old reply is not shown beside the one being written, no second question.
    expect(await page.locator('li.msg .msg-text', { hasText: first }).count()).toBe(0);
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor({ timeout: 20_000 });
    expect(await lastReplyText(page)).toBe(lastSim()?.reply);
    expect(await page.locator('li.msg.user').count()).toBe(1);
    expect(await replies(page).count()).toBe(2);
    await w.context.close();
  });

  it('imports a PNG card through the api (the file itself) and shows its lorebook size', async () => {
    const { page, context, problems } = await openPage(browser, {
      locale: 'ko-KR',
      width: 1280,
      height: 800,
    });
    await page.goto(stack.apiUrl);
    await page.getByRole('button', { name: '게스트로 계속' }).click();
    const card = {
      spec: 'chara_card_v3',
      spec_version: '3.0',
      data: {
        name: '하린',
        description: '{{char}}는 등대지기다.',
        first_mes: '어서 와요, {{user}}.',
        character_book: {
          entries: [
            { keys: ['등대'], content: '등대는 백 년이 되었다.' },
            { keys: ['바다'], content: '바다는 늘 거칠다.' },
            { keys: ['배'], content: '배는 한 척뿐이다.' },
          ],
        },
      },
    };
    const uploads: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/characters/import')) uploads.push(r.headers()['content-type'] ?? '');
    });
    const input = page.getByLabel(/SillyTavern/);
    await input.setInputFiles({
      name: 'harin.png',
      mimeType: 'image/png',
      buffer: buildPng([{ kind: 'iTXt', keyword: 'ccv3', text: base64Json(card), compressed: true }]),
    });
    await page.getByText('하린을(를) 가져왔습니다.').waitFor();
    await characterButton(page, '로어북: 항목 3개').waitFor();
    expect(uploads).toEqual(['image/png']);
    await screenshot(page, 'png-import');

    // A PNG without a card: the api says so, and the page shows it.
    await input.setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: buildPng([]) });
    await page.getByText(/읽을 수 있는 캐릭터 카드 파일이 아닙니다 \(.+\)/).waitFor();
    // A JSON card goes to the api as it is, too.
    await input.setInputFiles({
      name: 'v2.json',
      mimeType: 'application/json',
      buffer: Buffer.from(
        JSON.stringify({ spec: 'chara_card_v2', spec_version: '2.0', data: { name: '도윤' } }),
      ),
    });
    await characterButton(page, '도윤').waitFor();
    expect(uploads).toEqual(['image/png', 'image/png', 'application/json']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('sends the advanced sampling fields only when set, and shows the field the api refuses', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    const w = await guestWithCharacter({ locale: 'en-US' });
    const { page, problems } = w;
    await sendAndWait(page, 'Plain settings first.');
    const plain = lastSim()?.body as { options: Record<string, unknown> };
    for (const f of [
      'top_k',
      'min_p',
      'repeat_penalty',
      'presence_penalty',
      'frequency_penalty',
      'seed',
      'stop',
    ])
      expect(plain.options, f).not.toHaveProperty(f);

    await page.getByText('Advanced: sampling').click();
    const fill = (label: string, value: string) => page.getByLabel(label, { exact: true }).fill(value);
    await fill('temperature', '0.7');
    await fill('top_p', '0.9');
    await fill('top_k', '40');
    await fill('min_p', '0.05');
    await fill('repetition_penalty', '1.1');
    await fill('presence_penalty', '0.5');
    await fill('frequency_penalty', '0.3');
    await fill('max_tokens', '12');
    await fill('seed', '7');
    await fill('stop', '###\nUser:');
    await page.getByText('temperature 0.7 · top_p 0.9').waitFor();
    await screenshot(page, 'advanced-sampling');
    await sendAndWait(page, 'Now with my settings.');
    expect(lastSim()?.body).toMatchObject({
      options: {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        min_p: 0.05,
        repeat_penalty: 1.1,
        presence_penalty: 0.5,
        frequency_penalty: 0.3,
        num_predict: 12,
        seed: 7,
        stop: ['###', 'User:'],
      },
    });

    // Out of range: the api's 400 names the field; it is marked, and the message stays in the box.
    await fill('top_p', '1.5');
    const before = stack.sim.requests().length;
    await send(page, 'This one is refused.');
    await page.getByRole('alert').filter({ hasText: 'top_p' }).waitFor();
    expect(await page.getByLabel('top_p', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByRole('textbox', { name: 'Message' }).inputValue()).toBe('This one is refused.');
    expect(stack.sim.requests().length).toBe(before);
    await screenshot(page, 'advanced-invalid');

    // Regenerate carries the settings too.
    await fill('top_p', '');
    await fill('top_k', '5');
    await page.getByRole('button', { name: 'Regenerate' }).click();
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor({ timeout: 20_000 });
    expect(lastSim()?.body).toMatchObject({ options: { top_k: 5, seed: 7 } });
    expect(await page.getByLabel('top_p', { exact: true }).getAttribute('aria-invalid')).toBeNull();
    expect(problems).toEqual([]);
    await w.context.close();
  });

  it('fits a 390 px phone: conversation list, alternatives and the advanced fold', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    const w = await guestWithCharacter({ locale: 'ko-KR', width: 390, height: 844 });
    const { page } = w;
    await sendAndWait(page, '휴대폰에서도 잘 보여?');
    stack.sim.configure({ replyTokens: 6 });
    await page.getByRole('button', { name: '다시 생성' }).click();
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor({ timeout: 20_000 });
    await page.getByText('고급: 샘플링').click();
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, 'phone-advanced');
    await page.getByText('고급: 샘플링').click();
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, 'phone-regenerated');
    await page.getByRole('button', { name: '캐릭터 목록으로' }).click();
    await page.locator('.conv-row').first().waitFor();
    await page.getByRole('button', { name: /이름 바꾸기/ }).click();
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await screenshot(page, 'phone-conversations');
    await w.context.close();
  });

  it('has no serious or critical accessibility violations on the new screens (axe-core)', async () => {
    stack.sim.configure({ tokenDelayMs: FAST_MS, replyTokens: 24 });
    const w = await guestWithCharacter();
    const { page } = w;
    await sendAndWait(page, '접근성 검사용 메시지.');
    stack.sim.configure({ replyTokens: 5 });
    await page.getByRole('button', { name: '다시 생성' }).click();
    await page.locator('.swipe-count', { hasText: '2/2' }).waitFor({ timeout: 20_000 });
    await page.getByText('고급: 샘플링').click();
    await page.getByRole('button', { name: /이름 바꾸기/ }).click();
    expect(await seriousViolations(page)).toEqual([]);
    await w.context.close();
  });
});
