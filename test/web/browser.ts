/** Debian's Chromium driven by playwright-core (never a downloaded browser), plus page helpers for tests. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildWebIfStale } from '../../packages/web/build-if-stale.js';
import { ROOT, type Stack, type StackOptions, startStack } from '../support/stack.js';

export const SCREENSHOTS = join(ROOT, 'test/web/screenshots');

/** CHROMIUM_PATH, else the `chromium` that `which` finds (Debian: apt-get install -y chromium). */
export function chromiumPath(): string | null {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const found = spawnSync('which', ['chromium'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || null : null;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // Speech should play without a click in a test, as it does after a person typed and sent.
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

export interface Watched {
  page: Page;
  context: BrowserContext;
  /** Console errors and CSP violations seen so far (expected 4xx loads left out). */
  problems: string[];
}

/** A fresh context (its own cookies: a new person) with one page whose console is watched. */
export async function openPage(
  browser: Browser,
  opts: { locale: string; width: number; height: number },
): Promise<Watched> {
  const context = await browser.newContext({
    locale: opts.locale,
    viewport: { width: opts.width, height: opts.height },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // The logged-out check (GET /auth/me → 401) is logged by Chromium as a failed load; that is expected.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { page, context, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's violations of WCAG 2.x A/AA rules with serious or critical impact. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Not addScriptTag: that inserts an inline <script>, which the page's CSP (rightly) refuses.
  await page.evaluate(readFileSync(axePath, 'utf8'));
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`,
  )) as { violations: AxeViolation[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ ...v, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }));
}

/** The widest the page's content is, against the viewport (no horizontal scroll when <= width). */
export const scrollWidth = (page: Page) =>
  page.evaluate('document.documentElement.scrollWidth') as Promise<number>;

/** The button that opens a chat with the character (its row also has edit and delete buttons). */
export const characterButton = (page: Page, name: string) =>
  page.locator('.char-row:not(.conv-row) .list-item', { hasText: name });

/** Types a message into the message box and sends it with Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^(메시지|Message)$/ });
  await box.fill(text);
  await box.press('Enter');
}

/** A browser test file's set-up: the web client built if stale, then the stack and Chromium started together. */
export async function startWebStack(
  executablePath: string,
  options: StackOptions,
): Promise<[Stack, Browser]> {
  const built = buildWebIfStale({ log: () => {} });
  if (!built.ok) throw new Error(`the web client did not build: ${built.reason}`);
  return Promise.all([startStack(options), launchChromium(executablePath)]);
}

export async function stopWebStack(stack: Stack | undefined, browser: Browser | undefined): Promise<void> {
  await browser?.close();
  await stack?.stop();
}

/** A new person on the page, logged in as a guest, with `character` made through the api and its chat open. */
export async function guestWithCharacter(
  browser: Browser,
  apiUrl: string,
  character: { name: string } & Record<string, unknown>,
  opts: { locale?: string; width?: number; height?: number } = {},
): Promise<Watched> {
  const w = await openPage(browser, {
    locale: opts.locale ?? 'ko-KR',
    width: opts.width ?? 1280,
    height: opts.height ?? 800,
  });
  await w.page.goto(apiUrl);
  await w.page.getByRole('button', { name: /게스트로 계속|Continue as guest/ }).click();
  await w.page.getByRole('button', { name: /로그아웃|Log out/ }).waitFor();
  const res = await w.context.request.post(`${apiUrl}/characters`, {
    headers: { origin: apiUrl },
    data: character,
  });
  if (res.status() !== 201) throw new Error(`POST /characters answered ${res.status()}: ${await res.text()}`);
  await w.page.reload();
  await characterButton(w.page, character.name).click();
  return w;
}
