import type { Router } from 'express';
import { auditStaffRead } from '../../core/privacy/audit';
import type { User } from '../../core/platform/records';
import { createInquiry, findInquiry, inquiryView, respondToInquiry } from '../../core/privacy/inquiries';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { IdParam } from '../schemas';

/** Privacy and support inquiries (CT1): filed by anyone, answered by staff within the stated times. */

const FileInquiry = z
  .object({
    kind: z.enum(['privacy', 'support']),
    subject: z.string().trim().min(1).max(200),
    message: z.string().trim().min(1).max(10_000),
    email: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.email())
      .optional()
      .openapi({ description: 'Where to answer; required without a bearer token, ignored with one' }),
  })
  .openapi('FileInquiry');

const InquiryOut = z
  .object({
    id: z.string(),
    kind: z.enum(['privacy', 'support']),
    status: z.enum(['open', 'answered', 'resolved']),
    subject: z.string(),
    message: z.string(),
    responses: z.array(z.object({ at: z.string().datetime(), message: z.string() })),
    received_at: z.string().datetime(),
    first_response_due: z
      .string()
      .datetime()
      .openapi({ description: 'received_at + 24 business hours (Monday to Friday, UTC)' }),
    resolution_due: z.string().datetime().openapi({ description: 'received_at + 30 days' }),
    first_responded_at: z.string().datetime().nullable(),
    resolved_at: z.string().datetime().nullable(),
  })
  .openapi('Inquiry');

const Respond = z
  .object({ message: z.string().trim().min(1).max(10_000), resolve: z.boolean().default(false) })
  .openapi('InquiryResponse');

export function inquiryRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/inquiries',
      operationId: 'createInquiry',
      summary: 'File a privacy or support inquiry, signed in or with an email address',
      tags: ['Inquiries'],
      auth: 'optional',
      rateLimit: 'rights',
      body: FileInquiry,
      responses: { 201: { description: 'Filed, with its deadlines', schema: InquiryOut } },
      errors: { 422: 'email_required' },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      // Signing in is optional here (route auth 'optional': a token that is sent was checked).
      const user = res.locals.user as User | undefined;
      if (!user && !body.email)
        throw new HttpError(
          422,
          'email_required',
          'Email required',
          'Without signing in, give an email address we can answer to.',
        );
      const i = await createInquiry(ctx, {
        userId: user?.id ?? null,
        email: user ? undefined : body.email,
        kind: body.kind,
        subject: body.subject,
        message: body.message,
      });
      res.status(201).json(inquiryView(ctx, i));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/inquiries/:id',
      operationId: 'getInquiry',
      summary: 'One of your inquiries with the answers so far',
      tags: ['Inquiries'],
      auth: 'user',
      params: IdParam('inq', 'inquiry'),
      responses: { 200: { description: 'Inquiry', schema: InquiryOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(inquiryView(ctx, await findInquiry(ctx, params.id, user.id)));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/inquiries/:id',
      operationId: 'getInquiryAsStaff',
      summary: 'An inquiry, for staff (audited)',
      tags: ['Staff', 'Inquiries'],
      auth: 'support',
      params: IdParam('inq', 'inquiry'),
      responses: { 200: { description: 'Inquiry', schema: InquiryOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user: staff, params }) => {
      const ctx = ctxOf(req);
      const i = await findInquiry(ctx, params.id);
      await auditStaffRead(ctx, staff, {
        action: 'read',
        subjectUserId: i.user_id,
        resource: 'inquiry',
        resourceId: i.id,
      });
      res.json(inquiryView(ctx, i));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/staff/inquiries/:id/responses',
      operationId: 'answerInquiry',
      summary: 'Answer an inquiry by email; optionally resolve it',
      tags: ['Staff', 'Inquiries'],
      auth: 'support',
      params: IdParam('inq', 'inquiry'),
      body: Respond,
      responses: { 201: { description: 'Emailed and recorded', schema: InquiryOut } },
      errors: { 404: 'not_found', 409: 'inquiry_resolved' },
    },
    async (req, res, { user: staff, params, body }) => {
      const ctx = ctxOf(req);
      // No Idempotency-Key replay here: the stored answer would hold the decrypted messages in clear.
      const i = await findInquiry(ctx, params.id);
      if (i.status === 'resolved')
        throw new HttpError(
          409,
          'inquiry_resolved',
          'Inquiry resolved',
          'This inquiry is resolved; the person can file a new one.',
        );
      await auditStaffRead(ctx, staff, {
        action: 'respond',
        subjectUserId: i.user_id,
        resource: 'inquiry',
        resourceId: i.id,
      });
      res.status(201).json(inquiryView(ctx, await respondToInquiry(ctx, i, staff.id, body)));
    },
  );
}
