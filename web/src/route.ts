/** Moves to a screen (main.ts renders on hashchange; the same hash renders again). */
export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
