/** A few DOM helpers, so the screens stay declarative without a framework. */
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Replaces an element's content. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren(
    ...children.flat().filter((c): c is Node | string => c !== null && c !== undefined && c !== false),
  );
}

const errorBox = () => document.getElementById('error')!;

/** Shows an error in the page's alert region (read out by screen readers), or clears it. */
export function showError(message: string | null): void {
  const box = errorBox();
  box.hidden = !message;
  box.textContent = message ?? '';
}

/**
 * Shows an error where the person is looking: right after the button they pressed, read out at once
 * (role alert) and focused, so keyboard and screen-reader users land on it. Null clears it.
 */
export function showErrorAt(anchor: Element, message: string | null): void {
  const next = anchor.nextElementSibling;
  const existing = next?.classList.contains('inline-error') ? (next as HTMLElement) : undefined;
  if (!message) return existing?.remove();
  const box = existing ?? h('p', { class: 'error inline-error', role: 'alert', tabindex: -1 });
  box.textContent = message;
  if (!existing) anchor.after(box);
  box.focus();
}

/** Runs an action from a button or form, disabling it meanwhile and showing any error in plain words next to it. */
export async function act(
  control: HTMLButtonElement | HTMLFormElement | null,
  work: () => Promise<void>,
  plain: (e: unknown) => string,
): Promise<void> {
  const buttons =
    control instanceof HTMLFormElement ? [...control.querySelectorAll('button')] : control ? [control] : [];
  // A form's error goes after its submit button, a button's after the button itself.
  const anchor =
    control instanceof HTMLFormElement ? (control.querySelector('button[type="submit"]') ?? control) : control;
  for (const b of buttons) b.disabled = true;
  showError(null);
  if (anchor) showErrorAt(anchor, null);
  try {
    await work();
  } catch (err) {
    if (anchor?.isConnected) showErrorAt(anchor, plain(err));
    else showError(plain(err));
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

export const money = (cents: number, currency: string) =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);
export const when = (iso: string) => new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
