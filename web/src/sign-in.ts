/** Sign in with the six-digit code Rasmi emails, or register (which emails one too). */
import { api, plainError, session, unwrap } from './api';
import { act, fill, h } from './dom';
import { afterSignIn, go } from './route';

export async function signInScreen(main: HTMLElement): Promise<void> {
  const policy = await api
    .GET('/v1/policy')
    .then(unwrap)
    .catch(() => undefined);
  const area = h('div');
  main.append(area);

  const askForCode = () => {
    const email = h('input', { id: 'email', type: 'email', name: 'email', autocomplete: 'email', required: true });
    const form = h(
      'form',
      { 'aria-labelledby': 'signin-h' },
      h('h2', { id: 'signin-h' }, 'Sign in with an emailed code'),
      h('label', { for: 'email' }, 'Email address'),
      email,
      h('button', { type: 'submit' }, 'Email me a code'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(
        form,
        async () => {
          unwrap(await api.POST('/v1/auth/code', { body: { email: email.value } }));
          enterCode(email.value);
        },
        plainError,
      );
    });

    const name = h('input', { id: 'reg-name', name: 'name', autocomplete: 'name', required: true, maxlength: 200 });
    const regEmail = h('input', {
      id: 'reg-email',
      type: 'email',
      name: 'email',
      autocomplete: 'email',
      required: true,
    });
    const adult = h('input', { id: 'reg-adult', type: 'checkbox', required: true });
    const accept = h('input', { id: 'reg-policy', type: 'checkbox', required: true });
    const register = h(
      'form',
      { 'aria-labelledby': 'register-h' },
      h('h2', { id: 'register-h' }, 'New to Rasmi? Create an account'),
      h('label', { for: 'reg-name' }, 'Your name'),
      name,
      h('label', { for: 'reg-email' }, 'Email address'),
      regEmail,
      h('div', { class: 'check' }, adult, h('label', { for: 'reg-adult' }, 'I am 18 or older')),
      h(
        'div',
        { class: 'check' },
        accept,
        h('label', { for: 'reg-policy' }, `I accept the privacy policy${policy ? ` (version ${policy.id})` : ''}`),
      ),
      policy &&
        h(
          'details',
          {},
          h('summary', {}, 'Read the privacy policy'),
          h('pre', { class: 'policy', tabindex: 0 }, policy.text),
        ),
      h('button', { type: 'submit' }, 'Create account and email me a code'),
    );
    register.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(
        register,
        async () => {
          const body = {
            email: regEmail.value,
            name: name.value,
            confirms_adult: adult.checked,
            accepted_policy_version: policy?.id ?? '',
          };
          unwrap(await api.POST('/v1/accounts', { body }));
          enterCode(regEmail.value);
        },
        plainError,
      );
    });
    fill(area, form, register);
    email.focus();
  };

  const enterCode = (email: string) => {
    const code = h('input', {
      id: 'code',
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '\\d{6}',
      maxlength: 6,
      required: true,
      'aria-describedby': 'code-help',
    });
    const form = h(
      'form',
      { 'aria-labelledby': 'code-h' },
      h('h2', { id: 'code-h' }, 'Enter your code'),
      h('p', { id: 'code-help' }, `We emailed a six-digit code to ${email}. It works once, for a few minutes.`),
      h('label', { for: 'code' }, 'Six-digit code'),
      code,
      h('button', { type: 'submit' }, 'Sign in'),
      h('button', { type: 'button', class: 'link', onclick: askForCode }, 'Use another address'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(
        form,
        async () => {
          session.token = unwrap(await api.POST('/v1/auth/token', { body: { email, code: code.value.trim() } })).token;
          go(afterSignIn());
        },
        plainError,
      );
    });
    fill(area, form);
    code.focus();
  };

  askForCode();
}
