import {
  ChatCompletion,
  GatewayError,
  OpenAiChatRequest,
  OpenAiErrorBody,
  OpenAiModelList,
  OpenAiSpeechRequest,
} from '@gateway/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.js';
import { installErrorHandling } from '../errors.js';
import { ownerOf } from '../identity.js';
import { speechRateLimit, submissionRateLimit } from '../limits.js';
import { waitForCompletion } from '../openai/completion.js';
import { badParam, sendOpenAiError } from '../openai/errors.js';
import { ModelCatalog } from '../openai/models.js';
import { completionParams } from '../openai/request.js';
import { SpeechService } from '../openai/speech.js';
import { reserveStream, streamCompletion } from '../openai/stream.js';
import { submitOpenAiJob } from '../openai/submit.js';

const errors = { 400: OpenAiErrorBody, 401: OpenAiErrorBody, 429: OpenAiErrorBody, 503: OpenAiErrorBody };

/**
 * The OpenAI-compatible facade, registered under `/v1` in its own context: every error here (validation,
 * the auth hook's 401, CSRF's 403, unknown routes) is written in OpenAI's shape. Chat completions are
 * jobs on the same chat queue as everything else (global throttle, fair share, retries, cancel).
 */
export const openaiRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  installErrorHandling(app, sendOpenAiError);
  const limitSubmissions = await submissionRateLimit(app, deps);
  const limitSpeech = await speechRateLimit(app, deps);
  const { config } = deps;
  const catalog = new ModelCatalog({
    llm: deps.llm ? deps.backends : null,
    service: config.llm.service,
    defaultModel: config.llm.model,
    allowed: config.llm.models,
  });
  // Any server of the pool may get the job (routing does not look at n): the smallest cap bounds n.
  const maxChoices = Math.min(...config.llm.pool.map((s) => s.concurrency));
  const speech = new SpeechService(deps);
  app.addHook('onClose', () => speech.close());

  app.get(
    '/models',
    {
      schema: {
        tags: ['openai'],
        summary: "The backend's models as an OpenAI model list",
        response: { 200: OpenAiModelList, 401: OpenAiErrorBody, 503: OpenAiErrorBody },
      },
    },
    async () => catalog.list(),
  );

  app.post(
    '/chat/completions',
    {
      // The same per-user and per-IP submission limits as POST /chat/jobs, counted together.
      onRequest: limitSubmissions,
      schema: {
        tags: ['openai'],
        summary:
          'OpenAI chat completion through the queue (`stream: true` answers chat.completion.chunk SSE)',
        body: OpenAiChatRequest,
        response: { 200: ChatCompletion, 404: OpenAiErrorBody, ...errors },
      },
    },
    async (req, reply) => {
      const owner = ownerOf(req);
      const params = completionParams(req.body, config.llm.service);
      // n choices are n sequences of one GPU server's cap: more than a server runs at once cannot be served.
      if (params.n > maxChoices) {
        throw badParam('n', `n must be at most ${maxChoices} here (the GPU server's LLM_CONCURRENCY)`);
      }
      const characterId = req.body.character_id;
      const [model, character, backend, workers] = await Promise.all([
        catalog.resolve(req.body.model),
        characterId ? deps.characters.snapshot(owner, characterId) : Promise.resolve(null),
        deps.backendState.get(),
        deps.llmWorkers.online(),
      ]);
      // A caller on the line would wait with no answer for a backend or a worker to come back: say so now.
      if (workers === 0) {
        throw new GatewayError('not_ready', 'no llm-worker is running to serve the request', {
          retryAfter: 5,
        });
      }
      // In a pool: down when no server that serves the model is up (one down server is failover's job).
      const down = deps.pool.single
        ? backend.status === 'down'
        : (await deps.pool.pick({ model, conversation_id: '', kind: 'openai' })).reason === 'none_healthy';
      if (down) {
        const waiting = deps.pool.single ? await deps.chatStats.depth() : await deps.pool.depth();
        throw new GatewayError(
          'backend_unavailable',
          `the model backend is down${backend.reason ? ` (${backend.reason})` : ''}; ${waiting} jobs are waiting for it`,
          { retryAfter: Math.max(1, Math.ceil(config.llm.breakerProbeMs / 1000)) },
        );
      }
      // A stream counts against SSE_MAX_PER_USER with the job event streams: refused before a job is made.
      const release = params.stream ? await reserveStream(deps, owner) : () => {};
      const data = await submitOpenAiJob(deps, { owner, model, params, character }).catch((err: unknown) => {
        release();
        throw err;
      });
      reply.header('x-job-id', data.job_id);
      req.log.info({ jobId: data.job_id, stream: params.stream }, 'openai completion accepted');
      if (params.stream) return streamCompletion(deps, reply, data, params.includeUsage, release);
      return waitForCompletion(deps, reply, data);
    },
  );

  app.post(
    '/audio/speech',
    {
      // SPEECH_RATE_PER_USER per window; SPEECH_MAX_CONCURRENT_PER_USER at once (in SpeechService).
      onRequest: limitSpeech,
      schema: {
        tags: ['openai'],
        summary: 'OpenAI speech through the TTS queue; answers the audio bytes',
        body: OpenAiSpeechRequest,
      },
    },
    async (req, reply) => {
      const { contentType, audio } = await speech.speak(ownerOf(req), req.body, reply);
      return reply.type(contentType).header('cache-control', 'no-store').send(audio);
    },
  );
};
