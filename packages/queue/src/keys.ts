/**
 * Every Redis key the gateway uses, built in one place. Keys that a script touches together share a
 * hash tag (`{jobId}`, `{conversationId}`) so that they live in one slot on a Redis Cluster.
 */
export const QUEUE = { chat: '{chat}', tts: '{tts}' } as const;
/** `{chat-<server>}`: the chat queue of one server of a pool (see `Keys.chatQueue`). */
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE] | `{chat-${string}}`;

/** The server name of a pool of one (LLM_SERVICE and a base URL): its keys are the classic `{chat}` ones. */
export const SINGLE_SERVER = 'default';

export interface Keys {
  readonly prefix: string;
  job(id: string): string;
  events(id: string): string;
  audio(id: string): string;
  /** One sentence chunk; with `attempt`, of that attempt of a reply spoken while it streamed. */
  audioChunk(id: string, chunk: number, attempt?: number): string;
  conversation(id: string): string;
  conversationTurns(id: string): string;
  /** The conversation's jobs: queued or running ones scored by turn, ended ones 0 (deleted with it). */
  conversationPending(id: string): string;
  /** Ids of the jobs of a conversation created before its pending set kept them (deleted with it). */
  conversationJobs(id: string): string;
  /** A user's conversations: a sorted set scored by their last activity (ms). */
  userConversations(owner: string): string;
  idempotency(owner: string, key: string): string;
  chatStats(): string;
  /** BullMQ's own keys for a queue, read for queue position and depth. */
  bull(
    queue: QueueName,
    suffix: 'wait' | 'prioritized' | 'active' | 'delayed' | 'meta' | 'paused' | 'marker',
  ): string;
  workers(kind: 'llm' | 'tts'): string;
  cancelChannel(): string;
  fairUser(owner: string): string;
  fairWeight(owner: string): string;
  /** A user's fair-share counters on one server of a pool (same hash tag as `fairUser`). */
  fairUserOn(owner: string, server: string): string;
  backendState(): string;
  /**
   * The chat queue of one GPU server. Each server's queue, statistics and state share the hash tag
   * `{chat-<server>}`, so a Redis Cluster spreads a pool over its masters; the pool of one keeps `{chat}`.
   */
  chatQueue(server: string): QueueName;
  /** Run-time statistics of one server's queue (slot gaps, average job time). */
  serverStats(server: string): string;
  /** Whether one server is up, as the workers' circuit breakers last saw it. */
  serverState(server: string): string;
  /** A user's record; the per-user keys below share its hash tag. */
  user(id: string): string;
  /** A user's characters: one hash, field = character id, so only the owner's key can hold them. */
  characters(owner: string): string;
  /** Ids of a user's queued and running chat jobs (the per-user cap). */
  userActiveJobs(owner: string): string;
  /** Bytes of the requests of a user's queued and running jobs: one hash, field = job id. */
  userRequestBytes(owner: string): string;
  /** Claims a (normalized) username for one user id. */
  username(name: string): string;
  /** A live session: the JWT's `sid` -> user id; deleting it ends the session. */
  session(sid: string): string;
  /** Counts login attempts in the current window, by `user` name or by client `ip`. */
  loginAttempts(scope: 'user' | 'ip', subject: string): string;
  /** An API key's record, found by the SHA-256 of the key (the key itself is never stored). */
  apiKey(hash: string): string;
  /** A user's API keys: one hash, field = key id. */
  userApiKeys(owner: string): string;
  /** A user's open SSE event streams: a sorted set of leases scored by when each lapses. */
  userSseStreams(owner: string): string;
  /** A user's POST /v1/audio/speech requests in flight: leases, as for SSE streams. */
  userSpeechRequests(owner: string): string;
  /**
   * The namespace of one @fastify/rate-limit Redis store (`submit-user`, `submit-ip`): the store
   * appends the subject (user id or client IP) to it.
   */
  rateLimit(scope: string): string;
  /** What BullMQ puts before a job id in its keys of a queue (`<prefix><id>:lock` is the job's lock). */
  bullJobPrefix(queue: QueueName): string;
  /**
   * The extra seats that jobs of n > 1 sequences hold of one server's cap: a hash, field = job id (same
   * hash tag as the server's queue, whose concurrency and locks its script reads and writes).
   */
  seats(server: string): string;
}

export function createKeys(prefix: string): Keys {
  return {
    prefix,
    job: (id) => `${prefix}:job:{${id}}`,
    events: (id) => `${prefix}:ev:{${id}}`,
    audio: (id) => `${prefix}:audio:{${id}}`,
    audioChunk: (id, chunk, attempt) =>
      attempt === undefined
        ? `${prefix}:audio:{${id}}:${chunk}`
        : `${prefix}:audio:{${id}}:a${attempt}:${chunk}`,
    conversation: (id) => `${prefix}:conv:{${id}}`,
    conversationTurns: (id) => `${prefix}:conv:{${id}}:turns`,
    conversationPending: (id) => `${prefix}:conv:{${id}}:pending`,
    conversationJobs: (id) => `${prefix}:conv:{${id}}:jobs`,
    userConversations: (owner) => `${prefix}:user:{${owner}}:convs`,
    idempotency: (owner, key) => `${prefix}:idem:${owner}:${key}`,
    chatStats: () => `${prefix}:stats:{chat}`,
    bull: (queue, suffix) => `${prefix}:${queue}:${suffix}`,
    workers: (kind) => `${prefix}:workers:${kind}`,
    cancelChannel: () => `${prefix}:cancel`,
    fairUser: (owner) => `${prefix}:fair:{${owner}}`,
    fairWeight: (owner) => `${prefix}:fair:{${owner}}:weight`,
    fairUserOn: (owner, server) => `${prefix}:fair:{${owner}}:on:${server}`,
    backendState: () => `${prefix}:backend`,
    chatQueue: (server) => (server === SINGLE_SERVER ? QUEUE.chat : `{chat-${server}}`),
    serverStats: (server) =>
      server === SINGLE_SERVER ? `${prefix}:stats:{chat}` : `${prefix}:stats:{chat-${server}}`,
    serverState: (server) =>
      server === SINGLE_SERVER ? `${prefix}:backend` : `${prefix}:backend:{chat-${server}}`,
    user: (id) => `${prefix}:user:{${id}}`,
    characters: (owner) => `${prefix}:user:{${owner}}:chars`,
    userActiveJobs: (owner) => `${prefix}:user:{${owner}}:active`,
    userRequestBytes: (owner) => `${prefix}:user:{${owner}}:bytes`,
    username: (name) => `${prefix}:uname:{${name}}`,
    session: (sid) => `${prefix}:sess:{${sid}}`,
    loginAttempts: (scope, subject) => `${prefix}:login:${scope}:{${subject}}`,
    apiKey: (hash) => `${prefix}:apikey:{${hash}}`,
    userApiKeys: (owner) => `${prefix}:user:{${owner}}:apikeys`,
    userSseStreams: (owner) => `${prefix}:user:{${owner}}:sse`,
    userSpeechRequests: (owner) => `${prefix}:user:{${owner}}:speech`,
    rateLimit: (scope) => `${prefix}:rl:${scope}:`,
    bullJobPrefix: (queue) => `${prefix}:${queue}:`,
    seats: (server) => `${prefix}:seats:${server === SINGLE_SERVER ? QUEUE.chat : `{chat-${server}}`}`,
  };
}
