import type { SessionUser } from '../identity.js';
import type { AuthServices } from './services.js';
import { normalizeUsername } from './users.js';

/** ADMIN_USERS as normalized names: `Boss` and `ｂｏｓｓ` are the same name, as for registration. */
export const adminNames = (auth: AuthServices) => new Set(auth.settings.adminUsers.map(normalizeUsername));

/** A name on ADMIN_USERS: public registration refuses it (admins are made with `npm run create-admin`). */
export const isReservedName = (auth: AuthServices, username: string) =>
  adminNames(auth).has(normalizeUsername(username));

/**
 * Admin rights come from the server-side account, never from the token's `name` claim: the account must
 * exist, not be a guest, carry the admin mark (set only by the operator's `npm run create-admin`), and its
 * name must still be on ADMIN_USERS (taking a name off the list takes the rights away at once).
 */
export async function isAdmin(auth: AuthServices, user: SessionUser | null): Promise<boolean> {
  if (!user || user.guest) return false;
  const record = await auth.users.get(user.id);
  return (
    record !== null &&
    !record.guest &&
    record.admin &&
    adminNames(auth).has(normalizeUsername(record.username))
  );
}
