import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatJobData } from '@gateway/contracts';
import type { Logger } from '@gateway/logger';
import { SentenceSplitter } from './sentence-splitter.js';

/** Where a reply's sentence chunks go: one speech job each, then the seal with their count. */
export interface SpeechSink {
  chunk(data: ChatJobData, attempt: number, n: number, text: string): Promise<void>;
  seal(data: ChatJobData, attempt: number, total: number): Promise<void>;
}

/** Queuing speech meets a Redis hiccup now and then: it is tried again after these pauses before it fails. */
const RETRY_MS = [100, 500];

async function retried(op: () => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      const pause = RETRY_MS[i];
      if (pause === undefined) throw err;
      await sleep(pause);
    }
  }
}

/** Whether a job's reply is spoken while it streams: realtime speech (delayed and on_click wait for the end). */
export const speaksWhileStreaming = (data: ChatJobData) => data.tts && data.tts_mode === 'realtime';

/**
 * Speech of one attempt of a reply while it streams: each complete sentence chunk becomes a speech job at
 * once, while generation goes on. Jobs are added one after the other, so they queue in the reply's order.
 */
export class ReplySpeech {
  private readonly splitter: SentenceSplitter;
  private sent = 0;
  private chars = 0;
  private firstTokenAt = 0;
  private adding: Promise<void> = Promise.resolve();

  constructor(
    private readonly data: ChatJobData,
    readonly attempt: number,
    private readonly o: {
      sink: SpeechSink;
      stripActions: boolean;
      /** TTS_MAX_CHARS: speech stops once the chunks sent reach this many characters. */
      maxChars: number;
      log: Logger;
      /** First token to first complete chunk, in ms. */
      textAggregation?: (ms: number) => void;
    },
  ) {
    this.splitter = new SentenceSplitter({ stripActions: o.stripActions });
  }

  onToken = (delta: string): void => {
    if (this.firstTokenAt === 0) this.firstTokenAt = Date.now();
    for (const text of this.splitter.push(delta)) this.send(text);
  };

  /**
   * The stream ended: its last sentence is complete now, so the held-back rest goes to speech at once,
   * before the reply is stored and announced (the seal follows after that).
   */
  onEnd = (): void => {
    for (const text of this.splitter.end()) this.send(text);
  };

  /** After the reply: the held-back rest (if the end was not seen), then the seal. Idempotent through the jobs' ids. */
  async finish(): Promise<number> {
    this.onEnd();
    await this.adding;
    // Without its seal the reply's speech would never end: the seal is what watches its chunks.
    await retried(() => this.o.sink.seal(this.data, this.attempt, this.sent));
    return this.sent;
  }

  private send(text: string): void {
    const length = [...text].length;
    if (this.chars + length > this.o.maxChars) {
      if (this.chars <= this.o.maxChars)
        this.o.log.info({ maxChars: this.o.maxChars }, 'speech stops at TTS_MAX_CHARS');
      this.chars = this.o.maxChars + 1;
      return;
    }
    this.chars += length;
    const n = this.sent++;
    if (n === 0 && this.firstTokenAt) this.o.textAggregation?.(Date.now() - this.firstTokenAt);
    this.adding = this.adding
      .then(() => retried(() => this.o.sink.chunk(this.data, this.attempt, n, text)))
      // The seal finds the chunk's job missing and counts the chunk as failed, so the speech still ends.
      .catch((err: unknown) => this.o.log.warn({ err, chunk: n }, 'could not queue speech of a chunk'));
  }
}
