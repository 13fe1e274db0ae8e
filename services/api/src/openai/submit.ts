import type { CharacterSnapshot, ChatJobData } from '@gateway/contracts';
import { admitChatJob, newId } from '../chat/submit.js';
import type { ApiDeps } from '../deps.js';
import type { CompletionParams } from './request.js';

const NO_CHARACTER: CharacterSnapshot = {
  id: null,
  name: null,
  persona: null,
  voice_id: null,
  greeting: null,
};

export interface OpenAiJobInput {
  owner: string;
  model: string;
  params: CompletionParams;
  /** A stored character of the owner: its role-play system prompt goes before the caller's messages. */
  character: CharacterSnapshot | null;
}

/**
 * Puts an OpenAI chat request on the chat queue as a `kind: 'openai'` job, through the same admission as
 * every chat job (per-user cap, queue depth, fair share, global throttle). The caller's messages are the
 * whole conversation: nothing is stored as history, so the job is a one-turn conversation of its own.
 * The worker fits them to the chat template and trims to the context window (saying how much it left out).
 */
export async function submitOpenAiJob(deps: ApiDeps, input: OpenAiJobInput): Promise<ChatJobData> {
  const { config } = deps;
  const { params } = input;
  const jobId = newId();
  const lastUser = params.messages.findLast((m) => m.role === 'user');
  return admitChatJob(
    deps,
    input.owner,
    jobId,
    async () => ({
      data: {
        job_id: jobId,
        owner: input.owner,
        conversation_id: jobId,
        turn: 0,
        kind: 'openai',
        message: lastUser?.content ?? '',
        messages: params.messages.map((m) =>
          Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)),
        ) as ChatJobData['messages'],
        character: input.character ?? NO_CHARACTER,
        persona: null,
        scenario: null,
        model: input.model,
        temperature: params.temperature ?? config.llm.temperature,
        top_p: params.topP,
        max_tokens: params.maxTokens ?? config.llm.maxTokens,
        stop: params.stop,
        seed: params.seed,
        ...(Object.keys(params.backend).length > 0 ? { params: params.backend } : {}),
        tts: false,
        tts_mode: 'realtime',
        voice_id: null,
        created_at: Date.now(),
      },
      tts: { status: 'skipped', mode: 'realtime', reason: 'not requested' },
    }),
    Buffer.byteLength(JSON.stringify(params.messages)),
  );
}
