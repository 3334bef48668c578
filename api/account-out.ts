import type { AppContext } from '../core/platform/context';
import { decryptField } from '../core/platform/crypto';
import { z } from './openapi';

/** A person's own account as the API shows it: the fields decrypted for them (and for audited staff reads). */
export const Me = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    phone: z.string().nullable(),
    role: z.string(),
    policy_version: z.string(),
    policy_accepted_at: z.string().datetime(),
    created_at: z.string().datetime(),
  })
  .openapi('Me');

export function me(
  ctx: AppContext,
  u: {
    id: string;
    email_enc: string;
    name_enc: string;
    phone_enc: string | null;
    role: string;
    policy_version_id: string;
    policy_accepted_at: Date;
    created_at: Date;
  },
) {
  return {
    id: u.id,
    email: decryptField(ctx.pii, u.email_enc),
    name: decryptField(ctx.pii, u.name_enc),
    phone: u.phone_enc ? decryptField(ctx.pii, u.phone_enc) : null,
    role: u.role,
    policy_version: u.policy_version_id,
    policy_accepted_at: new Date(u.policy_accepted_at).toISOString(),
    created_at: new Date(u.created_at).toISOString(),
  };
}
