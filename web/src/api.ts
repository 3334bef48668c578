/**
 * The one connection to the API: the typed client from clients/typescript, the session's bearer
 * token, and problem+json answers turned into plain sentences.
 *
 * The token lives in localStorage, so a person signed in in one tab is signed in in the others and
 * after a reload (a link from an email opens a new tab). Only this origin's scripts can read it, and
 * the CSP lets only this origin's scripts run ('self', nothing inline, no third party); the client
 * never writes HTML from data. Signing out (here or in another tab) removes it everywhere, and the
 * API revokes it; it also expires by itself (SESSION_TTL_HOURS).
 */
import { createRasmiClient, ProblemError, unwrap } from '../../clients/typescript/src/index';

/** The API's origin, fixed at build time; empty when the page is served by the API itself. */
export const API_BASE = (import.meta.env.VITE_API_BASE_URL ?? '').replace(/\/$/, '');

const TOKEN_KEY = 'rasmi.token';
export const session = {
  get token(): string | undefined {
    return localStorage.getItem(TOKEN_KEY) ?? undefined;
  },
  set token(value: string | undefined) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
  /** Another tab signed in or out. */
  onChange(listener: () => void): void {
    window.addEventListener('storage', (e) => e.key === TOKEN_KEY && listener());
  },
};

export const api = createRasmiClient({ baseUrl: API_BASE, token: () => session.token });
export { unwrap, ProblemError };

/** Sentences for the codes a person meets most; anything else uses the problem's own detail. */
const PLAIN: Record<string, string> = {
  invalid_code: 'That code is not right or has expired. Ask for a new one.',
  unauthorized: 'Your session has ended. Please sign in again.',
  rate_limited: 'Too many attempts. Please wait a little and try again.',
  upload_too_large: 'That file is too large. Use a photo under 25 MB.',
  too_many_pixels: 'That photo has too many pixels. Use a smaller version of it.',
  unsupported_type: 'That file is not a photo we can read. Use JPEG, PNG, WebP or HEIC.',
  empty_file: 'That file is empty. Choose the photo again; it may not have finished saving or copying.',
  corrupt_image: 'That file could not be read as a photo. Export it again and upload that file.',
  photo_not_ready: 'Some photos are still being checked. Wait a moment and try again.',
  photo_unusable: 'Some chosen photos cannot be used. Leave them out or upload better ones.',
  too_many_styles: 'This package allows fewer styles. Choose fewer, or a larger package.',
  unknown_style: 'One of the chosen styles does not exist any more.',
  policy_acceptance_required: 'Please accept the current privacy policy in the privacy centre first.',
  policy_version_outdated: 'The privacy policy has changed. Reload the page and accept the current one.',
  underage: 'You must be 18 or older to use Rasmi.',
  no_photo_left: 'At least one photo must stay in the order.',
  fewer_headshots:
    'The order needs this photo to make the headshots agreed. Keep it, or upload another photo and order again.',
  shortfall_not_accepted:
    'This order makes fewer headshots than the package names. Tick the box to accept that, or upload more photos.',
  order_already_paid: 'This order is paid; its photos can no longer change.',
  too_many_streams: 'Rasmi is open in too many tabs. Close some and reload.',
  validation_failed: 'Some of the details are not valid.',
  invitation_expired: 'This invitation has expired. Ask your organisation for a new one.',
  invitation_revoked: 'The organisation withdrew this invitation. Ask it for a new one.',
  invitation_used: 'This invitation was used already; each one works once.',
  invitation_full: 'As many people as this link allows have joined already.',
  invitation_wrong_domain: 'This link is for another email domain. Sign in with your work address.',
  invitation_wrong_email: 'This invitation was sent to another email address. Sign in with that address.',
  consent_required: 'Tick the box to agree to share the headshots you choose; you can withdraw it later.',
  no_seat_left: 'Your organisation has no seat left for this package. Ask its admins to buy more.',
};

/** A person-readable sentence for any error: problem+json from the API, or a network failure. */
export function plainError(err: unknown): string {
  if (err instanceof ProblemError) {
    const base = PLAIN[err.code] ?? err.problem.detail ?? err.problem.title ?? 'Something went wrong.';
    const fields = (err.problem.errors ?? []).map((e) => `${e.path.replace(/^body\./, '')}: ${e.message}`);
    return fields.length ? `${base} (${fields.join('; ')})` : base;
  }
  if (err instanceof TypeError) return 'Rasmi could not be reached. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}

/** A fresh Idempotency-Key, so a retried click never makes a second order or request. */
export const idempotencyKey = () => crypto.randomUUID();
