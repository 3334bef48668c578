import type { Router } from 'express';
import {
  acceptPolicy,
  currentPolicyVersion,
  listPolicyVersions,
  policyVersion,
  publishPolicy,
} from '../../core/privacy/policy';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, iso, page, PolicyVersionId } from '../schemas';

const VersionMeta = z
  .object({
    id: z.string(),
    last_updated: z.string().openapi({ example: '2026-01-01', description: "The policy's own 'last updated' date" }),
    published_at: z.string().datetime(),
    significant: z.boolean().openapi({ description: 'People with an account were emailed about it (PO2)' }),
    material: z.boolean().openapi({ description: 'Needs explicit acceptance before the next order (PO3)' }),
  })
  .openapi('PolicyVersionSummary');
const Version = VersionMeta.extend({ text: z.string() }).openapi('PolicyVersion');

const Publish = z
  .object({
    id: PolicyVersionId,
    last_updated: z.iso.date().openapi({ example: '2027-01-01' }),
    significant: z.boolean(),
    material: z.boolean(),
    text: z.string().min(1).max(200_000),
  })
  .openapi('PublishPolicyVersion');

const Acceptance = z.object({ version: z.string().max(32) }).openapi('PolicyAcceptance');
const Accepted = z
  .object({ policy_version: z.string(), policy_accepted_at: z.string().datetime() })
  .openapi('PolicyAccepted');

/** A pg `date` comes back as local midnight; print it as the calendar date it is. */
function dateOnly(d: Date | string): string {
  if (typeof d === 'string') return d.slice(0, 10);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const metaOut = (v: {
  id: string;
  last_updated: Date | string;
  published_at: Date;
  significant: boolean;
  material: boolean;
}) => ({
  id: v.id,
  last_updated: dateOnly(v.last_updated),
  published_at: iso(v.published_at)!,
  significant: v.significant,
  material: v.material,
});

export function policyRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/policy',
      operationId: 'getPolicy',
      summary: 'The privacy policy in force, with its last-updated date',
      tags: ['Policy'],
      auth: 'none',
      responses: { 200: { description: 'Current version', schema: Version } },
    },
    async (req, res) => {
      const ctx = ctxOf(req);
      const v = (await policyVersion(ctx, (await currentPolicyVersion(ctx)).id))!;
      res.json({ ...metaOut(v), text: v.text });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/policy/versions',
      operationId: 'listPolicyVersions',
      summary: 'Every published version, newest first',
      tags: ['Policy'],
      auth: 'none',
      query: Cursor(PolicyVersionId),
      responses: { 200: { description: 'Versions', schema: page(VersionMeta, 'PolicyVersionPage') } },
    },
    async (req, res, { query }) => {
      const rows = await listPolicyVersions(ctxOf(req), query.limit + 1, query.cursor);
      const items = rows.slice(0, query.limit);
      res.json({
        items: items.map(metaOut),
        next_cursor: rows.length > query.limit ? items[items.length - 1].id : null,
      });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/policy/versions/:id',
      operationId: 'getPolicyVersion',
      summary: 'One version with its text; earlier versions stay retrievable',
      tags: ['Policy'],
      auth: 'none',
      params: z.object({ id: PolicyVersionId }),
      responses: { 200: { description: 'Version', schema: Version } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { params }) => {
      const v = await policyVersion(ctxOf(req), params.id);
      if (!v)
        throw new HttpError(404, 'not_found', 'Policy version not found', `No published policy version ${params.id}.`);
      res.json({ ...metaOut(v), text: v.text });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/staff/policy-versions',
      operationId: 'publishPolicyVersion',
      summary: 'Publish a new policy version; a significant one is emailed to people with an account',
      tags: ['Policy', 'Staff'],
      auth: 'admin',
      body: Publish,
      responses: { 201: { description: 'Published; it is current from now on', schema: VersionMeta } },
      errors: { 409: 'policy_version_exists' },
    },
    async (req, res, { body }) => {
      res.status(201).json(metaOut(await publishPolicy(ctxOf(req), body)));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/me/policy-acceptance',
      operationId: 'acceptPolicy',
      summary: 'Accept the current privacy policy version',
      tags: ['Policy', 'Accounts'],
      auth: 'user',
      body: Acceptance,
      responses: { 200: { description: 'Recorded', schema: Accepted } },
      errors: { 409: 'policy_version_outdated' },
    },
    async (req, res, { user, body }) => {
      const accepted = await acceptPolicy(ctxOf(req), user.id, body.version);
      res.json({ policy_version: accepted.version, policy_accepted_at: accepted.at.toISOString() });
    },
  );
}
