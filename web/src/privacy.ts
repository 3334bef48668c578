/**
 * The privacy centre: consents per purpose, cookie choices, a data export to download, account
 * deletion after an explicit confirmation, and the privacy policy with its versions.
 */
import type { Consents, RightsRequest } from '../../clients/typescript/src/index';
import { api, idempotencyKey, plainError, session, unwrap } from './api';
import { cookieForm } from './cookies';
import { act, fill, h, showError, sleep, when } from './dom';
import { go, hashParams } from './route';

const PURPOSES: [keyof Consents['consents'], string][] = [
  ['marketing', 'Marketing emails about offers and new styles'],
  ['analytics', 'Analytics about how you use Rasmi'],
  ['service_improvement', 'Using my photos to improve the service'],
  ['portfolio', 'Showing my headshots in Rasmi’s public portfolio'],
  ['whatsapp', 'Order updates on WhatsApp'],
];

export async function privacyScreen(main: HTMLElement, signal: AbortSignal): Promise<void> {
  const consentArea = h('section', { 'aria-labelledby': 'consent-h' });
  const cookieArea = h('section');
  const exportArea = h('section', { 'aria-labelledby': 'export-h' });
  const deleteArea = h('section', { 'aria-labelledby': 'delete-h' });
  const policyArea = h('section', { 'aria-labelledby': 'policy-h' });
  main.append(consentArea, cookieArea, exportArea, deleteArea, policyArea);
  try {
    const params = hashParams();
    const [me, consents, cookies, requests, policy, versions] = await Promise.all([
      api.GET('/v1/me').then(unwrap),
      api.GET('/v1/me/consents').then(unwrap),
      api.GET('/v1/cookie-consent').then(unwrap),
      api.GET('/v1/rights-requests').then(unwrap),
      api.GET('/v1/policy').then(unwrap),
      api.GET('/v1/policy/versions').then(unwrap),
    ]);
    renderConsents(consentArea, consents);
    const showCookies = (c: typeof cookies) =>
      fill(
        cookieArea,
        cookieForm(c, (saved) => {
          showCookies(saved);
          document.getElementById('cookie-saved')!.textContent = 'Cookie choices saved.';
        }),
        h('p', { id: 'cookie-saved', role: 'status' }),
      );
    showCookies(cookies);
    // An email's link names the export it announced (#/privacy?export=...); otherwise the latest one.
    const asked = params.get('export');
    const latest = requests.items.find((r) => r.kind === 'access');
    renderExport(
      exportArea,
      asked
        ? await api.GET('/v1/rights-requests/{id}', { params: { path: { id: asked } } }).then(unwrap, () => null)
        : latest,
      signal,
      Boolean(asked),
    );
    renderDeletion(deleteArea);
    const opened = params.get('policy');
    const accept = h('button', { type: 'button' }, `Accept version ${policy.id}`);
    accept.onclick = () =>
      void act(
        accept,
        async () => {
          unwrap(await api.POST('/v1/me/policy-acceptance', { body: { version: policy.id } }));
          const done = h('p', { role: 'status', tabindex: -1 }, `You accepted version ${policy.id}. Thank you.`);
          accept.replaceWith(done);
          done.focus();
        },
        plainError,
      );
    fill(
      policyArea,
      h('h2', { id: 'policy-h', tabindex: -1 }, 'Privacy policy'),
      h('p', {}, `Current version ${policy.id}, last updated ${policy.last_updated}.`),
      me.policy_version !== policy.id &&
        h(
          'div',
          { class: 'note' },
          h(
            'p',
            {},
            `You accepted version ${me.policy_version}. Read version ${policy.id} and accept it to keep ordering, or delete your account above if you do not agree.`,
          ),
          accept,
        ),
      h(
        'details',
        { open: opened === policy.id },
        h('summary', {}, 'Read the current policy'),
        h('pre', { class: 'policy', tabindex: 0 }, policy.text),
      ),
      h('h3', {}, 'Versions'),
      h(
        'ul',
        {},
        versions.items.map((v) =>
          h(
            'li',
            {},
            policyVersion(
              v.id,
              `${v.id}: published ${when(v.published_at)}${v.material ? ' (needed acceptance)' : ''}`,
              opened === v.id && v.id !== policy.id,
            ),
          ),
        ),
      ),
    );
    // A link about the policy lands on it.
    if (opened) (policyArea.querySelector('#policy-h') as HTMLElement).focus();
  } catch (err) {
    showError(plainError(err));
  }
}

function policyVersion(id: string, label: string, open = false) {
  const details = h('details', { open }, h('summary', {}, label));
  details.addEventListener('toggle', () => {
    if (!details.open || details.querySelector('pre')) return;
    void api
      .GET('/v1/policy/versions/{id}', { params: { path: { id } } })
      .then(unwrap)
      .then(
        (v) => details.append(h('pre', { class: 'policy', tabindex: 0 }, v.text)),
        (err) => showError(plainError(err)),
      );
  });
  return details;
}

function renderConsents(section: HTMLElement, current: Consents): void {
  const form = h(
    'form',
    {},
    h(
      'fieldset',
      {},
      h('legend', {}, 'I agree to'),
      PURPOSES.map(([k, label]) =>
        h(
          'div',
          { class: 'check' },
          h('input', { type: 'checkbox', id: `consent-${k}`, name: k, checked: current.consents[k] }),
          h('label', { for: `consent-${k}` }, label),
        ),
      ),
    ),
    h('button', { type: 'submit' }, 'Save consents'),
    h(
      'p',
      { role: 'status', id: 'consent-status' },
      current.history[0]
        ? `Last changed ${when(current.history[0].recorded_at)}.`
        : 'Nothing decided yet: everything optional is off.',
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    void act(
      form,
      async () => {
        const body = Object.fromEntries(PURPOSES.map(([k]) => [k, data.has(k)]));
        const saved = unwrap(await api.PUT('/v1/me/consents', { body }));
        renderConsents(section, saved);
        section.querySelector('#consent-status')!.textContent = 'Consents saved.';
      },
      plainError,
    );
  });
  fill(
    section,
    h('h2', { id: 'consent-h' }, 'Your consents'),
    h('p', {}, 'Each is optional and can be withdrawn at any time.'),
    form,
  );
}

function renderExport(
  section: HTMLElement,
  latest: RightsRequest | null | undefined,
  signal: AbortSignal,
  linked = false,
): void {
  const status = h('p', { role: 'status' });
  const start = h('button', { type: 'button' }, 'Request a copy of my data');
  // A real link the person follows (a signed URL that lasts minutes), renewed if it has expired.
  const download = h('a', { class: 'button', download: '', hidden: true, href: '#' }, 'Download my data');
  fill(
    section,
    h('h2', { id: 'export-h' }, 'Your data'),
    h('p', {}, 'A ZIP archive of everything Rasmi holds about you.'),
    start,
    download,
    status,
  );

  const follow = async (request: RightsRequest) => {
    while (!signal.aborted) {
      if (request.export) {
        const linkFor = async () =>
          unwrap(await api.POST('/v1/rights-requests/{id}/link', { params: { path: { id: request.id } } }));
        let link = await linkFor();
        download.href = link.url;
        status.textContent = `Your export is ready. It is kept until ${when(request.export.expires_at)}.`;
        download.hidden = false;
        // Opened from the email that announced it: the download is where focus lands.
        if (linked) download.focus();
        download.onclick = (e) => {
          if (new Date(link.expires_at).getTime() - Date.now() > 10_000) return;
          e.preventDefault();
          void act(
            null,
            async () => {
              link = await linkFor();
              download.href = link.url;
              download.click();
            },
            plainError,
          );
        };
        return;
      }
      status.textContent = request.status === 'rejected' ? 'The export could not be made.' : 'Preparing your export…';
      if (request.status === 'rejected') return;
      await sleep(1000);
      request = unwrap(await api.GET('/v1/rights-requests/{id}', { params: { path: { id: request.id } } }));
    }
  };
  start.onclick = () =>
    void act(
      start,
      async () => {
        const r = unwrap(
          await api.POST('/v1/rights-requests', {
            body: { kind: 'access' },
            params: { header: { 'idempotency-key': idempotencyKey() } },
          }),
        );
        await follow(r);
      },
      plainError,
    );
  if (latest && latest.export) void follow(latest);
  else if (linked)
    status.textContent = latest
      ? `That export is no longer kept: exports are deleted after a few days. Request a new one.`
      : 'That export is not yours or no longer exists. Request a new one.';
}

function renderDeletion(section: HTMLElement): void {
  const ask = h('button', { type: 'button', class: 'danger' }, 'Delete my account…');
  fill(
    section,
    h('h2', { id: 'delete-h' }, 'Delete your account'),
    h(
      'p',
      {},
      'Your photos, headshots and personal data are deleted. Only records the law makes us keep (such as transaction records) stay, and you are told which.',
    ),
    ask,
  );
  ask.onclick = () => {
    const confirm = h('input', { id: 'delete-confirm', autocomplete: 'off', 'aria-describedby': 'delete-help' });
    const form = h(
      'form',
      { class: 'confirm' },
      h('p', { id: 'delete-help' }, 'This cannot be undone. Type DELETE to confirm.'),
      h('label', { for: 'delete-confirm' }, 'Confirmation'),
      confirm,
      h('button', { type: 'submit', class: 'danger' }, 'Delete my account permanently'),
      h('button', { type: 'button', class: 'secondary', onclick: () => renderDeletion(section) }, 'Keep my account'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(
        form,
        async () => {
          if (confirm.value.trim() !== 'DELETE') throw new Error('Type DELETE in capitals to confirm.');
          const r = unwrap(
            await api.POST('/v1/rights-requests', {
              body: { kind: 'deletion' },
              params: { header: { 'idempotency-key': idempotencyKey() } },
            }),
          );
          const retained = (r.result?.retained as string[] | undefined) ?? [];
          session.token = undefined;
          document.querySelector('nav')!.hidden = true;
          // Signed out: the whole screen becomes the confirmation of what happens next.
          const done = h(
            'div',
            { class: 'done' },
            h('h1', { tabindex: -1 }, 'Your account is being deleted'),
            h(
              'p',
              {},
              `Request received ${when(r.received_at)}; it is completed by ${when(r.due_at)}. You have been signed out.`,
            ),
            retained.length > 0 && h('p', {}, 'What is kept, and why:'),
            retained.length > 0 &&
              h(
                'ul',
                {},
                retained.map((x) => h('li', {}, x)),
              ),
            h('button', { type: 'button', onclick: () => go('#/sign-in') }, 'Back to the start'),
          );
          fill(document.getElementById('main')!, done);
          document.title = 'Account deleted · Rasmi';
          done.querySelector('h1')!.focus();
        },
        plainError,
      );
    });
    fill(section, h('h2', { id: 'delete-h' }, 'Delete your account'), form);
    confirm.focus();
  };
}
