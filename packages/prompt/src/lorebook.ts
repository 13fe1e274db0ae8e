import type { Lorebook } from '@gateway/contracts';
import { estimateContentTokens } from './tokens.js';

/** A card's lorebook with the server's scan depth and token budget where the card names none. */
export function withLoreDefaults(
  lorebook: Lorebook,
  defaults: { scanDepth: number; tokenBudget: number },
): Lorebook {
  return {
    ...lorebook,
    scan_depth: lorebook.scan_depth ?? defaults.scanDepth,
    token_budget: lorebook.token_budget ?? defaults.tokenBudget,
  };
}

/** A lorebook entry (SillyTavern `character_book.entries[]`), as the gateway keeps it. */
export interface LoreEntry {
  keys: string[];
  secondary_keys: string[];
  content: string;
  enabled: boolean;
  insertion_order: number;
  constant: boolean;
  selective: boolean;
  case_sensitive: boolean;
}

export interface LoreOptions {
  /** How many of the newest messages are searched for keys (the new user message counts as one). */
  scanDepth: number;
  /** Most tokens (estimated, as the prompt fit does) the chosen entries may add. */
  tokenBudget: number;
}

/** Most characters of recent messages searched for keys (the newest ones). */
export const MAX_SCAN_CHARS = 16_000;

function mentions(haystack: { exact: string; folded: string }, key: string, caseSensitive: boolean): boolean {
  if (key.length === 0) return false;
  return caseSensitive ? haystack.exact.includes(key) : haystack.folded.includes(key.toLowerCase());
}

/**
 * The lorebook entries that join this turn's prompt, in insertion order: every enabled `constant` entry,
 * and every enabled entry one of whose keys appears in the newest `scanDepth` messages (a `selective`
 * entry with secondary keys also needs one of those). When they do not all fit in `tokenBudget`, the
 * constant entries go first, then the others by insertion order; an entry that does not fit is left out.
 */
export function selectLore(entries: LoreEntry[], recentNewestLast: string[], opts: LoreOptions): LoreEntry[] {
  const depth = Math.max(0, Math.floor(opts.scanDepth));
  // The newest characters only: matching costs about (keys x scanned text), and both are bounded.
  const scanned = depth === 0 ? '' : recentNewestLast.slice(-depth).join('\n').slice(-MAX_SCAN_CHARS);
  const haystack = { exact: scanned, folded: scanned.toLowerCase() };
  // Entries often share keys: each distinct key is searched once.
  const seen = new Map<string, boolean>();
  const found = (k: string, cs: boolean) => {
    const id = `${cs ? 1 : 0}${k}`;
    let r = seen.get(id);
    if (r === undefined) {
      r = mentions(haystack, k, cs);
      seen.set(id, r);
    }
    return r;
  };
  const hit = (keys: string[], cs: boolean) => keys.some((k) => found(k, cs));
  const chosen = entries.filter((e) => {
    if (!e.enabled || e.content.trim().length === 0) return false;
    if (e.constant) return true;
    if (!hit(e.keys, e.case_sensitive)) return false;
    return !e.selective || e.secondary_keys.length === 0 || hit(e.secondary_keys, e.case_sensitive);
  });
  const byPriority = [...chosen].sort(
    (a, b) => Number(b.constant) - Number(a.constant) || a.insertion_order - b.insertion_order,
  );
  const kept = new Set<LoreEntry>();
  let spent = 0;
  for (const e of byPriority) {
    const cost = estimateContentTokens(e.content) + 1; // + the line break between entries
    if (spent + cost > opts.tokenBudget) continue;
    spent += cost;
    kept.add(e);
  }
  return chosen.filter((e) => kept.has(e)).sort((a, b) => a.insertion_order - b.insertion_order);
}

/** The chosen entries as one block of the system prompt. */
export function formatLore(entries: LoreEntry[]): string {
  return entries.map((e) => e.content.trim()).join('\n');
}
