import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface SessionUser {
  id: string;
  username: string;
  guest: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: SessionUser | null;
  }
}

/** Until accounts exist every request acts as one anonymous owner; reads already check the owner. */
export const ANONYMOUS: SessionUser = { id: 'anonymous', username: 'anonymous', guest: true };

export function installIdentity(app: FastifyInstance): void {
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (req) => {
    req.user = ANONYMOUS;
  });
}

/** The id that owns what this request creates or reads. */
export function ownerOf(req: FastifyRequest): string {
  return (req.user ?? ANONYMOUS).id;
}
