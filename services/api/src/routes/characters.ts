import { type Readable, Transform } from 'node:stream';
import {
  CHARACTER_LIMITS,
  Character,
  CharacterInput,
  CharacterList,
  CharacterPatch,
  Id,
} from '@gateway/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { importCard } from '../characters/card-import.js';
import type { ApiDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { ownerOf, userOf } from '../identity.js';

const Params = z.object({ id: Id });
const ImportQuery = z.object({ voice_id: z.string().trim().min(1).max(CHARACTER_LIMITS.voiceId).optional() });
// Unknown and someone else's ids answer alike, so ids cannot be probed.
const found = <T>(c: T | null): T => {
  if (c === null) throw notFound('character');
  return c;
};

export const characterRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { characters } = deps;
  // A guest's characters go with the guest (its record expires with its session).
  const expiryFor = (guest: boolean) => (guest ? deps.auth.sessions.ttlSeconds : null);

  app.post(
    '/characters',
    {
      schema: {
        tags: ['characters'],
        summary: 'Create a character',
        body: CharacterInput,
        response: { 201: Character },
      },
    },
    async (req, reply) => {
      const user = userOf(req);
      const created = await characters.create(user.id, req.body, expiryFor(user.guest));
      return reply.code(201).header('location', `/characters/${created.id}`).send(created);
    },
  );

  // A PNG card arrives as the file itself; its size cap is the route's, JSON keeps the smaller one below.
  app.addContentTypeParser('image/png', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post(
    '/characters/import',
    {
      bodyLimit: CHARACTER_LIMITS.pngBytes,
      // Only a body the JSON parser will read is wrapped: a type the api refuses (415) must stay unread,
      // so that Node discards it and the keep-alive connection serves the client's next request.
      preParsing: async (req, _reply, payload) =>
        isJson(req.headers['content-type']) ? capBytes(payload, CHARACTER_LIMITS.cardBytes) : payload,
      schema: {
        tags: ['characters'],
        summary:
          'Create a character from a SillyTavern character card: V1, V2 or V3 JSON, or the PNG card itself (Content-Type: image/png)',
        // Checked in the handler (importCard) against the card schema, for a JSON body and for the JSON
        // inside a PNG alike.
        body: z.unknown().describe('a SillyTavern card (V1, V2, V3) as JSON, or the PNG card file'),
        consumes: ['application/json', 'image/png'],
        querystring: ImportQuery,
        response: { 201: Character },
      },
    },
    async (req, reply) => {
      const user = userOf(req);
      const input = { ...importCard(req.body), voice_id: req.query.voice_id ?? null };
      const created = await characters.create(user.id, input, expiryFor(user.guest));
      return reply.code(201).header('location', `/characters/${created.id}`).send(created);
    },
  );

  app.get(
    '/characters',
    { schema: { tags: ['characters'], summary: 'Your characters', response: { 200: CharacterList } } },
    async (req) => ({ characters: await characters.list(ownerOf(req)) }),
  );

  app.get(
    '/characters/:id',
    {
      schema: {
        tags: ['characters'],
        summary: 'One of your characters',
        params: Params,
        response: { 200: Character },
      },
    },
    async (req) => found(await characters.get(ownerOf(req), req.params.id)),
  );

  app.patch(
    '/characters/:id',
    {
      schema: {
        tags: ['characters'],
        summary: 'Change some fields of a character',
        params: Params,
        body: CharacterPatch,
        response: { 200: Character },
      },
    },
    async (req) => found(await characters.update(ownerOf(req), req.params.id, req.body)),
  );

  app.delete(
    '/characters/:id',
    {
      schema: {
        tags: ['characters'],
        summary: 'Delete a character',
        params: Params,
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      if (!(await characters.remove(ownerOf(req), req.params.id))) throw notFound('character');
      return reply.code(204).send(null);
    },
  );
};

const mediaType = (type: string | undefined) => (type ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
const isJson = (type: string | undefined) => mediaType(type) === 'application/json';

/** Ends the body with a 413 once it passes `limit` bytes (JSON cards; PNG cards have the route's cap). */
function capBytes(payload: Readable, limit: number): Readable {
  let seen = 0;
  return payload.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, next) {
        seen += chunk.length;
        if (seen > limit) {
          next(
            Object.assign(new Error(`a JSON card may be at most ${limit} bytes`), {
              statusCode: 413,
              code: 'FST_ERR_CTP_BODY_TOO_LARGE',
            }),
          );
          return;
        }
        next(null, chunk);
      },
    }),
  );
}
