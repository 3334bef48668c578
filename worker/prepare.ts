import { preparePhoto } from '../core/photos/preparation';
import { jobId } from '../core/platform/jobs';
import type { Handler } from '../core/platform/workers';

/** Prepares the upload, then queues its quality verdict (again on a retry: the job id makes that once). */
export const prepare: Handler<'photo.prepare'> = async (ctx, { photoId }) => {
  const prepared = await preparePhoto(ctx, photoId);
  if (prepared?.photo.status === 'analysing')
    await ctx.queues.enqueue('photo.analyse', { photoId }, { jobId: jobId('analyse', photoId) });
};
