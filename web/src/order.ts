/**
 * Choose a package, styles (with their previews) and photos; pay (the local processor confirms by
 * itself in development); follow the order's progress; see the headshots and download each, 4:5 or 1:1.
 */
import type { Order, Package, Photo, Quote, Style } from '../../clients/typescript/src/index';
import { API_BASE, api, idempotencyKey, plainError, unwrap } from './api';
import { act, fill, h, money, showError, showErrorAt, sleep, when } from './dom';
import { go } from './route';

const ORDER_STATUS: Record<Order['status'], string> = {
  awaiting_payment: 'Waiting for payment',
  received: 'Paid, in the queue',
  processing: 'Making your headshots',
  ready: 'Ready',
  failed: 'Failed',
};

export async function orderScreen(main: HTMLElement, signal: AbortSignal): Promise<void> {
  const id = new URLSearchParams(location.hash.split('?')[1]).get('id');
  if (id) return followOrder(main, id, signal);

  const [packages, styles, photos, orders] = await Promise.all([
    api.GET('/v1/packages').then(unwrap),
    api.GET('/v1/styles').then(unwrap),
    api.GET('/v1/photos', { params: { query: { limit: 50 } } }).then(unwrap),
    api.GET('/v1/orders').then(unwrap),
  ]).catch((err) => {
    showError(plainError(err));
    return [];
  });
  if (!packages) return;
  const usable = photos.items.filter((p) => p.status === 'usable');
  const form = h('form', { 'aria-label': 'New order' });
  const pkgs = packages.items.map((p, i) =>
    choice(
      'radio',
      'package',
      p.id,
      i === 0,
      `${p.name}: ${money(p.price_cents, p.currency)}`,
      `Up to ${count(p.max_styles, 'style')}, ${count(p.photos_per_style, 'headshot')} a style, each from a different photo`,
    ),
  );
  const styleBoxes = styles.items.map((s: Style, i: number) =>
    choice('checkbox', 'style', s.id, i === 0, s.name, s.description, `${API_BASE}${s.preview_url}`),
  );
  const photoBoxes = usable.map((p: Photo, i: number) =>
    choice(
      'checkbox',
      'photo',
      p.id,
      true,
      `Photo ${i + 1}`,
      `${p.width}×${p.height}, uploaded ${when(p.uploaded_at)}`,
      p.thumbnail_url ?? undefined,
    ),
  );
  const styleLimit = h('p', { class: 'help', id: 'style-limit', 'aria-live': 'polite' });
  // What the choice makes and costs, asked of the API (POST /v1/orders/quote) at each change, before the pay button.
  const quoteLine = h('p', { class: 'quote', id: 'quote', 'aria-live': 'polite' });
  const shortfall = h('div', { class: 'note', hidden: true });
  const pay = h('button', { type: 'submit', disabled: !usable.length }, 'Pay and order');
  fill(
    form,
    h('fieldset', {}, h('legend', {}, 'Package'), pkgs),
    h(
      'fieldset',
      { class: 'styles', 'aria-describedby': 'style-limit' },
      h('legend', {}, 'Styles'),
      styleLimit,
      styleBoxes,
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Photos to use'),
      usable.length
        ? photoBoxes
        : h('p', {}, 'No usable photo yet. ', h('a', { href: '#/photos' }, 'Upload selfies first.')),
    ),
    quoteLine,
    shortfall,
    pay,
  );
  const chosenPackage = () => packages.items.find((p: Package) => p.id === new FormData(form).get('package'))!;
  const boxes = () => [...form.querySelectorAll<HTMLInputElement>('input[name="style"]')];
  let current: Quote | undefined;
  let asking: AbortController | undefined;

  /** The package's style limit, kept as styles are picked: once it is reached, the others cannot be ticked. */
  const enforceStyleLimit = () => {
    const pkg = chosenPackage();
    const ticked = boxes().filter((b) => b.checked);
    // A smaller package keeps the styles ticked first.
    for (const b of ticked.slice(pkg.max_styles)) b.checked = false;
    const full = ticked.length >= pkg.max_styles;
    for (const b of boxes()) b.disabled = full && !b.checked;
    const limit = `${pkg.name} includes ${pkg.max_styles > 1 ? 'up to ' : ''}${count(pkg.max_styles, 'style')}`;
    styleLimit.textContent = full
      ? `${limit}: untick one to choose another.`
      : `${limit}; ${count(ticked.length, 'style')} chosen.`;
  };

  const requote = async () => {
    enforceStyleLimit();
    asking?.abort();
    const data = new FormData(form);
    const body = {
      package_id: String(data.get('package')),
      style_ids: data.getAll('style').map(String),
      photo_ids: data.getAll('photo').map(String),
    };
    current = undefined;
    // Emptied, not only hidden: a hidden required box would block the form.
    fill(shortfall);
    shortfall.hidden = true;
    if (!body.style_ids.length || !body.photo_ids.length) {
      quoteLine.textContent = !body.style_ids.length ? 'Choose at least one style.' : 'Choose at least one photo.';
      pay.disabled = true;
      return;
    }
    const ask = new AbortController();
    asking = ask;
    try {
      const q = unwrap(await api.POST('/v1/orders/quote', { body, signal: ask.signal }));
      if (ask.signal.aborted) return;
      current = q;
      quoteLine.textContent = `You'll get ${count(q.headshots_expected, 'headshot')} for ${money(q.amount_cents, q.currency)}.`;
      if (q.shortfall) {
        // Fewer than the package names: said before paying, and agreed explicitly.
        fill(
          shortfall,
          h('p', {}, q.shortfall.message),
          h('p', {}, q.shortfall.hint, ' ', h('a', { href: '#/photos' }, 'Upload more photos')),
          h(
            'div',
            { class: 'check' },
            h('input', { type: 'checkbox', id: 'accept-shortfall', name: 'accept_shortfall', required: true }),
            h(
              'label',
              { for: 'accept-shortfall' },
              `I accept ${count(q.headshots_expected, 'headshot')} instead of ${q.headshots_promised}, for ${money(q.amount_cents, q.currency)}`,
            ),
          ),
        );
        shortfall.hidden = false;
      }
      pay.disabled = false;
    } catch (err) {
      if (ask.signal.aborted) return;
      quoteLine.textContent = '';
      showErrorAt(pay, plainError(err));
    }
  };
  form.addEventListener('change', (e) => {
    if ((e.target as HTMLInputElement).name !== 'accept_shortfall') void requote();
  });
  if (usable.length) void requote();
  else enforceStyleLimit();

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    void act(
      form,
      async () => {
        if (!current) throw new Error('Choose at least one style and one photo.');
        const body = {
          package_id: current.package_id,
          style_ids: data.getAll('style').map(String),
          photo_ids: data.getAll('photo').map(String),
          accept_shortfall: data.has('accept_shortfall'),
        };
        const { order } = unwrap(
          await api.POST('/v1/orders', { body, params: { header: { 'idempotency-key': idempotencyKey() } } }),
        );
        go(`#/order?id=${order.id}`);
      },
      plainError,
    );
  });
  main.append(form);
  if (orders.items.length)
    main.append(
      h(
        'section',
        { 'aria-labelledby': 'orders-h' },
        h('h2', { id: 'orders-h' }, 'Your orders'),
        h(
          'ul',
          {},
          orders.items.map((o) =>
            h(
              'li',
              {},
              h(
                'a',
                { href: `#/order?id=${o.id}` },
                `${when(o.created_at)}: ${count(o.style_ids.length, 'style')}, ${ORDER_STATUS[o.status]}`,
              ),
            ),
          ),
        ),
      ),
    );
}

const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function choice(
  type: 'radio' | 'checkbox',
  name: string,
  value: string,
  checked: boolean,
  label: string,
  help: string,
  image?: string,
) {
  const id = `${name}-${value}`;
  return h(
    'div',
    { class: 'choice' },
    h('input', { type, name, value, id, checked, 'aria-describedby': `${id}-help` }),
    image && h('img', { src: image, alt: '', width: 64, height: 80 }),
    h('label', { for: id }, label, h('span', { id: `${id}-help`, class: 'help' }, help)),
  );
}

async function followOrder(main: HTMLElement, id: string, signal: AbortSignal): Promise<void> {
  const status = h('p', { role: 'status', class: 'order-status' });
  const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Headshots made' });
  const selection = h('section', { 'aria-labelledby': 'sel-h' });
  const gallery = h('section', { 'aria-labelledby': 'gallery-h' });
  main.append(status, bar, selection, gallery);
  let shown = '';
  while (!signal.aborted) {
    let order: Order;
    try {
      order = unwrap(await api.GET('/v1/orders/{id}', { params: { path: { id } } }));
    } catch (err) {
      showError(plainError(err));
      return;
    }
    // Counted against what was agreed before payment: never "2 of 2" with one delivered.
    const expected = order.headshots_expected ?? order.headshots.length;
    const settled = order.headshots.filter((x) => x.status !== 'pending').length;
    const line = `${ORDER_STATUS[order.status]}${expected ? `: ${order.headshots_delivered} of ${count(expected, 'headshot')}` : ''}`;
    if (line !== status.textContent) status.textContent = line;
    bar.max = Math.max(1, expected);
    bar.value = settled;
    const key = `${order.status}:${order.selection.map((s) => `${s.photo_id}${s.excluded}`).join()}`;
    if (key !== shown) {
      shown = key;
      renderSelection(selection, order, () => (shown = ''));
    }
    if (order.status === 'failed')
      showError(
        `The order could not be completed: ${order.failure?.detail ?? order.failure?.code ?? 'unknown reason'}${order.refund ? ` ${refundLine(order)}` : ''}`,
      );
    if (order.status === 'ready' || order.status === 'failed') {
      bar.hidden = true;
      await renderGallery(gallery, order);
      return;
    }
    await sleep(1000);
  }
}

function renderSelection(section: HTMLElement, order: Order, changed: () => void): void {
  const canChange = order.status === 'awaiting_payment';
  fill(
    section,
    h('h2', { id: 'sel-h' }, 'Which photos are used'),
    h(
      'ul',
      { class: 'selection' },
      order.selection.map((s, i) =>
        h(
          'li',
          {},
          h('strong', {}, `Photo ${i + 1} (rank ${s.rank}): `),
          s.excluded
            ? 'left out by you'
            : s.chosen
              ? 'chosen'
              : s.duplicate_of
                ? 'a copy of a better photo'
                : 'not needed',
          `, score ${Math.round(s.score * 100)} of 100`,
          h(
            'span',
            { class: 'help' },
            Object.entries(s.parts)
              .map(([k, v]) => `${k.replace(/_/g, ' ')} ${Math.round(v * 100)}`)
              .join(', '),
          ),
          canChange &&
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                onclick: (e: Event) =>
                  void act(
                    e.currentTarget as HTMLButtonElement,
                    async () => {
                      unwrap(
                        await api.PATCH('/v1/orders/{id}/photos/{photo_id}', {
                          params: { path: { id: order.id, photo_id: s.photo_id } },
                          body: { excluded: !s.excluded },
                        }),
                      );
                      changed();
                    },
                    plainError,
                  ),
              },
              s.excluded ? 'Use it again' : 'Leave it out',
            ),
        ),
      ),
    ),
  );
}

async function renderGallery(section: HTMLElement, order: Order): Promise<void> {
  const rendered = order.headshots.filter((x) => x.status === 'rendered');
  const styles = await api.GET('/v1/styles').then(unwrap, () => ({ items: [] as Style[] }));
  const styleName = (id: string) => styles.items.find((s) => s.id === id)?.name ?? id;
  const link = async (headshotId: string, aspect: '4:5' | '1:1') => {
    const { url } = unwrap(await api.POST('/v1/headshots/{id}/link', { params: { path: { id: headshotId } } }));
    const u = new URL(url, location.href);
    u.searchParams.set('aspect', aspect);
    return u.toString();
  };
  const download = (headshotId: string, aspect: '4:5' | '1:1') => (e: Event) =>
    void act(
      e.currentTarget as HTMLButtonElement,
      async () => {
        // A fresh signed link at each click: links last minutes, the gallery may stay open longer.
        const a = h('a', { href: await link(headshotId, aspect), download: '' });
        document.body.append(a);
        a.click();
        a.remove();
      },
      plainError,
    );
  const figures = await Promise.all(
    rendered.map(async (x, i) =>
      h(
        'figure',
        {},
        h('img', {
          src: await link(x.id, '4:5'),
          alt: `Headshot ${i + 1}, ${styleName(x.style_id)}`,
          width: 256,
          height: 320,
          loading: 'lazy',
        }),
        h(
          'figcaption',
          {},
          h('span', { class: 'style-name' }, styleName(x.style_id)),
          h(
            'button',
            { type: 'button', onclick: download(x.id, '4:5'), 'aria-label': `Download headshot ${i + 1} as 4:5` },
            'Download 4:5',
          ),
          h(
            'button',
            {
              type: 'button',
              onclick: download(x.id, '1:1'),
              'aria-label': `Download headshot ${i + 1} as 1:1 square`,
            },
            'Download 1:1',
          ),
        ),
      ),
    ),
  ).catch((err) => {
    showError(plainError(err));
    return [];
  });
  fill(
    section,
    h('h2', { id: 'gallery-h' }, 'Your headshots'),
    order.shortfall && h('p', { class: 'help' }, `Agreed before payment: ${order.shortfall.message}`),
    figures.length ? h('div', { class: 'gallery' }, figures) : h('p', {}, 'No headshots in this order.'),
    order.missing.length > 0 &&
      h(
        'div',
        { class: 'note', id: 'missing' },
        h('p', {}, `${count(order.missing.length, 'headshot')} could not be made:`),
        h(
          'ul',
          {},
          order.missing.map((m) =>
            h('li', {}, `${styleName(m.style_id)}${m.position ? `, headshot ${m.position}` : ''}: ${m.reason}`),
          ),
        ),
        order.refund && h('p', {}, refundLine(order)),
      ),
  );
}

function refundLine(order: Order): string {
  const r = order.refund!;
  const what = r.headshots === order.headshots_expected ? 'the whole order' : count(r.headshots, 'missing headshot');
  return r.status === 'succeeded'
    ? `${money(r.amount_cents, r.currency)} was refunded for ${what} to the card you paid with; banks take 5 to 10 days to show it.`
    : `${money(r.amount_cents, r.currency)} is being refunded for ${what}.`;
}
