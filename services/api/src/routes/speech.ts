import { parseRange } from '@gateway/audio-store';
import { GatewayError, Id, TtsInfo, type TtsJobData } from '@gateway/contracts';
import { chunkAudioAttempt, ttsJobOptions } from '@gateway/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getOwnedJob } from '../chat/job-view.js';
import { SpeechRuns } from '../chat/speech-run.js';
import { jobLinks } from '../chat/submit.js';
import type { ApiDeps } from '../deps.js';
import { ownerOf } from '../identity.js';

const JobParams = z.object({ id: Id });
const AudioQuery = z.object({ chunk: z.coerce.number().int().min(0).max(9_999).optional() });
const SpeechAnswer = z.object({ job_id: z.string(), tts: TtsInfo });

/** Speech of a chat reply: the audio itself (with HTTP ranges, so players can seek) and on-demand synthesis. */
export const speechRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const runs = new SpeechRuns(deps.redis, deps.keys, deps.jobs.ttlSeconds);
  app.get(
    '/chat/jobs/:id/audio',
    {
      schema: {
        tags: ['speech'],
        summary: "The reply's synthesized speech (or one sentence of it with ?chunk=N); supports Range",
        params: JobParams,
        querystring: AudioQuery,
        headers: z.object({ range: z.string().max(200).optional() }),
      },
    },
    async (req, reply) => {
      const rec = await getOwnedJob(deps, req.params.id, ownerOf(req));
      const chunk = req.query.chunk;
      const ref = {
        id: rec.id,
        chunk,
        // Spoken while the reply streamed: the current attempt's chunk, never a replaced attempt's.
        attempt:
          chunk === undefined
            ? undefined
            : await chunkAudioAttempt(deps.redis, deps.keys, rec.id, rec.attempt, chunk),
      };
      const gone = () =>
        new GatewayError(
          'not_found',
          ref.chunk === undefined ? 'no audio for this job yet' : `no audio for chunk ${ref.chunk} yet`,
        );
      const meta = await deps.audio.stat(ref);
      if (!meta) throw gone();
      const range = parseRange(req.headers.range, meta.size);
      reply.header('accept-ranges', 'bytes').header('cache-control', 'private, no-cache');
      if (range.kind === 'unsatisfiable') {
        return reply
          .code(416)
          .header('content-range', `bytes */${meta.size}`)
          .send({
            error: {
              code: 'invalid_input',
              message: `range not satisfiable: the audio has ${meta.size} bytes`,
            },
          });
      }
      const span = range.kind === 'partial' ? { start: range.start, end: range.end } : undefined;
      const body = await deps.audio.read(ref, span);
      if (!body) throw gone();
      reply.header('content-type', meta.contentType).header('content-length', body.length);
      if (span) {
        reply
          .code(206)
          .header('content-range', `bytes ${span.start}-${span.start + body.length - 1}/${meta.size}`);
      }
      return reply.send(body);
    },
  );

  app.post(
    '/chat/jobs/:id/tts',
    {
      schema: {
        tags: ['speech'],
        summary: 'Synthesize speech of a finished reply now (on_click, or again after a failure)',
        params: JobParams,
        response: { 200: SpeechAnswer, 202: SpeechAnswer },
      },
    },
    async (req, reply) => {
      const rec = await getOwnedJob(deps, req.params.id, ownerOf(req));
      if (rec.status !== 'completed' || !rec.reply) {
        const why =
          rec.status === 'queued' || rec.status === 'running' ? 'has no reply yet' : `ended ${rec.status}`;
        throw new GatewayError('not_ready_for_tts', `the job ${why}: there is nothing to speak`);
      }
      if (deps.config.tts.engine === 'none') {
        throw new GatewayError('not_ready_for_tts', 'speech is turned off on this server (TTS_ENGINE=none)');
      }
      const current = rec.tts;
      const mode = rec.data?.tts_mode ?? current?.mode ?? 'on_click';
      const voice = rec.data
        ? (rec.data.voice_id ?? rec.data.character.voice_id)
        : (current?.voice_id ?? null);
      const runOf = async () => Number((await deps.redis.hget(deps.keys.job(rec.id), 'tts_run')) ?? 0);
      const enqueue = async (run: number) => {
        const data: TtsJobData = {
          job_id: rec.id,
          owner: rec.owner,
          text: rec.reply!.content,
          voice_id: voice,
          mode,
          format: 'wav',
          standalone: false,
          created_at: Date.now(),
          run,
        };
        const retry = { attempts: deps.config.llm.maxAttempts, backoffMs: deps.config.llm.backoffMs };
        // Someone is waiting for it (a click): realtime priority. The run keeps BullMQ's job id new.
        await deps.ttsQueue.add('tts', data, {
          ...ttsJobOptions(rec.id, 'realtime', retry),
          jobId: `${rec.id}-tts-${run}`,
        });
      };

      if (current?.status === 'completed') {
        return reply
          .code(200)
          .send({ job_id: rec.id, tts: { ...current, audio_url: jobLinks(rec.id).audio } });
      }
      if (current?.status === 'pending' || current?.status === 'running') {
        // Already on its way. A pending run of ours is added again in case the first add was lost:
        // the same BullMQ id makes that a no-op, and the worker skips a run that already ended.
        const run = await runOf();
        if (current.status === 'pending' && run > 0) await enqueue(run);
        return reply.code(202).send({ job_id: rec.id, tts: current });
      }
      const pending: TtsInfo = { status: 'pending', mode, voice_id: voice };
      // One atomic step reads the status and takes the next run: clicks at once start one run.
      const claim = await runs.claim(rec.id, pending);
      if ('gone' in claim) throw new GatewayError('not_found', 'no such job');
      if (claim.started) await enqueue(claim.run);
      const now = claim.started ? pending : (claim.tts ?? pending);
      return reply.code(202).send({ job_id: rec.id, tts: now });
    },
  );
};
