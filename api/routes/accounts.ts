import type { Router } from 'express';
import { register, requestSignInCode, signIn, signOut } from '../../core/accounts/sign-in';
import { me, Me } from '../account-out';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { route } from '../route';

const E164 = /^\+[1-9]\d{6,14}$/;

const Register = z
  .object({
    email: z.string().trim().toLowerCase().pipe(z.email()).openapi({ example: 'ada@example.com' }),
    name: z.string().trim().min(1).max(200),
    phone: z.string().regex(E164, 'phone must be in E.164 form, e.g. +41791234567').optional(),
    confirms_adult: z.boolean().openapi({ description: 'The person confirms they are 18 or older (AC2).' }),
    accepted_policy_version: z
      .string()
      .openapi({ description: 'Id of the privacy policy version the person accepted (AC3).' }),
  })
  .openapi('Registration');

const RequestCode = z.object({ email: z.string().trim().toLowerCase().pipe(z.email()) }).openapi('SignInCodeRequest');
const ExchangeCode = z
  .object({ email: z.string().trim().toLowerCase().pipe(z.email()), code: z.string().regex(/^\d{6}$/) })
  .openapi('SignInCode');

const Accepted = z.object({ status: z.literal('code_sent'), detail: z.string() }).openapi('CodeSent');
const Token = z
  .object({ token: z.string(), token_type: z.literal('Bearer'), expires_at: z.string().datetime(), user: Me })
  .openapi('Token');

export function accountRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/accounts',
      operationId: 'register',
      summary: 'Register; a sign-in code is emailed',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: Register,
      responses: {
        202: {
          description:
            'A sign-in code was emailed (also when the address already has an account, so the answer reveals nothing).',
          schema: Accepted,
        },
      },
      errors: { 409: 'policy_version_outdated', 422: 'underage' },
    },
    async (req, res, { body: b }) => {
      await register(ctxOf(req), {
        email: b.email,
        name: b.name,
        phone: b.phone,
        confirmsAdult: b.confirms_adult,
        acceptedPolicyVersion: b.accepted_policy_version,
      });
      res.status(202).json({ status: 'code_sent', detail: 'Check your email for a six-digit sign-in code.' });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/auth/code',
      operationId: 'requestSignInCode',
      summary: 'Email a sign-in code',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: RequestCode,
      responses: { 202: { description: 'If the address has an account, a code was emailed.', schema: Accepted } },
    },
    async (req, res, { body }) => {
      await requestSignInCode(ctxOf(req), body.email);
      res
        .status(202)
        .json({ status: 'code_sent', detail: 'If this address has an account, a sign-in code is on its way.' });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/auth/token',
      operationId: 'signIn',
      summary: 'Exchange an emailed code for a bearer token',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: ExchangeCode,
      responses: { 200: { description: 'A bearer token; only its hash is stored.', schema: Token } },
      errors: { 401: 'invalid_code' },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      const { token, expiresAt, user } = await signIn(ctx, body.email, body.code);
      res.json({ token, token_type: 'Bearer', expires_at: expiresAt.toISOString(), user: me(ctx, user) });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/auth/sign-out',
      operationId: 'signOut',
      summary: 'Revoke the current token',
      tags: ['Accounts'],
      auth: 'user',
      responses: { 204: { description: 'Signed out' } },
    },
    async (req, res) => {
      await signOut(ctxOf(req), req.headers.authorization!.slice('Bearer '.length));
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/me',
      operationId: 'getMe',
      summary: 'The signed-in person',
      tags: ['Accounts'],
      auth: 'user',
      responses: { 200: { description: 'Profile', schema: Me } },
    },
    async (req, res, { user }) => {
      res.json(me(ctxOf(req), user));
    },
  );
}
