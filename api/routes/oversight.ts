import type { Router } from 'express';
import { auditStaffRead } from '../../core/privacy/audit';
import { complianceReport } from '../../core/privacy/compliance';
import { deleteHeadshots, deletePhotos } from '../../core/privacy/deletion';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { notFound } from '../problem';
import { route } from '../route';
import { IdParam } from '../schemas';

const Compliance = z.object({ items: z.array(z.object({ promise: z.string(), deadline: z.string(), overdue: z.number().int() })), overdue_total: z.number().int() }).openapi('ComplianceReport');
const MinorOutcome = z.object({ photo_id: z.string(), deleted: z.boolean(), headshots_deleted: z.number().int(), parental_attestation_at: z.string().datetime().nullable() }).openapi('MinorOutcome');

/** Oversight for staff: the compliance report and the minors rule (PH4). */
export function oversightRoutes(router: Router): void {
  route(
    router,
    { method: 'get', path: '/v1/staff/compliance', operationId: 'getComplianceReport', summary: 'Overdue items per privacy promise with a deadline', tags: ['Staff'], auth: 'admin', responses: { 200: { description: 'All zeros when the scheduler keeps up', schema: Compliance } } },
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
      const photo = await ctx.db.selectFrom('photos').select(['id', 'user_id', 'parental_attestation_at']).where('id', '=', params.id).executeTakeFirst();
      if (!photo) throw notFound('Photo');
      await auditStaffRead(ctx, user, { action: 'mark-minor', subjectUserId: photo.user_id, resource: 'photo', resourceId: photo.id });
      if (photo.parental_attestation_at) {
        await ctx.db.updateTable('photos').set({ subject: 'minor' }).where('id', '=', photo.id).execute();
        res.json({ photo_id: photo.id, deleted: false, headshots_deleted: 0, parental_attestation_at: new Date(photo.parental_attestation_at).toISOString() });
        return;
      }
      // A minor's data found without consent is deleted at once, with what was made from it (PH4).
      const derived = await ctx.db.selectFrom('headshots').select('id').where('photo_id', '=', photo.id).execute();
      const headshots = await deleteHeadshots(ctx, derived.map((h) => h.id), 'minor-without-consent');
      await deletePhotos(ctx, [photo.id], 'minor-without-consent');
      res.json({ photo_id: photo.id, deleted: true, headshots_deleted: headshots, parental_attestation_at: null });
    },
  );
}
