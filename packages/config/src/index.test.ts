import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './index.js';

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
      cookieSecure: null,
      registration: true,
      guests: true,
      loginMaxAttempts: 10,
      loginMaxAttemptsPerIp: 100,
      loginWindowSeconds: 900,
    });
    expect(c.jobs.maxActivePerUser).toBe(20);
    expect(c.jobs.maxQueuedBytesPerUser).toBe(1_048_576);
    // 0 turns the byte budget off.
    expect(parseConfig({ USER_MAX_QUEUED_BYTES: '0' }).jobs.maxQueuedBytesPerUser).toBe(0);
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
    });
    expect(parseConfig({}).http.sseMaxBufferedBytes).toBe(256 * 1024);
    const c = parseConfig({ SSE_MAX_PER_USER: '5', SUBMIT_RATE_PER_USER: '10', SUBMIT_RATE_PER_IP: '50' });
    expect(c.limits).toMatchObject({ ssePerUser: 5, submitPerUser: 10, submitPerIp: 50 });
    expect(() => parseConfig({ SUBMIT_RATE_PER_USER: '0' })).toThrow(/SUBMIT_RATE_PER_USER/);
  });
});
