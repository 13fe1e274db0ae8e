import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAgent, send } from './fuzz/raw-http.js';
import { guestSession, loginSession, registerSession, type TestSession } from './support/auth.js';
import { call, readSse, waitFor } from './support/http.js';
import { apiLogsCaughtUp, queuesIdle } from './support/settle.js';
import { type Stack, startStack } from './support/stack.js';
import { silenceWav } from './support/wav.js';

/**
 * Security hygiene against the real processes. (1) No request field or header chooses where the gateway
 * connects: the backend and TTS URLs come from configuration only, so a canary server whose address is
 * planted in every field and header sees no connection at all, while the configured simulator and TTS
 * server get the work. (2) No secret reaches a log line of any process.
 */

const JWT_SECRET = randomBytes(32).toString('base64url');
const VLLM_API_KEY = `vllm-${randomBytes(16).toString('hex')}`;
const TTS_API_KEY = `tts-${randomBytes(16).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(12).toString('hex')}`;
const REJECTED_PASSWORD = `rejected-${randomBytes(12).toString('hex')}`;

/** A TCP server that only counts who connects: the address planted in requests. */
async function startCanary(): Promise<{ server: TcpServer; url: string; connections: () => number }> {
  let n = 0;
  const server = createTcpServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}`, connections: () => n };
}

/** The configured OpenAI-style TTS server (`TTS_ENGINE=openai`): records what it is asked to speak. */
async function startTts(): Promise<{ server: Server; url: string; bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createHttpServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/audio/speech') {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        res.writeHead(200, { 'content-type': 'audio/wav' }).end(silenceWav());
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}`, bodies };
}

describe('security hygiene', () => {
  let stack: Stack;
  let canary: Awaited<ReturnType<typeof startCanary>>;
  let tts: Awaited<ReturnType<typeof startTts>>;
  let evil: string;
  /** Every header a proxy-confused server might take a destination from. */
  let evilHeaders: Record<string, string>;

  beforeAll(async () => {
    canary = await startCanary();
    // The canary counts for real: one connection of our own, before the stack exists.
    await new Promise<void>((resolve, reject) => {
      const probe = connect(Number(new URL(canary.url).port), '127.0.0.1', () => {
        probe.destroy();
        resolve();
      });
      probe.on('error', reject);
    });
    await waitFor(
      async () => canary.connections(),
      (n) => n === 1,
      2_000,
    );
    tts = await startTts();
    evil = canary.url;
    const host = new URL(evil).host;
    evilHeaders = {
      'x-forwarded-host': host,
      'x-forwarded-proto': 'http',
      'x-forwarded-for': '127.0.0.1',
      forwarded: `for=127.0.0.1;host=${host};proto=http`,
      'x-original-url': `${evil}/v1/chat/completions`,
      'x-rewrite-url': `${evil}/`,
      'x-host': host,
      'x-backend-url': evil,
      'x-upstream': evil,
      'x-base-url': evil,
      'x-tts-url': evil,
      referer: `${evil}/`,
    };
    stack = await startStack({
      kind: 'vllm',
      sim: { ttftMs: 0, tokenDelayMs: 0, replyTokens: 6 },
      services: ['api', 'llm-worker', 'tts-worker'],
      env: {
        JWT_SECRET,
        VLLM_API_KEY,
        TTS_ENGINE: 'openai',
        TTS_BASE_URL: tts.url,
        TTS_API_KEY,
        // The most talkative level: a secret that stays out of trace logs stays out of all of them.
        LOG_LEVEL: 'trace',
        // Headers like X-Forwarded-Host are believed here, as behind a real proxy: still no effect.
        TRUST_PROXY: 'true',
      },
    });
  });

  afterAll(async () => {
    closeAgent();
    await stack?.stop();
    canary?.server.close();
    tts?.server.close();
  });

  describe('no request field chooses where the gateway connects', () => {
    let user: TestSession;
    beforeAll(async () => {
      user = await guestSession(stack.apiUrl);
    });
    const headers = () => ({ ...user.bearer, ...evilHeaders });

    it('refuses unknown fields naming a destination, and passes URL-looking values on as plain text', async () => {
      for (const field of [
        'base_url',
        'baseURL',
        'api_base',
        'host',
        'url',
        'endpoint',
        'backend',
        'proxy',
      ]) {
        const r = await call(`${stack.apiUrl}/chat/jobs`, {
          body: { message: '안녕', [field]: evil },
          headers: headers(),
        });
        expect(r.status, field).toBe(400);
      }
      // A model outside LLM_MODELS, even one that looks like a URL, is refused up front, naming it.
      const modelJob = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
        body: { message: `see ${evil}/x`, model: `${evil}/v1`, persona: evil, character_name: evil },
        headers: headers(),
      });
      expect(modelJob.status).toBe(400);
      expect(JSON.stringify(modelJob.body)).toContain(`${evil}/v1`);
      const spoken = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
        body: {
          message: `${evil}/v1/chat/completions`,
          scenario: { opponent: evil, situation: evil, background: evil },
          tts: true,
          tts_mode: 'realtime',
          voice_id: `${evil}/voice`,
        },
        headers: headers(),
      });
      expect(spoken.status).toBe(202);
      const finished = (id: string) =>
        waitFor(
          () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers: user.bearer }),
          (r) =>
            ['completed', 'failed'].includes(r.body.status) &&
            !['pending', 'running'].includes(r.body.tts?.status ?? ''),
        );
      const done = await finished(spoken.body.job_id);
      expect(done.body.status).toBe('completed');
      expect(done.body.tts?.status).toBe('completed');
      const events = await readSse(`${stack.apiUrl}${spoken.body.links.events}`, { headers: user.bearer });
      expect(events.at(-1)?.event).toBe('done');
      // The configured simulator and TTS server got the work, the URLs inside it as plain strings.
      const models = stack.sim.requests().map((r) => (r.body as { model?: string }).model);
      expect(models).not.toContain(`${evil}/v1`);
      expect(JSON.stringify(stack.sim.requests().at(-1)?.body)).toContain(`${evil}/v1/chat/completions`);
      expect(tts.bodies.some((b) => b.voice === `${evil}/voice`)).toBe(true);
    });

    it('takes no destination from the OpenAI facade, characters, keys or headers either', async () => {
      const completion = await call(`${stack.apiUrl}/v1/chat/completions`, {
        body: {
          model: `${evil}/v1`,
          messages: [{ role: 'user', content: evil }],
          base_url: evil,
          api_base: evil,
          baseURL: evil,
          url: evil,
          host: evil,
        },
        headers: headers(),
      });
      expect(completion.status).toBeLessThan(500);
      const speech = await call(`${stack.apiUrl}/v1/audio/speech`, {
        body: { model: evil, input: '안녕하세요', voice: `${evil}/v`, base_url: evil },
        headers: headers(),
      });
      expect(speech.status).toBeLessThan(500);
      await call(`${stack.apiUrl}/characters`, {
        body: { name: 'url', persona: evil, voice_id: evil, greeting: evil },
        headers: headers(),
      });
      await call(`${stack.apiUrl}/characters/import`, {
        body: {
          spec: 'chara_card_v2',
          data: { name: 'c', avatar: `${evil}/a.png`, extensions: { url: evil } },
        },
        headers: headers(),
      });
      await call(`${stack.apiUrl}/auth/api-keys`, { body: { name: evil }, headers: headers() });
      for (const path of [
        '/models',
        '/v1/models',
        '/ready',
        `/models?base_url=${encodeURIComponent(evil)}`,
      ]) {
        await call(`${stack.apiUrl}${path}`, { headers: headers() });
      }
      // Host itself pointing at the canary (fetch cannot set Host; node:http can).
      const base = new URL(stack.apiUrl);
      for (const path of ['/models', '/ready', '/chat/jobs']) {
        const o = await send(base, {
          method: path === '/chat/jobs' ? 'POST' : 'GET',
          path,
          headers: {
            ...headers(),
            host: new URL(evil).host,
            'content-type': 'application/json',
          },
          ...(path === '/chat/jobs' ? { body: Buffer.from(JSON.stringify({ message: evil })) } : {}),
          label: path,
        });
        expect(o.ok && o.res.status < 500, path).toBe(true);
      }
      // Every job these requests made has ended: any connection it would have opened has been made.
      await queuesIdle(stack);
      expect(canary.connections(), 'connections to the canary besides our own probe').toBe(1);
    });
  });

  describe('no secret in any log line', () => {
    it('keeps passwords, tokens, keys and JWT_SECRET out of every process log', async () => {
      const api = stack.apiUrl;
      const name = `alice_${randomBytes(4).toString('hex')}`;
      const registered = await registerSession(api, name, PASSWORD);
      const loggedIn = await loginSession(api, name, PASSWORD);
      const wrong = await call(`${api}/auth/login`, {
        body: { username: name, password: WRONG_PASSWORD },
        headers: { origin: api },
      });
      expect(wrong.status).toBe(401);
      const refused = await call(`${api}/auth/register`, {
        body: { username: '!', password: REJECTED_PASSWORD },
        headers: { origin: api },
      });
      expect(refused.status).toBe(400);
      const guest = await guestSession(api);
      const key = await call<{ key?: string }>(`${api}/auth/api-keys`, {
        body: { name: 'bot' },
        headers: loggedIn.headers,
      });
      expect(key.status).toBe(201);
      const apiKey = key.body.key;

      const job = await call<ChatJobAccepted>(`${api}/chat/jobs`, {
        body: { message: '비밀 이야기' },
        headers: registered.headers,
      });
      expect(job.status).toBe(202);
      await readSse(`${api}${job.body.links.events}`, { headers: registered.headers });
      await call(`${api}/chat/jobs`, { body: { message: 'guest' }, headers: guest.bearer });
      if (apiKey) {
        const bearer = { authorization: `Bearer ${apiKey}` };
        const c = await call(`${api}/v1/chat/completions`, {
          body: { model: 'unsloth/gemma-3-27b-it-bnb-4bit', messages: [{ role: 'user', content: 'hi' }] },
          headers: bearer,
        });
        expect(c.status).toBe(200);
        await call(`${api}/v1/audio/speech`, { body: { input: '안녕', voice: 'ko' }, headers: bearer });
        await call(`${api}/v1/models`, { headers: { authorization: `Bearer ${apiKey}x` } });
      }
      for (const s of [registered, loggedIn, guest]) {
        await call(`${api}/auth/logout`, { method: 'POST', headers: s.headers });
      }
      // Ended sessions, presented again both ways.
      expect((await call(`${api}/auth/me`, { headers: registered.headers })).status).toBe(401);
      expect((await call(`${api}/auth/me`, { headers: loggedIn.bearer })).status).toBe(401);
      // Every process has written what it will about all of the above.
      await queuesIdle(stack);
      await apiLogsCaughtUp(stack, stack.processes.find((p) => p.name === 'api')!);

      const secrets: Record<string, string> = {
        JWT_SECRET,
        VLLM_API_KEY,
        TTS_API_KEY,
        password: PASSWORD,
        'wrong password': WRONG_PASSWORD,
        'refused password': REJECTED_PASSWORD,
      };
      for (const [who, s] of Object.entries({ registered, loggedIn, guest })) {
        secrets[`${who} session token`] = s.token;
        secrets[`${who} token signature`] = s.token.split('.')[2]!;
      }
      if (apiKey) secrets['API key'] = apiKey;
      const outputs = stack.processes.map((p) => ({ name: p.name, text: p.output() }));
      expect(outputs.map((o) => o.name)).toEqual(['api', 'llm-worker', 'tts-worker']);
      expect(outputs[0]!.text).toContain('"msg":"session started"');
      const leaks: string[] = [];
      for (const { name: proc, text } of outputs) {
        for (const [what, secret] of Object.entries(secrets)) {
          const line = text.split('\n').find((l) => l.includes(secret));
          if (line) leaks.push(`${proc} logged the ${what}: ${line.slice(0, 300)}`);
        }
        if (/scrypt\$\d+\$/.test(text)) leaks.push(`${proc} logged a password hash`);
      }
      expect(leaks).toEqual([]);
    });
  });
});
