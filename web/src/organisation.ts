/**
 * Teams: an organisation's screen. Admins see members and their status, invitations (by email and
 * open links, revocable), the brand (styles, backdrop, logo), seats, the review of shared headshots
 * (approve, ask for a redo) and the ZIP download. A member sees their consent to share, shares or
 * unshares their own headshots, and can leave. The join screen shows what joining means and asks
 * for that consent explicitly.
 */
import type { Organisation, OrganisationBrand, SharedHeadshot } from '../../clients/typescript/src/index';
import { api, API_BASE, idempotencyKey, plainError, session, unwrap } from './api';
import { act, fill, h, money, when } from './dom';
import { go, hashParams } from './route';

const STATUS: Record<string, string> = {
  invited: 'Invited',
  joined: 'Joined, no photo yet',
  uploaded: 'Uploaded photos',
  ordered: 'Ordered',
  ready: 'Headshot ready',
  shared: 'Shared a headshot',
};

export async function organisationScreen(main: HTMLElement): Promise<void> {
  const mine = unwrap(await api.GET('/v1/organisations'));
  const id = hashParams().get('id') ?? mine.items[0]?.id;
  if (!id) return void main.append(createForm());
  const org = unwrap(await api.GET('/v1/organisations/{id}', { params: { path: { id } } }));
  (main.querySelector('h1') as HTMLElement).textContent = org.name;
  if (mine.items.length > 1) {
    main.append(
      h(
        'nav',
        { 'aria-label': 'Your organisations' },
        h(
          'ul',
          {},
          mine.items.map((o) =>
            h(
              'li',
              {},
              h('a', { href: `#/organisation?id=${o.id}`, 'aria-current': o.id === id ? 'page' : undefined }, o.name),
            ),
          ),
        ),
      ),
    );
  }
  main.append(h('p', {}, `Your role: ${org.role}.`));
  if (org.admin) {
    const sections = [
      h('section', { 'aria-labelledby': 'members-h' }),
      h('section', { 'aria-labelledby': 'invite-h' }),
      h('section', { 'aria-labelledby': 'review-h' }),
      h('section', { 'aria-labelledby': 'seats-h' }),
      h('section', { 'aria-labelledby': 'brand-h' }),
    ];
    main.append(...sections);
    const [members, invites, review, seats, brand] = sections;
    await Promise.all([
      renderMembers(members, id),
      renderInvitations(invites, id),
      renderReview(review, id),
      renderSeats(seats, id, org),
      renderBrand(brand, org),
    ]);
  }
  const own = h('section', { 'aria-labelledby': 'mine-h' });
  main.append(own);
  await renderMine(own, id, org);
}

function createForm(): HTMLElement {
  const name = h('input', { id: 'org-name', required: true, maxlength: 120, autocomplete: 'organization' });
  const billing = h('input', { id: 'org-billing', type: 'email', required: true, autocomplete: 'email' });
  const form = h(
    'form',
    { 'aria-labelledby': 'create-h' },
    h('h2', { id: 'create-h' }, 'Create an organisation'),
    h('p', {}, 'Invite your team, pay once for everyone, and get headshots that match.'),
    h('label', { for: 'org-name' }, 'Organisation name'),
    name,
    h('label', { for: 'org-billing' }, 'Billing email'),
    billing,
    h('button', { type: 'submit' }, 'Create organisation'),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    void act(
      form,
      async () => {
        const o = unwrap(
          await api.POST('/v1/organisations', { body: { name: name.value, billing_email: billing.value } }),
        );
        go(`#/organisation?id=${o.id}`);
      },
      plainError,
    );
  };
  return form;
}

async function renderMembers(section: HTMLElement, id: string): Promise<void> {
  const { items } = unwrap(await api.GET('/v1/organisations/{id}/members', { params: { path: { id } } }));
  fill(
    section,
    h('h2', { id: 'members-h' }, 'Members'),
    h('p', {}, 'Each person’s progress. You never see anyone’s selfies, only the headshots they choose to share.'),
    h(
      'table',
      {},
      h('caption', {}, `${items.length} people`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'Email'),
          h('th', { scope: 'col' }, 'Role'),
          h('th', { scope: 'col' }, 'Status'),
        ),
      ),
      h(
        'tbody',
        {},
        items.map((m) =>
          h(
            'tr',
            {},
            h('td', {}, m.name ?? '—'),
            h('td', {}, m.email),
            h('td', {}, m.role),
            h('td', {}, STATUS[m.status] ?? m.status),
          ),
        ),
      ),
    ),
  );
}

async function renderInvitations(section: HTMLElement, id: string): Promise<void> {
  const redraw = () => renderInvitations(section, id);
  const { items } = unwrap(await api.GET('/v1/organisations/{id}/invitations', { params: { path: { id } } }));
  const email = h('input', { id: 'invite-email', type: 'email', required: true, autocomplete: 'off' });
  const byEmail = h(
    'form',
    {},
    h('label', { for: 'invite-email' }, 'Invite by email'),
    email,
    h('button', { type: 'submit' }, 'Send invitation'),
  );
  byEmail.onsubmit = (e) => {
    e.preventDefault();
    void act(
      byEmail,
      async () => {
        unwrap(
          await api.POST('/v1/organisations/{id}/invitations', {
            params: { path: { id } },
            body: { email: email.value },
          }),
        );
        await redraw();
      },
      plainError,
    );
  };
  const domain = h('input', { id: 'link-domain', required: true, placeholder: 'example.com' });
  const cap = h('input', { id: 'link-cap', type: 'number', min: 1, max: 10000, value: 25, required: true });
  const byLink = h(
    'form',
    {},
    h('label', { for: 'link-domain' }, 'Open link for addresses at'),
    domain,
    h('label', { for: 'link-cap' }, 'At most this many people'),
    cap,
    h('button', { type: 'submit' }, 'Create link'),
  );
  byLink.onsubmit = (e) => {
    e.preventDefault();
    void act(
      byLink,
      async () => {
        unwrap(
          await api.POST('/v1/organisations/{id}/invitation-links', {
            params: { path: { id } },
            body: { domain: domain.value, max_uses: Number(cap.value) },
          }),
        );
        await redraw();
      },
      plainError,
    );
  };
  fill(
    section,
    h('h2', { id: 'invite-h' }, 'Invitations'),
    byEmail,
    byLink,
    h(
      'ul',
      { class: 'invitations' },
      items.map((i) => {
        const revoke = h(
          'button',
          { type: 'button', class: 'secondary', 'aria-label': `Revoke the invitation for ${i.email ?? i.domain}` },
          'Revoke',
        );
        revoke.onclick = () =>
          void act(
            revoke,
            async () => {
              unwrap(
                await api.DELETE('/v1/organisations/{id}/invitations/{invitation_id}', {
                  params: { path: { id, invitation_id: i.id } },
                }),
              );
              await redraw();
            },
            plainError,
          );
        const what = i.kind === 'email' ? i.email : `Anyone at ${i.domain} (${i.uses} of ${i.max_uses})`;
        return h(
          'li',
          {},
          `${what}: ${i.status}, expires ${when(i.expires_at)}`,
          i.url && h('input', { readonly: true, value: i.url, 'aria-label': `Link for ${i.domain}` }),
          i.status === 'pending' && revoke,
        );
      }),
    ),
  );
}

/** A shared headshot as a data: URL (the page's CSP allows data: images; the content needs the bearer token). */
async function imageOf(s: SharedHeadshot): Promise<string> {
  const res = await fetch(API_BASE + s.content_url, { headers: { authorization: `Bearer ${session.token}` } });
  const blob = await res.blob();
  return new Promise((resolve) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.readAsDataURL(blob);
  });
}

async function renderReview(section: HTMLElement, id: string): Promise<void> {
  const redraw = () => renderReview(section, id);
  const { items } = unwrap(await api.GET('/v1/organisations/{id}/headshots', { params: { path: { id } } }));
  const download = h('button', { type: 'button' }, 'Download approved headshots (ZIP)');
  download.onclick = () =>
    void act(
      download,
      async () => {
        const res = await fetch(`${API_BASE}/v1/organisations/${id}/export`, {
          headers: { authorization: `Bearer ${session.token}` },
        });
        if (!res.ok) throw new Error('The download could not be made. Try again.');
        const url = URL.createObjectURL(await res.blob());
        const a = h('a', { href: url, download: `rasmi-team-${id}.zip` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      },
      plainError,
    );
  const cards = await Promise.all(
    items.map(async (s) => {
      const approve = h('button', { type: 'button', 'aria-label': `Approve ${s.member.name}’s headshot` }, 'Approve');
      approve.onclick = () =>
        void act(
          approve,
          async () => {
            unwrap(
              await api.POST('/v1/organisations/{id}/headshots/{headshot_id}/approve', {
                params: { path: { id, headshot_id: s.headshot_id } },
              }),
            );
            await redraw();
          },
          plainError,
        );
      const note = h('input', { id: `note-${s.headshot_id}`, maxlength: 500 });
      const redo = h(
        'button',
        { type: 'button', class: 'secondary', 'aria-label': `Ask ${s.member.name} for a redo` },
        'Ask for a redo',
      );
      redo.onclick = () =>
        void act(
          redo,
          async () => {
            unwrap(
              await api.POST('/v1/organisations/{id}/headshots/{headshot_id}/redo', {
                params: { path: { id, headshot_id: s.headshot_id } },
                body: { note: note.value || null },
              }),
            );
            await redraw();
          },
          plainError,
        );
      return h(
        'li',
        { class: 'shared' },
        h('img', { src: await imageOf(s), alt: `${s.member.name}, ${s.style_id}`, width: 160, height: 200 }),
        h(
          'p',
          {},
          `${s.member.name} (${s.member.email}): ${s.review.replace('_', ' ')}${s.review_note ? `, “${s.review_note}”` : ''}`,
        ),
        s.review !== 'approved' && approve,
        h('label', { for: `note-${s.headshot_id}` }, 'Note for a redo (optional)'),
        note,
        redo,
      );
    }),
  );
  fill(
    section,
    h('h2', { id: 'review-h' }, 'Review'),
    items.length ? h('ul', { class: 'gallery' }, cards) : h('p', {}, 'No one has shared a headshot yet.'),
    download,
  );
}

async function renderSeats(section: HTMLElement, id: string, org: Organisation): Promise<void> {
  const { summary } = unwrap(await api.GET('/v1/organisations/{id}/seats', { params: { path: { id } } }));
  const packages = unwrap(await api.GET('/v1/packages')).items;
  const pkg = h(
    'select',
    { id: 'seat-package' },
    packages.map((p) => h('option', { value: p.id }, `${p.name}, ${money(p.price_cents, p.currency)} a seat`)),
  );
  const count = h('input', { id: 'seat-count', type: 'number', min: 1, max: 1000, value: 10, required: true });
  const form = h(
    'form',
    {},
    h('label', { for: 'seat-package' }, 'Package'),
    pkg,
    h('label', { for: 'seat-count' }, 'Seats'),
    count,
    h('button', { type: 'submit' }, 'Buy seats'),
  );
  const status = h('p', { role: 'status' });
  form.onsubmit = (e) => {
    e.preventDefault();
    void act(
      form,
      async () => {
        const r = unwrap(
          await api.POST('/v1/organisations/{id}/seats', {
            params: { path: { id } },
            body: { package_id: pkg.value, seats: Number(count.value) },
            headers: { 'Idempotency-Key': idempotencyKey() },
          }),
        );
        const credit = r.credit_cents
          ? ` Your credit of ${money(r.credit_cents, r.currency)} was taken off the price.`
          : '';
        status.textContent = r.payment
          ? `Payment of ${money(r.amount_cents, r.currency)} started; the seats count once it is confirmed.${credit}`
          : `Paid with your credit (${money(r.credit_cents, r.currency)}): the seats are ready to use.`;
      },
      plainError,
    );
  };
  fill(
    section,
    h('h2', { id: 'seats-h' }, 'Seats'),
    h(
      'ul',
      {},
      summary.packages
        .filter((p) => p.purchased || p.pending)
        .map((p) =>
          h(
            'li',
            {},
            `${p.package_id}: ${p.available} available of ${p.purchased} bought${p.pending ? `, ${p.pending} awaiting payment` : ''}`,
          ),
        ),
    ),
    summary.credit_cents > 0 &&
      h(
        'p',
        {},
        `Credit for headshots that could not be made: ${money(summary.credit_cents, summary.currency)}, taken off your next seat purchase.`,
      ),
    form,
    status,
    h('p', {}, `Billing contact: ${org.admin?.billing_email}`),
  );
}

async function renderBrand(section: HTMLElement, org: Organisation): Promise<void> {
  const styles = unwrap(await api.GET('/v1/styles')).items;
  const boxes = styles.map((s) =>
    h('input', {
      type: 'checkbox',
      id: `style-${s.id}`,
      value: s.id,
      checked: !org.allowed_styles || org.allowed_styles.includes(s.id),
    }),
  );
  const kind = h(
    'select',
    { id: 'backdrop-kind' },
    h('option', { value: '' }, 'The styles’ own'),
    h('option', { value: 'solid', selected: org.backdrop?.kind === 'solid' }, 'One colour'),
    h('option', { value: 'gradient', selected: org.backdrop?.kind === 'gradient' }, 'Two-colour gradient'),
  );
  const from = h('input', {
    type: 'color',
    id: 'backdrop-from',
    value: org.backdrop ? (org.backdrop.kind === 'solid' ? org.backdrop.colour : org.backdrop.from) : '#1f3a5f',
  });
  const to = h('input', {
    type: 'color',
    id: 'backdrop-to',
    value: org.backdrop?.kind === 'gradient' ? org.backdrop.to : '#0a1020',
  });
  const logo = h('input', { type: 'file', id: 'brand-logo', accept: 'image/png,image/jpeg,image/webp' });
  const saved = h('p', { role: 'status' });
  const form = h(
    'form',
    {},
    h(
      'fieldset',
      {},
      h('legend', {}, 'Styles your members may use'),
      styles.map((s, i) => h('div', {}, boxes[i], h('label', { for: `style-${s.id}` }, s.name))),
    ),
    h('label', { for: 'backdrop-kind' }, 'Backdrop'),
    kind,
    h('label', { for: 'backdrop-from' }, 'Colour (top)'),
    from,
    h('label', { for: 'backdrop-to' }, 'Second colour (bottom, for a gradient)'),
    to,
    h('label', { for: 'brand-logo' }, 'Logo for the profile-picture version (PNG, JPEG or WebP, up to 64 kB)'),
    logo,
    h('button', { type: 'submit' }, 'Save brand'),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    void act(
      form,
      async () => {
        const allowed = boxes.filter((b) => b.checked).map((b) => b.value);
        const backdrop =
          kind.value === 'solid'
            ? { kind: 'solid' as const, colour: from.value }
            : kind.value === 'gradient'
              ? { kind: 'gradient' as const, from: from.value, to: to.value }
              : null;
        unwrap(
          await api.PUT('/v1/organisations/{id}/brand', {
            params: { path: { id: org.id } },
            body: {
              allowed_styles:
                allowed.length === styles.length ? null : (allowed as NonNullable<OrganisationBrand['allowed_styles']>),
              backdrop,
            },
          }),
        );
        const file = logo.files?.[0];
        if (file) {
          const bytes = new Uint8Array(await file.arrayBuffer());
          let bin = '';
          for (const b of bytes) bin += String.fromCharCode(b);
          unwrap(
            await api.PUT('/v1/organisations/{id}/logo', {
              params: { path: { id: org.id } },
              body: { image_base64: btoa(bin) },
            }),
          );
        }
        saved.textContent = 'Brand saved.';
      },
      plainError,
    );
  };
  fill(section, h('h2', { id: 'brand-h' }, 'Brand'), form, saved);
}

async function renderMine(section: HTMLElement, id: string, org: Organisation): Promise<void> {
  const redraw = () => renderMine(section, id, org);
  const me = unwrap(await api.GET('/v1/organisations/{id}/me', { params: { path: { id } } }));
  const orders = unwrap(await api.GET('/v1/orders')).items;
  const mine = orders.flatMap((o) =>
    o.headshots.filter((x) => x.status === 'rendered').map((x) => ({ ...x, order: o.id })),
  );
  const shared = new Set(me.shared.map((s) => s.headshot_id));
  const consent = h(
    'button',
    { type: 'button', class: me.consent_to_share ? 'danger' : '' },
    me.consent_to_share ? 'Withdraw my consent to share' : 'Give my consent to share',
  );
  consent.onclick = () =>
    void act(
      consent,
      async () => {
        unwrap(
          await api.PUT('/v1/organisations/{id}/me/consent', {
            params: { path: { id } },
            body: { granted: !me.consent_to_share },
          }),
        );
        await redraw();
      },
      plainError,
    );
  const leave = h('button', { type: 'button', class: 'secondary' }, `Leave ${org.name}`);
  leave.onclick = () =>
    void act(
      leave,
      async () => {
        unwrap(await api.POST('/v1/organisations/{id}/leave', { params: { path: { id } } }));
        go('#/photos');
      },
      plainError,
    );
  fill(
    section,
    h('h2', { id: 'mine-h' }, 'What you share'),
    h(
      'p',
      {},
      me.consent_to_share
        ? `${org.name}’s admins see the headshots you share below, with your name and email. They never see your selfies.`
        : `You do not share anything with ${org.name}.`,
    ),
    consent,
    mine.length
      ? h(
          'ul',
          {},
          mine.map((x) => {
            const on = shared.has(x.id);
            const b = h(
              'button',
              { type: 'button', class: on ? 'secondary' : '', disabled: !me.consent_to_share && !on },
              on ? 'Stop sharing' : 'Share',
            );
            b.onclick = () =>
              void act(
                b,
                async () => {
                  if (on)
                    unwrap(
                      await api.DELETE('/v1/organisations/{id}/me/shared/{headshot_id}', {
                        params: { path: { id, headshot_id: x.id } },
                      }),
                    );
                  else
                    unwrap(
                      await api.POST('/v1/organisations/{id}/me/shared', {
                        params: { path: { id } },
                        body: { headshot_ids: [x.id] },
                      }),
                    );
                  await redraw();
                },
                plainError,
              );
            return h(
              'li',
              {},
              h('a', { href: `#/order?id=${x.order}` }, `${x.style_id} headshot`),
              on ? ' (shared)' : '',
              b,
            );
          }),
        )
      : h('p', {}, 'You have no headshots yet.'),
    org.role !== 'owner' && leave,
  );
}

export async function joinScreen(main: HTMLElement): Promise<void> {
  const token = hashParams().get('token') ?? '';
  let preview;
  try {
    preview = unwrap(await api.GET('/v1/invitations/{token}', { params: { path: { token } } }));
  } catch (err) {
    main.append(h('p', { class: 'error', role: 'alert' }, plainError(err)));
    return;
  }
  // Not required by the browser: the API's own refusal (consent_required) says why, next to the button.
  const agree = h('input', { type: 'checkbox', id: 'join-consent' });
  const form = h(
    'form',
    {},
    h(
      'p',
      {},
      `${preview.organisation.name} invites you as ${preview.role === 'admin' ? 'an admin' : 'a member'}. The invitation expires ${when(preview.expires_at)}.`,
    ),
    h('div', {}, agree, h('label', { for: 'join-consent' }, preview.consent_text)),
    h('button', { type: 'submit' }, `Join ${preview.organisation.name}`),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    void act(
      form,
      async () => {
        const r = unwrap(
          await api.POST('/v1/invitations/{token}/accept', {
            params: { path: { token } },
            body: { consent_to_share: agree.checked },
          }),
        );
        go(`#/organisation?id=${r.organisation_id}`);
      },
      plainError,
    );
  };
  main.append(form);
}
