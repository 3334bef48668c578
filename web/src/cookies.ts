/**
 * Cookie choices for this browser. Essential cookies are always on; analytics and marketing stay off
 * when the browser sends Do Not Track or Global Privacy Control, whatever is ticked (the API honours
 * the same signals from its request headers).
 */
import type { CookieConsent } from '../../clients/typescript/src/index';
import { api, plainError, unwrap } from './api';
import { act, fill, h } from './dom';

/** DNT or GPC as this browser reports it to scripts. */
export function optOutSignal(): 'gpc' | 'dnt' | null {
  if ((navigator as Navigator & { globalPrivacyControl?: boolean }).globalPrivacyControl) return 'gpc';
  if (navigator.doNotTrack === '1') return 'dnt';
  return null;
}

/** The choice form, used by the first-visit banner and the privacy centre alike. */
export function cookieForm(current: CookieConsent, onSaved: (c: CookieConsent) => void): HTMLFormElement {
  const signal = current.opt_out_signal ?? optOutSignal();
  const box = (name: 'preference' | 'analytics' | 'marketing', label: string, blocked: boolean) =>
    h(
      'div',
      { class: 'check' },
      h('input', {
        type: 'checkbox',
        id: `cookie-${name}`,
        name,
        checked: current[name] && !blocked,
        disabled: blocked,
      }),
      h('label', { for: `cookie-${name}` }, label),
    );
  const form = h(
    'form',
    { 'aria-labelledby': 'cookie-h' },
    h('h2', { id: 'cookie-h' }, 'Cookies'),
    h('p', {}, 'Essential cookies keep Rasmi working and are always on. The others are your choice.'),
    signal &&
      h(
        'p',
        { class: 'note' },
        `Your browser sends ${signal === 'gpc' ? 'Global Privacy Control' : 'Do Not Track'}, so analytics and marketing cookies stay off.`,
      ),
    box('preference', 'Preference cookies (remember your settings)', false),
    box('analytics', 'Analytics cookies (how the site is used)', !!signal),
    box('marketing', 'Marketing cookies', !!signal),
    h('button', { type: 'submit' }, 'Save cookie choices'),
    h('button', { type: 'button', class: 'secondary', onclick: () => save(false) }, 'Essential only'),
  );
  const save = (useForm: boolean) =>
    act(
      form,
      async () => {
        const data = new FormData(form);
        const pick = (k: string) => useForm && data.has(k);
        onSaved(
          unwrap(
            await api.PUT('/v1/cookie-consent', {
              body: {
                preference: pick('preference'),
                analytics: pick('analytics') && !signal,
                marketing: pick('marketing') && !signal,
              },
            }),
          ),
        );
      },
      plainError,
    );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void save(true);
  });
  return form;
}

/** Asks once per browser, until a choice is recorded. */
export async function showCookieBanner(): Promise<void> {
  const current = await api
    .GET('/v1/cookie-consent')
    .then(unwrap)
    .catch(() => undefined);
  const region = document.getElementById('cookies')!;
  if (!current || current.decided) return;
  const banner = h(
    'aside',
    { class: 'banner', 'aria-label': 'Cookie choices' },
    cookieForm(current, () => fill(region)),
  );
  fill(region, banner);
}
