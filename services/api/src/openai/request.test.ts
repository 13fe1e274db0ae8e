import { GatewayError, OpenAiChatRequest } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { toErrorView } from '../errors.js';
import { openAiErrorBody } from './errors.js';
import { completionParams } from './request.js';
import { speechError } from './speech.js';

const parse = (body: unknown) => completionParams(OpenAiChatRequest.parse(body));
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
    });
  });

  it('asks for usage only on a stream, and leaves unset what the caller left unset', () => {
    const p = parse({ messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } });
    expect(p).toMatchObject({ stream: false, includeUsage: false, maxTokens: null, stop: null, seed: null });
  });

  it('refuses what cannot be served, naming the parameter', () => {
    const user = { role: 'user', content: 'hi' };
    expect(paramOf(() => parse({ messages: [user], n: 3 }))).toBe('n');
    expect(paramOf(() => parse({ messages: [{ role: 'system', content: 'only me' }] }))).toBe('messages');
    expect(
      paramOf(() => parse({ messages: [user, { role: 'tool', content: 'x', tool_call_id: 't' }] })),
    ).toBe('messages.1.role');
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
