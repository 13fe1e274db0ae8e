import { GatewayError } from '@gateway/contracts';
import { type ChatMessage, normalizeForGemma } from './messages.js';
import { estimateMessageTokens, estimateTokens } from './tokens.js';

/** Exact prompt-token count (e.g. vLLM `/tokenize`), or null when unavailable. */
export type TokenCounter = (messages: ChatMessage[]) => Promise<number | null>;

export interface FitResult {
  messages: ChatMessage[];
  promptTokens: number;
  /** True when promptTokens came from the counter, false when estimated. */
  exact: boolean;
  droppedPairs: number;
  /** Messages left out (a pair is two; a turn with tool calls and results counts each message). */
  droppedMessages: number;
}

export interface FitOptions {
  maxContextTokens: number;
  maxTokens: number;
  count?: TokenCounter;
  /** Drop this many more pairs than needed (after a backend "context too long": trim more, retry once). */
  extraDropPairs?: number;
}

interface Shape {
  head: ChatMessage[];
  /**
   * Droppable history, oldest first, in turns: a user message with everything up to the next user
   * message (a user+assistant pair, or a user turn with its tool calls and results).
   */
  pairs: ChatMessage[][];
  /** The newest user message and anything after it (a trailing assistant prefill). */
  tail: ChatMessage[];
}

function shape(messages: ChatMessage[]): Shape {
  const normalized = normalizeForGemma(messages);
  const head = normalized[0]?.role === 'system' ? [normalized[0]] : [];
  const body = normalized.slice(head.length);
  let lastUser = body.length;
  for (let i = body.length - 1; i >= 0; i -= 1) {
    if (body[i]?.role === 'user') {
      lastUser = i;
      break;
    }
  }
  const pairs: ChatMessage[][] = [];
  for (let i = 0; i < lastUser; i += 1) {
    const m = body[i]!;
    const current = pairs[pairs.length - 1];
    if (m.role === 'user' || !current) pairs.push([m]);
    else current.push(m);
  }
  return { head, pairs, tail: body.slice(lastUser) };
}

function assemble(s: Shape, dropped: number): ChatMessage[] {
  return [...s.head, ...s.pairs.slice(dropped).flat(), ...s.tail];
}

async function tryCount(count: TokenCounter, messages: ChatMessage[]): Promise<number | null> {
  try {
    const n = await count(messages);
    return typeof n === 'number' && Number.isFinite(n) ? n : null;
  } catch {
    return null; // a failing tokenizer endpoint must not fail the chat: fall back to the estimate
  }
}

/**
 * Trims history in user+assistant pairs, oldest first, so that promptTokens + maxTokens <=
 * maxContextTokens, always keeping the system message and the newest user message. The input is
 * normalized for Gemma first (normalizeForGemma), so the result follows the Gemma rules.
 *
 * Counts with `count` when it returns a number (exact), otherwise with estimateTokens. The counter
 * is called at most 2 + ceil(log2(pairs + 1)) times (lower-bound binary search on dropped pairs);
 * if it returns null (or throws) once, the whole fit is redone with the estimate.
 *
 * @throws GatewayError('context_too_long') when system + newest user + maxTokens does not fit.
 */
export async function fitToContext(messages: ChatMessage[], opts: FitOptions): Promise<FitResult> {
  const s = shape(messages);
  const n = s.pairs.length;
  const extra = Math.max(0, Math.floor(opts.extraDropPairs ?? 0));
  const budget = opts.maxContextTokens - opts.maxTokens;

  let measure: (dropped: number) => Promise<number | null>;
  let exact = opts.count !== undefined;
  if (opts.count !== undefined) {
    const count = opts.count;
    const cache = new Map<number, number>();
    measure = async (dropped) => {
      const hit = cache.get(dropped);
      if (hit !== undefined) return hit;
      const tokens = await tryCount(count, assemble(s, dropped));
      if (tokens !== null) cache.set(dropped, tokens);
      return tokens;
    };
  } else {
    measure = async () => null;
  }

  let result = await search(n, budget, extra, measure);
  if (result === null) {
    exact = false;
    const fixed = estimateTokens(s.head) + estimateTokens(s.tail) - estimateTokens([]); // one prompt overhead
    const pairCost = s.pairs.map((turn) => turn.reduce((sum, m) => sum + estimateMessageTokens(m), 0));
    const suffix: number[] = new Array<number>(n + 1).fill(0); // suffix[k]: cost of pairs[k..]
    for (let k = n - 1; k >= 0; k -= 1) suffix[k] = (suffix[k + 1] ?? 0) + (pairCost[k] ?? 0);
    result = await search(n, budget, extra, async (dropped) => fixed + (suffix[dropped] ?? 0));
  }
  if (result === null || 'tooLong' in result) {
    const promptTokens = result?.tooLong ?? 0;
    throw new GatewayError(
      'context_too_long',
      `prompt needs ${promptTokens} tokens even with all history dropped; with max_tokens ${opts.maxTokens} ` +
        `that exceeds the context window of ${opts.maxContextTokens} tokens ` +
        `(shorten the system prompt or the message, or lower max_tokens)`,
      {
        details: {
          prompt_tokens: promptTokens,
          max_tokens: opts.maxTokens,
          max_context_tokens: opts.maxContextTokens,
        },
      },
    );
  }
  return {
    messages: assemble(s, result.dropped),
    promptTokens: result.tokens,
    exact,
    droppedPairs: result.dropped,
    droppedMessages: s.pairs.slice(0, result.dropped).reduce((sum, turn) => sum + turn.length, 0),
  };
}

type SearchResult = { dropped: number; tokens: number } | { tooLong: number };

/**
 * Finds the fewest dropped pairs k in [0, n] with tokens(k) <= budget (tokens falls as k grows),
 * then drops `extra` more (capped at n). Returns null when `measure` gives up (returns null).
 */
async function search(
  n: number,
  budget: number,
  extra: number,
  measure: (dropped: number) => Promise<number | null>,
): Promise<SearchResult | null> {
  const first = await measure(0);
  if (first === null) return null;
  let found: { dropped: number; tokens: number } | null =
    first <= budget ? { dropped: 0, tokens: first } : null;
  if (found === null) {
    let lo = 1;
    let hi = n + 1; // n + 1: nothing fits
    let best: number | null = null;
    let atN: number | null = null;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const tokens = await measure(mid);
      if (tokens === null) return null;
      if (mid === n) atN = tokens;
      if (tokens <= budget) {
        hi = mid;
        best = tokens;
      } else {
        lo = mid + 1;
      }
    }
    if (lo > n || best === null) return { tooLong: atN ?? first };
    found = { dropped: lo, tokens: best };
  }
  if (extra === 0 || found.dropped === n) return found;
  const dropped = Math.min(n, found.dropped + extra);
  const tokens = await measure(dropped);
  return tokens === null ? null : { dropped, tokens };
}
