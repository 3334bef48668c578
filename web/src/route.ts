/** Moves to a screen (main.ts renders on hashchange; the same hash renders again). */
export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** A screen's query parameters (`#/order?id=...`). */
export function hashParams(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

/** Where sign-in leads: the screen a link pointed to (only this app's own screens), or Photos. */
export function afterSignIn(): string {
  const next = location.hash.startsWith('#/sign-in') ? hashParams().get('next') : null;
  return next && /^#\/[a-z-]+(\?.*)?$/.test(next) && !next.startsWith('#/sign-in') ? next : '#/photos';
}
