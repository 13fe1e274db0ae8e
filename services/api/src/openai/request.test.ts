import { GatewayError, OpenAiChatRequest } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { toErrorView } from '../errors.js';
import { openAiErrorBody } from './errors.js';
import { completionParams } from './request.js';
import { speechError } from './speech.js';

const parse = (body: unknown, service: 'vllm' | 'ollama' = 'vllm') =>
  completionParams(OpenAiChatRequest.parse(body), service);
const paramOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return openAiErrorBody(toErrorView(err)).error.param;
  }
  throw new Error('did not throw');
};

describe('completionParams', () => {
  it('maps an OpenAI request to job parameters', () => {
    const p = parse({
      model: 'm',
      messages: [
        { role: 'developer', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      max_completion_tokens: 20,
      stop: 'END',
      seed: 7,
      top_p: null,
      logit_bias: { 1: 2 },
    });
    expect(p).toEqual({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'a\nb' },
        { role: 'assistant', content: '' },
      ],
      stream: true,
      includeUsage: true,
      maxTokens: 20,
      temperature: null,
      topP: null,
      stop: ['END'],
      seed: 7,
      backend: { logit_bias: { 1: 2 } },
      n: 1,
    });
  });

  it('passes every sampler field on, keeps names and tool turns, and reads top_p 0 as greedy', () => {
    const p = parse({
      messages: [
        { role: 'system', content: 'S', name: 'example_user' },
        { role: 'user', content: 'hi', name: 'Mina' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', content: '42', tool_call_id: 'c1' },
      ],
      top_p: 0,
      temperature: 1.2,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      presence_penalty: 0.3,
      frequency_penalty: -0.2,
      logprobs: true,
      top_logprobs: 3,
      n: 2,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
    });
    expect(p.temperature).toBe(0);
    expect(p.topP).toBeNull();
    expect(p.n).toBe(2);
    expect(p.backend).toEqual({
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      presence_penalty: 0.3,
      frequency_penalty: -0.2,
      logprobs: true,
      top_logprobs: 3,
      n: 2,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
    });
    expect(p.messages[0]).toEqual({ role: 'system', content: 'S', name: 'example_user' });
    expect(p.messages[1]).toEqual({ role: 'user', content: 'hi', name: 'Mina' });
    expect(p.messages[2]?.tool_calls).toHaveLength(1);
    expect(p.messages[3]).toEqual({ role: 'tool', content: '42', tool_call_id: 'c1' });
  });

  it('refuses a field the backend cannot take, naming it', () => {
    const user = { role: 'user', content: 'hi' };
    expect(paramOf(() => parse({ messages: [user], logit_bias: { 5: 1 } }, 'ollama'))).toBe('logit_bias');
    const tools = [{ type: 'function', function: { name: 'f' } }];
    expect(paramOf(() => parse({ messages: [user], tools, tool_choice: 'required' }, 'ollama'))).toBe(
      'tool_choice',
    );
    expect(parse({ messages: [user], tools, tool_choice: 'required' }, 'vllm').backend.tool_choice).toBe(
      'required',
    );
    expect(paramOf(() => parse({ messages: [user], functions: [] }))).toBe('functions');
    expect(paramOf(() => parse({ messages: [user], top_logprobs: 2 }))).toBe('top_logprobs');
    // Ranges are the schema's: the route answers 400 naming the field.
    const badField = (extra: Record<string, unknown>) =>
      OpenAiChatRequest.safeParse({ messages: [user], ...extra }).error?.issues[0]?.path.join('.');
    expect(badField({ top_k: -5 })).toBe('top_k');
    expect(badField({ repetition_penalty: 0 })).toBe('repetition_penalty');
    expect(badField({ min_p: 1.5 })).toBe('min_p');
    expect(badField({ presence_penalty: 2.5 })).toBe('presence_penalty');
    expect(badField({ top_logprobs: 21 })).toBe('top_logprobs');
    expect(badField({ logit_bias: { abc: 1 } })).toBe('logit_bias.abc');
    expect(badField({ n: 9 })).toBe('n');
    expect(badField({ top_p: 0, model: '' })).toBeUndefined();
  });

  it('asks for usage only on a stream, and leaves unset what the caller left unset', () => {
    const p = parse({ messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } });
    expect(p).toMatchObject({ stream: false, includeUsage: false, maxTokens: null, stop: null, seed: null });
  });

  it('refuses what cannot be served, naming the parameter', () => {
    const user = { role: 'user', content: 'hi' };
    expect(paramOf(() => parse({ messages: [{ role: 'system', content: 'only me' }] }))).toBe('messages');
    expect(paramOf(() => parse({ messages: [user, { role: 'function', content: 'x', name: 'f' }] }))).toBe(
      'messages.1.role',
    );
    expect(paramOf(() => parse({ messages: [user, { role: 'tool', content: 'x' }] }))).toBe(
      'messages.1.tool_call_id',
    );
    expect(
      paramOf(() =>
        parse({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }),
      ),
    ).toBe('messages.0.content.0');
    expect(paramOf(() => parse({ messages: [{ role: 'user', content: null }] }))).toBe('messages.0.content');
    expect(parse({ messages: [user], n: 1 }).messages).toHaveLength(1);
  });
});

describe('OpenAI error bodies', () => {
  it('carry the type for the status and the gateway code', () => {
    const body = (err: GatewayError) => openAiErrorBody(toErrorView(err)).error;
    expect(body(new GatewayError('queue_full', 'full', { retryAfter: 3 }))).toEqual({
      message: 'full',
      type: 'rate_limit_error',
      param: null,
      code: 'queue_full',
    });
    expect(body(new GatewayError('unauthorized', 'who?')).type).toBe('authentication_error');
    expect(body(new GatewayError('backend_unavailable', 'down')).type).toBe('server_error');
    expect(body(new GatewayError('model_not_found', 'no', { details: { param: 'model' } }))).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
    });
  });

  it('turn a failed speech job back into its error, a missing voice into a 400', () => {
    expect(speechError('tts_unavailable: espeak-ng took longer than 100 ms')).toMatchObject({
      code: 'tts_unavailable',
      message: 'espeak-ng took longer than 100 ms',
    });
    const voice = speechError('tts_failed: voice "alloy" is not an espeak-ng voice (such as ko)');
    expect(voice.status).toBe(400);
    expect(openAiErrorBody(toErrorView(voice)).error.param).toBe('voice');
    expect(speechError('something odd').code).toBe('tts_failed');
  });
});
