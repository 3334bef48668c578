/**
 * Rasmi's reference web client: hash routes, one screen at a time. Each screen renders into <main>
 * and may return a cleanup (it stops its streams and polling when the person leaves it).
 */
import { api, session } from './api';
import { showCookieBanner } from './cookies';
import { h, showError } from './dom';
import { orderScreen } from './order';
import { joinScreen, organisationScreen } from './organisation';
import { photosScreen } from './photos';
import { privacyScreen } from './privacy';
import { afterSignIn, go } from './route';
import { signInScreen } from './sign-in';
import { unsubscribeScreen } from './unsubscribe';

type Screen = (main: HTMLElement, signal: AbortSignal) => Promise<void> | void;

/** signedIn: true needs a session, false is for signed-out people only, 'any' is for both. */
const SCREENS: Record<string, { title: string; screen: Screen; signedIn: boolean | 'any' }> = {
  '#/sign-in': { title: 'Sign in', screen: signInScreen, signedIn: false },
  '#/photos': { title: 'Your photos', screen: photosScreen, signedIn: true },
  '#/order': { title: 'Order headshots', screen: orderScreen, signedIn: true },
  '#/privacy': { title: 'Privacy centre', screen: privacyScreen, signedIn: true },
  '#/organisation': { title: 'Organisation', screen: organisationScreen, signedIn: true },
  '#/join': { title: 'Join an organisation', screen: joinScreen, signedIn: true },
  '#/unsubscribe': { title: 'Unsubscribe', screen: unsubscribeScreen, signedIn: 'any' },
};

let leaving: AbortController | undefined;

async function render(): Promise<void> {
  leaving?.abort();
  leaving = new AbortController();
  const path = location.hash.split('?')[0];
  let entry = SCREENS[path] ?? SCREENS['#/photos'];
  if (entry.signedIn === true && !session.token) {
    // A link opened while signed out (from an email, in a new tab) goes through sign-in and then on to where it pointed.
    if (path in SCREENS) return go(`#/sign-in?next=${encodeURIComponent(location.hash)}`);
    entry = SCREENS['#/sign-in'];
  }
  if (entry.signedIn === false && session.token) return go(afterSignIn());
  document.querySelector('nav')!.hidden = !session.token;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${entry.title} · Rasmi`;
  showError(null);
  const main = document.getElementById('main')!;
  const heading = h('h1', { tabindex: -1 }, entry.title);
  main.replaceChildren(heading);
  // Focus moves to the new screen's heading, so keyboard and screen-reader users hear where they are.
  heading.focus();
  await entry.screen(main, leaving.signal);
}

export async function signOut(): Promise<void> {
  await api.POST('/v1/auth/sign-out').catch(() => undefined);
  session.token = undefined;
  go('#/sign-in');
}

document.getElementById('sign-out')!.addEventListener('click', () => void signOut());
window.addEventListener('hashchange', () => void render());
// Signed in or out in another tab: this one follows.
session.onChange(() => void render());
void render().then(() => {
  document.body.dataset.ready = 'true';
  performance.mark('rasmi-ready');
  void showCookieBanner();
});
