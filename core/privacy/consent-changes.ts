import type { AppContext } from '../platform/context';
import { consentsOf, recordConsent } from './consent';
import type { Purpose } from '../platform/db';
import { removeMarketingData } from './marketing';
import { publishPortfolio, unpublishPortfolio } from './portfolio';

/**
 * A consent decision and what it sets off at once (RG5: effective immediately). Only a change is
 * written to the history; a withdrawal always re-applies its effects, which are idempotent.
 * Rights requests that record a restriction or objection should call this (or
 * applyWithdrawal after recordConsent) so the data goes at once; the consent sweep catches any
 * withdrawal recorded elsewhere.
 */
export async function changeConsent(
  ctx: AppContext,
  userId: string,
  purpose: Purpose,
  granted: boolean,
  source: string,
): Promise<boolean> {
  const current = (await consentsOf(ctx, userId))[purpose];
  if (current !== granted) await recordConsent(ctx, userId, purpose, granted, source);
  if (granted && purpose === 'portfolio') await publishPortfolio(ctx, userId);
  if (!granted) await applyWithdrawal(ctx, userId, purpose, source);
  return current !== granted;
}

/** What withdrawing a purpose removes: the public portfolio copies (CN4) and marketing data (RT5). */
export async function applyWithdrawal(
  ctx: AppContext,
  userId: string,
  purpose: Purpose,
  reason: string,
): Promise<void> {
  if (purpose === 'portfolio') await unpublishPortfolio(ctx, userId, `consent-withdrawn:${reason}`);
  if (purpose === 'marketing') await removeMarketingData(ctx, userId, `consent-withdrawn:${reason}`);
}
