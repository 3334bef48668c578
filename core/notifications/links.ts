import type { AppContext } from '../platform/context';

/**
 * Links in emails and messages open the web client's screens (hash routes), never the API's JSON:
 * a person follows a link in a browser. A screen that needs a session sends a signed-out person
 * through sign-in and then on to where the link pointed (web/src/main.ts).
 */
export type AppScreen = 'photos' | 'order' | 'privacy' | 'unsubscribe' | 'join' | 'organisation';

export function appUrl(ctx: Pick<AppContext, 'config' | 'publicUrl'>): string {
  return ctx.config.APP_URL ?? `${ctx.publicUrl}/app/`;
}

export function appLink(
  ctx: Pick<AppContext, 'config' | 'publicUrl'>,
  screen: AppScreen,
  params: Record<string, string> = {},
): string {
  const query = new URLSearchParams(params).toString();
  return `${appUrl(ctx)}#/${screen}${query ? `?${query}` : ''}`;
}
