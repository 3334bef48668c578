/**
 * The unsubscribe link of a marketing email: one button, so a link scanner that opens the page
 * unsubscribes no one. Works signed in or out: the signed token in the link says who.
 */
import { api, plainError, unwrap } from './api';
import { act, fill, h } from './dom';
import { hashParams } from './route';

export function unsubscribeScreen(main: HTMLElement): void {
  const token = hashParams().get('token') ?? '';
  const area = h('div');
  main.append(area);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    fill(
      area,
      h(
        'p',
        {},
        'This unsubscribe link is incomplete. Open it again from the email, or turn marketing emails off in your privacy centre.',
      ),
    );
    return;
  }
  const button = h('button', { type: 'button' }, 'Unsubscribe from marketing emails');
  fill(
    area,
    h(
      'p',
      {},
      'Stop receiving news and offers from Rasmi by email. Emails about your orders and your account still come.',
    ),
    button,
  );
  button.addEventListener(
    'click',
    () =>
      void act(
        button,
        async () => {
          unwrap(await api.POST('/v1/unsubscribe/{token}', { params: { path: { token } } }));
          const done = h(
            'p',
            { role: 'status', tabindex: -1 },
            'You are unsubscribed: Rasmi sends you no more marketing emails. You can opt in again in your privacy centre.',
          );
          fill(area, done);
          done.focus();
        },
        plainError,
      ),
  );
}
