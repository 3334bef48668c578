import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../core/platform/context';
import { touchLastUsed, userForToken as sessionUser } from '../core/accounts/sessions';
import type { Role, User } from '../core/platform/records';
import { HttpError } from './problem';

export type StaffRole = Exclude<Role, 'customer'>;

export function ctxOf(req: Request): AppContext {
  return req.app.locals.ctx as AppContext;
}

const unauthorized = () =>
  new HttpError(401, 'unauthorized', 'Authentication required', 'Send a valid bearer token from POST /v1/auth/token.');

/** Resolves "Authorization: Bearer <token>" to a live session's user. */
export async function userForToken(ctx: AppContext, header: string | undefined): Promise<User | undefined> {
  const token = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(header ?? '')?.[1];
  return token ? sessionUser(ctx, token) : undefined;
}

export async function authenticate(req: Request, res: Response, next: NextFunction): Promise<void> {
  try {
    const ctx = ctxOf(req);
    const user = await userForToken(ctx, req.headers.authorization);
    if (!user) return next(unauthorized());
    res.locals.user = user;
    await touchLastUsed(ctx, user);
    next();
  } catch (err) {
    next(err);
  }
}

/** For routes open to everyone that a signed-in person may use too: no token is fine, a token sent must be valid. */
export function authenticateIfSent(req: Request, res: Response, next: NextFunction): Promise<void> | void {
  if (req.headers.authorization === undefined) return next();
  return authenticate(req, res, next);
}

const STAFF: readonly Role[] = ['support', 'privacy_officer', 'admin'];

/** 403 for a signed-in user without the role; admins hold every staff role. */
export function requireRole(role: StaffRole) {
  return (_req: Request, res: Response, next: NextFunction) => {
    const user = res.locals.user as User;
    const ok = user.role === 'admin' || user.role === role || (role === 'support' && STAFF.includes(user.role));
    next(ok ? undefined : new HttpError(403, 'forbidden', 'Forbidden', `This needs the ${role} role.`));
  };
}
