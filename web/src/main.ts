/**
 * Rasmi's reference web client: hash routes, one screen at a time. Each screen renders into <main>
 * and may return a cleanup (it stops its streams and polling when the person leaves it).
 */
import { api, session } from './api';
import { showCookieBanner } from './cookies';
import { h, showError } from './dom';
import { orderScreen } from './order';
import { photosScreen } from './photos';
import { privacyScreen } from './privacy';
import { go } from './route';
import { signInScreen } from './sign-in';

type Screen = (main: HTMLElement, signal: AbortSignal) => Promise<void> | void;

const SCREENS: Record<string, { title: string; screen: Screen; signedIn: boolean }> = {
  '#/sign-in': { title: 'Sign in', screen: signInScreen, signedIn: false },
  '#/photos': { title: 'Your photos', screen: photosScreen, signedIn: true },
  '#/order': { title: 'Order headshots', screen: orderScreen, signedIn: true },
  '#/privacy': { title: 'Privacy centre', screen: privacyScreen, signedIn: true },
};

let leaving: AbortController | undefined;

async function render(): Promise<void> {
  leaving?.abort();
  leaving = new AbortController();
  const path = location.hash.split('?')[0];
  let entry = SCREENS[path] ?? SCREENS['#/photos'];
  if (entry.signedIn && !session.token) entry = SCREENS['#/sign-in'];
  if (!entry.signedIn && session.token) entry = SCREENS['#/photos'];
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
void render().then(() => {
  document.body.dataset.ready = 'true';
  performance.mark('rasmi-ready');
  void showCookieBanner();
});
