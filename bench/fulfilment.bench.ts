/**
 * What each package makes with 1, 2 and 5 usable photos of a real person, as agreed before payment
 * and as delivered: the quote (headshots the package names, headshots expected, price, shortfall),
 * then the order through the API, queues and workers, and what it delivered, missed and refunded.
 *   npm run bench:fulfilment
 * Photos: the usable crops of test/fixtures/real (hand-labelled real people), first five that the
 * service also judges usable and that are distinct shots (another crop of one shot is a copy).
 */
import { PACKAGES, STYLES } from '../core/orders/catalog';
import { readCrop, REAL_SET } from '../test/support/real-set';
import { benchSignUp, benchStack } from './support';

const COUNTS = [1, 2, 5];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const stack = await benchStack('all');
  try {
    const token = await benchSignUp(stack);
    const photos: string[] = [];
    for (const crop of REAL_SET.filter((c) => c.usable)) {
      if (photos.length >= Math.max(...COUNTS)) break;
      const form = new FormData();
      form.append('photo', new Blob([new Uint8Array(await readCrop(crop))], { type: 'image/jpeg' }), crop.file);
      const up = await stack.api('POST', '/v1/photos', { token, body: form });
      let p = up;
      while (['preparing', 'analysing'].includes(p.status)) {
        await sleep(200);
        p = await stack.api('GET', `/v1/photos/${up.id}`, { token });
      }
      if (p.status !== 'usable') continue;
      // Distinct shots only: another crop of the same shot is a copy and counts once (the quote says).
      const q = await stack.api('POST', '/v1/orders/quote', {
        token,
        json: { package_id: 'starter', style_ids: [STYLES[0].id], photo_ids: [...photos, p.id] },
      });
      if (q.photos_usable > photos.length) photos.push(p.id);
    }
    console.log(`${photos.length} distinct usable real photos; styles: the package's maximum, at most 3`);
    console.log(
      '| package | usable photos | styles | named | expected | price | shortfall | delivered | missing | refunded |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const pkg of PACKAGES) {
      for (const n of COUNTS) {
        const styles = STYLES.slice(0, Math.min(3, pkg.maxStyles)).map((s) => s.id);
        const body = { package_id: pkg.id, style_ids: styles, photo_ids: photos.slice(0, n) };
        const q = await stack.api('POST', '/v1/orders/quote', { token, json: body });
        const { order } = await stack.api('POST', '/v1/orders', {
          token,
          json: { ...body, accept_shortfall: q.shortfall !== null },
        });
        let o = order;
        while (!['ready', 'failed'].includes(o.status) || (o.missing.length && o.refund?.status !== 'succeeded')) {
          await sleep(250);
          o = await stack.api('GET', `/v1/orders/${order.id}`, { token });
        }
        const euros = (c: number) => `€${(c / 100).toFixed(2)}`;
        console.log(
          `| ${pkg.id} | ${n} | ${styles.length} | ${q.headshots_promised} | ${q.headshots_expected} | ${euros(q.amount_cents)} | ${q.shortfall ? q.shortfall.missing : 0} | ${o.headshots_delivered} | ${o.missing.length} | ${o.refund ? euros(o.refund.amount_cents) : '-'} |`,
        );
      }
    }
  } finally {
    await stack.stop();
  }
}

await main();
