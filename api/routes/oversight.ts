import type { Router } from 'express';
import { complianceReport } from '../../core/privacy/compliance';
import { markMinorPhoto } from '../../core/privacy/minors';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { route } from '../route';
import { IdParam } from '../schemas';

const Compliance = z
  .object({
    items: z.array(z.object({ promise: z.string(), deadline: z.string(), overdue: z.number().int() })),
    overdue_total: z.number().int(),
  })
  .openapi('ComplianceReport');
const MinorOutcome = z
  .object({
    photo_id: z.string(),
    deleted: z.boolean(),
    headshots_deleted: z.number().int(),
    parental_attestation_at: z.string().datetime().nullable(),
  })
  .openapi('MinorOutcome');

/** Oversight for staff: the compliance report and the minors rule (PH4). */
export function oversightRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/compliance',
      operationId: 'getComplianceReport',
      summary: 'Overdue items per privacy promise with a deadline',
      tags: ['Staff'],
      auth: 'admin',
      responses: { 200: { description: 'All zeros when the scheduler keeps up', schema: Compliance } },
    },
    async (req, res) => {
      const items = await complianceReport(ctxOf(req));
      res.json({ items, overdue_total: items.reduce((a, r) => a + r.overdue, 0) });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/staff/photos/:id/minor',
      operationId: 'removeMinorPhoto',
      summary: "Mark a photo as a minor's: without the uploader's parental attestation it is deleted at once",
      tags: ['Staff'],
      auth: 'privacy_officer',
      params: IdParam('pho', 'photo'),
      responses: { 200: { description: 'What happened', schema: MinorOutcome } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { params, user }) => {
      const ctx = ctxOf(req);
      const r = await markMinorPhoto(ctx, user, params.id);
      res.json({
        photo_id: params.id,
        deleted: r.deleted,
        headshots_deleted: r.headshotsDeleted,
        parental_attestation_at: r.parentalAttestationAt?.toISOString() ?? null,
      });
    },
  );
}
