import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Db } from '../platform/db';

/**
 * A member's consent to share the headshots they choose with one organisation's admins: recorded
 * as the other consents are (history kept, the newest decision in force), given explicitly when
 * joining, withdrawable at any time with effect in the same request.
 */
export async function recordOrganisationConsent(
  db: Db,
  at: Date,
  input: { organisationId: string; userId: string; granted: boolean; source: string },
): Promise<void> {
  await db
    .insertInto('organisation_consents')
    .values({
      id: newId('ocn'),
      organisation_id: input.organisationId,
      user_id: input.userId,
      granted: input.granted,
      source: input.source,
      recorded_at: at,
    })
    .execute();
}

export async function sharingConsentInForce(
  ctx: Pick<AppContext, 'db'>,
  organisationId: string,
  userId: string,
): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('organisation_consents')
    .select('granted')
    .where('organisation_id', '=', organisationId)
    .where('user_id', '=', userId)
    .orderBy('recorded_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.granted ?? false;
}

export async function consentHistory(ctx: Pick<AppContext, 'db'>, organisationId: string, userId: string) {
  return ctx.db
    .selectFrom('organisation_consents')
    .select(['granted', 'source', 'recorded_at'])
    .where('organisation_id', '=', organisationId)
    .where('user_id', '=', userId)
    .orderBy('recorded_at')
    .orderBy('id')
    .execute();
}
