import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLlmClient, type LlmClient, type LlmClientOptions, type LlmService } from './index.js';
import { rejection } from './testing/rejection.js';
import {
  CT,
  fixture,
  type Handler,
  replay,
  startTestServer,
  type TestServer,
} from './testing/replay-server.js';

const req = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 16 };
const noop = () => {};

async function withBackend<T>(
  service: LlmService,
  handler: Handler,
  fn: (c: LlmClient, s: TestServer) => Promise<T>,
  opts: Partial<LlmClientOptions> = {},
): Promise<T> {
  const s = await startTestServer(handler);
  const c = createLlmClient({ service, baseUrl: s.url, timeoutMs: 3000, ...opts });
  try {
    return await fn(c, s);
  } finally {
    await s.close();
    await c.close();
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** Headers and one event, then silence. */
const stallAfterFirstChunk: Handler = (r, res) => {
  if (r.path === '/api/chat') {
    res.writeHead(200, { 'content-type': CT.ndjson });
    res.write('{"message":{"role":"assistant","content":"Hel"},"done":false}\n');
  } else {
    res.writeHead(200, { 'content-type': CT.sse });
    res.write('data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n');
  }
};

describe.each(['vllm', 'ollama'] as const)('%s transport failures', (service) => {
  it('connection refused -> backend_unavailable (retryable)', async () => {
    const port = await freePort();
    const c = createLlmClient({ service, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    for (const call of [c.chat(req), c.chatStream(req, { onToken: noop }), c.health(), c.listModels()]) {
      const err = await rejection(call);
      expect(err.code).toBe('backend_unavailable');
      expect(err.retryable).toBe(true);
    }
    await c.close();
    // `localhost` tries ::1 and 127.0.0.1; both refusing gives node's AggregateError.
    const local = createLlmClient({ service, baseUrl: `http://localhost:${port}`, timeoutMs: 2000 });
    expect((await rejection(local.chat(req))).code).toBe('backend_unavailable');
    await local.close();
  });

  it('server that never answers -> backend_timeout at the overall deadline', async () => {
    await withBackend(
      service,
      noop,
      async (c) => {
        const t0 = Date.now();
        const err = await rejection(c.chat(req));
        expect(err.code).toBe('backend_timeout');
        expect(err.retryable).toBe(true);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
        expect(Date.now() - t0).toBeLessThan(900);
      },
      { timeoutMs: 400 },
    );
  });

  it('no headers within idleTimeoutMs on a stream -> backend_timeout long before the deadline', async () => {
    await withBackend(
      service,
      noop,
      async (c) => {
        const t0 = Date.now();
        const err = await rejection(c.chatStream(req, { onToken: noop }));
        expect(err.code).toBe('backend_timeout');
        expect(err.retryable).toBe(true);
        // undici's timers tick about every 0.5 s, so an idle timeout fires up to ~1 s late.
        expect(Date.now() - t0).toBeLessThan(1600);
      },
      { timeoutMs: 10_000, idleTimeoutMs: 200 },
    );
  });

  it('stall mid-stream -> backend_timeout after idleTimeoutMs', async () => {
    await withBackend(
      service,
      stallAfterFirstChunk,
      async (c) => {
        const deltas: string[] = [];
        const t0 = Date.now();
        const err = await rejection(c.chatStream(req, { onToken: (d) => deltas.push(d) }));
        expect(err.code).toBe('backend_timeout');
        expect(err.retryable).toBe(true);
        expect(deltas).toEqual(['Hel']);
        expect(Date.now() - t0).toBeLessThan(1600);
      },
      { timeoutMs: 10_000, idleTimeoutMs: 200 },
    );
  });

  it('abort mid-stream rejects at once with cancelled and closes the connection', async () => {
    await withBackend(service, stallAfterFirstChunk, async (c, s) => {
      const ac = new AbortController();
      let abortedAt = 0;
      const p = c.chatStream(req, {
        signal: ac.signal,
        // Mid-stream: the first token is in and the server holds the rest back.
        onToken: () => {
          abortedAt = Date.now();
          ac.abort();
        },
      });
      const err = await rejection(p);
      expect(Date.now() - abortedAt).toBeLessThan(200);
      expect(err.code).toBe('cancelled');
      expect(err.retryable).toBe(false);
      await expect(Promise.race([s.closedEarly.then(() => 'closed'), sleep(1000, 'open')])).resolves.toBe(
        'closed',
      );
    });
  });

  it('an already-aborted signal rejects without a request', async () => {
    await withBackend(service, noop, async (c, s) => {
      const err = await rejection(c.chat(req, { signal: AbortSignal.abort() }));
      expect(err.code).toBe('cancelled');
      expect(s.requests).toHaveLength(0);
    });
  });

  it('connection reset mid-stream -> backend_stream_error (retryable)', async () => {
    let tokenIn!: () => void;
    const firstToken = new Promise<void>((r) => {
      tokenIn = r;
    });
    await withBackend(
      service,
      async (r, res) => {
        stallAfterFirstChunk(r, res);
        // Reset once the client has the first token: mid-stream for certain.
        await firstToken;
        res.destroy();
      },
      async (c) => {
        const err = await rejection(c.chatStream(req, { onToken: () => tokenIn() }));
        expect(err.code).toBe('backend_stream_error');
        expect(err.retryable).toBe(true);
      },
    );
  });

  it('a line longer than maxLineBytes -> backend_malformed_response', async () => {
    const long = 'x'.repeat(5000);
    const body =
      service === 'vllm'
        ? `data: {"choices":[{"index":0,"delta":{"content":"${long}"}}]}\n\n`
        : `{"message":{"content":"${long}"},"done":false}\n`;
    await withBackend(
      service,
      (_r, res) => replay(res, 200, service === 'vllm' ? CT.sse : CT.ndjson, body),
      async (c) => {
        const err = await rejection(c.chatStream(req, { onToken: noop }));
        expect(err.code).toBe('backend_malformed_response');
        expect(err.retryable).toBe(false);
      },
      { maxLineBytes: 1024 },
    );
  });

  it('pool reuse: 20 sequential and 20 concurrent requests stay within `connections` sockets', async () => {
    const body = service === 'vllm' ? fixture('vllm_chat.json') : fixture('ollama_chat.json');
    await withBackend(
      service,
      (_r, res) => replay(res, 200, CT.json, body),
      async (c, s) => {
        for (let i = 0; i < 20; i++) await c.chat(req);
        // undici marks a socket free a tick after the body ends, so back-to-back calls may
        // alternate between two sockets; what matters is no new socket per request.
        expect(s.connections()).toBeLessThanOrEqual(2);
        await Promise.all(Array.from({ length: 20 }, () => c.chat(req)));
        expect(s.connections()).toBeLessThanOrEqual(3);
        expect(s.requests).toHaveLength(40);
      },
      { connections: 3 },
    );
  });

  it('an error thrown by onToken reaches the caller unchanged', async () => {
    const boom = Object.assign(new Error('redis down'), { code: 'ECONNRESET' });
    const body = service === 'vllm' ? fixture('vllm_chat_stream.sse') : fixture('ollama_chat_stream.ndjson');
    await withBackend(
      service,
      (_r, res) => replay(res, 200, service === 'vllm' ? CT.sse : CT.ndjson, body),
      async (c) => {
        await expect(
          c.chatStream(req, {
            onToken: () => {
              throw boom;
            },
          }),
        ).rejects.toBe(boom);
      },
    );
  });
});

interface StatusCase {
  name: string;
  service: LlmService;
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
  code: string;
  retryable: boolean;
  message?: string;
  retryAfter?: number;
}

const statusCases: StatusCase[] = [
  {
    name: 'vLLM 500 empty body',
    service: 'vllm',
    status: 500,
    body: '',
    code: 'backend_server_error',
    retryable: true,
  },
  {
    name: 'Ollama 500',
    service: 'ollama',
    status: 500,
    body: '{"error":"llama runner process has terminated"}',
    code: 'backend_server_error',
    retryable: true,
    message: 'llama runner process has terminated',
  },
  {
    name: 'Ollama 503 busy with Retry-After',
    service: 'ollama',
    status: 503,
    body: '{"error":"server busy, please try again.  maximum pending requests exceeded"}',
    headers: { 'retry-after': '5' },
    code: 'backend_busy',
    retryable: true,
    message: 'server busy',
    retryAfter: 5,
  },
  {
    name: 'vLLM 503 queue full',
    service: 'vllm',
    status: 503,
    body: '{"error":{"message":"Server is overloaded","type":"ServiceUnavailableError","param":null,"code":503}}',
    code: 'backend_busy',
    retryable: true,
  },
  {
    name: 'vLLM 404 unknown model',
    service: 'vllm',
    status: 404,
    body: '{"error":{"message":"The model `nope` does not exist.","type":"NotFoundError","param":"model","code":404}}',
    code: 'model_not_found',
    retryable: false,
    message: 'The model `nope` does not exist.',
  },
  {
    name: 'Ollama 404 unknown model',
    service: 'ollama',
    status: 404,
    body: '{"error":"model \\"nope\\" not found, try pulling it first"}',
    code: 'model_not_found',
    retryable: false,
    message: 'model "nope" not found',
  },
  {
    name: 'HTML 502 proxy page',
    service: 'vllm',
    status: 502,
    contentType: CT.html,
    body: '<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>',
    code: 'backend_server_error',
    retryable: true,
    message: '502 Bad Gateway',
  },
  {
    name: 'vLLM 401 string error',
    service: 'vllm',
    status: 401,
    body: '{"error":"Unauthorized"}',
    code: 'backend_unauthorized',
    retryable: false,
    message: 'Unauthorized',
  },
  {
    name: 'vLLM 400 roles must alternate',
    service: 'vllm',
    status: 400,
    body: '{"error":{"message":"Conversation roles must alternate user/assistant/user/assistant/...","type":"BadRequestError","param":null,"code":400}}',
    code: 'backend_bad_request',
    retryable: false,
    message: 'Conversation roles must alternate',
  },
  {
    name: 'vLLM 400 context length, 2026-02 wording',
    service: 'vllm',
    status: 400,
    body: '{"error":{"message":"You passed 3741 input tokens and requested 512 output tokens. However, the model\'s context length is only 4096 tokens, resulting in a maximum input length of 3584 tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=3741)","type":"BadRequestError","param":"input_tokens","code":400}}',
    code: 'context_too_long',
    retryable: false,
  },
  {
    name: 'truncated JSON on 200',
    service: 'vllm',
    status: 200,
    body: fixture('vllm_chat.json').subarray(0, 300).toString(),
    code: 'backend_malformed_response',
    retryable: false,
  },
  {
    name: 'HTML on 200 (wrong content type)',
    service: 'ollama',
    status: 200,
    contentType: CT.html,
    body: '<html><body>Welcome to nginx!</body></html>',
    code: 'backend_malformed_response',
    retryable: false,
  },
  {
    name: 'JSON but not an Ollama reply',
    service: 'ollama',
    status: 200,
    body: '[1,2,3]',
    code: 'backend_malformed_response',
    retryable: false,
  },
];

describe('HTTP status and body mapping', () => {
  it.each(statusCases)('$name -> $code', async (tc) => {
    await withBackend(
      tc.service,
      (_r, res) => replay(res, tc.status, tc.contentType ?? CT.json, tc.body, { headers: tc.headers ?? {} }),
      async (c) => {
        const err = await rejection(c.chat(req));
        expect(err.code).toBe(tc.code);
        expect(err.retryable).toBe(tc.retryable);
        if (tc.status !== 200) expect(err.details).toMatchObject({ status: tc.status, backend: tc.service });
        if (tc.message) expect(err.message).toContain(tc.message);
        expect(err.retryAfter).toBe(tc.retryAfter);
      },
    );
  });

  it('vLLM stream request answered with JSON 200 (wrong content type) -> malformed', async () => {
    await withBackend(
      'vllm',
      (_r, res) => replay(res, 200, CT.json, fixture('vllm_chat.json')),
      async (c) => {
        const err = await rejection(c.chatStream(req, { onToken: noop }));
        expect(err.code).toBe('backend_malformed_response');
      },
    );
  });

  it('vLLM stream cut before finish and [DONE] -> backend_stream_error', async () => {
    const cut = fixture('vllm_chat_stream.sse').toString().split('\n\n').slice(0, 4).join('\n\n') + '\n\n';
    await withBackend(
      'vllm',
      (_r, res) => replay(res, 200, CT.sse, cut),
      async (c) => {
        const err = await rejection(c.chatStream(req, { onToken: noop }));
        expect(err.code).toBe('backend_stream_error');
        expect(err.retryable).toBe(true);
      },
    );
  });

  it('health: vLLM 503 (engine dead) -> backend_unavailable', async () => {
    await withBackend(
      'vllm',
      (_r, res) => replay(res, 503, CT.json, ''),
      async (c) => {
        const err = await rejection(c.health());
        expect(err.code).toBe('backend_unavailable');
        expect(err.retryable).toBe(true);
      },
    );
  });
});
