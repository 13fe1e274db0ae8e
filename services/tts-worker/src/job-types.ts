import type { AudioStore } from '@gateway/audio-store';
import type { GatewayError, TtsJobResult } from '@gateway/contracts';
import type { Logger } from '@gateway/logger';
import type { JobStore } from '@gateway/queue';
import type { TtsEngine } from './engines/index.js';

/** What a speech job needs and what it ends with (shared by chat-reply and standalone speech). */

export interface TtsSettings {
  maxChars: number;
  stripActions: boolean;
  chunkSentences: boolean;
  speed: number;
}

export interface TtsJobDeps {
  engine: TtsEngine;
  store: AudioStore;
  jobs: JobStore;
  /** Whether a field of the chat job's record is set (the guards of earlier runs of this job). */
  isSet: (jobId: string, field: string) => Promise<boolean>;
  log: Logger;
  settings: TtsSettings;
}

export interface TtsJobContext {
  attemptsMade: number;
  maxAttempts: number;
  signal?: AbortSignal;
}

export type TtsOutcome =
  | { outcome: 'completed' | 'skipped'; result: TtsJobResult }
  | { outcome: 'already_ended' | 'expired' }
  /** A retryable failure with attempts left: the caller rethrows so the queue retries with backoff. */
  | { outcome: 'retry'; error: GatewayError }
  /** Not done yet: look again after `ms` (the seal of a reply's chunks, while one is still on its way). */
  | { outcome: 'wait'; ms: number }
  | { outcome: 'failed'; error: GatewayError; result: TtsJobResult };
