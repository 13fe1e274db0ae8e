import { type ChatJobData, GatewayError, isGatewayError, type Reply } from '@gateway/contracts';

import type { LlmClient } from '@gateway/llm-clients';
import {
  type ChatMessage,
  droppedCallerMessages,
  estimateTokens,
  fitToContext,
  normalizeForGemma,
  withLoreDefaults,
} from '@gateway/prompt';
import type { ConversationAdmin } from '@gateway/queue';
import { backendFields, buildPrompt, openAiPrompt, replyExtras } from './build-prompt.js';

/** What generating one reply needs: the backend, the conversation's recent turns, the configured window. */
export interface ReplyDeps {
  llm: LlmClient;
  history: Pick<ConversationAdmin, 'recentTurns'> & Partial<Pick<ConversationAdmin, 'storedCharacter'>>;
  settings: { maxContextTokens: number; lore?: { scanDepth: number; tokenBudget: number } };
  /**
   * Holds `n` sequences of the server's cap (ServerSeats) until the returned release; waits while they do
   * not fit. Absent: every job counts as one sequence, its own queue slot.
   */
  seats?: (n: number, signal: AbortSignal) => Promise<() => Promise<void>>;
}

/**
 * A job that keeps its stored character by reference gets the persona and lorebook the character has
 * now: an edit made while the job waited applies. A character deleted meanwhile fails the job
 * (`not_found`) rather than answering as someone without a persona.
 */
export async function withStoredCharacter(data: ChatJobData, deps: ReplyDeps): Promise<ChatJobData> {
  const c = data.character;
  if (!c.by_reference || !c.id) return data;
  const stored = (await deps.history.storedCharacter?.(data.owner, c.id)) ?? null;
  if (!stored) {
    throw new GatewayError('not_found', `character ${c.id} was deleted before this turn ran`);
  }
  const lore = deps.settings.lore;
  const lorebook = stored.lorebook && lore ? withLoreDefaults(stored.lorebook, lore) : stored.lorebook;
  return { ...data, character: { ...c, persona: stored.persona, lorebook } };
}

/**
 * Most turns that can fit a window of `maxContextTokens`: a turn is a user message of at least one token
 * and a reply (possibly empty), each wrapped in the chat template's markers (Gemma: 5 per message), so
 * at least 11 tokens.
 */
export const maxTurnsInWindow = (maxContextTokens: number) => Math.ceil(maxContextTokens / 11) + 1;

/**
 * One reply from the backend: the prompt built (the role-play prompt, or a `/v1` caller's own messages
 * fitted for the template), trimmed to the window, and streamed token by token to `onToken`.
 */
export async function generate(
  given: ChatJobData,
  deps: ReplyDeps,
  signal: AbortSignal,
  onToken: (delta: string) => void,
  onTrimmed: (droppedMessages: number) => Promise<unknown>,
): Promise<Reply> {
  const { llm } = deps;
  // Only the turns that could fit the window are read: the work per turn does not grow with the history.
  // The stored character (kept by reference) is read beside them.
  const [data, turns, window] = await Promise.all([
    withStoredCharacter(given, deps),
    given.kind === 'roleplay'
      ? deps.history.recentTurns(
          given.conversation_id,
          given.turn,
          maxTurnsInWindow(deps.settings.maxContextTokens),
        )
      : [],
    // The server's own context window (vLLM max_model_len) wins over the configured one.
    llm.contextWindow(given.model, { signal }),
  ]);
  const maxContextTokens = window ?? deps.settings.maxContextTokens;
  const openai = data.kind === 'openai' ? openAiPrompt(data) : null;
  const messages = openai ? openai.messages : buildPrompt(data, turns);
  const p = data.params ?? {};
  const fitOpts = {
    maxContextTokens,
    maxTokens: data.max_tokens,
    count: (m: ChatMessage[]) => llm.countTokens(data.model, m, { signal }),
  };
  // estimateTokens never undercounts: when even it fits with room to spare, the backend's exact count
  // (/tokenize, one more round trip before the first token) could not change what is sent.
  const roomy = estimateTokens(normalizeForGemma(messages)) + data.max_tokens <= maxContextTokens * 0.8;
  const call = (m: ChatMessage[]) =>
    llm.chatStream(
      {
        model: data.model,
        messages: m,
        maxTokens: data.max_tokens,
        temperature: data.temperature,
        ...(data.top_p === null ? {} : { topP: data.top_p }),
        ...(data.stop ? { stop: data.stop } : {}),
        ...(data.seed === null || data.seed === undefined ? {} : { seed: data.seed }),
        numCtx: maxContextTokens,
        ...backendFields(p, openai?.continueFinal === true),
      },
      { signal, onToken },
    );
  let fit = await fitToContext(messages, roomy ? { ...fitOpts, count: undefined } : fitOpts);
  const dropped = () => (openai ? droppedCallerMessages(openai, fit) : 0);
  if (dropped() > 0) await onTrimmed(dropped());
  let result: Awaited<ReturnType<typeof call>>;
  // n choices are n sequences at the backend at once (vLLM `n`, Ollama's runs): n of the server's cap.
  const n = p.n ?? 1;
  const release = n > 1 && deps.seats ? await deps.seats(n, signal) : null;
  try {
    result = await call(fit.messages);
  } catch (err) {
    // Our count was an estimate or the backend counts differently: trim one more pair and try once more.
    if (!isGatewayError(err) || err.code !== 'context_too_long') throw err;
    fit = await fitToContext(messages, { ...fitOpts, extraDropPairs: 1 });
    if (dropped() > 0) await onTrimmed(dropped());
    result = await call(fit.messages);
  } finally {
    await release?.();
  }
  return {
    content: result.content,
    model: result.model || data.model,
    finish_reason: result.finishReason,
    usage: {
      prompt_tokens: result.usage.promptTokens,
      completion_tokens: result.usage.completionTokens,
      total_tokens: result.usage.totalTokens,
    },
    ...replyExtras(result),
    ...(dropped() > 0 ? { dropped_messages: dropped() } : {}),
  };
}
