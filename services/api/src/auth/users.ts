import { randomUUID } from 'node:crypto';
import { GatewayError } from '@gateway/contracts';
import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { hashPassword, verifyAgainstNothing, verifyPassword } from './password.js';

export interface UserRecord {
  id: string;
  username: string;
  guest: boolean;
  /** Set only by the operator's `npm run create-admin`; never by a request. */
  admin: boolean;
  createdAt: number;
}

/** Usernames are unique regardless of case and Unicode form: `Mina` and `ｍｉｎａ` are the same name. */
export const normalizeUsername = (name: string) => name.trim().normalize('NFKC').toLowerCase();

/**
 * Accounts in Redis: `user:{id}` holds the record (with the password hash, which never leaves this
 * module), `uname:{name}` claims a name for one id with SET NX, so two registrations cannot share it.
 * Guests have no name claim and no password; their record expires with their session.
 */
export class UserStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async register(username: string, password: string, opts: { admin?: boolean } = {}): Promise<UserRecord> {
    // Hash first: a taken name then costs the same time as a free one.
    const hash = await hashPassword(password);
    const id = randomUUID();
    const claim = this.keys.username(normalizeUsername(username));
    if ((await this.redis.set(claim, id, 'NX')) !== 'OK') {
      throw new GatewayError('conflict', 'that username is taken', { details: [{ field: 'body.username' }] });
    }
    const admin = opts.admin === true;
    const user: UserRecord = { id, username, guest: false, admin, createdAt: Date.now() };
    try {
      await this.redis.hset(this.keys.user(id), {
        id,
        username,
        guest: '0',
        admin: admin ? '1' : '0',
        password_hash: hash,
        created_at: user.createdAt,
      });
    } catch (err) {
      await this.redis.del(claim).catch(() => 0);
      throw err;
    }
    return user;
  }

  /** The user when the password matches; null otherwise, after the same work either way. */
  async checkPassword(username: string, password: string): Promise<UserRecord | null> {
    const id = await this.redis.get(this.keys.username(normalizeUsername(username)));
    // The same two reads whether or not the name exists.
    const h = await this.redis.hgetall(this.keys.user(id ?? 'none'));
    const hash = h.password_hash;
    if (!hash) return verifyAgainstNothing(password).then(() => null);
    return (await verifyPassword(password, hash)) ? toUser(h) : null;
  }

  /** Makes an existing account an admin (the operator's `create-admin --promote`); false when there is none. */
  async promote(username: string): Promise<boolean> {
    const id = await this.redis.get(this.keys.username(normalizeUsername(username)));
    if (!id || !(await this.redis.exists(this.keys.user(id)))) return false;
    await this.redis.hset(this.keys.user(id), 'admin', '1');
    return true;
  }

  async get(id: string): Promise<UserRecord | null> {
    const h = await this.redis.hgetall(this.keys.user(id));
    return h.id ? toUser(h) : null;
  }

  async createGuest(ttlSeconds: number): Promise<UserRecord> {
    const id = randomUUID();
    const user: UserRecord = {
      id,
      username: `guest-${id.slice(0, 8)}`,
      guest: true,
      admin: false,
      createdAt: Date.now(),
    };
    await this.redis
      .multi()
      .hset(this.keys.user(id), { id, username: user.username, guest: '1', created_at: user.createdAt })
      .expire(this.keys.user(id), ttlSeconds)
      .exec();
    return user;
  }

  /** Keeps a guest (and what it made) alive as long as its session. */
  async extendGuest(id: string, ttlSeconds: number): Promise<void> {
    await this.redis
      .multi()
      .expire(this.keys.user(id), ttlSeconds)
      .expire(this.keys.characters(id), ttlSeconds)
      .exec();
  }

  /** A guest that logs out cannot come back: its record and characters go at once. */
  async removeGuest(id: string): Promise<void> {
    await this.redis.del(this.keys.user(id), this.keys.characters(id));
  }
}

const toUser = (h: Record<string, string>): UserRecord => ({
  id: h.id ?? '',
  username: h.username ?? '',
  guest: h.guest === '1',
  admin: h.admin === '1',
  createdAt: Number(h.created_at ?? 0),
});
