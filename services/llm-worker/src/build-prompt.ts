import type { ChatJobData, Reply } from '@gateway/contracts';
import type { ChatRequest, ChatResult, ChoiceResult } from '@gateway/llm-clients';
import {
  buildChatMessages,
  type ChatMessage,
  type ClientMessage,
  type ClientPrompt,
  expandMacros,
  expandMacrosIn,
  fitClientMessages,
  formatPersonaForRoleplay,
} from '@gateway/prompt';
import type { StoredTurn } from '@gateway/queue';
import { loreFor, macroNamesOf } from './lore.js';

/**
 * The role-play system prompt of a job: its persona override wins over the character's; the lorebook
 * entries this turn brings in (lore.ts) follow the persona. `{{char}}`/`{{user}}` filled in.
 */
export function systemPromptOf(data: ChatJobData, lore = ''): string {
  const persona = [data.persona ?? data.character.persona ?? '', lore].filter(Boolean).join('\n\n');
  const system = formatPersonaForRoleplay({
    characterName: data.character.name,
    persona,
    scenario: data.scenario,
  });
  return expandMacros(system, macroNamesOf(data));
}

/** The messages sent to the backend, before trimming to the context window. */
export function buildPrompt(data: ChatJobData, turns: StoredTurn[]): ChatMessage[] {
  if (data.kind === 'openai') return openAiPrompt(data).messages;
  const history: ChatMessage[] = [];
  for (const t of turns) {
    if (t.turn >= data.turn) continue;
    if (t.user !== null) history.push({ role: 'user', content: t.user });
    history.push({ role: 'assistant', content: t.assistant });
  }
  const lore = loreFor(data, [...history.map((m) => m.content), data.message]);
  const messages = buildChatMessages({
    system: systemPromptOf(data, lore),
    history,
    userMessage: data.message,
  });
  return expandMacrosIn(messages, macroNamesOf(data));
}

/**
 * A `/v1` caller's messages, fitted to the chat template without moving an instruction (see
 * fitClientMessages); a stored character's role-play prompt goes first. `continueFinal`: the caller
 * ended with an assistant message to be continued.
 */
export function openAiPrompt(data: ChatJobData): ClientPrompt {
  const given = (data.messages ?? []) as ClientMessage[];
  const withCharacter: ClientMessage[] = data.character.id
    ? [{ role: 'system', content: systemPromptOf(data) }, ...given]
    : given;
  return fitClientMessages(withCharacter);
}

/** The job's sampler and facade fields in the llm client's terms. */
export function backendFields(
  p: NonNullable<ChatJobData['params']>,
  continueFinal: boolean,
): Partial<ChatRequest> {
  const sampling = {
    topK: p.top_k,
    minP: p.min_p,
    repetitionPenalty: p.repetition_penalty,
    presencePenalty: p.presence_penalty,
    frequencyPenalty: p.frequency_penalty,
    logitBias: p.logit_bias,
    logprobs: p.logprobs,
    topLogprobs: p.top_logprobs,
  };
  const defined = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return defined({
    sampling: Object.keys(defined(sampling)).length > 0 ? defined(sampling) : undefined,
    n: p.n,
    responseFormat: p.response_format,
    tools: p.tools,
    toolChoice: p.tool_choice,
    continueFinal: continueFinal || undefined,
  });
}

/** Logprobs, tool calls and the other choices, in the reply's (OpenAI) names. */
export function replyExtras(r: ChatResult): Partial<Reply> {
  const choice = (c: ChoiceResult) => ({
    content: c.content,
    finish_reason: c.finishReason,
    ...(c.logprobs ? { logprobs: c.logprobs } : {}),
    ...(c.toolCalls ? { tool_calls: c.toolCalls } : {}),
  });
  const { content: _c, finish_reason: _f, ...first } = choice(r);
  return { ...first, ...(r.choices ? { choices: r.choices.map(choice) } : {}) };
}
