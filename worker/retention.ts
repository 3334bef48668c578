import type { HandlersFor } from '../core/platform/workers';
import {
  deleteDueHeadshots,
  deleteDuePhotos,
  deleteIfIdle,
  purgeDuePayments,
  warnBeforeDeletion,
} from '../core/privacy/retention';

type RetentionJobs =
  | 'retention.delete-photos'
  | 'retention.delete-headshots'
  | 'retention.delete-user'
  | 'retention.warn-user'
  | 'retention.purge-payments';

/** Per-batch retention jobs; each re-checks at run time that its rows are still due (core/privacy/retention.ts). */
export const retentionHandlers: Pick<HandlersFor<'privacy'>, RetentionJobs> = {
  'retention.delete-photos': (ctx, { photoIds }) => deleteDuePhotos(ctx, photoIds),
  'retention.delete-headshots': (ctx, { headshotIds }) => deleteDueHeadshots(ctx, headshotIds),
  'retention.purge-payments': (ctx, { paymentIds }) => purgeDuePayments(ctx, paymentIds),
  'retention.warn-user': (ctx, { userId }) => warnBeforeDeletion(ctx, userId),
  'retention.delete-user': (ctx, { userId }) => deleteIfIdle(ctx, userId),
};
