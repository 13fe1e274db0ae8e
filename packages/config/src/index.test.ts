import { describe, expect, it } from 'vitest';
import { ConfigError, isModelAllowed, parseConfig } from './index.js';

describe('parseConfig', () => {
  it('applies the defaults of the public contract', () => {
    const c = parseConfig({});
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.http.port).toBe(8080);
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.llm.service).toBe('ollama');
    expect(c.llm.model).toBe('gemma-3-27b-it');
    expect(c.llm.concurrency).toBe(4);
    expect(c.llm.timeoutMs).toBe(60_000);
    expect(c.llm.maxContextTokens).toBe(4096);
    expect(c.llm.baseUrl).toBeNull();
    expect(c.tts.engine).toBe('espeak');
    expect(c.tts.concurrency).toBe(2);
    expect(c.logLevel).toBe('info');
    expect(c.logPretty).toBe(true);
  });

  it('turns pretty logs off with LOG_PRETTY=0 and in production, and names a bad value', () => {
    expect(parseConfig({ LOG_PRETTY: '0' }).logPretty).toBe(false);
    expect(parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).logPretty).toBe(false);
    expect(() => parseConfig({ LOG_PRETTY: 'maybe' })).toThrow(/LOG_PRETTY/);
  });

  it('offers only the configured model unless LLM_MODELS says more, and keeps Ollama models loaded', () => {
    const c = parseConfig({ LLM_MODEL: 'gemma3' });
    expect(c.llm.models).toEqual(['gemma3']);
    expect(c.llm.keepAlive).toBe(-1);
    expect(isModelAllowed(c.llm.models, 'gemma3:latest')).toBe(true);
    expect(isModelAllowed(c.llm.models, 'llama3:70b')).toBe(false);
    const more = parseConfig({ LLM_MODELS: 'gemma3, qwen3:8b', OLLAMA_KEEP_ALIVE: '24h' });
    expect(more.llm.models).toEqual(['gemma3', 'qwen3:8b']);
    expect(more.llm.keepAlive).toBe('24h');
    expect(parseConfig({ OLLAMA_KEEP_ALIVE: '3600' }).llm.keepAlive).toBe(3600);
    expect(isModelAllowed(parseConfig({ LLM_MODELS: '*' }).llm.models, 'anything')).toBe(true);
    expect(() => parseConfig({ OLLAMA_KEEP_ALIVE: 'forever' })).toThrow(/OLLAMA_KEEP_ALIVE/);
    expect(() => parseConfig({ LLM_MODELS: ' , ' })).toThrow(/LLM_MODELS/);
  });

  it('picks the vLLM defaults and base URL', () => {
    const c = parseConfig({
      LLM_SERVICE: 'vllm',
      VLLM_BASE_URL: 'http://gpu:8002',
      OLLAMA_BASE_URL: 'http://x:1',
    });
    expect(c.llm.model).toBe('unsloth/gemma-3-27b-it-bnb-4bit');
    expect(c.llm.concurrency).toBe(12);
    expect(c.llm.baseUrl).toBe('http://gpu:8002');
  });

  it('caps the per-process concurrency at the global limit', () => {
    const c = parseConfig({ LLM_CONCURRENCY: '3', WORKER_CONCURRENCY: '10' });
    expect(c.llm.workerConcurrency).toBe(3);
  });

  it('names each bad variable in one line without echoing the value', () => {
    const secret = 'short-secret-value';
    let message = '';
    try {
      parseConfig({ LLM_SERVICE: 'gpt', PORT: 'eighty', JWT_SECRET: secret });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('LLM_SERVICE');
    expect(message).toContain('PORT');
    expect(message).toContain('JWT_SECRET');
    expect(message).not.toContain(secret);
    expect(message.split('\n')).toHaveLength(1);
  });

  it('requires JWT_SECRET in production and a TTS URL for the openai engine', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET/);
    expect(() => parseConfig({ TTS_ENGINE: 'openai' })).toThrow(/TTS_BASE_URL/);
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ OLLAMA_BASE_URL: '', LLM_CONCURRENCY: '' }).llm.baseUrl).toBeNull();
  });
});

describe('auth settings', () => {
  it('defaults to one-hour sessions, open sign-up, 10 logins per name and 100 per IP in 15 min, 20 jobs a user', () => {
    const c = parseConfig({});
    expect(c.auth).toMatchObject({
      jwtSecret: null,
      sessionTtlSeconds: 3_600,
      sessionMaxSeconds: 7 * 86_400,
      cookieSecure: false,
      registration: true,
      guests: true,
      loginMaxAttempts: 10,
      loginMaxAttemptsPerIp: 100,
      loginWindowSeconds: 900,
      guestsPerIp: 20,
      guestsGlobal: 2_000,
      guestWindowSeconds: 3_600,
    });
    expect(c.jobs.maxActivePerUser).toBe(20);
    expect(c.jobs.maxQueuedBytesPerUser).toBe(1_048_576);
    // 0 turns the byte budget off.
    expect(parseConfig({ USER_MAX_QUEUED_BYTES: '0' }).jobs.maxQueuedBytesPerUser).toBe(0);
    // Production cookies are Secure unless told otherwise: a TLS proxy in front hides https from the api.
    expect(parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).auth.cookieSecure).toBe(true);
    expect(
      parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), COOKIE_SECURE: 'false' }).auth
        .cookieSecure,
    ).toBe(false);
  });

  it('reads the switches', () => {
    const c = parseConfig({
      AUTH_REGISTRATION: 'false',
      AUTH_GUESTS: 'off',
      COOKIE_SECURE: 'true',
      SESSION_TTL_SECONDS: '600',
      USER_MAX_ACTIVE_JOBS: '3',
    });
    expect(c.auth).toMatchObject({
      registration: false,
      guests: false,
      cookieSecure: true,
      sessionTtlSeconds: 600,
    });
    expect(c.jobs.maxActivePerUser).toBe(3);
    expect(() => parseConfig({ SESSION_TTL_SECONDS: '5' })).toThrow(/SESSION_TTL_SECONDS/);
  });

  it('has abuse limits with the documented defaults', () => {
    expect(parseConfig({}).limits).toEqual({
      ssePerUser: 20,
      submitPerUser: 120,
      submitPerIp: 600,
      submitWindowSeconds: 60,
      speechPerUser: 60,
      speechWindowSeconds: 60,
      speechConcurrentPerUser: 2,
    });
    expect(parseConfig({}).http.sseMaxBufferedBytes).toBe(256 * 1024);
    const c = parseConfig({ SSE_MAX_PER_USER: '5', SUBMIT_RATE_PER_USER: '10', SUBMIT_RATE_PER_IP: '50' });
    expect(c.limits).toMatchObject({ ssePerUser: 5, submitPerUser: 10, submitPerIp: 50 });
    expect(() => parseConfig({ SUBMIT_RATE_PER_USER: '0' })).toThrow(/SUBMIT_RATE_PER_USER/);
  });
});

describe('LLM_BACKENDS', () => {
  const servers = [
    {
      name: 'gpu-a',
      service: 'vllm',
      url: 'http://gpu-a:8002/',
      concurrency: 12,
      models: ['gemma'],
      api_key: 'k-a',
    },
    { name: 'gpu-b', service: 'ollama', url: 'http://gpu-b:11434' },
  ];

  it('is a pool of servers, each with its own cap; it replaces the single-backend settings', () => {
    const c = parseConfig({
      LLM_BACKENDS: JSON.stringify(servers),
      LLM_SERVICE: 'ollama',
      OLLAMA_BASE_URL: 'http://ignored:1',
      WORKER_CONCURRENCY: '6',
    });
    expect(c.llm.pool).toEqual([
      {
        name: 'gpu-a',
        service: 'vllm',
        baseUrl: 'http://gpu-a:8002',
        concurrency: 12,
        workerConcurrency: 6,
        models: ['gemma'],
        apiKey: 'k-a',
      },
      {
        name: 'gpu-b',
        service: 'ollama',
        baseUrl: 'http://gpu-b:11434',
        concurrency: 4,
        workerConcurrency: 4,
        models: null,
      },
    ]);
    expect(c.llm.concurrency).toBe(16);
    expect(c.llm.model).toBe('gemma');
    expect(c.llm.baseUrl).toBe('http://gpu-a:8002');
  });

  it('keeps the single-backend settings working as a pool of one', () => {
    const c = parseConfig({ LLM_SERVICE: 'vllm', VLLM_BASE_URL: 'http://gpu:8002', LLM_CONCURRENCY: '5' });
    expect(c.llm.pool).toEqual([
      {
        name: 'default',
        service: 'vllm',
        baseUrl: 'http://gpu:8002',
        concurrency: 5,
        workerConcurrency: 5,
        models: null,
      },
    ]);
    expect(parseConfig({}).llm.pool[0]?.baseUrl).toBeNull();
  });

  it('fails with one line naming the bad entry, never echoing a key', () => {
    const bad = (v: unknown) => {
      try {
        parseConfig({ LLM_BACKENDS: typeof v === 'string' ? v : JSON.stringify(v) });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        const message = (err as Error).message;
        expect(message.split('\n')).toHaveLength(1);
        expect(message).toContain('LLM_BACKENDS');
        return message;
      }
      throw new Error('accepted');
    };
    expect(bad('[{')).toMatch(/LLM_BACKENDS: must be a JSON array/);
    expect(bad([])).toMatch(/non-empty/);
    const url = bad([servers[0], { ...servers[1], url: 'ftp://x', api_key: 'secret-123' }]);
    expect(url).toMatch(/entry 1 \(gpu-b\): url/);
    expect(url).not.toContain('secret-123');
    expect(bad([servers[0], { ...servers[0] }])).toMatch(/entry 1 \(gpu-a\): name is used twice/);
    expect(bad([{ ...servers[1], name: 'GPU B!' }])).toMatch(/entry 0 \(GPU B!\): name must be/);
    expect(bad([{ ...servers[1], concurrency: 0 }])).toMatch(/entry 0 \(gpu-b\): concurrency/);
    expect(bad([{ ...servers[1], service: 'tgi' }])).toMatch(/entry 0 \(gpu-b\): service/);
    expect(bad([{ ...servers[1], modles: ['x'] }])).toMatch(/entry 0 \(gpu-b\)/);
  });
});

describe('TRUST_PROXY', () => {
  it('is off by default, and `true` means one hop, never every hop', () => {
    expect(parseConfig({}).http.trustProxy).toBe(false);
    expect(parseConfig({ TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
    expect(parseConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(1);
    expect(parseConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
  });

  it("takes the proxies' addresses and CIDRs, and names the variable for anything else", () => {
    expect(parseConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).http.trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    expect(() => parseConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY: must be false, a hop count/);
  });
});
