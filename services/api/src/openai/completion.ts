import type { ChatCompletion, ChatJobData, Reply, ReplyChoice, Usage } from '@gateway/contracts';
import type { FastifyReply } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { cancelOnDisconnect, followJob, type JobEnd, type JobFollower, jobEndError } from './follow.js';

/** What every body of one completion repeats: its id (from the job id), time and model. */
export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

export const completionMeta = (data: ChatJobData): CompletionMeta => ({
  id: `chatcmpl-${data.job_id.replaceAll('-', '')}`,
  created: Math.floor(data.created_at / 1000),
  model: data.model,
});

// vLLM's field order.
const usageOf = (u: Usage) => ({
  prompt_tokens: u.prompt_tokens,
  total_tokens: u.total_tokens,
  completion_tokens: u.completion_tokens,
});

/** Response header naming how many of the caller's messages were left out to fit the context window. */
export const DROPPED_HEADER = 'x-dropped-messages';

/** Every choice of a reply: the reply itself, or all n of them. */
export const choicesOf = (reply: Reply): ReplyChoice[] => reply.choices ?? [reply];

/** A choice that called tools finishes with `tool_calls`, as OpenAI's and vLLM's do. */
export const finishOf = (c: ReplyChoice) => (c.tool_calls?.length ? 'tool_calls' : c.finish_reason);

export function toCompletion(meta: CompletionMeta, reply: Reply): ChatCompletion {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: choicesOf(reply).map((c, index) => ({
      index,
      message: {
        role: 'assistant' as const,
        // A reply that only calls tools has no text: null, as OpenAI sends it.
        content: c.tool_calls?.length && c.content === '' ? null : c.content,
        ...(c.tool_calls?.length ? { tool_calls: c.tool_calls } : {}),
      },
      logprobs: c.logprobs ?? null,
      finish_reason: finishOf(c),
    })),
    usage: usageOf(reply.usage),
  };
}

/** `chat.completion.chunk` bodies, framed as vLLM frames them (see shared/fixtures/vllm_chat_stream.sse). */
export const chunks = {
  head: (m: CompletionMeta) => ({
    id: m.id,
    object: 'chat.completion.chunk',
    created: m.created,
    model: m.model,
  }),
  role: (m: CompletionMeta) => ({
    ...chunks.head(m),
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
  }),
  content: (m: CompletionMeta, text: string) => ({
    ...chunks.head(m),
    choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
  }),
  /**
   * The end of choice `index` once the reply is complete: text not streamed yet (the choices beyond the
   * first), tool calls, and the logprobs, which the worker does not stream token by token.
   */
  choiceEnd: (m: CompletionMeta, index: number, c: ReplyChoice, text: string) => ({
    ...chunks.head(m),
    choices: [
      {
        index,
        delta: {
          ...(index > 0 ? { role: 'assistant' } : {}),
          content: text,
          ...(c.tool_calls?.length ? { tool_calls: c.tool_calls.map((t, i) => ({ index: i, ...t })) } : {}),
        },
        logprobs: c.logprobs ?? null,
        finish_reason: finishOf(c),
        stop_reason: null,
      },
    ],
  }),
  usage: (m: CompletionMeta, u: Usage) => ({ ...chunks.head(m), choices: [], usage: usageOf(u) }),
};

/**
 * Non-streaming: waits for the job to end and answers its reply as a `chat.completion`, or the job's
 * error (the backend's reason, with the status of its code). A client that goes away cancels the job.
 */
export async function waitForCompletion(
  deps: ApiDeps,
  reply: FastifyReply,
  data: ChatJobData,
): Promise<ChatCompletion> {
  const stopWatching = cancelOnDisconnect(deps, reply, data.job_id);
  let follower: JobFollower | null = null;
  try {
    const end = await new Promise<JobEnd>((resolve, reject) => {
      follower = followJob(deps, data.job_id, { onEnd: resolve });
      follower.ready.catch(reject);
    });
    if (end.status !== 'completed') throw jobEndError(end);
    if (end.reply.dropped_messages) reply.header(DROPPED_HEADER, String(end.reply.dropped_messages));
    return toCompletion(completionMeta(data), end.reply);
  } finally {
    stopWatching();
    (follower as JobFollower | null)?.close();
  }
}
